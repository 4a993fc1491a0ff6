-- Delivery: the scheduler holding a running campaign reads its pending
-- recipients in batches, sends them, and writes the results back in
-- batches, each counting an attempt. If it dies, whoever takes the
-- campaign over sends what is still pending: at least once, same key.

-- The running campaigns this scheduler holds, with what it sends and how
-- long it holds each yet (ms): it sends nothing past that without asking
-- again; nor past the close of its send window (window_ms, NULL with
-- none). One waiting for its window is held by no one. waves: it is
-- planned (local.sql), so that it rests between its waves.
CREATE OR REPLACE FUNCTION campaign.my_running(p_owner text)
RETURNS TABLE (id uuid, type text, message text, lease_ms bigint,
               metadata text, window_ms bigint, waves boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.type, c.message::text,
           greatest(0, extract(epoch FROM c.lease_expires_at
                                          - clock_timestamp()) * 1000)::bigint,
           c.metadata::text,
           CASE WHEN c.window_closes_at IS NOT NULL
                THEN greatest(0, ceil(extract(epoch FROM c.window_closes_at
                                                  - clock_timestamp())
                                      * 1000))::bigint END,
           campaign.planned(c)
      FROM campaign.campaigns c
     WHERE c.status = 'running' AND c.lease_owner = p_owner
       AND c.waiting_until IS NULL
$$;

-- The next recipients of a campaign this scheduler holds: those due for a
-- retry, then those never tried, in the campaign's order after a place.
-- Recipients are added only before a campaign starts (API.md), with the
-- campaign locked, so a walk in seq order never leaves one behind: the
-- place only moves forward, over the rows never tried ("retry" false).
-- Only the holder sends a campaign, so reading is enough for those: it
-- remembers which it has in flight, and one that takes the campaign over
-- after a crash sends again only what was in flight then, with the same
-- key. A retry read is held for p_hold_ms (its result sets its next time),
-- so that it is not read again while it is in flight.
-- A type with a rate gives each claim only the tokens its bucket holds,
-- whichever scheduler claims: the rate holds across all of them. The
-- bucket holds a tenth of a second of the rate (one token at least), so
-- no second sees more than 1.1 times it (one more, under 10 a second).
-- The plan is pinned to index walks: statistics taken before a big insert
-- made the planner sort the whole campaign for every claim.
-- A planned campaign (a local_time, or a window in each recipient's zone:
-- local.sql) has no walk in order: its recipients are given their due
-- times, a chunk a claim, and all are read as retries are, when due; with
-- a window per zone, each with how long it may still be sent (until_ms:
-- its holder sends none past it), those of closed zones put off to their
-- opening.
CREATE OR REPLACE FUNCTION campaign.next_recipients(p_owner text,
    p_campaign uuid, p_after bigint, p_limit integer, p_hold_ms integer)
RETURNS TABLE (id uuid, address text, vars text, attempt integer,
               seq bigint, retry boolean, until_ms bigint)
LANGUAGE plpgsql
SET enable_sort = off SET enable_bitmapscan = off
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    c        campaign.campaigns;
    v_rate   integer;
    v_limit  integer := p_limit;
    v_local  boolean;
    v_window jsonb;
    -- a bound of the retry index's walk, not a filter on each entry (a
    -- volatile call is never an index condition: the walk read every
    -- entry not due yet, a later wave's whole campaign)
    v_now    timestamptz;
    n        integer;
    m        integer := 0;
BEGIN
    SELECT x.* INTO c FROM campaign.campaigns x
     WHERE x.id = p_campaign AND x.status = 'running'
       AND x.lease_owner = p_owner
       -- its send window closed: nothing more until it opens
       AND x.waiting_until IS NULL
       AND (x.window_closes_at IS NULL
            OR x.window_closes_at > clock_timestamp());
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT t.rate INTO v_rate FROM campaign.types t WHERE t.name = c.type;

    v_local := campaign.planned(c);
    IF v_local THEN
        PERFORM campaign.plan_waves(p_campaign, 5000);
        v_window := campaign.recipients_window(c);
    END IF;

    IF v_rate > 0 THEN
        UPDATE campaign.types t
           SET tokens = least(greatest(v_rate / 10.0, 1),
                              t.tokens + v_rate * extract(epoch FROM
                                  clock_timestamp() - t.tokens_at)),
               tokens_at = clock_timestamp()
         WHERE t.name = c.type
        RETURNING least(p_limit, floor(t.tokens))::integer INTO v_limit;
        IF v_limit < 1 THEN
            RETURN;
        END IF;
    END IF;

    v_now := clock_timestamp();
    IF v_window IS NOT NULL THEN
        RETURN QUERY
        SELECT * FROM campaign.claim_in_zones(c, v_window, v_limit,
                                              p_hold_ms);
        GET DIAGNOSTICS n = ROW_COUNT;
    ELSE
        RETURN QUERY
        WITH due AS (
            SELECT r.id FROM campaign.recipients r
             WHERE r.campaign_id = p_campaign
               AND r.next_attempt_at IS NOT NULL
               AND r.next_attempt_at <= v_now AND r.status = 'pending'
             ORDER BY r.next_attempt_at
             LIMIT v_limit)
        UPDATE campaign.recipients r
           SET next_attempt_at = clock_timestamp()
                                 + p_hold_ms * interval '1 ms'
          FROM due
         WHERE r.id = due.id
        RETURNING r.id, r.address, r.vars::text, r.attempts + 1, r.seq, true,
                  NULL::bigint;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;

    IF n < v_limit AND NOT v_local THEN
        RETURN QUERY
        SELECT r.id, r.address, r.vars::text, r.attempts + 1, r.seq, false,
               NULL::bigint
          FROM campaign.recipients r
         WHERE r.campaign_id = p_campaign AND r.seq > p_after
           AND r.next_attempt_at IS NULL AND r.status = 'pending'
         ORDER BY r.seq
         LIMIT v_limit - n;
        GET DIAGNOSTICS m = ROW_COUNT;
    END IF;

    IF v_rate > 0 THEN
        UPDATE campaign.types t SET tokens = t.tokens - n - m
         WHERE t.name = c.type;
    END IF;
END
$$;

-- Results, as a JSON array of {"id", "campaign", "outcome": "sent" |
-- "retry" | "failed", "provider_id", "error", "retry_ms"}. A recipient
-- cancelled while its request was in flight was still sent: "sent" is the
-- truth and wins. Results name their campaign, so the campaigns are locked
-- from those ids, before their recipients (as the API's cancel does: the
-- stats trigger would otherwise lock them second).
CREATE OR REPLACE FUNCTION campaign.record_results(p_owner text,
    p_results jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n       integer;
    v_sent  jsonb;
    v_ids   uuid[] := ARRAY(SELECT DISTINCT (x ->> 'campaign')::uuid
                              FROM jsonb_array_elements(p_results) x);
BEGIN
    PERFORM campaign.act_as_scheduler(p_owner);
    PERFORM 1 FROM campaign.campaigns c
     WHERE c.id = ANY (v_ids)
     ORDER BY c.id
       FOR UPDATE;

    WITH res AS (
        SELECT (x ->> 'id')::uuid AS id,
               (x ->> 'campaign')::uuid AS campaign_id,
               x ->> 'outcome' AS outcome,
               x ->> 'provider_id' AS provider_id, x ->> 'error' AS error,
               coalesce((x ->> 'retry_ms')::bigint, 0) AS retry_ms
          FROM jsonb_array_elements(p_results) x),
    upd AS (
        UPDATE campaign.recipients r
           SET status = CASE res.outcome WHEN 'sent' THEN 'sent'
                                         WHEN 'failed' THEN 'failed'
                                         ELSE r.status END,
               sent_at = CASE WHEN res.outcome = 'sent'
                              THEN clock_timestamp() ELSE r.sent_at END,
               provider_id = coalesce(res.provider_id, r.provider_id),
               last_error = CASE WHEN res.outcome = 'sent' THEN NULL
                                 ELSE left(res.error, 500) END,
               attempts = r.attempts + 1,
               next_attempt_at = CASE WHEN res.outcome = 'retry'
                                      THEN clock_timestamp()
                                           + res.retry_ms * interval '1 ms'
                                 END
          FROM res
         WHERE r.id = res.id
           AND r.campaign_id = res.campaign_id  -- a result names its campaign
           AND (r.status = 'pending'
                OR (res.outcome = 'sent' AND r.status = 'cancelled'))
        RETURNING r.id, r.campaign_id, res.outcome, res.provider_id),
    -- the audit trail has the campaign's progress, not each recipient:
    -- at most one results event a second per campaign (its latest event,
    -- one step back its index), and the batch that leaves none pending;
    -- with the totals after this batch (the counters, read before the
    -- statement moves them, plus the batch's) and the receipts so far.
    -- (A data-modifying WITH runs whether or not the query reads it.)
    ev AS (
        INSERT INTO campaign.events (tenant, campaign_id, actor, action,
                                     from_status, to_status, detail)
        SELECT c.tenant, c.id, campaign.actor(), 'results', c.status,
               c.status, jsonb_build_object('sent', c.sent + g.sent,
                   'failed', c.failed + g.failed,
                   'delivered', c.delivered, 'undelivered', c.undelivered)
          FROM (SELECT x.campaign_id,
                       count(*) FILTER (WHERE x.outcome = 'sent') AS sent,
                       count(*) FILTER (WHERE x.outcome = 'failed') AS failed
                  FROM upd x GROUP BY x.campaign_id) g
          JOIN campaign.campaigns c ON c.id = g.campaign_id
         WHERE g.sent + g.failed > 0
           AND (c.pending <= g.sent + g.failed
                OR (SELECT e.action <> 'results'
                           OR e.at < clock_timestamp() - interval '1 second'
                      FROM campaign.events e
                     WHERE e.campaign_id = c.id
                     ORDER BY e.id DESC LIMIT 1) IS NOT FALSE))
    SELECT count(*),
           coalesce(jsonb_agg(jsonb_build_object('id', u.id,
                        'campaign', u.campaign_id, 'pid', u.provider_id))
                    FILTER (WHERE u.outcome = 'sent'
                              AND u.provider_id <> ''), '[]')
      INTO n, v_sent
      FROM upd u;

    -- a receipt finds its recipient by the provider's id, per type; one
    -- that came first is applied now (its campaign is locked above). A
    -- provider that gives one id to many keeps it for the first.
    WITH ids AS (
        INSERT INTO campaign.provider_ids AS p
               (type, provider_id, recipient_id)
        SELECT DISTINCT ON (c.type, left(x ->> 'pid', 200))
               c.type, left(x ->> 'pid', 200), (x ->> 'id')::uuid
          FROM jsonb_array_elements(v_sent) x
          JOIN campaign.campaigns c ON c.id = (x ->> 'campaign')::uuid
        ON CONFLICT (type, provider_id) DO UPDATE
           SET recipient_id = EXCLUDED.recipient_id
         WHERE p.recipient_id IS NULL
        RETURNING p.recipient_id, p.receipt_status, p.receipt_error,
                  p.receipt_at)
    UPDATE campaign.recipients r
       SET delivery = ids.receipt_status, delivered_at = ids.receipt_at,
           last_error = CASE WHEN ids.receipt_status = 'undelivered'
                             THEN ids.receipt_error ELSE r.last_error END
      FROM ids
     WHERE r.id = ids.recipient_id AND ids.receipt_status IS NOT NULL;

    -- only a campaign of this batch can have been left with nothing
    -- pending (the tick completes the others): a batch is a window's half,
    -- so its fixed cost is a delivery's
    IF EXISTS (SELECT 1 FROM campaign.campaigns c
                WHERE c.id = ANY (v_ids) AND c.status = 'running'
                  AND c.pending = 0) THEN
        PERFORM campaign.complete_done(p_owner);
        -- one of this batch waiting for its send window (its holder let
        -- go of it at the close, before these results came in); locked
        -- above
        PERFORM campaign.apply_transition('complete',
            ARRAY(SELECT c.id FROM campaign.campaigns c
                   WHERE c.id = ANY (v_ids) AND c.status = 'running'
                     AND c.waiting_until IS NOT NULL AND c.pending = 0));
    END IF;
    RETURN n;
END
$$;

-- A campaign that cannot run at all (no provider for its type) fails.
CREATE OR REPLACE FUNCTION campaign.fail_campaign(p_owner text,
    p_campaign uuid, p_reason text) RETURNS void
LANGUAGE sql AS $$
    SELECT campaign.act_as_scheduler(p_owner);
    SELECT count(*) FROM campaign.apply_transition('fail',
        ARRAY(SELECT c.id FROM campaign.campaigns c
               WHERE c.id = p_campaign AND c.lease_owner = p_owner
                 FOR UPDATE OF c),
        p_reason => p_reason)
$$;
