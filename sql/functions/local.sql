-- Recipient-local delivery: a campaign with a local_time sends each
-- recipient at that time of the campaign's date in the recipient's own
-- zone (its timezone, else the campaign's, else UTC): in waves, the first
-- when the first zone reaches it, the last when the last does; a
-- recipient whose time has passed when the campaign starts is sent at
-- once. The date is the campaign's start time's (scheduled_at, else when
-- it started) in the campaign's zone.


-- "HH:MM" or "HH:MM:SS", or the 400 that names local_time.
CREATE OR REPLACE FUNCTION campaign.want_local_time(v jsonb)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'string'
       OR v #>> '{}' !~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'
    THEN
        PERFORM campaign.invalid('local_time', 'local_time must be a time '
            || 'of day, HH:MM or HH:MM:SS');
    END IF;
    RETURN v #>> '{}';
END
$$;

-- When a recipient of the campaign is due: NULL without a local_time, or
-- before the campaign has a date.
CREATE OR REPLACE FUNCTION campaign.recipient_due(c campaign.campaigns,
    p_tz text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT campaign.local_instant(
               (coalesce(c.scheduled_at, c.started_at)
                AT TIME ZONE coalesce(c.timezone, 'UTC'))::date
               + c.local_time::interval,
               coalesce(p_tz, c.timezone, 'UTC'))
     WHERE c.local_time IS NOT NULL
       AND coalesce(c.scheduled_at, c.started_at) IS NOT NULL
       AND isfinite(coalesce(c.scheduled_at, c.started_at))
$$;

-- Once, by its holder's first claim: each pending recipient never tried
-- whose time is still to come gets it as its next attempt, so that the
-- claims' retry path sends each wave when it is due (the walk in order
-- takes only those never given one: the ones due now). A due time per
-- zone, not per recipient.
CREATE OR REPLACE FUNCTION campaign.plan_waves(p_campaign uuid)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c  campaign.campaigns;
BEGIN
    UPDATE campaign.campaigns SET waves_planned = true
     WHERE id = p_campaign AND NOT waves_planned
    RETURNING * INTO c;
    IF NOT FOUND OR c.local_time IS NULL THEN
        RETURN;
    END IF;
    WITH zones AS (
        SELECT z.tz, campaign.recipient_due(c, z.tz) AS due
          FROM (SELECT DISTINCT r.timezone AS tz FROM campaign.recipients r
                 WHERE r.campaign_id = p_campaign) z)
    UPDATE campaign.recipients r
       SET next_attempt_at = zones.due
      FROM zones
     WHERE r.campaign_id = p_campaign
       AND r.timezone IS NOT DISTINCT FROM zones.tz
       AND zones.due > clock_timestamp()
       AND r.status = 'pending' AND r.attempts = 0
       AND r.next_attempt_at IS NULL;
END
$$;
