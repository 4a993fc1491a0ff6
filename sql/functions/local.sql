-- Recipient-local delivery: a campaign with a local_time sends each
-- recipient at that time of the campaign's date in the recipient's own
-- zone (its timezone, else the campaign's, else UTC): in waves, the first
-- when the first zone reaches it, the last when the last does. A
-- recipient whose time has passed when the campaign starts is sent at
-- once. A send window without a zone of its own, on a campaign some of
-- whose recipients have one, is each recipient's, in its zone
-- (recipients_window, window.sql). Such campaigns are planned: each
-- recipient is given when it may be sent, and the claims read them as
-- retries, when due. Between waves the campaign waits as for a send
-- window, holding no slot of its pool.

-- Whether a campaign's recipients are planned, not walked in order.
CREATE OR REPLACE FUNCTION campaign.planned(c campaign.campaigns)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT c.local_time IS NOT NULL
           OR (c.recipient_zones AND campaign.recipients_window(c) IS NOT NULL)
$$;

-- The window w at p_at in a recipient's zone p_tz (NULL: the campaign's);
-- a zone the tz data has dropped since is the campaign's, as for its due
-- time (recipient_due).
CREATE OR REPLACE FUNCTION campaign.zone_window_at(c campaign.campaigns,
    w jsonb, p_tz text, p_at timestamptz, OUT open boolean,
    OUT until timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    BEGIN
        SELECT s.open, s.until INTO open, until
          FROM campaign.window_at(w, coalesce(p_tz, c.timezone), p_at) s;
    EXCEPTION WHEN invalid_parameter_value THEN
        SELECT s.open, s.until INTO open, until
          FROM campaign.window_at(w, c.timezone, p_at) s;
    END;
END
$$;

-- When a recipient in zone p_tz (NULL: the campaign's) may be sent, from
-- p_at on: p_at, or its zone's next opening of the window w.
CREATE OR REPLACE FUNCTION campaign.zone_opens(c campaign.campaigns,
    w jsonb, p_tz text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN w IS NULL OR s.open THEN p_at
                ELSE coalesce(s.until, p_at) END
      FROM campaign.zone_window_at(c, w, p_tz, p_at) s
$$;


-- "HH:MM" or "HH:MM:SS", or the 400 that names local_time.
CREATE OR REPLACE FUNCTION campaign.want_local_time(v jsonb)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'string'
       OR v #>> '{}' !~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'
    THEN
        PERFORM campaign.invalid('local_time', 'local_time must be a time '
            || 'of day, HH:MM or HH:MM:SS');
    END IF;
    RETURN v #>> '{}';
END
$$;

-- The campaign's date: that of its start (its scheduled time, or when it
-- started if that was earlier) in its zone; a series' run takes its
-- series' recurrence zone, the one its occurrence was found in. NULL
-- before it has a time.
CREATE OR REPLACE FUNCTION campaign.local_date(c campaign.campaigns)
RETURNS date LANGUAGE sql STABLE AS $$
    SELECT (least(c.scheduled_at, c.started_at)
            AT TIME ZONE coalesce((SELECT s.recurrence ->> 'timezone'
                                     FROM campaign.campaigns s
                                    WHERE s.id = c.series_id),
                                  c.timezone, 'UTC'))::date
     WHERE isfinite(least(c.scheduled_at, c.started_at))
$$;

-- When a recipient of the campaign in zone p_tz (NULL: the campaign's) is
-- due: NULL without a local_time or a date. A time the zone skips is due
-- at the end of the gap, as a series' occurrence is. A zone the server's
-- tz data no longer has (a tzdata update dropped a legacy name) is the
-- campaign's, with a warning, rather than a campaign that never sends.
CREATE OR REPLACE FUNCTION campaign.recipient_due(c campaign.campaigns,
    p_tz text, p_date date DEFAULT NULL)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    d  date := coalesce(p_date, campaign.local_date(c));
BEGIN
    IF c.local_time IS NULL OR d IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN campaign.local_instant(d + c.local_time::interval,
                                      coalesce(p_tz, c.timezone, 'UTC'));
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE WARNING 'campaign %: time zone "%" is unknown now; its '
                      'recipients are due in the campaign''s', c.id, p_tz;
        RETURN campaign.local_instant(d + c.local_time::interval,
                                      coalesce(c.timezone, 'UTC'));
    END;
END
$$;

-- Whether some recipient of a planned campaign has no due time yet.
CREATE OR REPLACE FUNCTION campaign.unplanned(p_campaign uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM campaign.campaigns c
                     JOIN campaign.recipients r ON r.campaign_id = c.id
                    WHERE c.id = p_campaign
                      AND r.seq > coalesce(c.waves_planned, 0))
$$;

-- The next p_limit recipients of a planned campaign, in its order, get
-- their due time as their next attempt (the first instant its zone's
-- window is open from then on, with a window per recipient), so that the
-- claims' retry path (next_recipients) sends each when it is due, those
-- past at once (all at once if the campaign has no date: a start time of
-- -infinity). A due time per zone, not per recipient, and no join: the
-- claims' plan pins joins to nested loops, which would make this
-- quadratic. The campaign is locked first, as the API's cancel and the
-- results lock it before its recipients.
CREATE OR REPLACE FUNCTION campaign.plan_waves(p_campaign uuid,
    p_limit integer)
RETURNS void LANGUAGE plpgsql
SET enable_sort = on SET enable_hashjoin = on SET enable_hashagg = on
AS $$
DECLARE
    c       campaign.campaigns;
    v_date  date;
    v_upto  bigint;
    v_zones text[];
    v_dues  timestamptz[];
    v_window jsonb;
BEGIN
    -- planned: a claim's usual case, no lock
    IF NOT campaign.unplanned(p_campaign) THEN
        RETURN;
    END IF;
    SELECT * INTO c FROM campaign.campaigns WHERE id = p_campaign FOR UPDATE;
    v_date := campaign.local_date(c);
    SELECT max(x.seq), array_agg(DISTINCT coalesce(x.timezone, ''))
      INTO v_upto, v_zones
      FROM (SELECT r.seq, r.timezone FROM campaign.recipients r
             WHERE r.campaign_id = p_campaign
               AND r.seq > coalesce(c.waves_planned, 0)
             ORDER BY r.seq
             LIMIT p_limit) x;
    IF v_upto IS NULL THEN
        RETURN;
    END IF;
    v_window := campaign.recipients_window(c);
    v_dues := ARRAY(SELECT campaign.zone_opens(c, v_window, nullif(z, ''),
                               coalesce(campaign.recipient_due(c,
                                            nullif(z, ''), v_date),
                                        clock_timestamp()))
                      FROM unnest(v_zones) WITH ORDINALITY AS u (z, i)
                     ORDER BY u.i);
    UPDATE campaign.recipients r
       SET next_attempt_at = v_dues[array_position(v_zones,
                                                   coalesce(r.timezone, ''))]
     WHERE r.campaign_id = p_campaign
       AND r.seq > coalesce(c.waves_planned, 0) AND r.seq <= v_upto
       AND r.status = 'pending' AND r.next_attempt_at IS NULL;
    UPDATE campaign.campaigns SET waves_planned = v_upto
     WHERE id = p_campaign;
END
$$;

-- Its holder has nothing in flight and found nothing due: a planned
-- campaign whose next wave is more than a second away waits for it
-- as for a send window (window.sql), giving its slot back (rested).
-- next_ms, for a holder that keeps it: 0 if some of its recipients are
-- not planned yet (claim again at once: each claim plans a chunk), else
-- in how long its next wave is due (claim then), NULL if none is known or
-- one is due now (a rate's bucket, or what is in flight, holds it).
CREATE OR REPLACE FUNCTION campaign.rest_between_waves(p_owner text,
    p_campaign uuid, OUT rested boolean, OUT next_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_next  timestamptz;
BEGIN
    rested := false;
    PERFORM 1 FROM campaign.campaigns c
     WHERE c.id = p_campaign AND c.status = 'running'
       AND c.lease_owner = p_owner AND c.waiting_until IS NULL
       AND campaign.planned(c)
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF campaign.unplanned(p_campaign) THEN
        next_ms := 0;
        RETURN;
    END IF;
    SELECT min(r.next_attempt_at) INTO v_next
      FROM campaign.recipients r
     WHERE r.campaign_id = p_campaign AND r.next_attempt_at IS NOT NULL
       AND r.status = 'pending';
    IF v_next IS NULL OR v_next <= clock_timestamp() THEN
        RETURN;
    END IF;
    next_ms := ceil(extract(epoch FROM v_next - clock_timestamp()) * 1000);
    IF next_ms > 1000 THEN
        PERFORM campaign.act_as_scheduler(p_owner);
        PERFORM campaign.apply_transition('wait', ARRAY[p_campaign],
                                          p_at => v_next);
        rested := true;
    END IF;
END
$$;

-- A claim of a campaign whose window is each recipient's (next_recipients):
-- of the first p_limit recipients due, every recipient due in a zone of
-- theirs whose window is closed now is put off to its opening, at once,
-- and the first due are read again (a closed zone's backlog, first in
-- due order, would hold the other zones back a claim at a time); those
-- then due are held for p_hold_ms and returned with how long they may
-- still be sent (ms; NULL: their window does not close within a week).
-- Its own function: the claims' plan pins joins to nested loops.
CREATE OR REPLACE FUNCTION campaign.claim_in_zones(c campaign.campaigns,
    w jsonb, p_limit integer, p_hold_ms integer)
RETURNS TABLE (id uuid, address text, vars text, attempt integer,
               seq bigint, retry boolean, until_ms bigint)
LANGUAGE plpgsql
SET enable_sort = on SET enable_hashjoin = on SET enable_hashagg = on
AS $$
DECLARE
    v_now    timestamptz := clock_timestamp();
    v_ids    uuid[];
    v_zones  text[];
    v_open   boolean[];
    v_until  timestamptz[];
BEGIN
    -- a closed zone's put-off makes room: at most three rounds a claim
    FOR i IN 1 .. 3 LOOP
        v_ids := ARRAY(SELECT r.id FROM campaign.recipients r
                        WHERE r.campaign_id = c.id
                          AND r.next_attempt_at IS NOT NULL
                          AND r.next_attempt_at <= v_now
                          AND r.status = 'pending'
                        ORDER BY r.next_attempt_at
                        LIMIT p_limit);
        SELECT array_agg(DISTINCT coalesce(r.timezone, '')) INTO v_zones
          FROM campaign.recipients r WHERE r.id = ANY (v_ids);
        SELECT array_agg(s.open ORDER BY u.i), array_agg(s.until ORDER BY u.i)
          INTO v_open, v_until
          FROM unnest(v_zones) WITH ORDINALITY AS u (z, i),
               campaign.zone_window_at(c, w, nullif(u.z, ''), v_now) s;
        EXIT WHEN coalesce(NOT false = ANY (v_open), true) OR i = 3;
        UPDATE campaign.recipients r
           SET next_attempt_at = coalesce(v_until[array_position(v_zones,
                                              coalesce(r.timezone, ''))],
                                          v_now + interval '1 day')
         WHERE r.campaign_id = c.id AND r.next_attempt_at IS NOT NULL
           AND r.next_attempt_at <= v_now AND r.status = 'pending'
           AND coalesce(r.timezone, '') = ANY (v_zones)
           AND NOT v_open[array_position(v_zones, coalesce(r.timezone, ''))];
    END LOOP;
    RETURN QUERY
    UPDATE campaign.recipients r
       SET next_attempt_at = v_now + p_hold_ms * interval '1 ms'
     WHERE r.id = ANY (v_ids) AND r.status = 'pending'
       AND r.next_attempt_at <= v_now
       AND v_open[array_position(v_zones, coalesce(r.timezone, ''))]
    RETURNING r.id, r.address, r.vars::text, r.attempts + 1, r.seq, true,
              ceil(extract(epoch FROM v_until[array_position(v_zones,
                       coalesce(r.timezone, ''))] - v_now) * 1000)::bigint;
END
$$;
