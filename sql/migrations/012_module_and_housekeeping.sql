-- Idempotency keys are purged once a day old (campaign.purge_keys(), run
-- by the schedulers): they find the old ones by this.
CREATE INDEX idempotency_keys_created ON campaign.idempotency_keys
    (created_at);

-- internal_error: a statement that failed for a reason of the service's
-- own (a 500; a failure that passes is a 503)
INSERT INTO campaign.error_codes (code, status)
VALUES ('internal_error', 500);
