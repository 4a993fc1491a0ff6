-- Delivery: the scheduler holding a running campaign reads its pending
-- recipients in batches, sends them, and writes the results back in
-- batches, each counting an attempt. If it dies, whoever takes the
-- campaign over sends what is still pending: at least once, same key.

-- Claims walk only the recipients still pending: a walk over the whole
-- campaign would pass every one already sent, again and again.
CREATE INDEX recipients_pending ON campaign.recipients (campaign_id, seq)
    WHERE status = 'pending';

-- The running campaigns this scheduler holds, with what it sends.
CREATE FUNCTION campaign.my_running(p_owner text)
RETURNS TABLE (id uuid, type text, message text)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.type, c.message::text
      FROM campaign.campaigns c
     WHERE c.status = 'running' AND c.lease_owner = p_owner
$$;

-- The next pending recipients of a campaign this scheduler holds, due now,
-- after a place in the campaign. Only the campaign's holder sends its
-- recipients, so reading is enough: the holder remembers which it has in
-- flight, and one that takes the campaign over after a crash sends again
-- only what was in flight then, with the same key.
CREATE FUNCTION campaign.next_recipients(p_owner text, p_campaign uuid,
    p_after bigint, p_limit integer)
RETURNS TABLE (id uuid, address text, vars text, attempt integer,
               seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT r.id, r.address, r.vars::text, r.attempts + 1, r.seq
      FROM campaign.recipients r
      JOIN campaign.campaigns c ON c.id = r.campaign_id
     WHERE c.id = p_campaign AND c.status = 'running'
       AND c.lease_owner = p_owner
       AND r.campaign_id = p_campaign AND r.status = 'pending'
       AND r.seq > p_after
       AND (r.next_attempt_at IS NULL
            OR r.next_attempt_at <= clock_timestamp())
     ORDER BY r.seq
     LIMIT p_limit
$$;

-- Results, as a JSON array of {"id", "outcome": "sent"|"retry"|"failed",
-- "provider_id", "error", "retry_ms"}. A recipient cancelled while its
-- request was in flight was still sent: "sent" is the truth and wins.
CREATE FUNCTION campaign.record_results(p_owner text, p_results jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
BEGIN
    -- campaign rows first, as the API's cancel does (campaign, then its
    -- recipients): the stats trigger would otherwise lock them second
    PERFORM 1 FROM campaign.campaigns c
     WHERE c.id IN (SELECT r.campaign_id FROM campaign.recipients r
                     WHERE r.id IN (SELECT (x ->> 'id')::uuid
                                      FROM jsonb_array_elements(p_results) x))
     ORDER BY c.id
       FOR UPDATE;

    WITH res AS (
        SELECT (x ->> 'id')::uuid AS id, x ->> 'outcome' AS outcome,
               x ->> 'provider_id' AS provider_id, x ->> 'error' AS error,
               coalesce((x ->> 'retry_ms')::integer, 0) AS retry_ms
          FROM jsonb_array_elements(p_results) x)
    UPDATE campaign.recipients r
       SET status = CASE res.outcome WHEN 'sent' THEN 'sent'
                                     WHEN 'failed' THEN 'failed'
                                     ELSE r.status END,
           sent_at = CASE WHEN res.outcome = 'sent' THEN clock_timestamp()
                          ELSE r.sent_at END,
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
       AND (r.status = 'pending'
            OR (res.outcome = 'sent' AND r.status = 'cancelled'));
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM campaign.complete_done(p_owner);
    RETURN n;
END
$$;

-- A campaign that cannot run at all (no provider for its type) fails.
CREATE FUNCTION campaign.fail_campaign(p_owner text, p_campaign uuid,
    p_reason text) RETURNS void
LANGUAGE sql AS $$
    UPDATE campaign.campaigns c
       SET status = tr.to_status, failure = p_reason,
           finished_at = clock_timestamp(),
           lease_owner = NULL, lease_expires_at = NULL
      FROM campaign.transitions tr
     WHERE tr.action = 'fail' AND tr.from_status = c.status
       AND c.id = p_campaign AND c.lease_owner = p_owner
$$;
