-- Retention deletes the events of a campaign deleted longer ago than it
-- (purge_finished answers how many: its answer changes, so it is dropped
-- here and sql/functions/scheduler.sql makes it again). A deleted
-- campaign's trail is found by its delete event.
DROP FUNCTION IF EXISTS campaign.purge_finished(bigint, integer);

CREATE INDEX events_deleted ON campaign.events (at)
    WHERE action = 'delete';
