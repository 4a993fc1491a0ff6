-- The gauges nginx's /metrics shows for the whole service (not a
-- tenant's): campaigns by type and status, each pool's limit, running and
-- queued, and when each scheduler seen in the last hour last beat. One
-- query, run by one worker at most every 5 s and cached in shared memory.
-- It counts over all campaigns (one scan of the table),
-- which the scheduler's retention keeps bounded.
CREATE OR REPLACE FUNCTION campaign.metrics_gauges()
RETURNS TABLE (metric text, label text, label2 text,
               value double precision)
LANGUAGE sql STABLE AS $$
    -- every type and status, 0 too: a series that vanished would read as
    -- "no data", not as none
    SELECT 'campaigns', ty.name, st.name,
           coalesce(n.n, 0)::double precision
      FROM campaign.types ty
     CROSS JOIN campaign.statuses st
      LEFT JOIN (SELECT c.type, c.status, count(*) AS n
                   FROM campaign.campaigns c
                  GROUP BY c.type, c.status) n
        ON n.type = ty.name AND n.status = st.name
    UNION ALL
    SELECT x.metric, x.pool, NULL, x.value
      FROM (SELECT p.name AS pool, p.pool_limit AS lim,
                   -- one waiting for its send window holds no slot
                   count(c.id) FILTER (WHERE c.status = 'running'
                                         AND c.waiting_until IS NULL) AS run,
                   count(c.id) FILTER (WHERE c.waiting_until IS NOT NULL)
                   AS waiting,
                   count(c.id) FILTER (WHERE c.status = 'queued') AS queue
              FROM campaign.types p
              JOIN campaign.types m ON coalesce(m.pool_type, m.name) = p.name
              LEFT JOIN campaign.campaigns c
                ON c.type = m.name AND c.status IN ('running', 'queued')
             WHERE p.pool_type IS NULL
             GROUP BY p.name, p.pool_limit) t,
           LATERAL (VALUES ('pool_limit', t.pool, t.lim::double precision),
                           ('pool_running', t.pool, t.run::double precision),
                           ('pool_waiting', t.pool,
                            t.waiting::double precision),
                           ('pool_queued', t.pool, t.queue::double precision))
               AS x (metric, pool, value)
    UNION ALL
    SELECT 'scheduler_seen', s.id, NULL,
           extract(epoch FROM s.last_seen)::double precision
      FROM campaign.schedulers s
     WHERE s.last_seen > now() - interval '1 hour'
$$;
