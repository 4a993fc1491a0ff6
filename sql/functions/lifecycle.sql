-- The lifecycle of API.md section 4: the table campaign.transitions (data,
-- in the migrations) and the one function that applies it, which the API
-- and the scheduler both call, so their rules cannot drift apart. Also the
-- triggers that keep a campaign's version, notifications and stats.


-- Applies one action to a set of campaigns: each one whose status has a
-- row for the action moves to its to_status, with every side effect of
-- the move made here and nowhere else. An UPDATE that names the status it
-- leaves is a compare-and-set: a row changed meanwhile is re-checked.
-- Same-state rows change nothing (but schedule, which moves the time).
-- Returns the campaigns that changed, as they are now.
--   p_at      schedule: the new start time; wait: until when (else its
--             window's opening)
--   p_owner   run: the scheduler that will hold it
--   p_lease   run: for how long
--   p_reason  fail, skip: why
CREATE OR REPLACE FUNCTION campaign.apply_transition(p_action text,
    p_ids uuid[], p_at timestamptz DEFAULT NULL, p_owner text DEFAULT NULL,
    p_lease interval DEFAULT NULL, p_reason text DEFAULT NULL)
RETURNS SETOF campaign.campaigns LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := clock_timestamp();
    v_changed  uuid[];
    -- a type has a send window of the file's: then every campaign taking
    -- a slot asks when its window closes; else only one with its own
    v_typed    boolean;
BEGIN
    -- nothing to move: a tick's usual case, kept cheap
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN;
    END IF;
    IF p_action IN ('run', 'open') THEN
        v_typed := EXISTS (SELECT 1 FROM campaign.types ty
                            WHERE ty.send_window IS NOT NULL);
    END IF;
    -- what the audit trail calls the change (events.sql)
    PERFORM set_config('campaign.action', p_action, true);
    WITH moved AS (
        UPDATE campaign.campaigns c SET
            status = tr.to_status,
            scheduled_at = CASE p_action
                               WHEN 'schedule' THEN p_at
                               WHEN 'unschedule' THEN NULL
                               ELSE c.scheduled_at END,
            -- queued_at orders the queue: when it became due, i.e. its
            -- time when it comes due (queued, or run at once), else the
            -- moment it is started
            queued_at = CASE WHEN c.status = 'scheduled'
                                  AND p_action IN ('due', 'run', 'wait')
                             THEN c.scheduled_at
                             -- an opening of its window: due then
                             WHEN p_action = 'open' THEN c.waiting_until
                             WHEN tr.to_status <> 'queued' THEN c.queued_at
                             ELSE v_now END,
            -- waiting for a send window is not a start: its opening is
            started_at = CASE WHEN tr.to_status = 'running'
                                   AND p_action <> 'wait'
                              THEN coalesce(c.started_at, v_now)
                              ELSE c.started_at END,
            finished_at = CASE WHEN tr.to_status IN ('completed',
                                                     'cancelled', 'failed')
                               THEN v_now ELSE c.finished_at END,
            -- a campaign waiting for its window is held by no one
            lease_owner = CASE WHEN tr.to_status = 'running'
                                    AND p_action <> 'wait'
                               THEN coalesce(p_owner, c.lease_owner) END,
            lease_expires_at = CASE WHEN tr.to_status = 'running'
                                         AND p_action <> 'wait'
                                    THEN coalesce(v_now + p_lease,
                                                  c.lease_expires_at) END,
            -- send windows (window.sql): a campaign that takes a slot
            -- knows when its window closes; one that waits, when it opens
            window_closes_at = CASE
                WHEN p_action IN ('run', 'open')
                     AND (c.send_window IS NOT NULL OR v_typed)
                THEN campaign.window_closes(c, v_now)
                WHEN tr.to_status = 'running' AND p_action <> 'wait'
                THEN c.window_closes_at END,
            waiting_until = CASE
                WHEN p_action = 'wait'
                THEN coalesce(p_at, campaign.window_opens(c, v_now))
                WHEN tr.to_status = 'running' AND p_action <> 'open'
                THEN c.waiting_until END,
            failure = CASE WHEN tr.to_status = 'failed' OR p_action = 'skip'
                           THEN p_reason ELSE c.failure END,
            -- a series has a next occurrence only while it is scheduled
            next_run_at = CASE WHEN tr.to_status = 'scheduled'
                               THEN c.next_run_at END
          FROM campaign.transitions tr
         WHERE c.id = ANY (p_ids)
           AND tr.action = p_action AND tr.from_status = c.status
           AND (tr.to_status <> c.status
                OR p_action IN ('wait', 'open')
                OR (p_action = 'schedule'
                    AND c.scheduled_at IS DISTINCT FROM p_at))
        RETURNING c.id)
    SELECT array_agg(id) INTO v_changed FROM moved;
    -- its triggers have run: a later change of this transaction is not it
    PERFORM set_config('campaign.action', '', true);

    IF v_changed IS NULL THEN
        RETURN;
    END IF;

    -- a cancelled (or skipped) campaign sends nothing more
    IF p_action IN ('cancel', 'skip') THEN
        UPDATE campaign.recipients SET status = 'cancelled'
         WHERE campaign_id = ANY (v_changed) AND status = 'pending';
    END IF;

    RETURN QUERY SELECT * FROM campaign.campaigns
                  WHERE id = ANY (v_changed) ORDER BY id;
END
$$;


-- One action on one campaign, for the API: the row is locked first, so the
-- outcome it reports is the one it made. outcome: 'changed', 'unchanged',
-- 'invalid' or 'missing'. p_tenant NULL means any tenant.
CREATE OR REPLACE FUNCTION campaign.transition(p_id uuid, p_action text,
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

    SELECT * INTO c FROM campaign.apply_transition(p_action, ARRAY[p_id],
                                                   p_at);
    IF FOUND THEN
        outcome := 'changed';
    ELSE
        outcome := 'unchanged';
        SELECT * INTO c FROM campaign.campaigns WHERE id = p_id;
    END IF;
END
$$;


-- Every change a client can see bumps the version (the ETag) and
-- updated_at; a scheduler renewing its lease is not such a change.
CREATE OR REPLACE FUNCTION campaign.campaigns_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status, NEW.name, NEW.message, NEW.metadata, NEW.scheduled_at,
        NEW.total, NEW.pending, NEW.sent, NEW.failed, NEW.cancelled,
        NEW.started_at, NEW.finished_at, NEW.failure, NEW.timezone,
        NEW.recurrence, NEW.next_run_at, NEW.last_run_id,
        NEW.send_window, NEW.waiting_until, NEW.local_time)
       IS NOT DISTINCT FROM
       (OLD.status, OLD.name, OLD.message, OLD.metadata, OLD.scheduled_at,
        OLD.total, OLD.pending, OLD.sent, OLD.failed, OLD.cancelled,
        OLD.started_at, OLD.finished_at, OLD.failure, OLD.timezone,
        OLD.recurrence, OLD.next_run_at, OLD.last_run_id,
        OLD.send_window, OLD.waiting_until, OLD.local_time)
    THEN
        RETURN NEW;
    END IF;
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER campaigns_touch BEFORE UPDATE
    ON campaign.campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign.campaigns_touch();


-- Tell the scheduler of every change to when a campaign should start or
-- stop. The payload is a hint; the scheduler reads the row.
CREATE OR REPLACE FUNCTION campaign.campaigns_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- a running campaign's time is the opening of its send window that
    -- it waits for (none while it sends)
    v_due  timestamptz := CASE WHEN NEW.status = 'running'
                               THEN NEW.waiting_until
                               ELSE NEW.scheduled_at END;
BEGIN
    -- due_ms is rounded up: a timer armed for it never fires before it;
    -- due_us is the time itself (a scheduler of before 019 reads due_ms);
    -- an infinite time (set in SQL) is no number: null, as for none
    PERFORM pg_notify('campaign', json_build_object(
        'id', NEW.id, 'type', NEW.type, 'status', NEW.status,
        'scheduled_at', campaign.ts(NEW.scheduled_at),
        'due_ms', CASE WHEN isfinite(v_due)
                       THEN ceil(extract(epoch FROM v_due) * 1000)
                  END,
        'due_us', CASE WHEN isfinite(v_due)
                       THEN (extract(epoch FROM v_due) * 1000000)::bigint
                  END)::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER campaigns_notify_insert AFTER INSERT
    ON campaign.campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign.campaigns_notify();

CREATE OR REPLACE TRIGGER campaigns_notify_update AFTER UPDATE
    ON campaign.campaigns
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at
          OR OLD.waiting_until IS DISTINCT FROM NEW.waiting_until)
    EXECUTE FUNCTION campaign.campaigns_notify();


-- A deleted campaign takes its recipients with it. (A foreign key did
-- this, but its per-row check was 40 % of a 100,000-row insert; every
-- insert of recipients locks its campaign row first, so none can be added
-- to a campaign being deleted.)
CREATE OR REPLACE FUNCTION campaign.campaigns_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign.recipients r
     WHERE r.campaign_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER campaigns_delete AFTER DELETE
    ON campaign.campaigns
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign.campaigns_delete();


-- The stats counters on a campaign follow its recipients (their status,
-- and what receipts said of their delivery), whatever code changes them. Statement-level, so a 100,000-row insert is one update.
CREATE OR REPLACE FUNCTION campaign.recipients_count_insert()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the counts, and one event per campaign and statement with them:
    -- the new rows are grouped once
    WITH n AS (
        SELECT campaign_id,
               count(*) AS total,
               count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'sent') AS sent,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled
          FROM new_rows GROUP BY campaign_id),
    counted AS (
        UPDATE campaign.campaigns c SET
            total = c.total + n.total,
            pending = c.pending + n.pending,
            sent = c.sent + n.sent,
            failed = c.failed + n.failed,
            cancelled = c.cancelled + n.cancelled
          FROM n
         WHERE c.id = n.campaign_id
        RETURNING c.tenant, c.id, c.status, c.total, n.total AS added)
    INSERT INTO campaign.events (tenant, campaign_id, actor, action,
                                 from_status, to_status, detail)
    SELECT tenant, id, campaign.actor(), 'recipients_added', status, status,
           jsonb_build_object('added', added, 'total', total)
      FROM counted;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER recipients_count_insert AFTER INSERT
    ON campaign.recipients
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign.recipients_count_insert();

-- Its join of the statement's rows is hashed whatever the caller pins (the
-- claims pin nested loops: a 1,000-row hold would compare a million).
CREATE OR REPLACE FUNCTION campaign.recipients_count_update()
RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = on SET enable_mergejoin = on AS $$
BEGIN
    UPDATE campaign.campaigns c SET
        pending = c.pending + d.pending,
        sent = c.sent + d.sent,
        failed = c.failed + d.failed,
        cancelled = c.cancelled + d.cancelled,
        delivered = c.delivered + d.delivered,
        undelivered = c.undelivered + d.undelivered
      FROM (SELECT n.campaign_id,
                   sum((n.delivery IS NOT DISTINCT FROM 'delivered')::int
                       - (o.delivery IS NOT DISTINCT FROM 'delivered')::int)
                   AS delivered,
                   sum((n.delivery IS NOT DISTINCT FROM 'undelivered')::int
                       - (o.delivery IS NOT DISTINCT FROM 'undelivered')::int)
                   AS undelivered,
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
                OR n.delivery IS DISTINCT FROM o.delivery
             GROUP BY n.campaign_id) d
     WHERE c.id = d.campaign_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER recipients_count_update AFTER UPDATE
    ON campaign.recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign.recipients_count_update();
