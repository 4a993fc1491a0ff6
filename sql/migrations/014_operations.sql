-- scheduler_tick() returns what it took over, and from whom: a new
-- column, so the old definition goes (functions/scheduler.sql makes it
-- again)
DROP FUNCTION IF EXISTS campaign.scheduler_tick(text, integer);

-- retention finds the oldest finished campaigns without a scan
CREATE INDEX campaigns_finished ON campaign.campaigns (finished_at)
    WHERE status IN ('completed', 'cancelled', 'failed');
