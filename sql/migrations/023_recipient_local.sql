-- Recipient-local delivery (issue 15): a recipient may carry its own time
-- zone; a campaign with a local_time sends each recipient at that time of
-- its date in the recipient's zone, in waves (sql/functions/local.sql).
-- Its holder's claims give the recipients their due times, a chunk at a
-- time: waves_planned is the seq planned up to.
ALTER TABLE campaign.recipients
    ADD COLUMN timezone text;               -- NULL: the campaign's
ALTER TABLE campaign.campaigns
    ADD COLUMN local_time text,             -- "HH:MM" or "HH:MM:SS"
    ADD COLUMN waves_planned bigint;

-- the rows to add carry a zone; the holder learns which rest
DROP FUNCTION IF EXISTS campaign.recipient_rows(jsonb, text);
DROP FUNCTION IF EXISTS campaign.my_running(text);
