-- Time (issue 15): a campaign's time zone, recurring campaigns (series)
-- and their runs. A series is a campaign with a recurrence: it never runs
-- itself; at each occurrence a run, a campaign of its own with series_id,
-- is made from it and started like any other.

-- The zone names a campaign may take: the IANA names of the server's tz
-- data (pg_timezone_names reads every zone file, some 40 ms a look-up);
-- campaign.refresh_timezones() reads them again after a tzdata update.
CREATE TABLE campaign.timezones (
    name  text PRIMARY KEY
);
INSERT INTO campaign.timezones SELECT name FROM pg_timezone_names
    ON CONFLICT DO NOTHING;

-- A cron expression, parsed (campaign.cron_parse): each field's values in
-- order, and whether the day-of-month and day-of-week fields began with
-- '*' (Vixie cron's rule: when neither does, either one matching is a
-- match; else both must).
CREATE TYPE campaign.cron_spec AS (
    seconds       smallint[],
    minutes       smallint[],
    hours         smallint[],
    days          smallint[],
    months        smallint[],
    weekdays      smallint[],
    day_star      boolean,
    weekday_star  boolean
);

ALTER TABLE campaign.campaigns
    ADD COLUMN timezone text,               -- NULL: UTC, not chosen
    ADD COLUMN recurrence jsonb,            -- a series' rule, as shown
    ADD COLUMN cron campaign.cron_spec,     -- and its cron, parsed
    ADD COLUMN next_run_at timestamptz,     -- a series' next occurrence
    ADD COLUMN last_run_id uuid,            -- a series' latest run
    ADD COLUMN runs integer NOT NULL DEFAULT 0,   -- a series' runs made
    ADD COLUMN series_id uuid;              -- a run's series

-- the series whose next occurrence comes within the lead, and a tenant's
-- by their next occurrence (the calendar)
CREATE INDEX campaigns_series_next ON campaign.campaigns (next_run_at)
    WHERE status = 'scheduled' AND recurrence IS NOT NULL;
CREATE INDEX campaigns_tenant_series ON campaign.campaigns
    (tenant, next_run_at)
    WHERE status = 'scheduled' AND recurrence IS NOT NULL;
-- a series' runs, newest first
CREATE INDEX campaigns_series_runs ON campaign.campaigns (series_id, seq)
    WHERE series_id IS NOT NULL;
-- a series' runs made ahead, and those still active: found without
-- reading the thousands a series has run
CREATE INDEX campaigns_series_ahead ON campaign.campaigns (series_id)
    WHERE series_id IS NOT NULL AND status = 'scheduled';
CREATE INDEX campaigns_series_active ON campaign.campaigns (series_id)
    WHERE series_id IS NOT NULL
      AND status IN ('queued', 'running', 'paused');
-- the calendar: a tenant's start times in a range, whatever the status
CREATE INDEX campaigns_tenant_scheduled ON campaign.campaigns
    (tenant, scheduled_at) WHERE scheduled_at IS NOT NULL;

-- A series is paused and resumed while scheduled (its runs, not itself,
-- are queued and run); a run is skipped at its time (overlap, or missed
-- by longer than catch_up); a series with no occurrence left completes.
INSERT INTO campaign.transitions (action, from_status, to_status) VALUES
    ('pause_series', 'scheduled', 'paused'),
    ('pause_series', 'paused', 'paused'),
    ('resume_series', 'paused', 'scheduled'),
    ('resume_series', 'scheduled', 'scheduled'),
    ('skip', 'scheduled', 'cancelled'),
    ('finish_series', 'scheduled', 'completed');

-- a start time may be a wall-clock time in the campaign's zone: its
-- check takes the zone (sql/functions/api.sql)
DROP FUNCTION IF EXISTS campaign.want_time(jsonb, text);
-- campaign.api() takes the calendar's from and to (defaulted, so that a
-- module of before them still calls it); its router too
DROP FUNCTION IF EXISTS campaign.api(text, boolean, text, text, text, text,
    text, text, text, text, text, text, text);
DROP FUNCTION IF EXISTS campaign.api_route(text, text, text, text, text,
    text, text, text, text, text, text);

-- what a start answers (scheduler_start), kept by a tick whose starts
-- may fail alone
CREATE TYPE campaign.started AS (
    id              uuid,
    type            text,
    status          text,
    lateness_ms     double precision,
    previous_owner  text
);
