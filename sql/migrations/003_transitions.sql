-- The lifecycle of API.md section 4, as data and as one function that both
-- the module and the scheduler call, so their rules cannot drift apart.

CREATE TABLE campaign.transitions (
    action       text NOT NULL,
    from_status  text NOT NULL REFERENCES campaign.statuses (name),
    to_status    text NOT NULL REFERENCES campaign.statuses (name),
    PRIMARY KEY (action, from_status)
);

-- A row whose to_status equals its from_status is the same-state rule: the
-- action answers 200 and changes nothing (except schedule, which moves the
-- time). Any pair not here is an invalid transition.
INSERT INTO campaign.transitions (action, from_status, to_status) VALUES
    ('start',      'draft',     'queued'),
    ('start',      'scheduled', 'queued'),
    ('start',      'queued',    'queued'),
    ('start',      'running',   'running'),
    ('schedule',   'draft',     'scheduled'),
    ('schedule',   'scheduled', 'scheduled'),
    ('unschedule', 'scheduled', 'draft'),
    ('unschedule', 'draft',     'draft'),
    ('pause',      'queued',    'paused'),
    ('pause',      'running',   'paused'),
    ('pause',      'paused',    'paused'),
    ('resume',     'paused',    'queued'),
    ('resume',     'queued',    'queued'),
    ('resume',     'running',   'running'),
    ('cancel',     'scheduled', 'cancelled'),
    ('cancel',     'queued',    'cancelled'),
    ('cancel',     'running',   'cancelled'),
    ('cancel',     'paused',    'cancelled'),
    ('cancel',     'cancelled', 'cancelled'),
    -- the scheduler's moves
    ('due',        'scheduled', 'queued'),
    ('run',        'queued',    'running'),
    ('complete',   'running',   'completed'),
    ('fail',       'running',   'failed');


-- Applies one action to one campaign atomically: the row is locked, the move
-- is checked against the table and made in the same statement's transaction.
-- outcome: 'changed', 'unchanged', 'invalid' or 'missing'. p_tenant NULL
-- means any tenant (the scheduler).
CREATE FUNCTION campaign.transition(p_id uuid, p_action text,
    p_tenant text DEFAULT NULL, p_at timestamptz DEFAULT NULL,
    OUT outcome text, OUT c campaign.campaigns)
LANGUAGE plpgsql AS $$
DECLARE
    v_to  text;
BEGIN
    SELECT * INTO c FROM campaign.campaigns
     WHERE id = p_id
       AND (p_tenant IS NULL OR tenant IS NOT DISTINCT FROM p_tenant)
       FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN;
    END IF;

    SELECT to_status INTO v_to FROM campaign.transitions
     WHERE action = p_action AND from_status = c.status;
    IF v_to IS NULL THEN
        outcome := 'invalid';
        RETURN;
    END IF;

    IF v_to = c.status
       AND NOT (p_action = 'schedule'
                AND c.scheduled_at IS DISTINCT FROM p_at)
    THEN
        outcome := 'unchanged';
        RETURN;
    END IF;

    UPDATE campaign.campaigns SET
        status = v_to,
        scheduled_at = CASE p_action
                           WHEN 'schedule' THEN p_at
                           WHEN 'unschedule' THEN NULL
                           ELSE scheduled_at END,
        queued_at = CASE WHEN v_to = 'queued' THEN clock_timestamp()
                         ELSE queued_at END,
        started_at = CASE WHEN v_to = 'running'
                          THEN coalesce(started_at, clock_timestamp())
                          ELSE started_at END,
        finished_at = CASE WHEN v_to IN ('completed', 'cancelled', 'failed')
                           THEN clock_timestamp() ELSE finished_at END,
        lease_owner = CASE WHEN v_to = 'running' THEN lease_owner END,
        lease_expires_at = CASE WHEN v_to = 'running'
                                THEN lease_expires_at END
     WHERE id = p_id
    RETURNING * INTO c;

    IF v_to = 'cancelled' THEN
        UPDATE campaign.recipients SET status = 'cancelled'
         WHERE campaign_id = p_id AND status = 'pending';
        SELECT * INTO c FROM campaign.campaigns WHERE id = p_id;
    END IF;

    outcome := 'changed';
END
$$;


-- Every change a client can see bumps the version (the ETag) and
-- updated_at; a scheduler renewing its lease is not such a change.
CREATE FUNCTION campaign.campaigns_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status, NEW.name, NEW.message, NEW.metadata, NEW.scheduled_at,
        NEW.total, NEW.pending, NEW.sent, NEW.failed, NEW.cancelled,
        NEW.started_at, NEW.finished_at, NEW.failure)
       IS NOT DISTINCT FROM
       (OLD.status, OLD.name, OLD.message, OLD.metadata, OLD.scheduled_at,
        OLD.total, OLD.pending, OLD.sent, OLD.failed, OLD.cancelled,
        OLD.started_at, OLD.finished_at, OLD.failure)
    THEN
        RETURN NEW;
    END IF;
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER campaigns_touch BEFORE UPDATE ON campaign.campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign.campaigns_touch();


-- Tell the scheduler of every change to when a campaign should start or
-- stop. The payload is a hint; the scheduler reads the row.
CREATE FUNCTION campaign.campaigns_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- due_ms is rounded up: a timer armed for it never fires before it
    PERFORM pg_notify('campaign', json_build_object(
        'id', NEW.id, 'type', NEW.type, 'status', NEW.status,
        'scheduled_at', campaign.ts(NEW.scheduled_at),
        'due_ms', ceil(extract(epoch FROM NEW.scheduled_at) * 1000))::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER campaigns_notify_insert AFTER INSERT ON campaign.campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign.campaigns_notify();

CREATE TRIGGER campaigns_notify_update AFTER UPDATE ON campaign.campaigns
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at)
    EXECUTE FUNCTION campaign.campaigns_notify();


-- The stats counters on a campaign follow its recipients, whatever code
-- changes them. Statement-level, so a 100,000-row insert is one update.
CREATE FUNCTION campaign.recipients_count_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign.campaigns c SET
        total = c.total + n.total,
        pending = c.pending + n.pending,
        sent = c.sent + n.sent,
        failed = c.failed + n.failed,
        cancelled = c.cancelled + n.cancelled
      FROM (SELECT campaign_id,
                   count(*) AS total,
                   count(*) FILTER (WHERE status = 'pending') AS pending,
                   count(*) FILTER (WHERE status = 'sent') AS sent,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'cancelled') AS cancelled
              FROM new_rows GROUP BY campaign_id) n
     WHERE c.id = n.campaign_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER recipients_count_insert AFTER INSERT ON campaign.recipients
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign.recipients_count_insert();

CREATE FUNCTION campaign.recipients_count_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign.campaigns c SET
        pending = c.pending + d.pending,
        sent = c.sent + d.sent,
        failed = c.failed + d.failed,
        cancelled = c.cancelled + d.cancelled
      FROM (SELECT n.campaign_id,
                   sum((n.status = 'pending')::int
                       - (o.status = 'pending')::int) AS pending,
                   sum((n.status = 'sent')::int
                       - (o.status = 'sent')::int) AS sent,
                   sum((n.status = 'failed')::int
                       - (o.status = 'failed')::int) AS failed,
                   sum((n.status = 'cancelled')::int
                       - (o.status = 'cancelled')::int) AS cancelled
              FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE n.status <> o.status
             GROUP BY n.campaign_id) d
     WHERE c.id = d.campaign_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER recipients_count_update AFTER UPDATE ON campaign.recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign.recipients_count_update();
