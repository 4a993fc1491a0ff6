-- Recipient-local delivery: a campaign with a local_time sends each
-- recipient at that time of the campaign's date in the recipient's own
-- zone (its timezone, else the campaign's, else UTC): in waves, the first
-- when the first zone reaches it, the last when the last does. A
-- recipient whose time has passed when the campaign starts is sent at
-- once. Between waves the campaign waits as for a send window, holding no
-- slot of its pool.


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
-- at the end of the gap, as a series' occurrence is.
CREATE OR REPLACE FUNCTION campaign.recipient_due(c campaign.campaigns,
    p_tz text, p_date date DEFAULT NULL)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT campaign.local_instant(d + c.local_time::interval,
                                  coalesce(p_tz, c.timezone, 'UTC'))
      FROM coalesce(p_date, campaign.local_date(c)) AS d
     WHERE c.local_time IS NOT NULL AND d IS NOT NULL
$$;

-- The next p_limit recipients of a running campaign with a local_time,
-- in its order, get their due time as their next attempt, so that the
-- claims' retry path (next_recipients) sends each when it is due, those
-- past at once. A due time per zone, not per recipient, and no join: the
-- claims' plan pins joins to nested loops, which would make this
-- quadratic. Returns whether any was left to plan before this call.
CREATE OR REPLACE FUNCTION campaign.plan_waves(p_campaign uuid,
    p_limit integer)
RETURNS boolean LANGUAGE plpgsql
SET enable_sort = on SET enable_hashjoin = on SET enable_hashagg = on
AS $$
DECLARE
    c       campaign.campaigns;
    v_date  date;
    v_upto  bigint;
    v_zones text[];
    v_dues  timestamptz[];
BEGIN
    SELECT * INTO c FROM campaign.campaigns WHERE id = p_campaign;
    v_date := campaign.local_date(c);
    SELECT max(x.seq), array_agg(DISTINCT coalesce(x.timezone, ''))
      INTO v_upto, v_zones
      FROM (SELECT r.seq, r.timezone FROM campaign.recipients r
             WHERE r.campaign_id = p_campaign
               AND r.seq > coalesce(c.waves_planned, 0)
             ORDER BY r.seq
             LIMIT p_limit) x;
    IF v_upto IS NULL THEN
        RETURN false;
    END IF;
    v_dues := ARRAY(SELECT campaign.recipient_due(c, nullif(z, ''), v_date)
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
    RETURN true;
END
$$;

-- Its holder has nothing in flight and found nothing due: a campaign with
-- a local_time whose next wave is more than a second away waits for it
-- as for a send window (window.sql), giving its slot back (rested).
-- next_ms: in how long its next wave is due (NULL: none, or some of its
-- recipients are not planned yet), for a holder that keeps it to claim
-- again then.
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
       AND c.local_time IS NOT NULL
       -- all planned: none is left without its time
       AND NOT EXISTS (SELECT 1 FROM campaign.recipients r
                        WHERE r.campaign_id = c.id
                          AND r.seq > coalesce(c.waves_planned, 0))
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT min(r.next_attempt_at) INTO v_next
      FROM campaign.recipients r
     WHERE r.campaign_id = p_campaign AND r.next_attempt_at IS NOT NULL
       AND r.status = 'pending';
    next_ms := greatest(0, ceil(extract(epoch FROM v_next
                                               - clock_timestamp()) * 1000));
    IF next_ms > 1000 THEN
        PERFORM campaign.act_as_scheduler(p_owner);
        PERFORM campaign.apply_transition('wait', ARRAY[p_campaign],
                                          p_at => v_next);
        rested := true;
    END IF;
END
$$;
