-- Schedulers that die, stall or share a provider's limit (issue 10).

-- A type's rate holds across schedulers: its token bucket is here, taken
-- from by every claim (campaign.next_recipients). 0: no limit.
ALTER TABLE campaign.types
    ADD COLUMN rate integer NOT NULL DEFAULT 0 CHECK (rate >= 0),
    ADD COLUMN tokens double precision NOT NULL DEFAULT 0,
    ADD COLUMN tokens_at timestamptz NOT NULL DEFAULT now();

-- A scheduler holds a session-level advisory lock on its LISTEN
-- connection while it lives; server_started says on which server's life
-- (pg_postmaster_start_time()) it took it, so that a lock lost with a
-- restart or a failover is not mistaken for a death.
ALTER TABLE campaign.schedulers
    ADD COLUMN server_started timestamptz;

-- called with other arguments, or answering more, now
DROP FUNCTION campaign.scheduler_pools(text[], integer[]);
DROP FUNCTION campaign.my_running(text);
DROP FUNCTION campaign.next_recipients(text, uuid, bigint, integer);
