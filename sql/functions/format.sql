-- How the API reads and writes values: times, errors, the campaign object.
-- (campaign.api_result, the row every API function answers, is a type:
-- sql/migrations/002_format.sql.)

-- Output times: UTC with milliseconds.
CREATE OR REPLACE FUNCTION campaign.ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Input times: RFC 3339 with an offset, else NULL.
CREATE OR REPLACE FUNCTION campaign.parse_time(v jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s  text;
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'string' THEN
        RETURN NULL;
    END IF;
    s := v #>> '{}';
    IF s !~ ('^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?'
             '([Zz]|[+-]\d{2}:\d{2})$')
    THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN s::timestamptz;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
END
$$;

-- Validation anywhere raises this; campaign.api() turns it into the error
-- answer and rolls back everything the request did.
CREATE OR REPLACE FUNCTION campaign.fail(p_code text, p_message text,
    p_extra jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CP400', MESSAGE = p_code,
        DETAIL = p_message, HINT = coalesce(p_extra, '{}')::text;
END
$$;

CREATE OR REPLACE FUNCTION campaign.error(p_code text, p_message text,
    p_extra jsonb DEFAULT NULL) RETURNS campaign.api_result
LANGUAGE sql STABLE AS $$
    SELECT ROW(e.status,
               json_build_object('error',
                   jsonb_build_object('code', p_code, 'message', p_message)
                   || coalesce(p_extra, '{}'))::text,
               NULL, NULL, false, NULL)::campaign.api_result
      FROM campaign.error_codes e WHERE e.code = p_code
$$;

CREATE OR REPLACE FUNCTION campaign.etag(c campaign.campaigns) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '"' || c.version || '"'
$$;

CREATE OR REPLACE FUNCTION campaign.campaign_json(
    c campaign.campaigns) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id,
        'name', c.name,
        'type', c.type,
        'status', c.status,
        'message', c.message,
        'scheduled_at', campaign.ts(c.scheduled_at),
        'metadata', c.metadata,
        'stats', json_build_object(
            'total', c.total, 'pending', c.pending, 'sent', c.sent,
            'failed', c.failed, 'cancelled', c.cancelled,
            'delivered', c.delivered, 'undelivered', c.undelivered),
        'created_at', campaign.ts(c.created_at),
        'updated_at', campaign.ts(c.updated_at),
        'started_at', campaign.ts(c.started_at),
        'finished_at', campaign.ts(c.finished_at),
        'failure', c.failure,
        'created_by', c.created_by,
        'scheduled_by', c.scheduled_by,
        'timezone', coalesce(c.timezone, 'UTC'),
        'recurrence', c.recurrence,
        'series_id', c.series_id,
        'next_run_at', campaign.ts(c.next_run_at),
        'last_run_id', c.last_run_id,
        'send_window', c.send_window,
        'waiting_until', campaign.ts(c.waiting_until),
        'local_time', c.local_time)
$$;

CREATE OR REPLACE FUNCTION campaign.campaign_result(c campaign.campaigns,
    p_status integer DEFAULT 200) RETURNS campaign.api_result
LANGUAGE sql STABLE AS $$
    SELECT ROW(p_status, campaign.campaign_json(c)::text, campaign.etag(c),
               NULL, false, NULL)::campaign.api_result
$$;

-- Opaque page cursors: a sequence number as 16 hex digits.
CREATE OR REPLACE FUNCTION campaign.cursor_encode(p_seq bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT lpad(to_hex(p_seq), 16, '0')
$$;

CREATE OR REPLACE FUNCTION campaign.cursor_decode(p_cursor text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_cursor IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_cursor !~ '^[0-9a-f]{16}$' THEN
        PERFORM campaign.fail('validation_failed', 'cursor is not valid',
                              '{"field": "cursor"}');
    END IF;
    RETURN ('x' || p_cursor)::bit(64)::bigint;
END
$$;

CREATE OR REPLACE FUNCTION campaign.page_limit(p_limit text, p_default integer,
    p_max integer, p_field text DEFAULT 'limit') RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_limit IS NULL THEN
        RETURN p_default;
    END IF;
    IF p_limit !~ '^[0-9]{1,6}$' OR p_limit::integer NOT BETWEEN 1 AND p_max
    THEN
        PERFORM campaign.fail('validation_failed',
            format('%s must be an integer from 1 to %s', p_field, p_max),
            jsonb_build_object('field', p_field));
    END IF;
    RETURN p_limit::integer;
END
$$;
