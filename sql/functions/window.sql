-- Send windows: {"timezone"?, "days"?, "from", "to"}. A window opens on
-- each of its days (all seven when none are named) at "from" in its zone
-- (its own, else the campaign's, else UTC) and closes at "to" the same
-- day, or the next when "to" is not after "from" (it crosses midnight).
-- Times in a spring-forward gap are the first instant after it; a time
-- the clocks show twice is its first occurrence (campaign.local_instant).


CREATE OR REPLACE FUNCTION campaign.window_days() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
$$;

-- A window as given, or the 400 that names its field. Returned with its
-- days in the week's order, each once, lower case.
CREATE OR REPLACE FUNCTION campaign.want_window(v jsonb, p_field text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_bad   text;
    v_days  text[];
    v_out   jsonb;
    k       text;
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
        PERFORM campaign.invalid(p_field, p_field || ' must be an object '
            || 'such as {"days": ["mon", "fri"], "from": "08:00", '
            || '"to": "20:00"}');
    END IF;
    SELECT left(x, 100) INTO v_bad FROM jsonb_object_keys(v) x
     WHERE x NOT IN ('timezone', 'days', 'from', 'to') LIMIT 1;
    IF FOUND THEN
        PERFORM campaign.invalid(p_field || '.' || v_bad,
            format('unknown field %s in %s', v_bad, p_field));
    END IF;

    v_out := '{}';
    IF coalesce(v -> 'timezone', 'null') <> 'null' THEN
        v_out := jsonb_build_object('timezone', campaign.want_timezone(
            v -> 'timezone', p_field || '.timezone'));
    END IF;

    IF coalesce(v -> 'days', 'null') = 'null' THEN
        v_days := campaign.window_days();
    ELSE
        IF jsonb_typeof(v -> 'days') <> 'array'
           OR jsonb_array_length(v -> 'days') NOT BETWEEN 1 AND 7
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(v -> 'days') d
                       WHERE jsonb_typeof(d) <> 'string'
                          OR lower(d #>> '{}') <> ALL (campaign.window_days()))
        THEN
            PERFORM campaign.invalid(p_field || '.days', p_field || '.days '
                || 'must be a list of 1 to 7 of mon, tue, wed, thu, fri, '
                || 'sat, sun');
        END IF;
        v_days := ARRAY(SELECT w FROM unnest(campaign.window_days())
                                      WITH ORDINALITY AS u (w, i)
                         WHERE w IN (SELECT lower(d #>> '{}')
                                       FROM jsonb_array_elements(v -> 'days') d)
                         ORDER BY i);
    END IF;

    FOREACH k IN ARRAY ARRAY['from', 'to'] LOOP
        IF jsonb_typeof(v -> k) IS DISTINCT FROM 'string'
           OR (v ->> k !~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'
               AND NOT (k = 'to' AND v ->> k IN ('24:00', '24:00:00')))
        THEN
            PERFORM campaign.invalid(p_field || '.' || k, p_field || '.' || k
                || ' must be a time of day, HH:MM or HH:MM:SS'
                || CASE WHEN k = 'to' THEN ' (24:00 for the end of the day)'
                        ELSE '' END);
        END IF;
    END LOOP;
    -- from = to is a whole day from "from" (to the same time the next
    -- day): on all seven days, a window that never closes, which is none
    IF cardinality(v_days) = 7
       AND ((v ->> 'from')::interval = (v ->> 'to')::interval
            OR (v ->> 'from')::interval + interval '24 hours'
               = (v ->> 'to')::interval)
    THEN
        PERFORM campaign.invalid(p_field || '.to', p_field || '.to: a '
            || 'whole day on every day never closes, which is no window: '
            || 'leave it out');
    END IF;

    RETURN v_out || jsonb_build_object('days', to_jsonb(v_days),
                                       'from', v ->> 'from',
                                       'to', v ->> 'to');
END
$$;

-- A campaign's window: its own, else its type's (the scheduler's file).
CREATE OR REPLACE FUNCTION campaign.window_of(c campaign.campaigns)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(c.send_window,
                    (SELECT t.send_window FROM campaign.types t
                      WHERE t.name = c.type))
$$;

-- A window at an instant: whether it is open, and until when it stays so
-- (its close; NULL if it never closes within a week), or when it opens
-- next. Windows that meet (Monday to 24:00, Tuesday from 00:00) are one.
CREATE OR REPLACE FUNCTION campaign.window_at(w jsonb, p_tz text,
    p_at timestamptz, OUT open boolean, OUT until timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tz     text := coalesce(w ->> 'timezone', p_tz, 'UTC');
    v_from   interval := (w ->> 'from')::interval;
    v_to     interval := (w ->> 'to')::interval;
    v_day    date := (p_at AT TIME ZONE v_tz)::date;
    v_open   timestamptz;
    v_close  timestamptz;
    d        date;
BEGIN
    IF v_to <= v_from THEN
        v_to := v_to + interval '1 day';     -- it crosses midnight
    END IF;
    open := false;
    -- a window opened yesterday may still be open; one opens within a week
    FOR d IN SELECT g::date FROM generate_series(v_day - 1, v_day + 8,
                                                 interval '1 day') g
    LOOP
        CONTINUE WHEN to_char(d, 'dy') <> ALL (
            ARRAY(SELECT jsonb_array_elements_text(w -> 'days')));
        v_open := campaign.local_instant(d + v_from, v_tz);
        v_close := campaign.local_instant(d + v_to, v_tz);
        IF open THEN
            -- the next opening meets this close: still open
            EXIT WHEN v_open > until;
            until := greatest(until, v_close);
        ELSIF v_open <= p_at AND p_at < v_close THEN
            open := true;
            until := v_close;
        ELSIF v_open > p_at THEN
            until := v_open;
            RETURN;
        END IF;
    END LOOP;
    IF open AND until < p_at + interval '7 days' THEN
        RETURN;
    END IF;
    until := NULL;                          -- open all week, every week
END
$$;

-- Whether the campaign's window w is each recipient's, in its zone: some
-- recipients have a zone, and w has none of its own (local.sql applies it
-- recipient by recipient).
CREATE OR REPLACE FUNCTION campaign.window_in_zones(c campaign.campaigns,
    w jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT c.recipient_zones AND NOT w ? 'timezone'
$$;

-- A window in each recipient's zone, NULL if none.
CREATE OR REPLACE FUNCTION campaign.recipients_window(c campaign.campaigns)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT w FROM campaign.window_of(c) w
     WHERE campaign.window_in_zones(c, w)
$$;

-- A campaign's window at p_now (window_at() of its own or its type's, in
-- its zone); both NULL when it has none, or when it is each recipient's.
CREATE OR REPLACE FUNCTION campaign.window_now(c campaign.campaigns,
    p_now timestamptz, OUT open boolean, OUT until timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w  jsonb := campaign.window_of(c);
BEGIN
    IF w IS NOT NULL AND NOT campaign.window_in_zones(c, w) THEN
        SELECT s.open, s.until INTO open, until
          FROM campaign.window_at(w, c.timezone, p_now) s;
    END IF;
END
$$;

-- For apply_transition: when a campaign's window closes (it takes a slot
-- now), NULL with none; p_now when it is closed (a start moves it to
-- waiting); and when it opens next (it waits now), p_now if it is open.
CREATE OR REPLACE FUNCTION campaign.window_closes(c campaign.campaigns,
    p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s.open THEN s.until WHEN NOT s.open THEN p_now END
      FROM campaign.window_now(c, p_now) s
$$;

CREATE OR REPLACE FUNCTION campaign.window_opens(c campaign.campaigns,
    p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN NOT s.open THEN s.until ELSE p_now END
      FROM campaign.window_now(c, p_now) s
$$;

-- Whether a campaign due now would find its window closed (it waits
-- rather than take a slot).
CREATE OR REPLACE FUNCTION campaign.window_closed(c campaign.campaigns,
    p_now timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(NOT s.open, false) FROM campaign.window_now(c, p_now) s
$$;
