-- The audit trail. Who acts is a transaction-local setting: the API's
-- request sets it from its key (campaign.api), the scheduler's
-- functions from their owner; anything else is "system". What a
-- transition is called is set by apply_transition. Triggers on campaigns
-- and recipients write the events, so no change goes unrecorded and a
-- change that rolls back takes its events with it.

CREATE OR REPLACE FUNCTION campaign.actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('campaign.actor', true), ''),
                    'system')
$$;

-- for the rest of the transaction: key:<name> (campaign.api, from
-- campaign.key_of), scheduler:<id>
CREATE OR REPLACE FUNCTION campaign.act_as(p_actor text)
RETURNS void LANGUAGE sql AS $$
    SELECT set_config('campaign.actor', p_actor, true)
$$;

CREATE OR REPLACE FUNCTION campaign.act_as_scheduler(p_owner text)
RETURNS void LANGUAGE sql AS $$
    SELECT campaign.act_as('scheduler:' || p_owner)
$$;

-- created_by, and scheduled_by: the actor of the last schedule or start
CREATE OR REPLACE FUNCTION campaign.campaigns_actor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_by := campaign.actor();
        IF NEW.status IN ('scheduled', 'queued') THEN
            NEW.scheduled_by := NEW.created_by;
        END IF;
    ELSIF current_setting('campaign.action', true) IN ('schedule', 'start')
          AND (NEW.status IS DISTINCT FROM OLD.status
               OR NEW.scheduled_at IS DISTINCT FROM OLD.scheduled_at)
    THEN
        NEW.scheduled_by := campaign.actor();
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER campaigns_actor BEFORE INSERT
    ON campaign.campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign.campaigns_actor();

-- not on the counters' updates (a result batch's)
CREATE OR REPLACE TRIGGER campaigns_actor_update BEFORE UPDATE
    ON campaign.campaigns
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at)
    EXECUTE FUNCTION campaign.campaigns_actor();

CREATE OR REPLACE FUNCTION campaign.event(p_tenant text, p_campaign uuid,
    p_action text, p_from text, p_to text, p_detail jsonb DEFAULT '{}',
    p_actor text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO campaign.events (tenant, campaign_id, actor, action,
                                 from_status, to_status, detail)
    VALUES (p_tenant, p_campaign, coalesce(p_actor, campaign.actor()),
            p_action, p_from, p_to, coalesce(p_detail, '{}'))
$$;

CREATE OR REPLACE FUNCTION campaign.campaigns_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_action  text := current_setting('campaign.action', true);
    v_fields  text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM campaign.event(NEW.tenant, NEW.id, 'create', NULL,
                               'draft',
                               jsonb_build_object('name', NEW.name,
                                   'type', NEW.type)
                               || CASE WHEN NEW.series_id IS NOT NULL
                                       THEN jsonb_build_object('series_id',
                                                NEW.series_id)
                                       ELSE '{}' END);
        -- created scheduled or started: that is a second change
        IF NEW.status = 'scheduled' AND NEW.recurrence IS NOT NULL THEN
            PERFORM campaign.event(NEW.tenant, NEW.id, 'schedule', 'draft',
                'scheduled', jsonb_build_object('recurrence',
                                                NEW.recurrence));
        ELSIF NEW.status = 'scheduled' THEN
            PERFORM campaign.event(NEW.tenant, NEW.id, 'schedule', 'draft',
                'scheduled', jsonb_build_object('old_scheduled_at', NULL,
                    'new_scheduled_at', campaign.ts(NEW.scheduled_at)));
        ELSIF NEW.status = 'queued' THEN
            PERFORM campaign.event(NEW.tenant, NEW.id, 'start', 'draft',
                                   'queued');
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM campaign.event(OLD.tenant, OLD.id, 'delete', OLD.status,
                               NULL);
        RETURN NULL;
    END IF;

    v_fields := ARRAY(SELECT f FROM unnest(ARRAY[
        CASE WHEN NEW.name IS DISTINCT FROM OLD.name THEN 'name' END,
        CASE WHEN NEW.message IS DISTINCT FROM OLD.message
             THEN 'message' END,
        CASE WHEN NEW.metadata IS DISTINCT FROM OLD.metadata
             THEN 'metadata' END,
        CASE WHEN NEW.timezone IS DISTINCT FROM OLD.timezone
             THEN 'timezone' END,
        CASE WHEN NEW.recurrence IS DISTINCT FROM OLD.recurrence
             THEN 'recurrence' END,
        CASE WHEN NEW.send_window IS DISTINCT FROM OLD.send_window
             THEN 'send_window' END,
        CASE WHEN NEW.local_time IS DISTINCT FROM OLD.local_time
             THEN 'local_time' END]) f WHERE f IS NOT NULL);
    IF cardinality(v_fields) > 0 THEN
        PERFORM campaign.event(NEW.tenant, NEW.id, 'edit', OLD.status,
                               NEW.status,
                               jsonb_build_object('fields', v_fields));
    END IF;

    -- a send window closed (waiting_until: its next opening), or opened
    IF NEW.status IS DISTINCT FROM OLD.status
       OR NEW.scheduled_at IS DISTINCT FROM OLD.scheduled_at
       OR (v_action IN ('wait', 'open')
           AND NEW.waiting_until IS DISTINCT FROM OLD.waiting_until)
    THEN
        PERFORM campaign.event(NEW.tenant, NEW.id,
            CASE coalesce(nullif(v_action, ''), 'edit')
                WHEN 'due' THEN 'queued'
                WHEN 'run' THEN 'running'
                WHEN 'complete' THEN 'completed'
                WHEN 'finish_series' THEN 'completed'
                WHEN 'fail' THEN 'failed'
                WHEN 'wait' THEN 'window_closed'
                WHEN 'open' THEN 'window_opened'
                WHEN 'pause_series' THEN 'pause'
                WHEN 'resume_series' THEN 'resume'
                WHEN 'schedule' THEN CASE WHEN OLD.status = 'scheduled'
                                          THEN 'reschedule'
                                          ELSE 'schedule' END
                ELSE coalesce(nullif(v_action, ''), 'edit') END,
            OLD.status, NEW.status,
            CASE WHEN NEW.scheduled_at IS DISTINCT FROM OLD.scheduled_at
                 THEN jsonb_build_object(
                          'old_scheduled_at', campaign.ts(OLD.scheduled_at),
                          'new_scheduled_at', campaign.ts(NEW.scheduled_at))
                 WHEN NEW.status = 'failed' OR v_action = 'skip'
                 THEN jsonb_build_object('failure', NEW.failure)
                 WHEN v_action = 'wait'
                 THEN jsonb_build_object('waiting_until',
                                         campaign.ts(NEW.waiting_until))
                 WHEN v_action = 'open'
                 THEN jsonb_build_object('opened_at',
                                         campaign.ts(OLD.waiting_until),
                                         'closes_at',
                                         campaign.ts(NEW.window_closes_at))
                 ELSE '{}' END);
    END IF;

    -- another scheduler's running campaign, taken over
    IF OLD.status = 'running' AND NEW.status = 'running'
       AND OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NOT NULL
       AND NEW.lease_owner IS DISTINCT FROM OLD.lease_owner
    THEN
        PERFORM campaign.event(NEW.tenant, NEW.id, 'lease_takeover',
                               'running', 'running',
                               jsonb_build_object('from', OLD.lease_owner,
                                                  'to', NEW.lease_owner),
                               'scheduler:' || NEW.lease_owner);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER campaigns_audit AFTER INSERT OR DELETE
    ON campaign.campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign.campaigns_audit();

-- only what an event tells: not the counters, not a lease renewed
CREATE OR REPLACE TRIGGER campaigns_audit_update AFTER UPDATE
    ON campaign.campaigns
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at
          OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.message IS DISTINCT FROM NEW.message
          OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.timezone IS DISTINCT FROM NEW.timezone
          OR OLD.recurrence IS DISTINCT FROM NEW.recurrence
          OR OLD.send_window IS DISTINCT FROM NEW.send_window
          OR OLD.local_time IS DISTINCT FROM NEW.local_time
          OR OLD.waiting_until IS DISTINCT FROM NEW.waiting_until
          OR OLD.lease_owner IS DISTINCT FROM NEW.lease_owner)
    EXECUTE FUNCTION campaign.campaigns_audit();

-- An event as the API shows it.
CREATE OR REPLACE FUNCTION campaign.event_json(e campaign.events)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', e.id, 'at', campaign.ts(e.at),
        'campaign_id', e.campaign_id, 'actor', e.actor, 'action', e.action,
        'from_status', e.from_status, 'to_status', e.to_status,
        'detail', e.detail)
$$;

-- GET /campaigns/{id}/events: oldest first, a cursor of ids. A deleted
-- campaign's events are still the tenant's to read.
CREATE OR REPLACE FUNCTION campaign.api_events(p_tenant text, p_id uuid,
    p_limit text, p_cursor text)
RETURNS campaign.api_result LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit  integer := campaign.page_limit(p_limit, 100, 1000);
    v_after  bigint := campaign.cursor_decode(p_cursor);
    v_data   json;
    v_next   text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM campaign.campaigns
                    WHERE id = p_id AND tenant = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM campaign.events
                        WHERE campaign_id = p_id AND tenant = p_tenant)
    THEN
        PERFORM campaign.fail('not_found', 'no such campaign');
    END IF;
    WITH page AS (
        SELECT campaign.event_json(ev) AS j, ev.id,
               row_number() OVER (ORDER BY ev.id) AS rn
          FROM (SELECT * FROM campaign.events
                 WHERE campaign_id = p_id AND tenant = p_tenant
                   AND (v_after IS NULL OR id > v_after)
                 ORDER BY id LIMIT v_limit + 1) ev)
    SELECT coalesce(json_agg(j ORDER BY id)
                        FILTER (WHERE rn <= v_limit), '[]'),
           CASE WHEN count(*) > v_limit THEN campaign.cursor_encode(
               max(id) FILTER (WHERE rn <= v_limit)) END
      INTO v_data, v_next
      FROM page;
    RETURN ROW(200, json_build_object('data', v_data,
                                      'next_cursor', v_next)::text,
               NULL, NULL, false, NULL)::campaign.api_result;
END
$$;

-- GET /events?after=: the tenant's feed. Its cursor is a position
-- (transaction id, event id), and a page holds only events of
-- transactions older than every transaction still running
-- (pg_snapshot_xmin): one that commits later has a larger id than any
-- the page held, so a follower never misses or repeats an event. Events
-- come in the order of their transactions' ids, one transaction's
-- together. next_cursor is always given: poll with it.
CREATE OR REPLACE FUNCTION campaign.api_feed(p_tenant text, p_limit text,
    p_after text)
RETURNS campaign.api_result LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit  integer := campaign.page_limit(p_limit, 100, 1000);
    v_xmin   xid8 := pg_snapshot_xmin(pg_current_snapshot());
    v_xid    xid8 := '0';
    v_id     bigint := 0;
    v_data   json;
    v_nxid   xid8;
    v_nid    bigint;
BEGIN
    IF p_after IS NOT NULL THEN
        -- a cursor this feed gave: no transaction id still to come
        IF p_after !~ '^[0-9]{1,19}\.[0-9]{1,18}$'
           OR split_part(p_after, '.', 1)::numeric
              >= pg_snapshot_xmax(pg_current_snapshot())::text::numeric
        THEN
            PERFORM campaign.fail('validation_failed', 'after is not a '
                                  || 'cursor of this feed',
                                  jsonb_build_object('field', 'after'));
        END IF;
        v_xid := split_part(p_after, '.', 1)::xid8;
        v_id := split_part(p_after, '.', 2)::bigint;
    END IF;
    WITH page AS (
        SELECT * FROM campaign.events ev
         WHERE ev.tenant = p_tenant
           AND (ev.xid, ev.id) > (v_xid, v_id)
           AND ev.xid < v_xmin
         ORDER BY ev.xid, ev.id LIMIT v_limit)
    SELECT coalesce(json_agg(campaign.event_json(e) ORDER BY e.xid, e.id),
                    '[]'),
           (array_agg(e.xid ORDER BY e.xid DESC, e.id DESC))[1],
           (array_agg(e.id ORDER BY e.xid DESC, e.id DESC))[1]
      INTO v_data, v_nxid, v_nid
      FROM page e;
    -- nothing new: the cursor as it was
    v_xid := coalesce(v_nxid, v_xid);
    v_id := coalesce(v_nid, v_id);
    RETURN ROW(200, json_build_object('data', v_data,
                   'next_cursor', v_xid::text || '.' || v_id::text)::text,
               NULL, NULL, false, NULL)::campaign.api_result;
END
$$;
