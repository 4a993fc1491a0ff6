-- campaign.key_of() gives a key's tenant and name in one look-up: these
-- two (a tenant, then the name again) are gone
DROP FUNCTION IF EXISTS campaign.tenant_of(text);
DROP FUNCTION IF EXISTS campaign.act_as_key(text, boolean);
