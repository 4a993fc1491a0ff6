-- What campaign-scheduler calls to start campaigns. Every status change
-- goes through campaign.apply_transition(), like the API's, and any number
-- of schedulers may call these at once.

CREATE OR REPLACE FUNCTION campaign.scheduler_beat(p_id text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO campaign.schedulers (id) VALUES (p_id)
    ON CONFLICT (id) DO UPDATE SET last_seen = now()
$$;

-- The operator's pool sizes, rates, types, shared pools and send windows
-- become the shared limits (what the scheduler that read its file last
-- says). A type the file declares (with its address kind) is added; a
-- type the file names counts against the pool it names for it, or its
-- own. p_windows: a JSON array, a window or null per type (a scheduler of
-- before 021 passes none: the windows stay as they are).
CREATE OR REPLACE FUNCTION campaign.scheduler_pools(p_types text[],
    p_limits integer[], p_rates integer[], p_kinds text[],
    p_pool_of text[], p_windows jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_changed  text[];
BEGIN
    INSERT INTO campaign.types (name, address_kind)
    SELECT u.name, u.kind
      FROM unnest(p_types, p_kinds) AS u (name, kind)
     WHERE u.kind IS NOT NULL
    ON CONFLICT (name) DO UPDATE SET address_kind = EXCLUDED.address_kind
     WHERE campaign.types.address_kind IS DISTINCT FROM EXCLUDED.address_kind;

    -- a pool named by a type Postgres does not have is no pool: the type
    -- keeps its own (and the rest of the file is still written)
    UPDATE campaign.types t
       SET pool_limit = coalesce(u.l, t.pool_limit),
           rate = coalesce(u.r, t.rate),
           pool_type = u.p
      FROM (SELECT v.name, v.l, v.r,
                   (SELECT h.name FROM campaign.types h
                     WHERE h.name = v.p AND h.name <> v.name) AS p
              FROM unnest(p_types, p_limits, p_rates, p_pool_of)
                   AS v (name, l, r, p)) AS u
     WHERE t.name = u.name
       AND (t.pool_limit, t.rate, t.pool_type)
           IS DISTINCT FROM (coalesce(u.l, t.pool_limit),
                             coalesce(u.r, t.rate), u.p);

    -- the file's windows; one it no longer has goes
    IF p_windows IS NOT NULL THEN
        WITH changed AS (
            UPDATE campaign.types t
               SET send_window = u.w
              FROM (SELECT v.name,
                           campaign.window_of_file(v.name,
                               p_windows -> (v.i - 1)::integer) AS w
                      FROM unnest(p_types) WITH ORDINALITY AS v (name, i)) u
             WHERE t.name = u.name
               AND t.send_window IS DISTINCT FROM u.w
            RETURNING t.name)
        SELECT array_agg(name) INTO v_changed FROM changed;
    END IF;
    -- and at once for the campaigns that follow them: one sending learns
    -- its new close (now, if the new window is closed: the next start
    -- moves it to waiting), one waiting its new opening (now, if open)
    IF v_changed IS NOT NULL THEN
        UPDATE campaign.campaigns c
           SET window_closes_at = campaign.window_closes(c, clock_timestamp())
         WHERE c.type = ANY (v_changed) AND c.send_window IS NULL
           AND c.status = 'running' AND c.waiting_until IS NULL;
        PERFORM campaign.apply_transition('wait',
            ARRAY(SELECT c.id FROM campaign.campaigns c
                   WHERE c.type = ANY (v_changed) AND c.send_window IS NULL
                     AND c.status = 'running' AND c.waiting_until IS NOT NULL
                     FOR UPDATE OF c SKIP LOCKED));
    END IF;
END
$$;

-- A type's window from a scheduler's file, checked as the API checks one;
-- one Postgres refuses (a zone its tz data lacks) is none, with a warning,
-- and the rest of the file still applies.
CREATE OR REPLACE FUNCTION campaign.window_of_file(p_type text, w jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_why  text;
BEGIN
    IF coalesce(w, 'null') = 'null' THEN
        RETURN NULL;
    END IF;
    RETURN campaign.want_window(w, 'send_window');
EXCEPTION WHEN SQLSTATE 'CP400' THEN
    GET STACKED DIAGNOSTICS v_why = PG_EXCEPTION_DETAIL;
    RAISE WARNING 'send_window of type % left out: %', p_type, v_why;
    RETURN NULL;
END
$$;

-- The advisory lock a scheduler holds on its LISTEN connection while it
-- lives: Postgres lets go of it the moment that session ends, which is how
-- the others learn of a death in a second instead of a lease. A hash of
-- the id (a collision only makes a death look like a life: the lease is
-- still there), in a class of locks of its own ('CSCH').
CREATE OR REPLACE FUNCTION campaign.scheduler_lock_class()
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT 1129530184
$$;

CREATE OR REPLACE FUNCTION campaign.scheduler_lock_key(p_id text)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtext(p_id)
$$;

-- Takes this session's lock for the scheduler p_id, and says so with the
-- server it lives on; false if another session holds it (the scheduler's
-- last connection, not yet gone, or another with the same id). The row is
-- written whenever the lock is held: a session lock outlives a failed
-- statement, and a stale row would make a death look like a life.
CREATE OR REPLACE FUNCTION campaign.scheduler_lock(p_id text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- held already by this session: taking it again would stack it
    IF NOT EXISTS (SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory'
                      AND l.classid = campaign.scheduler_lock_class()::oid
                      AND l.objid = campaign.scheduler_lock_key(p_id)::oid
                      AND l.objsubid = 2 AND l.pid = pg_backend_pid())
       AND NOT pg_try_advisory_lock(campaign.scheduler_lock_class(),
                                    campaign.scheduler_lock_key(p_id))
    THEN
        RETURN false;
    END IF;
    INSERT INTO campaign.schedulers (id, server_started)
    VALUES (p_id, pg_postmaster_start_time())
    ON CONFLICT (id) DO UPDATE
        SET server_started = EXCLUDED.server_started, last_seen = now();
    RETURN true;
END
$$;

-- Scheduled campaigns due within the horizon, with their time in ms
-- rounded up (for a scheduler of before 019) and in µs (a timestamp's
-- own precision), so that a timer armed for it never fires before it; and
-- running campaigns waiting for their send window, by its opening. A
-- time of -infinity (set in SQL) has no number: the sweep starts it.
CREATE OR REPLACE FUNCTION campaign.due_within(p_ms integer)
RETURNS TABLE (id uuid, due_ms bigint, due_us bigint) LANGUAGE sql STABLE
AS $$
    SELECT d.id, ceil(extract(epoch FROM d.at) * 1000)::bigint,
           (extract(epoch FROM d.at) * 1000000)::bigint
      FROM (SELECT c.id, c.scheduled_at AS at
              FROM campaign.campaigns c
             WHERE c.status = 'scheduled'
               AND c.scheduled_at <= clock_timestamp() + p_ms * interval '1 ms'
               AND isfinite(c.scheduled_at)
            UNION ALL
            SELECT c.id, c.waiting_until
              FROM campaign.campaigns c
             WHERE c.status = 'running'
               AND c.waiting_until <= clock_timestamp()
                                      + p_ms * interval '1 ms') d
     ORDER BY d.at
$$;

-- When a campaign this scheduler holds has nothing pending, it completes.
-- With p_waiting, also those waiting for their send window (a tick's):
-- their holder let go of them before its last results came in.
CREATE OR REPLACE FUNCTION campaign.complete_done(p_owner text,
    p_waiting boolean DEFAULT false)
RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::integer FROM campaign.apply_transition('complete',
        ARRAY(SELECT c.id FROM campaign.campaigns c
               WHERE c.status = 'running' AND c.pending = 0
                 AND (c.lease_owner = p_owner
                      OR (p_waiting AND c.waiting_until IS NOT NULL))
                 FOR UPDATE OF c SKIP LOCKED))
$$;

-- The starts of a scheduler: free slots of each pool go to its queued
-- campaigns in the order they became due, then to its due ones (which
-- start in one move, scheduled to running); what is due and found no slot
-- becomes queued. Returns what it started (status running, with its
-- lateness). A scheduler calls it on a connection of its own when a start
-- time comes or a slot is freed, so that a start never waits behind its
-- other statements; scheduler_tick() calls it too.
--   p_until  the latest start time the caller's timers fired for: if this
--            server's clock is a little behind the caller's, the start
--            waits for it (at most 100 ms), so that what the timer fired
--            for is due here, and never started early
--   p_only   the one campaign to consider (the warm-up's)
CREATE OR REPLACE FUNCTION campaign.scheduler_start(p_owner text,
    p_lease_ms integer, p_until timestamptz DEFAULT NULL,
    p_only uuid DEFAULT NULL)
RETURNS TABLE (id uuid, type text, status text, lateness_ms double precision,
               previous_owner text)
LANGUAGE plpgsql AS $$
DECLARE
    t        record;
    v_lease  interval := p_lease_ms * interval '1 ms';
    v_due    timestamptz;
    v_limit  integer;
    v_free   bigint;
    v_queued boolean;
    v_ids    uuid[];
    v_wait   uuid[];
    v_open   uuid[];
    v_run    uuid[] := '{}';
    v_waited uuid[] := '{}';
    v_lock   text;
BEGIN
    IF p_until > clock_timestamp()
       AND p_until < clock_timestamp() + interval '100 ms'
    THEN
        PERFORM pg_sleep(extract(epoch FROM p_until - clock_timestamp()));
    END IF;
    -- one instant for what is due, so that what the pools left is queued
    v_due := clock_timestamp();
    PERFORM campaign.act_as_scheduler(p_owner);
    -- a series' runs due: skipped, or their series' other runs cancelled,
    -- as the series says
    IF p_only IS NULL THEN
        PERFORM campaign.runs_due(v_due);
    END IF;

    -- send windows (window.sql) that closed: their campaigns wait for
    -- the next opening, holding no slot (the holder stopped sending at
    -- the close). A campaign sending is locked by each batch of its
    -- results for a few ms: waited for (skipped, its slot would wait for
    -- the next sweep), but not for long: one a client holds longer is
    -- left to the next start or sweep
    IF p_only IS NULL
       AND EXISTS (SELECT 1 FROM campaign.campaigns c
                    WHERE c.status = 'running' AND c.waiting_until IS NULL
                      AND c.window_closes_at <= v_due)
    THEN
        v_lock := current_setting('lock_timeout');
        BEGIN
            PERFORM set_config('lock_timeout', '200ms', true);
            PERFORM campaign.apply_transition('wait',
                ARRAY(SELECT c.id FROM campaign.campaigns c
                       WHERE c.status = 'running'
                         AND c.waiting_until IS NULL
                         AND c.window_closes_at <= v_due
                       ORDER BY c.id
                         FOR UPDATE OF c));
            PERFORM set_config('lock_timeout', v_lock, true);
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
    END IF;

    -- a pool's row lock (its first type's) makes its slot count exact
    -- across schedulers; the types sharing it count together. Locked in
    -- name order, each once, FOR NO KEY UPDATE: a campaign being inserted
    -- holds its type's key share (the foreign key) until it commits, and
    -- must hold up no start.
    FOR t IN SELECT ty.name,
                    ARRAY(SELECT m.name FROM campaign.types m
                           WHERE coalesce(m.pool_type, m.name) = ty.name)
                    AS members,
                    EXISTS (SELECT 1 FROM campaign.types m
                             WHERE coalesce(m.pool_type, m.name) = ty.name
                               AND m.send_window IS NOT NULL) AS windowed
               FROM campaign.types ty
              WHERE ty.pool_type IS NULL
                AND EXISTS (SELECT 1 FROM campaign.campaigns q
                              JOIN campaign.types m ON m.name = q.type
                             WHERE coalesce(m.pool_type, m.name) = ty.name
                               AND (p_only IS NULL OR q.id = p_only)
                               AND (q.status = 'queued'
                                    OR (q.status = 'scheduled'
                                        AND q.scheduled_at <= v_due)
                                    OR (q.status = 'running'
                                        AND q.waiting_until <= v_due)))
              ORDER BY ty.name
    LOOP
        -- its limit as the lock finds it (one lowered meanwhile holds)
        SELECT ty.pool_limit INTO v_limit FROM campaign.types ty
         WHERE ty.name = t.name FOR NO KEY UPDATE;

        -- again while what it chose found its window closed (it waits,
        -- and leaves its slot to the next)
        LOOP
            -- a campaign waiting for its window holds no slot; at its
            -- opening it is in the queue, by the opening's time
            SELECT v_limit - count(*) FILTER (WHERE r.status = 'running'
                                                AND r.waiting_until IS NULL),
                   coalesce(bool_or(r.status = 'queued'
                                    OR r.waiting_until <= v_due), false)
              INTO v_free, v_queued
              FROM campaign.campaigns r
             WHERE r.type = ANY (t.members)
               AND r.status IN ('queued', 'running');

            EXIT WHEN v_free <= 0;

            -- the queue first, in the order its campaigns became due
            -- (queued_at: its time, its start or its resume; a window's
            -- opening); locked as chosen: apply_transition checks only
            -- the status
            v_ids := '{}';
            IF v_queued THEN
                v_ids := ARRAY(SELECT q.id FROM campaign.campaigns q
                                WHERE q.type = ANY (t.members)
                                  AND (q.status = 'queued'
                                       OR (q.status = 'running'
                                           AND q.waiting_until <= v_due))
                                  AND (p_only IS NULL OR q.id = p_only)
                                ORDER BY coalesce(q.waiting_until,
                                                  q.queued_at), q.id
                                LIMIT v_free
                                  FOR UPDATE OF q SKIP LOCKED);
                -- one locked by a client (being paused, cancelled) stays
                -- first
                v_queued := EXISTS (SELECT 1 FROM campaign.campaigns q
                                     WHERE q.type = ANY (t.members)
                                       AND (q.status = 'queued'
                                            OR (q.status = 'running'
                                                AND q.waiting_until <= v_due))
                                       AND (p_only IS NULL OR q.id = p_only)
                                       AND q.id <> ALL (v_ids));
            END IF;

            -- then, with nothing left queued, what is due, in one move
            -- from scheduled to running (a reschedule committed meanwhile
            -- is seen: FOR UPDATE reads the row again; one locked by an
            -- edit waits for the next tick)
            IF NOT v_queued AND cardinality(v_ids) < v_free THEN
                v_ids := v_ids || ARRAY(SELECT q.id
                                          FROM campaign.campaigns q
                                         WHERE q.type = ANY (t.members)
                                           AND q.status = 'scheduled'
                                           AND q.scheduled_at <= v_due
                                           AND (p_only IS NULL
                                                OR q.id = p_only)
                                         ORDER BY q.scheduled_at, q.id
                                         LIMIT v_free - cardinality(v_ids)
                                           FOR UPDATE OF q SKIP LOCKED);
            END IF;
            EXIT WHEN cardinality(v_ids) = 0;

            -- in one read of what was chosen: those whose window is closed
            -- wait for it, without a slot; those waiting for the opening
            -- open; the others run
            SELECT coalesce(array_agg(x.id) FILTER (WHERE x.closed), '{}'),
                   coalesce(array_agg(x.id)
                                FILTER (WHERE NOT x.closed AND x.waiting),
                            '{}'),
                   coalesce(array_agg(x.id)
                                FILTER (WHERE NOT x.closed AND NOT x.waiting),
                            '{}')
              INTO v_wait, v_open, v_ids
              FROM (SELECT c.id, c.waiting_until IS NOT NULL AS waiting,
                           CASE WHEN c.send_window IS NOT NULL OR t.windowed
                                THEN campaign.window_closed(c, v_due)
                                ELSE false END AS closed
                      FROM campaign.campaigns c
                     WHERE c.id = ANY (v_ids)) x;
            IF cardinality(v_wait) > 0 THEN
                PERFORM campaign.apply_transition('wait', v_wait);
                v_waited := v_waited || v_wait;
            END IF;

            -- lateness: from when it became due (or its window opened) to
            -- the moment of the move, which its lease begins at
            -- (started_at keeps a first start), so that a first start's
            -- is started_at - scheduled_at to the µs; none for a time of
            -- -infinity (set in SQL)
            RETURN QUERY
            SELECT s.id, s.type, s.status,
                   CASE WHEN isfinite(s.queued_at)
                        THEN (extract(epoch FROM s.lease_expires_at - v_lease
                                                 - s.queued_at)
                              * 1000)::double precision
                   END,
                   NULL::text
              FROM campaign.apply_transition('run', v_ids,
                       p_owner => p_owner, p_lease => v_lease) s;
            IF cardinality(v_open) > 0 THEN
                RETURN QUERY
                SELECT s.id, s.type, s.status,
                       (extract(epoch FROM s.lease_expires_at - v_lease
                                           - s.queued_at)
                        * 1000)::double precision,
                       NULL::text
                  FROM campaign.apply_transition('open', v_open,
                           p_owner => p_owner, p_lease => v_lease) s;
            END IF;
            v_run := v_run || v_ids || v_open;

            EXIT WHEN cardinality(v_wait) = 0;
        END LOOP;
    END LOOP;

    -- what is due and found no slot waits in the queue
    PERFORM campaign.apply_transition('due',
        ARRAY(SELECT c.id FROM campaign.campaigns c
               WHERE c.status = 'scheduled'
                 AND c.scheduled_at <= v_due
                 AND (p_only IS NULL OR c.id = p_only)
                 FOR UPDATE OF c SKIP LOCKED));

    -- one started with no recipient pending is done at once (rows this
    -- transaction locked already)
    PERFORM campaign.apply_transition('complete',
        ARRAY(SELECT c.id FROM campaign.campaigns c
               WHERE c.id = ANY (v_run || v_waited)
                 AND c.status = 'running' AND c.pending = 0));
END
$$;

-- A start made and undone, for a scheduler's starts' connection when it
-- connects: a new backend's first start plans every statement of the way
-- (the lifecycle's, its triggers') and loads their tables' caches, some
-- 10 ms of the first campaigns due after a scheduler (re)connects. A
-- campaign of no tenant's, due now, is started alone (its pool's lock
-- held for that moment) in a subtransaction that is then rolled back with
-- every event and notification of it.
CREATE OR REPLACE FUNCTION campaign.scheduler_warm(p_owner text,
    p_lease_ms integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO campaign.campaigns (tenant, name, type, status, message,
                                        scheduled_at)
        SELECT 'campaign-scheduler warm-up', 'warm-up', t.name, 'scheduled',
               '{}', clock_timestamp()
          FROM campaign.types t
         ORDER BY t.send_window IS NOT NULL, t.name     -- one that runs
         LIMIT 1;
        PERFORM campaign.scheduler_start(p_owner, p_lease_ms, NULL,
            (SELECT c.id FROM campaign.campaigns c
              WHERE c.tenant = 'campaign-scheduler warm-up'));
        RAISE EXCEPTION USING ERRCODE = 'CPWRM';
    EXCEPTION WHEN SQLSTATE 'CPWRM' THEN
        NULL;
    END;
END
$$;

-- One wake-up of a scheduler: running campaigns with nothing pending
-- complete, this scheduler's
-- leases are renewed (once a quarter of one has passed, so that a caller
-- that ticks at least every half lease always holds three eighths of one
-- more) and others' taken over: once expired, or at once if their holder
-- is dead, i.e. took its lock on this server's life and no longer holds
-- it. (A lock lost with its connection, the holder alive, looks the same:
-- the holder stops sending the moment its connection goes, and asks again
-- which campaigns are its own.) Then its starts (scheduler_start()).
-- Returns what it started (status running, with its lateness) and what it
-- took over (status taken, with the scheduler it took it from).
CREATE OR REPLACE FUNCTION campaign.scheduler_tick(p_owner text,
    p_lease_ms integer)
RETURNS TABLE (id uuid, type text, status text, lateness_ms double precision,
               previous_owner text)
LANGUAGE plpgsql AS $$
DECLARE
    v_lease   interval := p_lease_ms * interval '1 ms';
    v_alive   oid[] := '{}';
    v_started campaign.started[];
BEGIN
    PERFORM campaign.act_as_scheduler(p_owner);

    -- with no recipient left pending there is nothing to run
    PERFORM campaign.complete_done(p_owner, true);

    -- the schedulers alive on this server: those holding their lock
    IF EXISTS (SELECT 1 FROM campaign.campaigns c
                WHERE c.status = 'running' AND c.lease_owner <> p_owner)
    THEN
        v_alive := ARRAY(SELECT l.objid FROM pg_locks l
                          WHERE l.locktype = 'advisory'
                            AND l.database = (SELECT oid FROM pg_database
                                              WHERE datname
                                                    = current_database())
                            AND l.classid
                                = campaign.scheduler_lock_class()::oid
                            AND l.objsubid = 2 AND l.granted);
    END IF;

    -- the old row's owner, read beside the row the update locks
    RETURN QUERY
    WITH taken AS (
    UPDATE campaign.campaigns c
       SET lease_owner = p_owner,
           lease_expires_at = clock_timestamp() + v_lease
      FROM campaign.campaigns was
     WHERE was.id = c.id
       AND c.status = 'running' AND c.waiting_until IS NULL
       AND (c.lease_owner IS NULL
            OR c.lease_expires_at < clock_timestamp()
            OR (c.lease_owner = p_owner
                AND c.lease_expires_at
                    < clock_timestamp() + v_lease * 3 / 4)
            OR (c.lease_owner <> p_owner
                AND campaign.scheduler_lock_key(c.lease_owner)::oid
                    <> ALL (v_alive)
                AND EXISTS (SELECT 1 FROM campaign.schedulers s
                             WHERE s.id = c.lease_owner
                               AND s.server_started
                                   = pg_postmaster_start_time())))
    RETURNING c.id, c.type, was.lease_owner)
    SELECT tk.id, tk.type, 'taken'::text, NULL::double precision,
           tk.lease_owner
      FROM taken tk
     WHERE tk.lease_owner IS NOT NULL AND tk.lease_owner <> p_owner;

    -- last: a pool's lock is then held only until the commit, not while
    -- a thousand campaigns complete (the starts' connection waits for it).
    -- Starts that fail (a lock time-out) leave the leases renewed above.
    BEGIN
        SELECT array_agg(ROW(x.id, x.type, x.status, x.lateness_ms,
                             x.previous_owner)::campaign.started)
          INTO v_started
          FROM campaign.scheduler_start(p_owner, p_lease_ms) x;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'scheduler_tick: starts failed: %', SQLERRM;
        v_started := NULL;
    END;
    RETURN QUERY SELECT x.id, x.type, x.status, x.lateness_ms,
                        x.previous_owner
                   FROM unnest(v_started) AS x;
END
$$;

-- The runs of series due within the lead (campaign.series_materialize),
-- made by a scheduler's sweep: at most p_limit at a time (the caller asks
-- again while a call made p_limit); p_lead_ms, at least 5 s, covers a few
-- of its sweeps. Returns how many it made.
CREATE OR REPLACE FUNCTION campaign.scheduler_series(p_owner text,
    p_limit integer, p_lead_ms integer DEFAULT 0)
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    PERFORM campaign.act_as_scheduler(p_owner);
    RETURN campaign.series_materialize(p_limit, NULL,
                                       p_lead_ms * interval '1 ms');
END
$$;

-- Housekeeping, off the request path: Idempotency-Keys a day old (which
-- are never replayed) go, p_limit at a time; rows another scheduler is
-- deleting are skipped. Returns how many went.
CREATE OR REPLACE FUNCTION campaign.purge_keys(p_limit integer)
RETURNS integer LANGUAGE sql AS $$
    WITH old AS (
        SELECT k.tenant, k.key FROM campaign.idempotency_keys k
         WHERE k.created_at < now() - interval '24 hours'
         ORDER BY k.created_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED),
    gone AS (
        DELETE FROM campaign.idempotency_keys k USING old
         WHERE k.tenant = old.tenant AND k.key = old.key
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

-- Retention, off the request path: one finished campaign at a time (the
-- oldest finished before p_older_ms ago), its recipients p_limit at a
-- time, the campaign itself once none is left; and, in the same call, the
-- events of one campaign deleted before p_older_ms ago, p_limit at a time,
-- oldest first (its delete event, which finds it, last). Rows another
-- scheduler is deleting, or a client is touching, are skipped. Returns
-- what went: 0, 0, 0 when nothing did.
CREATE OR REPLACE FUNCTION campaign.purge_finished(p_older_ms bigint,
    p_limit integer)
RETURNS TABLE (campaigns integer, recipients integer, events integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_id      uuid;
    v_c       integer := 0;
    v_r       integer := 0;
    v_e       integer := 0;
    v_before  timestamptz := now() - p_older_ms * interval '1 ms';
BEGIN
    SELECT c.id INTO v_id FROM campaign.campaigns c
     WHERE c.status IN ('completed', 'cancelled', 'failed')
       AND c.finished_at < v_before
     ORDER BY c.finished_at
     LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        WITH gone AS (
            DELETE FROM campaign.recipients r
             WHERE r.id IN (SELECT x.id FROM campaign.recipients x
                             WHERE x.campaign_id = v_id
                             LIMIT p_limit)
            RETURNING 1)
        SELECT count(*)::integer INTO v_r FROM gone;

        IF v_r < p_limit THEN
            DELETE FROM campaign.campaigns c WHERE c.id = v_id;
            v_c := 1;
        END IF;
    END IF;

    -- (a campaign this call deleted has its delete event now: its trail
    -- waits the whole period)
    SELECT e.campaign_id INTO v_id FROM campaign.events e
     WHERE e.action = 'delete' AND e.at < v_before
     ORDER BY e.at
     LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        WITH gone AS (
            DELETE FROM campaign.events e
             WHERE e.id IN (SELECT x.id FROM campaign.events x
                             WHERE x.campaign_id = v_id
                             ORDER BY x.id
                             LIMIT p_limit
                               FOR UPDATE SKIP LOCKED)
            RETURNING 1)
        SELECT count(*)::integer INTO v_e FROM gone;
    END IF;

    RETURN QUERY SELECT v_c, v_r, v_e;
END
$$;
