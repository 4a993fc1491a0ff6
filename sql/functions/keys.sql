-- API keys: the text is returned once; only its SHA-256 is stored.

CREATE OR REPLACE FUNCTION campaign.key_hash(p_key text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(p_key, 'UTF8'))
$$;

CREATE OR REPLACE FUNCTION campaign.create_api_key(p_tenant text,
    p_note text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    -- two v4 UUIDs: 244 bits from the server's strong random source
    k  text := 'ck_' || replace(gen_random_uuid()::text, '-', '')
                     || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO campaign.api_keys (key_hash, tenant, note)
    VALUES (campaign.key_hash(k), p_tenant, p_note);
    RETURN k;
END
$$;

CREATE OR REPLACE FUNCTION campaign.revoke_api_key(p_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign.api_keys SET revoked_at = now()
     WHERE key_hash = campaign.key_hash(p_key) AND revoked_at IS NULL;
    RETURN FOUND;
END
$$;

-- A live key's tenant, and its name for the audit trail: its note, or a
-- prefix of its hash (never the key); no row for an unknown or revoked key.
CREATE OR REPLACE FUNCTION campaign.key_of(p_key text,
    OUT tenant text, OUT name text)
RETURNS SETOF record LANGUAGE sql STABLE AS $$
    SELECT k.tenant, coalesce(nullif(k.note, ''),
                              left(encode(k.key_hash, 'hex'), 12))
      FROM campaign.api_keys k
     WHERE k.key_hash = campaign.key_hash(p_key) AND k.revoked_at IS NULL
$$;
