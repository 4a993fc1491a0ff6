-- Tables of the campaign service. Postgres is the truth: the module and the
-- scheduler keep no state that is not here.

CREATE SCHEMA campaign;

-- The set of campaign types is data: an operator adds one with an INSERT.
CREATE TABLE campaign.types (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    address_kind  text NOT NULL CHECK (address_kind IN ('e164', 'email')),
    pool_limit    integer NOT NULL DEFAULT 10 CHECK (pool_limit >= 0)
);

INSERT INTO campaign.types (name, address_kind, pool_limit) VALUES
    ('sms', 'e164', 10), ('voice', 'e164', 5), ('email', 'email', 10);

-- Only a hash of a key is kept; the key text is shown once, at creation.
CREATE TABLE campaign.api_keys (
    key_hash    bytea PRIMARY KEY,
    tenant      text NOT NULL CHECK (tenant <> ''),
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE campaign.statuses (
    name  text PRIMARY KEY
);

INSERT INTO campaign.statuses (name) VALUES
    ('draft'), ('scheduled'), ('queued'), ('running'), ('paused'),
    ('completed'), ('cancelled'), ('failed');

CREATE TABLE campaign.campaigns (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- creation order, for newest-first pages with stable cursors; indexed
    -- only with the tenant, so no cached plan can page through all tenants
    seq               bigint GENERATED ALWAYS AS IDENTITY,
    tenant            text NOT NULL,
    name              text NOT NULL,
    type              text NOT NULL REFERENCES campaign.types (name),
    status            text NOT NULL REFERENCES campaign.statuses (name),
    message           jsonb NOT NULL,
    metadata          jsonb NOT NULL DEFAULT '{}',
    scheduled_at      timestamptz,
    -- when it last became due: queued campaigns take slots in this order
    queued_at         timestamptz,
    total             integer NOT NULL DEFAULT 0,
    pending           integer NOT NULL DEFAULT 0,
    sent              integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    cancelled         integer NOT NULL DEFAULT 0,
    -- bumped on every change; the ETag
    version           bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    -- the scheduler holding a running campaign, until the lease expires
    lease_owner       text,
    lease_expires_at  timestamptz,
    failure           text
);

CREATE INDEX campaigns_tenant_seq ON campaign.campaigns (tenant, seq DESC);
CREATE INDEX campaigns_due ON campaign.campaigns (scheduled_at)
    WHERE status = 'scheduled';
CREATE INDEX campaigns_active ON campaign.campaigns (type, queued_at)
    WHERE status IN ('queued', 'running');

CREATE TABLE campaign.recipients (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- insertion order, for pages; indexed only with the campaign
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    campaign_id      uuid NOT NULL
                     REFERENCES campaign.campaigns (id) ON DELETE CASCADE,
    address          text NOT NULL,
    vars             jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed',
                                       'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    provider_id      text,
    sent_at          timestamptz,
    next_attempt_at  timestamptz,
    UNIQUE (campaign_id, address)
);

CREATE INDEX recipients_campaign_seq ON campaign.recipients (campaign_id, seq);

-- Idempotency-Key replay: one row per tenant and key, kept 24 h.
CREATE TABLE campaign.idempotency_keys (
    tenant       text NOT NULL,
    key          text NOT NULL,
    body_hash    bytea NOT NULL,
    campaign_id  uuid NOT NULL,
    response     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);

-- One row per running scheduler, refreshed by its heartbeat.
CREATE TABLE campaign.schedulers (
    id          text PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

-- Error codes of the API and the HTTP status each maps to: the one table
-- both the SQL functions and the docs read.
CREATE TABLE campaign.error_codes (
    code    text PRIMARY KEY,
    status  integer NOT NULL
);

INSERT INTO campaign.error_codes (code, status) VALUES
    ('invalid_json', 400), ('validation_failed', 400),
    ('unknown_field', 400), ('invalid_recipient', 400),
    ('unauthorized', 401), ('not_found', 404),
    ('method_not_allowed', 405), ('invalid_transition', 409),
    ('idempotency_key_reused', 409), ('precondition_failed', 412),
    ('payload_too_large', 413), ('unsupported_media_type', 415),
    ('database_unavailable', 503);
