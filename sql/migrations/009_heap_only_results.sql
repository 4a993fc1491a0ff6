-- Writing a result was the dearest step of a delivery (13.6 us of Postgres
-- time per recipient): status was in the predicate of the index the claims
-- walk, so every result was a new row version in each of the table's four
-- indexes. Now no index names a column a first result changes, and pages
-- keep room for the new version: a result is a heap-only update that
-- touches no index (6 us). Claims walk the campaign's own order instead,
-- and find retries through a small index of their own.

DROP INDEX campaign.recipients_pending;

-- recipients waiting for a retry, and only those: a result that sets or
-- clears next_attempt_at (a retry) still updates this index, a first
-- result that is final (nearly all of them) leaves it alone
CREATE INDEX recipients_retry ON campaign.recipients
    (campaign_id, next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- a result's new row version fits in the page of the old one
ALTER TABLE campaign.recipients SET (fillfactor = 50);

-- The next recipients of a campaign this scheduler holds: those due for a
-- retry, then those never tried, in the campaign's order after a place.
-- Recipients are added only before a campaign starts (API.md), with the
-- campaign locked, so a walk in seq order never leaves one behind: the
-- place only moves forward, over the rows never tried ("retry" false).
-- The plan is pinned to index walks: statistics taken before a big insert
-- made the planner sort the whole campaign for every claim.
DROP FUNCTION campaign.next_recipients(text, uuid, bigint, integer);

CREATE FUNCTION campaign.next_recipients(p_owner text, p_campaign uuid,
    p_after bigint, p_limit integer)
RETURNS TABLE (id uuid, address text, vars text, attempt integer,
               seq bigint, retry boolean)
LANGUAGE sql STABLE
SET enable_sort = off SET enable_bitmapscan = off
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
    SELECT x.id, x.address, x.vars::text, x.attempts + 1, x.seq, x.retry
      FROM campaign.campaigns c
     CROSS JOIN LATERAL (
        (SELECT r.id, r.address, r.vars, r.attempts, r.seq, true AS retry
           FROM campaign.recipients r
          WHERE r.campaign_id = c.id AND r.next_attempt_at IS NOT NULL
            AND r.next_attempt_at <= clock_timestamp()
            AND r.status = 'pending'
          ORDER BY r.next_attempt_at
          LIMIT p_limit)
        UNION ALL
        (SELECT r.id, r.address, r.vars, r.attempts, r.seq, false
           FROM campaign.recipients r
          WHERE r.campaign_id = c.id AND r.seq > p_after
            AND r.next_attempt_at IS NULL AND r.status = 'pending'
          ORDER BY r.seq
          LIMIT p_limit)) x
     WHERE c.id = p_campaign AND c.status = 'running'
       AND c.lease_owner = p_owner
     LIMIT p_limit
$$;
