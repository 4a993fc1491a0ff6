-- Recipient-local delivery (issue 15): a recipient may carry its own time
-- zone; a campaign with a local_time sends each recipient at that time of
-- its date in the recipient's zone, in waves (sql/functions/local.sql).
-- Its holder's claims give the recipients their due times, a chunk at a
-- time: waves_planned is the seq planned up to.
ALTER TABLE campaign.recipients
    ADD COLUMN timezone text;               -- NULL: the campaign's
ALTER TABLE campaign.campaigns
    ADD COLUMN local_time text,             -- "HH:MM" or "HH:MM:SS"
    ADD COLUMN waves_planned bigint,
    -- some recipient has a zone: a send window without a zone of its own
    -- is then each recipient's, in its zone
    ADD COLUMN recipient_zones boolean NOT NULL DEFAULT false;

-- the rows to add carry a zone; the holder learns which rest
DROP FUNCTION IF EXISTS campaign.recipient_rows(jsonb, text);
DROP FUNCTION IF EXISTS campaign.my_running(text);
-- a page's size and the preview's count are checked by one function
DROP FUNCTION IF EXISTS campaign.page_limit(text, integer, integer);
-- a claim's rows say until when each may be sent (its zone's window)
DROP FUNCTION IF EXISTS campaign.next_recipients(text, uuid, bigint, integer,
    integer);
