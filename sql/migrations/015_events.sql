-- The audit trail: every change of a campaign, written by triggers in the
-- transaction that makes it (sql/functions/events.sql). Not a foreign key
-- to campaigns: the record outlives the campaign it describes.
CREATE TABLE campaign.events (
    id           bigserial PRIMARY KEY,
    -- the writing transaction's: the feed's cursor (see events.sql)
    xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    tenant       text NOT NULL,
    campaign_id  uuid NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    from_status  text,
    to_status    text,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_feed ON campaign.events (tenant, xid, id);
CREATE INDEX events_campaign ON campaign.events (campaign_id, id);

ALTER TABLE campaign.campaigns
    ADD COLUMN created_by text,
    ADD COLUMN scheduled_by text;
