-- Recipient-local delivery (issue 15): a recipient may carry its own time
-- zone; a campaign with a local_time sends each recipient at that time of
-- its date in the recipient's zone, in waves. The waves are planned once,
-- by the first claim of its holder (dispatch.sql): each recipient due
-- later is given its due time as its next attempt.
ALTER TABLE campaign.recipients
    ADD COLUMN timezone text;               -- NULL: the campaign's
ALTER TABLE campaign.campaigns
    ADD COLUMN local_time text,             -- "HH:MM" or "HH:MM:SS"
    ADD COLUMN waves_planned boolean NOT NULL DEFAULT false;

-- the rows to add carry a zone
DROP FUNCTION IF EXISTS campaign.recipient_rows(jsonb, text);
