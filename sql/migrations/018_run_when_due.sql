-- A campaign that comes due while its pool has a free slot and nothing
-- queued starts in one move, scheduled to running: the tick stamps its
-- start before, not after, a second write of the row (issue 14, lateness).
INSERT INTO campaign.transitions (action, from_status, to_status) VALUES
    ('run', 'scheduled', 'running');
