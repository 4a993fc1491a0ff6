-- Send windows (issue 15): a running campaign sends only inside its
-- window (its own, or its type's from the scheduler's file). Outside it
-- the campaign stays running, waiting (waiting_until: the next opening),
-- and holds no slot of its pool; at the opening it takes one again, like
-- a start.

ALTER TABLE campaign.campaigns
    ADD COLUMN send_window jsonb,           -- as given, checked
    ADD COLUMN waiting_until timestamptz,   -- running, outside its window
    ADD COLUMN window_closes_at timestamptz; -- running, inside it: until

ALTER TABLE campaign.types
    ADD COLUMN send_window jsonb;           -- the scheduler file's default

-- the campaigns whose window closes, and those waiting for an opening
CREATE INDEX campaigns_window_closes ON campaign.campaigns (window_closes_at)
    WHERE status = 'running' AND waiting_until IS NULL
      AND window_closes_at IS NOT NULL;
CREATE INDEX campaigns_waiting ON campaign.campaigns (waiting_until)
    WHERE status = 'running' AND waiting_until IS NOT NULL;

-- wait: a window closed (or was closed at the start); open: it opened
-- and the campaign has a slot again
INSERT INTO campaign.transitions (action, from_status, to_status) VALUES
    ('wait', 'scheduled', 'running'),
    ('wait', 'queued', 'running'),
    ('wait', 'running', 'running'),
    ('open', 'running', 'running');

-- the file's windows per type join the pools' call
DROP FUNCTION IF EXISTS campaign.scheduler_pools(text[], integer[],
    integer[], text[], text[]);
-- my_running() says when a window closes
DROP FUNCTION IF EXISTS campaign.my_running(text);
-- complete_done() completes, for a tick, the campaigns waiting too
DROP FUNCTION IF EXISTS campaign.complete_done(text);
