-- Recurring campaigns. A series is a campaign with a recurrence (a cron in
-- a zone, with optional bounds): it never runs itself. Its runs are made
-- ahead of time, each a campaign of its own (series_id) scheduled at its
-- occurrence with a copy of the series' type, message, metadata and
-- recipients, and started by the scheduler like any other, with the same
-- precision. Runs are made campaign.series_lead() ahead: by every
-- scheduler's sweep (series_materialize) and by the API when a series is
-- made, resumed or changed. The overlap and catch-up rules are applied at
-- a run's time, by scheduler_start() (campaign.runs_due).

-- How far ahead a series' runs are made: more than a few sweeps, so that
-- a run is a scheduled campaign in a scheduler's wheel before its time (a
-- scheduler with a longer sweep asks for more: scheduler_series()).
CREATE OR REPLACE FUNCTION campaign.series_lead() RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT interval '5 seconds'
$$;

-- The most recipients a series holds: the copy each run makes of them is
-- one statement of the scheduler's (about a second for 100,000).
CREATE OR REPLACE FUNCTION campaign.series_max_recipients() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT 100000
$$;

-- A recurrence's bound (starts_at, ends_at): RFC 3339, or a wall-clock
-- time in its zone; NULL when left out; else the 400 that names p_field.
CREATE OR REPLACE FUNCTION campaign.want_bound(v jsonb, p_tz text,
    p_field text)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    t  timestamptz;
BEGIN
    IF coalesce(v, 'null') = 'null' THEN
        RETURN NULL;
    END IF;
    t := campaign.parse_zoned_time(v, p_tz, p_field);
    IF t IS NULL THEN
        PERFORM campaign.invalid(p_field, p_field
                                 || ' must be an RFC 3339 time');
    END IF;
    RETURN t;
END
$$;

-- A recurrence as given, checked and completed: the object shown, and its
-- cron parsed. p_tz: the campaign's zone, the default of the recurrence's.
CREATE OR REPLACE FUNCTION campaign.want_recurrence(v jsonb, p_tz text,
    OUT recurrence jsonb, OUT spec campaign.cron_spec)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tz      text;
    v_from    timestamptz;
    v_until   timestamptz;
    v_max     integer;
    v_overlap text := 'skip';
    v_catch   integer := 3600;
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
        PERFORM campaign.invalid('recurrence', 'recurrence must be an object');
    END IF;
    PERFORM campaign.check_fields(v, ARRAY['cron', 'timezone', 'starts_at',
        'ends_at', 'max_runs', 'overlap', 'catch_up']);
    IF jsonb_typeof(v -> 'cron') IS DISTINCT FROM 'string' THEN
        PERFORM campaign.invalid('recurrence.cron',
                                 'recurrence.cron is required: a string');
    END IF;
    spec := campaign.cron_parse(v ->> 'cron');
    v_tz := CASE WHEN coalesce(v -> 'timezone', 'null') = 'null'
                 THEN coalesce(p_tz, 'UTC')
                 ELSE campaign.want_timezone(v -> 'timezone',
                                             'recurrence.timezone') END;
    v_from := campaign.want_bound(v -> 'starts_at', v_tz,
                                  'recurrence.starts_at');
    v_until := campaign.want_bound(v -> 'ends_at', v_tz,
                                   'recurrence.ends_at');
    IF v_until <= coalesce(v_from, clock_timestamp()) THEN
        PERFORM campaign.invalid('recurrence.ends_at',
            'recurrence.ends_at must be after starts_at and now');
    END IF;
    IF coalesce(v -> 'max_runs', 'null') <> 'null' THEN
        IF jsonb_typeof(v -> 'max_runs') <> 'number'
           OR (v ->> 'max_runs') !~ '^[0-9]{1,7}$'
           OR (v ->> 'max_runs')::integer < 1
        THEN
            PERFORM campaign.invalid('recurrence.max_runs',
                'recurrence.max_runs must be an integer from 1 to 9999999');
        END IF;
        v_max := (v ->> 'max_runs')::integer;
    END IF;
    IF coalesce(v -> 'overlap', 'null') <> 'null' THEN
        IF jsonb_typeof(v -> 'overlap') <> 'string'
           OR NOT (v ->> 'overlap' = ANY (ARRAY['skip', 'queue', 'replace']))
        THEN
            PERFORM campaign.invalid('recurrence.overlap',
                'recurrence.overlap must be skip, queue or replace');
        END IF;
        v_overlap := v ->> 'overlap';
    END IF;
    IF coalesce(v -> 'catch_up', 'null') <> 'null' THEN
        IF jsonb_typeof(v -> 'catch_up') <> 'number'
           OR (v ->> 'catch_up') !~ '^[0-9]{1,6}$'
           OR (v ->> 'catch_up')::integer > 604800
        THEN
            PERFORM campaign.invalid('recurrence.catch_up',
                'recurrence.catch_up must be a whole number of seconds '
                'from 0 to 604800 (7 days)');
        END IF;
        v_catch := (v ->> 'catch_up')::integer;
    END IF;
    recurrence := jsonb_build_object('cron',
        regexp_replace(v ->> 'cron', '^\s+|\s+$', '', 'g'),
        'timezone', v_tz, 'starts_at', campaign.ts(v_from),
        'ends_at', campaign.ts(v_until), 'max_runs', v_max,
        'overlap', v_overlap, 'catch_up', v_catch);
END
$$;

-- A series' first occurrence after p_after within its bounds, or NULL.
CREATE OR REPLACE FUNCTION campaign.series_next(c campaign.campaigns,
    p_after timestamptz)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    r  jsonb := c.recurrence;
    t  timestamptz;
BEGIN
    IF (r ->> 'max_runs')::integer <= c.runs THEN
        RETURN NULL;
    END IF;
    t := campaign.cron_next(c.cron, r ->> 'timezone',
             greatest(p_after, (r ->> 'starts_at')::timestamptz
                               - interval '1 microsecond'));
    IF t > (r ->> 'ends_at')::timestamptz THEN
        RETURN NULL;
    END IF;
    RETURN t;
END
$$;

-- The latest occurrence of a series in [p_from, p_upto], p_from being one.
-- Occurrences before it are found by halving: the first after a middle
-- point tells whether any lies past it.
CREATE OR REPLACE FUNCTION campaign.series_latest(c campaign.campaigns,
    p_from timestamptz, p_upto timestamptz)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    lo  timestamptz := p_from;
    hi  timestamptz := p_upto;
    n   timestamptz;
    m   timestamptz;
BEGIN
    LOOP
        n := campaign.series_next(c, lo);
        IF n IS NULL OR n > p_upto THEN
            RETURN lo;
        END IF;
        m := n + (hi - n) / 2;
        -- the first after the middle: past p_upto, none is in (m, hi]
        n := campaign.series_next(c, m);
        IF n IS NULL OR n > hi THEN
            hi := m;
            lo := campaign.series_next(c, lo);
        ELSE
            lo := n;
        END IF;
    END LOOP;
END
$$;

-- One run of a series, at an occurrence: a campaign of its own, scheduled,
-- with a copy of the series' recipients as they are now.
CREATE OR REPLACE FUNCTION campaign.series_run(s campaign.campaigns,
    p_at timestamptz)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_id  uuid;
BEGIN
    INSERT INTO campaign.campaigns (tenant, name, type, status, message,
                                    metadata, scheduled_at, timezone,
                                    send_window, local_time, recipient_zones,
                                    series_id)
    VALUES (s.tenant, s.name, s.type, 'scheduled', s.message, s.metadata,
            p_at, s.timezone, s.send_window, s.local_time, s.recipient_zones,
            s.id)
    RETURNING id INTO v_id;
    IF s.total > 0 THEN
        INSERT INTO campaign.recipients (campaign_id, address, vars,
                                         timezone)
        SELECT v_id, r.address, r.vars, r.timezone
          FROM campaign.recipients r
         WHERE r.campaign_id = s.id
         ORDER BY r.seq;
    END IF;
    PERFORM campaign.event(s.tenant, s.id, 'run_created', s.status,
                           s.status, jsonb_build_object(
                               'run_id', v_id,
                               'occurrence', campaign.ts(p_at)));
    RETURN v_id;
END
$$;

-- Makes the runs due within the lead of active series (of p_series only,
-- if given), at most p_limit; moves each series on to its next occurrence,
-- or completes it when none is left. An occurrence already past when its
-- run would be made was missed (no scheduler was running): of those, only
-- the latest is run, late, and only if it is no older than the series'
-- catch_up; the others are skipped, and the series' trail says which
-- (from the first skipped to "until", the occurrence after the last).
-- Returns how many runs it made.
CREATE OR REPLACE FUNCTION campaign.series_materialize(p_limit integer,
    p_series uuid DEFAULT NULL, p_lead interval DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    s       campaign.campaigns;
    v_lead  interval := greatest(coalesce(p_lead, campaign.series_lead()),
                                 campaign.series_lead());
    v_now   timestamptz;
    v_at    timestamptz;
    v_last  timestamptz;
    v_id    uuid;
    n       integer := 0;
    v_rows  bigint := 0;
BEGIN
    FOR s IN SELECT * FROM campaign.campaigns c
              WHERE c.status = 'scheduled' AND c.recurrence IS NOT NULL
                AND c.next_run_at <= clock_timestamp() + v_lead
                AND (p_series IS NULL OR c.id = p_series)
              ORDER BY c.next_run_at
              LIMIT p_limit
                FOR UPDATE OF c SKIP LOCKED
    LOOP
        -- a statement copies at most a series' worth of recipients more
        -- than that: the rest is the next statement's
        EXIT WHEN v_rows >= campaign.series_max_recipients();
        v_now := clock_timestamp();
        v_at := s.next_run_at;
        WHILE v_at IS NOT NULL AND v_at <= v_now + v_lead AND n < p_limit
              AND v_rows < campaign.series_max_recipients()
        LOOP
            IF v_at < v_now THEN
                v_last := campaign.series_latest(s, v_at, v_now);
                IF v_now - v_last
                   > ((s.recurrence ->> 'catch_up') || ' s')::interval
                THEN
                    -- all of them too old
                    v_last := campaign.series_next(s, v_now);
                    PERFORM campaign.event(s.tenant, s.id, 'runs_skipped',
                        s.status, s.status, jsonb_build_object(
                            'reason', 'missed', 'from', campaign.ts(v_at),
                            'until', campaign.ts(v_last)));
                    v_at := v_last;
                    CONTINUE;
                END IF;
                IF v_last > v_at THEN
                    PERFORM campaign.event(s.tenant, s.id, 'runs_skipped',
                        s.status, s.status, jsonb_build_object(
                            'reason', 'missed', 'from', campaign.ts(v_at),
                            'until', campaign.ts(v_last)));
                    v_at := v_last;
                END IF;
            END IF;
            v_id := campaign.series_run(s, v_at);
            s.runs := s.runs + 1;
            s.last_run_id := v_id;
            n := n + 1;
            v_rows := v_rows + s.total;
            v_at := campaign.series_next(s, v_at);
        END LOOP;
        UPDATE campaign.campaigns
           SET runs = s.runs, last_run_id = s.last_run_id, next_run_at = v_at
         WHERE id = s.id;
        IF v_at IS NULL THEN
            PERFORM campaign.apply_transition('finish_series', ARRAY[s.id]);
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- A series' runs made ahead for occurrences still to come, cancelled
-- when it is paused, cancelled or its recurrence changes (one whose time
-- has come is the scheduler's to start); they no longer count against
-- max_runs.
CREATE OR REPLACE FUNCTION campaign.series_drop_ahead(p_series uuid)
RETURNS void LANGUAGE sql AS $$
    WITH dropped AS (
        SELECT count(*) AS n FROM campaign.apply_transition('cancel',
            ARRAY(SELECT c.id FROM campaign.campaigns c
                   WHERE c.series_id = p_series AND c.status = 'scheduled'
                     AND c.scheduled_at > clock_timestamp()
                   ORDER BY c.id
                     FOR UPDATE OF c)))
    UPDATE campaign.campaigns s SET runs = greatest(s.runs - d.n, 0)
      FROM dropped d
     WHERE s.id = p_series AND d.n > 0
$$;

-- A series armed from now: its next occurrence, and its runs within the
-- lead made at once. Made (p_strict): a recurrence with no occurrence
-- left is the 400 that says so; resumed: the series completes.
CREATE OR REPLACE FUNCTION campaign.series_arm(p_series uuid,
    p_strict boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s  campaign.campaigns;
    t  timestamptz;
BEGIN
    SELECT * INTO s FROM campaign.campaigns WHERE id = p_series;
    -- after now, and after every occurrence that has a run (one started
    -- early by hand, one whose time has come): none is made twice
    t := campaign.series_next(s, greatest(clock_timestamp(),
            (SELECT max(r.scheduled_at) FROM campaign.campaigns r
              WHERE r.series_id = p_series AND r.status <> 'cancelled')));
    IF t IS NULL AND p_strict THEN
        PERFORM campaign.invalid('recurrence', 'recurrence has no '
            || 'occurrence from now on (within its starts_at, ends_at and '
            || 'max_runs)');
    END IF;
    UPDATE campaign.campaigns SET next_run_at = t WHERE id = p_series;
    IF t IS NULL THEN
        PERFORM campaign.apply_transition('finish_series', ARRAY[p_series]);
    ELSE
        PERFORM campaign.series_materialize(100, p_series);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION campaign.series_start(p_series uuid)
RETURNS void LANGUAGE sql AS $$
    SELECT campaign.series_arm(p_series, true)
$$;

-- A (paused) series' recurrence has an occurrence left, or the 400.
CREATE OR REPLACE FUNCTION campaign.series_check(p_series uuid)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s  campaign.campaigns;
BEGIN
    SELECT * INTO s FROM campaign.campaigns WHERE id = p_series;
    IF campaign.series_next(s, clock_timestamp()) IS NULL THEN
        PERFORM campaign.invalid('recurrence', 'recurrence has no '
            || 'occurrence from now on (within its starts_at, ends_at and '
            || 'max_runs)');
    END IF;
END
$$;

-- An action of the API on a series (campaign.api_action; the row is
-- locked): pause and cancel drop the runs made ahead, resume arms it from
-- now (missed occurrences are not made); a series is never started or
-- scheduled itself.
CREATE OR REPLACE FUNCTION campaign.series_action(c campaign.campaigns,
    p_action text)
RETURNS campaign.api_result LANGUAGE plpgsql AS $$
DECLARE
    v_action  text := CASE p_action WHEN 'pause' THEN 'pause_series'
                                    WHEN 'resume' THEN 'resume_series'
                                    WHEN 'cancel' THEN 'cancel' END;
    v_to      text;
BEGIN
    SELECT to_status INTO v_to FROM campaign.transitions
     WHERE action = v_action AND from_status = c.status;
    IF v_to IS NULL THEN
        PERFORM campaign.fail('invalid_transition',
            CASE WHEN v_action IS NULL
                 THEN format('cannot %s a series: its runs start at its '
                             'occurrences', p_action)
                 ELSE format('cannot %s a series that is %s', p_action,
                             c.status) END,
            jsonb_build_object('status', c.status));
    END IF;
    IF v_to <> c.status THEN
        PERFORM campaign.apply_transition(v_action, ARRAY[c.id]);
        IF v_to = 'scheduled' THEN
            PERFORM campaign.series_arm(c.id, false);
        ELSE
            PERFORM campaign.series_drop_ahead(c.id);
        END IF;
    END IF;
    SELECT * INTO c FROM campaign.campaigns WHERE id = c.id;
    RETURN campaign.campaign_result(c);
END
$$;

-- At a run's time (scheduler_start, before the pools), set-based (a
-- thousand runs fall due at one instant when a thousand series share a
-- second): a run missed by more than its series' catch_up (a second late
-- is on time: a scheduler's own lateness), or with a later occurrence of
-- its series also due (made into a run or not), is skipped; with overlap
-- skip, one whose series has a run still active (queued, running or
-- paused) is skipped; with replace, the series' other runs still active
-- are cancelled and it starts. Each skip is in the run's and the series'
-- trails.
-- Every start pays for this before its move stamps started_at, so the
-- usual case is one read that locks nothing: the series with a due run
-- that may have something to do. Only their due runs are then locked (in
-- id order, as the pools lock, and not SKIP LOCKED: one that another start
-- or an edit holds is waited for, then read again: started meanwhile it
-- is gone from the set, moved later it is no longer due), and decided by
-- the next statement, which sees what the holders committed.
CREATE OR REPLACE FUNCTION campaign.runs_due(p_due timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_series   uuid[];
    v_ids      uuid[];
    v_missed   uuid[];
    v_skip     uuid[];
    v_replace  uuid[];          -- series
    v_events   jsonb;
BEGIN
    -- The series with a due run a second late or more (so each but the
    -- last of several due), or off the whole second (moved by hand), or
    -- with a run active, or whose next occurrence is due, not yet made.
    -- The others' runs start as they are, their series unread: its
    -- catch_up is a second at least, and its next occurrence, a whole
    -- second after the run's, is not yet due.
    v_series := ARRAY(
        SELECT DISTINCT c.series_id FROM campaign.campaigns c
         WHERE c.status = 'scheduled' AND c.series_id IS NOT NULL
           AND c.scheduled_at <= p_due
           AND (p_due - c.scheduled_at >= interval '1 second'
                OR c.scheduled_at <> date_trunc('second', c.scheduled_at)
                -- (one read of the runs active, hashed: a probe each
                -- costs a thousand due runs 2 ms more)
                OR c.series_id IN (SELECT o.series_id
                                     FROM campaign.campaigns o
                                    WHERE o.series_id IS NOT NULL
                                      AND o.status IN ('queued', 'running',
                                                       'paused'))
                -- (an index of its own, usually empty there)
                OR c.series_id IN (SELECT s.id FROM campaign.campaigns s
                                    WHERE s.status = 'scheduled'
                                      AND s.recurrence IS NOT NULL
                                      AND s.next_run_at <= p_due)));
    IF cardinality(v_series) = 0 THEN
        RETURN;
    END IF;

    v_ids := ARRAY(SELECT c.id FROM campaign.campaigns c
                    WHERE c.series_id = ANY (v_series)
                      AND c.status = 'scheduled' AND c.scheduled_at <= p_due
                    ORDER BY c.id
                      FOR UPDATE OF c);

    SELECT array_agg(d.id) FILTER (WHERE d.why = 'missed'),
           array_agg(d.id) FILTER (WHERE d.why = 'overlap'),
           array_agg(DISTINCT d.series_id) FILTER (WHERE d.why = 'replace'),
           jsonb_agg(jsonb_build_object('tenant', d.tenant,
                         'series', d.series_id, 'status', d.series_status,
                         'detail', jsonb_build_object('run_id', d.id,
                             'occurrence', campaign.ts(d.scheduled_at),
                             'reason', d.why))
                     ORDER BY d.scheduled_at)
               FILTER (WHERE d.why <> 'replace')
      INTO v_missed, v_skip, v_replace, v_events
      FROM (SELECT r.id, r.series_id, r.tenant, r.scheduled_at,
                   s.status AS series_status,
                   -- (a series deleted since: its runs just start)
                   CASE WHEN s.recurrence IS NULL THEN NULL
                        WHEN p_due - r.scheduled_at
                             > greatest(((s.recurrence ->> 'catch_up')
                                         || ' s')::interval,
                                        interval '1 second')
                          OR s.next_run_at <= p_due
                          OR r.scheduled_at < r.latest
                        THEN 'missed'
                        WHEN s.recurrence ->> 'overlap' IN ('skip', 'replace')
                             AND EXISTS (SELECT 1 FROM campaign.campaigns o
                                          WHERE o.series_id = r.series_id
                                            AND o.status IN ('queued',
                                                'running', 'paused'))
                        THEN CASE s.recurrence ->> 'overlap'
                                 WHEN 'skip' THEN 'overlap'
                                 ELSE 'replace' END
                   END AS why
              FROM (SELECT c.id, c.series_id, c.tenant, c.scheduled_at,
                           max(c.scheduled_at)
                               OVER (PARTITION BY c.series_id) AS latest
                      FROM campaign.campaigns c
                     WHERE c.id = ANY (v_ids)
                       AND c.status = 'scheduled') r
              -- its series by its key (LIMIT: never a hash of every
              -- campaign)
              LEFT JOIN LATERAL (SELECT s.status, s.next_run_at,
                                        s.recurrence
                                   FROM campaign.campaigns s
                                  WHERE s.id = r.series_id
                                  LIMIT 1) s ON true) d
     WHERE d.why IS NOT NULL;

    PERFORM campaign.apply_transition('skip', v_missed,
        p_reason => 'skipped: missed by longer than catch_up, or a later '
                    || 'occurrence is due');
    PERFORM campaign.apply_transition('skip', v_skip,
        p_reason => 'skipped: the previous run was still active');
    INSERT INTO campaign.events (tenant, campaign_id, actor, action,
                                 from_status, to_status, detail)
    SELECT e ->> 'tenant', (e ->> 'series')::uuid, campaign.actor(),
           'run_skipped', e ->> 'status', e ->> 'status', e -> 'detail'
      FROM jsonb_array_elements(v_events) WITH ORDINALITY AS x (e, i)
     ORDER BY x.i;

    -- replace: the series' runs still active go, the due one (locked
    -- above, still scheduled) starts
    IF v_replace IS NOT NULL THEN
        PERFORM campaign.apply_transition('cancel',
            ARRAY(SELECT o.id FROM campaign.campaigns o
                   WHERE o.series_id = ANY (v_replace)
                     AND o.status IN ('queued', 'running', 'paused')
                   ORDER BY o.id
                     FOR UPDATE OF o));
    END IF;
END
$$;
