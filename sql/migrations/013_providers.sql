-- Real providers: types declared in the scheduler's file, pools that types
-- share, the campaign's metadata for the providers' templates, and
-- delivery receipts.

-- a type that counts against another's pool (the other's pool_limit)
ALTER TABLE campaign.types
    ADD COLUMN pool_type text REFERENCES campaign.types (name)
               CHECK (pool_type <> name);

-- what a provider reported later about a message it took (the check is
-- NOT VALID: every existing value is NULL, and validating would scan the
-- table under the exclusive lock the migration holds; new rows are
-- checked all the same)
ALTER TABLE campaign.recipients
    ADD COLUMN delivery text,
    ADD COLUMN delivered_at timestamptz;
ALTER TABLE campaign.recipients ADD CONSTRAINT recipients_delivery_check
    CHECK (delivery IN ('delivered', 'undelivered')) NOT VALID;

ALTER TABLE campaign.campaigns
    ADD COLUMN delivered integer NOT NULL DEFAULT 0,
    ADD COLUMN undelivered integer NOT NULL DEFAULT 0;

-- A receipt names the provider's id. An index on recipients.provider_id
-- would make every result a new version in all of the table's indexes
-- (009: results are heap-only updates); a row here is one small insert.
-- A receipt that comes before its result is written (a provider that
-- calls back at once, a batch waiting for its write) is kept in the same
-- row, recipient_id still NULL, a day at most: whichever of the two comes
-- second finds the other through the key (an insert waits for one in
-- flight with the same key), so neither is missed.
CREATE TABLE campaign.provider_ids (
    type            text NOT NULL,
    provider_id     text NOT NULL,
    recipient_id    uuid
                    REFERENCES campaign.recipients (id) ON DELETE CASCADE,
    receipt_status  text,
    receipt_error   text,
    receipt_at      timestamptz,
    received_at     timestamptz,
    PRIMARY KEY (type, provider_id)
);
CREATE INDEX provider_ids_recipient ON campaign.provider_ids (recipient_id);
CREATE INDEX provider_ids_early ON campaign.provider_ids (received_at)
    WHERE recipient_id IS NULL;

-- receipts are answered as they are, and refused with their own code
INSERT INTO campaign.error_codes (code, status) VALUES
    ('invalid_signature', 401);

DROP FUNCTION IF EXISTS campaign.my_running(text);
DROP FUNCTION IF EXISTS campaign.scheduler_pools(text[], integer[], integer[]);
-- campaign.api() takes the recipients' delivery filter; its helpers too
DROP FUNCTION IF EXISTS campaign.api(text, boolean, text, text, text, text,
    text, text, text, text, text, text);
DROP FUNCTION IF EXISTS campaign.api_route(text, text, text, text, text,
    text, text, text, text, text);
DROP FUNCTION IF EXISTS campaign.api_recipients_list(text, uuid, text, text,
    text);
