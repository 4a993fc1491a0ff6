-- GET /recurrence/preview (a console's recurrence editor): campaign.api()
-- and its router take the cron, zone and count of the query (defaulted,
-- so that a module of before them still calls it)
DROP FUNCTION IF EXISTS campaign.api(text, boolean, text, text, text, text,
    text, text, text, text, text, text, text, text, text);
DROP FUNCTION IF EXISTS campaign.api_route(text, text, text, text, text,
    text, text, text, text, text, text, text, text);
