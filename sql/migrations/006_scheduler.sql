-- What campaign-scheduler calls. Every move checks the state it leaves
-- against campaign.transitions, like the API's, and any number of
-- schedulers may call these at once.

CREATE FUNCTION campaign.scheduler_beat(p_id text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO campaign.schedulers (id) VALUES (p_id)
    ON CONFLICT (id) DO UPDATE SET last_seen = now()
$$;

-- The operator's pool sizes become the shared limits.
CREATE FUNCTION campaign.scheduler_pools(p_types text[], p_limits integer[])
RETURNS void LANGUAGE sql AS $$
    UPDATE campaign.types t SET pool_limit = u.l
      FROM unnest(p_types, p_limits) AS u (name, l)
     WHERE t.name = u.name AND t.pool_limit <> u.l
$$;

-- Scheduled campaigns due within the horizon, with their time in ms
-- rounded up, so that a timer armed for it never fires before it.
CREATE FUNCTION campaign.due_within(p_ms integer)
RETURNS TABLE (id uuid, due_ms bigint) LANGUAGE sql STABLE AS $$
    SELECT c.id, ceil(extract(epoch FROM c.scheduled_at) * 1000)::bigint
      FROM campaign.campaigns c
     WHERE c.status = 'scheduled'
       AND c.scheduled_at <= clock_timestamp() + p_ms * interval '1 ms'
     ORDER BY c.scheduled_at
$$;

-- When a campaign has nothing pending left, it is completed.
CREATE FUNCTION campaign.complete_done(p_owner text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
BEGIN
    UPDATE campaign.campaigns c
       SET status = tr.to_status, finished_at = clock_timestamp(),
           lease_owner = NULL, lease_expires_at = NULL
      FROM campaign.transitions tr
     WHERE tr.action = 'complete' AND tr.from_status = c.status
       AND c.status = 'running' AND c.lease_owner = p_owner
       AND c.pending = 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- One wake-up of a scheduler: due campaigns become queued (in the order
-- they became due), free slots of each type are claimed in that order,
-- running campaigns with nothing pending complete, this scheduler's
-- leases are renewed and expired ones taken over. Returns what it started.
CREATE FUNCTION campaign.scheduler_tick(p_owner text, p_lease_ms integer)
RETURNS TABLE (id uuid, type text, status text, lateness_ms double precision)
LANGUAGE plpgsql AS $$
DECLARE
    t        record;
    v_lease  interval := p_lease_ms * interval '1 ms';
BEGIN
    UPDATE campaign.campaigns c
       SET status = tr.to_status, queued_at = c.scheduled_at
      FROM campaign.transitions tr
     WHERE tr.action = 'due' AND tr.from_status = c.status
       AND c.status = 'scheduled' AND c.scheduled_at <= clock_timestamp();

    -- a type's row lock makes its slot count exact across schedulers
    FOR t IN SELECT ty.name, ty.pool_limit FROM campaign.types ty
              WHERE EXISTS (SELECT 1 FROM campaign.campaigns q
                             WHERE q.type = ty.name AND q.status = 'queued')
              ORDER BY ty.name
    LOOP
        PERFORM 1 FROM campaign.types WHERE name = t.name FOR UPDATE;

        RETURN QUERY
        WITH free AS (
            SELECT greatest(t.pool_limit - count(*), 0) AS n
              FROM campaign.campaigns r
             WHERE r.type = t.name AND r.status = 'running'),
        pick AS (
            SELECT q.id FROM campaign.campaigns q, campaign.transitions tr
             WHERE q.type = t.name AND q.status = 'queued'
               AND tr.action = 'run' AND tr.from_status = q.status
             ORDER BY q.queued_at, q.id
             LIMIT (SELECT n FROM free)
               FOR UPDATE OF q SKIP LOCKED)
        UPDATE campaign.campaigns c
           SET status = 'running',
               started_at = coalesce(c.started_at, clock_timestamp()),
               lease_owner = p_owner,
               lease_expires_at = clock_timestamp() + v_lease
          FROM pick
         WHERE c.id = pick.id
        -- queued_at is when it became due: its time, its start or resume
        RETURNING c.id, c.type, c.status,
                  (extract(epoch FROM clock_timestamp() - c.queued_at)
                   * 1000)::double precision;
    END LOOP;

    -- with no recipient left pending there is nothing to run
    PERFORM campaign.complete_done(p_owner);

    UPDATE campaign.campaigns c
       SET lease_owner = p_owner,
           lease_expires_at = clock_timestamp() + v_lease
     WHERE c.status = 'running'
       AND (c.lease_owner IS NULL
            OR c.lease_expires_at < clock_timestamp()
            OR (c.lease_owner = p_owner
                AND c.lease_expires_at < clock_timestamp() + v_lease / 2));
END
$$;
