-- Time: zone names, wall-clock times in a zone, and cron expressions.
-- Postgres's tz data (the server's, /usr/share/zoneinfo on Debian) is the
-- one source of zone rules for the API and the scheduler alike.


-- The zone names of the server's tz data, read again (after a tzdata
-- update adds one). Returns how many were added.
CREATE OR REPLACE FUNCTION campaign.refresh_timezones() RETURNS integer
LANGUAGE sql AS $$
    WITH added AS (
        INSERT INTO campaign.timezones
        SELECT name FROM pg_timezone_names
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT count(*)::integer FROM added
$$;

-- An IANA zone name, or the 400 that names p_field.
CREATE OR REPLACE FUNCTION campaign.want_timezone(v jsonb, p_field text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'string'
       OR NOT EXISTS (SELECT 1 FROM campaign.timezones
                       WHERE name = v #>> '{}')
    THEN
        PERFORM campaign.invalid(p_field, p_field
            || ' must be an IANA time zone name, such as "Europe/Vienna"');
    END IF;
    RETURN v #>> '{}';
END
$$;

-- The zone's offset from UTC at an instant.
CREATE OR REPLACE FUNCTION campaign.tz_offset(p_at timestamptz, p_tz text)
RETURNS interval LANGUAGE sql STABLE AS $$
    SELECT (p_at AT TIME ZONE p_tz) - (p_at AT TIME ZONE 'UTC')
$$;

-- The instant of a wall-clock time in a zone. A time the clocks show
-- twice (the hour a fall-back repeats) is its first occurrence; a time
-- they skip (a spring-forward gap) is none (NULL) when p_gap is 'null',
-- else the first instant after the gap. Postgres's own AT TIME ZONE takes
-- the later of two and shifts a skipped time by the gap, so the rules are
-- made here: the zone's offsets a day before and after give the
-- candidates (no zone changes its offset twice within two days), a
-- candidate the zone shows as this very time is valid, and a gap's end is
-- the transition, found to the second between the two.
CREATE OR REPLACE FUNCTION campaign.local_instant(p_local timestamp,
    p_tz text, p_gap text DEFAULT 'after')
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    u       timestamptz := p_local AT TIME ZONE 'UTC';
    o1      interval := campaign.tz_offset(u - interval '1 day', p_tz);
    o2      interval := campaign.tz_offset(u + interval '1 day', p_tz);
    c1      timestamptz := (p_local - o1) AT TIME ZONE 'UTC';
    c2      timestamptz := (p_local - o2) AT TIME ZONE 'UTC';
    v1      boolean := (c1 AT TIME ZONE p_tz) = p_local;
    v2      boolean := (c2 AT TIME ZONE p_tz) = p_local;
    lo      bigint;
    hi      bigint;
    mid     bigint;
BEGIN
    IF v1 AND v2 THEN
        RETURN least(c1, c2);
    ELSIF v1 THEN
        RETURN c1;
    ELSIF v2 THEN
        RETURN c2;
    ELSIF p_gap = 'null' THEN
        RETURN NULL;
    END IF;
    -- in a gap the later offset is the larger: c2 is before the
    -- transition (at o1), c1 after it; the transition is a whole second
    lo := floor(extract(epoch FROM least(c1, c2)));
    hi := ceil(extract(epoch FROM greatest(c1, c2)));
    WHILE hi - lo > 1 LOOP
        mid := (lo + hi) / 2;
        IF campaign.tz_offset(to_timestamp(mid), p_tz) = o1 THEN
            lo := mid;
        ELSE
            hi := mid;
        END IF;
    END LOOP;
    RETURN to_timestamp(hi);
END
$$;

-- An input time: RFC 3339 with an offset, or, given a zone, a wall-clock
-- time without one (its first occurrence when the clocks show it twice);
-- NULL if neither. A wall-clock time the zone skips is the 400 that says
-- so.
CREATE OR REPLACE FUNCTION campaign.parse_zoned_time(v jsonb, p_tz text,
    p_field text)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    s  text;
    l  timestamp;
    t  timestamptz;
BEGIN
    t := campaign.parse_time(v);
    IF t IS NOT NULL OR p_tz IS NULL OR jsonb_typeof(v) <> 'string' THEN
        RETURN t;
    END IF;
    s := v #>> '{}';
    IF s !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$' THEN
        RETURN NULL;
    END IF;
    BEGIN
        l := s::timestamp;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    t := campaign.local_instant(l, p_tz, 'null');
    IF t IS NULL THEN
        PERFORM campaign.invalid(p_field, format('%s %s does not exist in '
            '%s: the clocks skip it (a daylight-saving change)', p_field, s,
            p_tz));
    END IF;
    RETURN t;
END
$$;


-- ------------------------------------------------------------------ cron

-- One field of a cron expression: its values in order, or the 400 that
-- names the field and says why. Items are separated by commas: *, a value,
-- a range a-b, each with an optional /step; a/step runs to the field's
-- end. p_names: the names the field takes for 1, 2, ... (months) or for
-- 0, 1, ... (weekdays), any case.
CREATE OR REPLACE FUNCTION campaign.cron_field(p_text text, p_what text,
    p_min integer, p_max integer, p_names text[] DEFAULT NULL,
    p_name_base integer DEFAULT 0)
RETURNS smallint[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    item   text;
    m      text[];
    a      integer;
    b      integer;
    step   integer;
    v      integer;
    bits   boolean[];
    out    smallint[] := '{}';
BEGIN
    IF p_text = '' THEN
        PERFORM campaign.fail('validation_failed', format(
            'recurrence.cron: the %s field is empty', p_what),
            '{"field": "recurrence.cron"}');
    END IF;
    bits := array_fill(false, ARRAY[p_max - p_min + 1]);
    FOREACH item IN ARRAY string_to_array(p_text, ',') LOOP
        m := regexp_match(item,
            '^(\*|[0-9A-Za-z]{1,3})(?:-([0-9A-Za-z]{1,3}))?(?:/([0-9]{1,3}))?$');
        IF m IS NULL OR (m[1] = '*' AND m[2] IS NOT NULL) THEN
            PERFORM campaign.fail('validation_failed', format(
                'recurrence.cron: the %s field has "%s", which is not *, a '
                'value, a range or a step', p_what, left(item, 20)),
                '{"field": "recurrence.cron"}');
        END IF;
        IF m[1] = '*' THEN
            a := p_min;
            b := p_max;
        ELSE
            a := campaign.cron_value(m[1], p_what, p_min, p_max, p_names,
                                     p_name_base);
            b := CASE WHEN m[2] IS NOT NULL
                      THEN campaign.cron_value(m[2], p_what, p_min, p_max,
                                               p_names, p_name_base)
                      WHEN m[3] IS NOT NULL THEN p_max
                      ELSE a END;
        END IF;
        step := coalesce(m[3]::integer, 1);
        IF step = 0 THEN
            PERFORM campaign.fail('validation_failed', format(
                'recurrence.cron: the %s field has a step of 0', p_what),
                '{"field": "recurrence.cron"}');
        END IF;
        IF a > b THEN
            PERFORM campaign.fail('validation_failed', format(
                'recurrence.cron: the %s field has the range %s, which '
                'runs backwards', p_what, item),
                '{"field": "recurrence.cron"}');
        END IF;
        v := a;
        WHILE v <= b LOOP
            bits[v - p_min + 1] := true;
            v := v + step;
        END LOOP;
    END LOOP;
    FOR v IN p_min .. p_max LOOP
        IF bits[v - p_min + 1] THEN
            out := out || v::smallint;
        END IF;
    END LOOP;
    RETURN out;
END
$$;

CREATE OR REPLACE FUNCTION campaign.cron_value(p_text text, p_what text,
    p_min integer, p_max integer, p_names text[], p_name_base integer)
RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    i  integer;
BEGIN
    IF p_text ~ '^[0-9]+$' THEN
        i := p_text::integer;
        IF i BETWEEN p_min AND p_max THEN
            RETURN i;
        END IF;
        PERFORM campaign.fail('validation_failed', format(
            'recurrence.cron: the %s field has %s, outside %s-%s', p_what,
            p_text, p_min, p_max), '{"field": "recurrence.cron"}');
    END IF;
    i := array_position(p_names, lower(p_text));
    IF i IS NULL THEN
        PERFORM campaign.fail('validation_failed', format(
            'recurrence.cron: the %s field has "%s", which is not a %s',
            p_what, p_text, CASE WHEN p_names IS NULL THEN 'number'
                                 ELSE 'number or a name' END),
            '{"field": "recurrence.cron"}');
    END IF;
    RETURN i - 1 + p_name_base;
END
$$;

-- A cron expression: five fields (minute hour day-of-month month
-- day-of-week), or six with a leading seconds field, or @hourly, @daily
-- (@midnight), @weekly, @monthly, @yearly (@annually). Sunday is 0 or 7.
-- An expression no date can match (30 February) is refused too.
CREATE OR REPLACE FUNCTION campaign.cron_parse(p_expr text)
RETURNS campaign.cron_spec LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f        text[];
    e        text := regexp_replace(p_expr, '^\s+|\s+$', '', 'g');
    spec     campaign.cron_spec;
    mon      smallint;
    d        smallint;
    ok       boolean := false;
    months   CONSTANT text[] := ARRAY['jan', 'feb', 'mar', 'apr', 'may',
                                      'jun', 'jul', 'aug', 'sep', 'oct',
                                      'nov', 'dec'];
    weekdays CONSTANT text[] := ARRAY['sun', 'mon', 'tue', 'wed', 'thu',
                                      'fri', 'sat'];
    lengths  CONSTANT smallint[] := ARRAY[31, 29, 31, 30, 31, 30, 31, 31,
                                          30, 31, 30, 31];
BEGIN
    IF p_expr IS NULL OR char_length(p_expr) > 200 THEN
        PERFORM campaign.invalid('recurrence.cron',
            'recurrence.cron must be a cron expression of at most 200 '
            'characters');
    END IF;
    e := CASE lower(e)
             WHEN '@yearly' THEN '0 0 1 1 *'
             WHEN '@annually' THEN '0 0 1 1 *'
             WHEN '@monthly' THEN '0 0 1 * *'
             WHEN '@weekly' THEN '0 0 * * 0'
             WHEN '@daily' THEN '0 0 * * *'
             WHEN '@midnight' THEN '0 0 * * *'
             WHEN '@hourly' THEN '0 * * * *'
             ELSE e END;
    IF e ~ '^@' THEN
        PERFORM campaign.invalid('recurrence.cron', format(
            'recurrence.cron: %s is not one of @hourly, @daily, @weekly, '
            '@monthly, @yearly', left(e, 20)));
    END IF;
    f := regexp_split_to_array(e, '\s+');
    IF cardinality(f) = 5 THEN
        f := array_prepend('0', f);
    ELSIF cardinality(f) <> 6 THEN
        PERFORM campaign.invalid('recurrence.cron', format(
            'recurrence.cron has %s fields: it needs 5 (minute hour '
            'day-of-month month day-of-week) or 6 (seconds first)',
            cardinality(f)));
    END IF;
    spec.seconds := campaign.cron_field(f[1], 'seconds', 0, 59);
    spec.minutes := campaign.cron_field(f[2], 'minute', 0, 59);
    spec.hours := campaign.cron_field(f[3], 'hour', 0, 23);
    spec.days := campaign.cron_field(f[4], 'day-of-month', 1, 31);
    spec.months := campaign.cron_field(f[5], 'month', 1, 12, months, 1);
    spec.weekdays := campaign.cron_field(f[6], 'day-of-week', 0, 7,
                                         weekdays, 0);
    -- Sunday as 7 is Sunday as 0
    IF 7 = ANY (spec.weekdays) THEN
        spec.weekdays := ARRAY(SELECT DISTINCT x FROM unnest(
            array_replace(spec.weekdays, 7::smallint, 0::smallint)) x
            ORDER BY x);
    END IF;
    spec.day_star := f[4] ~ '^\*';
    spec.weekday_star := f[6] ~ '^\*';
    -- days of the month alone decide (or with the weekdays): one of them
    -- must be in one of the months
    IF spec.day_star OR spec.weekday_star THEN
        FOREACH mon IN ARRAY spec.months LOOP
            FOREACH d IN ARRAY spec.days LOOP
                ok := ok OR d <= lengths[mon];
            END LOOP;
        END LOOP;
        IF NOT ok THEN
            PERFORM campaign.invalid('recurrence.cron',
                'recurrence.cron matches no date: none of its days is in '
                'any of its months');
        END IF;
    END IF;
    RETURN spec;
END
$$;

-- A local date matches the day fields (Vixie cron: with both restricted,
-- either one matching is enough).
CREATE OR REPLACE FUNCTION campaign.cron_day(p_spec campaign.cron_spec,
    p_day date)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT extract(month FROM p_day)::smallint = ANY (p_spec.months)
       AND CASE WHEN p_spec.day_star OR p_spec.weekday_star
                THEN extract(day FROM p_day)::smallint = ANY (p_spec.days)
                     AND extract(dow FROM p_day)::smallint
                         = ANY (p_spec.weekdays)
                ELSE extract(day FROM p_day)::smallint = ANY (p_spec.days)
                     OR extract(dow FROM p_day)::smallint
                        = ANY (p_spec.weekdays)
           END
$$;

-- The occurrences of a cron in a zone strictly after p_after and before
-- p_before, at most p_max, in order (none past nine years after p_after).
-- Wall-clock times are tried in order, day by day from p_after's own (a
-- month that does not match is passed whole); each becomes its instant by
-- campaign.local_instant(): a time in a spring-forward gap runs at the
-- first instant after the gap, a time the clocks show twice runs once, at
-- its first occurrence. Those instants never go back as the wall-clock
-- times go on, so they come in order; the gap's times that all become
-- its end are one occurrence.
CREATE OR REPLACE FUNCTION campaign.cron_between(p_spec campaign.cron_spec,
    p_tz text, p_after timestamptz, p_before timestamptz, p_max integer)
RETURNS timestamptz[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    l0      timestamp := date_trunc('second', p_after AT TIME ZONE p_tz);
    d       date := l0::date;
    last    date := l0::date + 9 * 366;
    from_h  integer;
    from_m  integer;
    from_s  integer;
    h       smallint;
    m       smallint;
    s       smallint;
    t       timestamptz;
    got     timestamptz := p_after;
    out     timestamptz[] := '{}';
BEGIN
    IF p_max < 1 THEN
        RETURN out;
    END IF;
    WHILE d <= last LOOP
        IF NOT (extract(month FROM d)::smallint = ANY (p_spec.months)) THEN
            d := (date_trunc('month', d) + interval '1 month')::date;
            CONTINUE;
        END IF;
        IF campaign.cron_day(p_spec, d) THEN
            IF d = l0::date THEN
                from_h := extract(hour FROM l0);
                from_m := extract(minute FROM l0);
                from_s := extract(second FROM l0);
            ELSE
                from_h := 0; from_m := 0; from_s := 0;
            END IF;
            FOREACH h IN ARRAY p_spec.hours LOOP
                CONTINUE WHEN h < from_h;
                FOREACH m IN ARRAY p_spec.minutes LOOP
                    CONTINUE WHEN h = from_h AND m < from_m;
                    FOREACH s IN ARRAY p_spec.seconds LOOP
                        CONTINUE WHEN h = from_h AND m = from_m
                                      AND s < from_s;
                        t := campaign.local_instant(d + make_time(h, m, s),
                                                    p_tz);
                        IF t >= p_before THEN
                            RETURN out;
                        END IF;
                        IF t > got THEN
                            out := out || t;
                            got := t;
                            IF cardinality(out) >= p_max THEN
                                RETURN out;
                            END IF;
                        END IF;
                    END LOOP;
                END LOOP;
            END LOOP;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN out;
END
$$;

-- The first occurrence strictly after p_after, or NULL if none comes
-- within nine years.
CREATE OR REPLACE FUNCTION campaign.cron_next(p_spec campaign.cron_spec,
    p_tz text, p_after timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT (campaign.cron_between(p_spec, p_tz, p_after, 'infinity', 1))[1]
$$;
