-- Start times to the µs: due_within() answers each campaign's time in µs
-- beside its ms (issue 14, lateness), so its answer changes shape
DROP FUNCTION IF EXISTS campaign.due_within(integer);
