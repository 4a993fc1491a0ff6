# Two starts deciding the same due runs at once (a scheduler's sweep beside
# its starts, or two schedulers): campaign.runs_due() reads without locking
# (sql/functions/series.sql), so the second reads the runs as the first
# left them before its commit. It must decide the same and change nothing
# twice: a skip is made and recorded once, and a replace never cancels
# the run it is for, which the first start started meanwhile. And the
# runs it starts without reading their series are those with nothing to
# skip.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Handle;
use CampaignTest;

my $t = CampaignTest->new(workers => 1);
$t->psql("SELECT campaign.scheduler_beat(x) FROM unnest(ARRAY['a', 'b']) x");

# a series (overlap as given) with a run paused (active) and a run due now
sub series {
    my ($overlap) = @_;
    my $s = $t->psql(<<"SQL");
INSERT INTO campaign.campaigns (tenant, name, type, status, message,
    recurrence, cron, next_run_at)
SELECT 'acme', '$overlap', 'sms', 'scheduled', '{}',
    jsonb_build_object('cron', '0 0 0 1 1 *', 'timezone', 'UTC',
        'starts_at', NULL, 'ends_at', NULL, 'max_runs', NULL,
        'overlap', '$overlap', 'catch_up', 3600),
    campaign.cron_parse('0 0 0 1 1 *'), now() + interval '1 year'
RETURNING id
SQL
    my %run;
    for my $r (['before', 'paused', "now() - interval '1 hour'"],
               ['due', 'scheduled', "now() - interval '10 ms'"]) {
        $run{$r->[0]} = $t->psql(<<"SQL");
INSERT INTO campaign.campaigns (tenant, name, type, status, message,
    scheduled_at, series_id, recipient_zones)
VALUES ('acme', '$overlap $r->[0]', 'sms', '$r->[1]', '{}', $r->[2], '$s',
        false)
RETURNING id
SQL
    }
    # one recipient pending: a run started stays running
    $t->psql("INSERT INTO campaign.recipients (campaign_id, address) "
             . "VALUES ('$run{due}', '+15550000001')");
    return ($s, $run{before}, $run{due});
}
my ($skip, $skip_before, $skip_due) = series('skip');
my ($repl, $repl_before, $repl_due) = series('replace');

# the first start, its transaction left open
open(my $first, '|-', 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
     '-o', '/dev/null', $t->conninfo) or die "psql: $!";
$first->autoflush(1);
print $first "BEGIN;\n"
    . "SELECT count(*) FROM campaign.scheduler_start('a', 60000);\n";
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM pg_stat_activity WHERE state = "
             . "'idle in transaction' AND query LIKE "
             . "'%scheduler_start(''a''%'") == 1 }, 20,
    'the first start to have decided, uncommitted');

# the second, which reads the runs as they were, and waits for the first
my $pid = fork // die $!;
if ($pid == 0) {
    exec('psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-o',
         '/dev/null', '-c', "SELECT count(*) FROM "
         . "campaign.scheduler_start('b', 60000)", $t->conninfo);
    POSIX::_exit(1);
}
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type "
             . "= 'Lock' AND query LIKE '%scheduler_start(''b''%'") == 1 },
    20, 'the second start to wait for the first\'s locks');
print $first "COMMIT;\n";
close $first;
is($?, 0, 'the first start committed');
waitpid($pid, 0);
is($?, 0, 'the second start ended without an error');

sub row {
    my ($id) = @_;
    return $t->psql("SELECT status || CASE WHEN started_at IS NULL THEN '' "
                    . "ELSE ', started' END FROM campaign.campaigns "
                    . "WHERE id = '$id'");
}
is(row($skip_due), 'cancelled', 'skip: the due run is skipped');
like($t->psql("SELECT failure FROM campaign.campaigns WHERE id = "
              . "'$skip_due'"), qr/previous run was still active/,
     'skip: because the previous one was active');
is(row($skip_before), 'paused', 'skip: the active run goes on');
is($t->psql("SELECT count(*) FROM campaign.events WHERE campaign_id = "
            . "'$skip' AND action = 'run_skipped'"), 1,
   'skip: recorded once in the series\' trail, though both starts read '
   . 'the run as due');
is(row($repl_due), 'running, started', 'replace: the due run ran, started '
   . 'by the first start, not cancelled by the second');
is(row($repl_before), 'cancelled', 'replace: the run before it is '
   . 'cancelled');
is($t->psql("SELECT count(*) FROM campaign.events WHERE campaign_id = "
            . "'$repl_due' AND action = 'cancel'"), 0,
   'replace: the due run has no cancel in its trail');

# A run needs its series read only when something may be to do: a second
# late or more, one of several due, its series with a run active, or not
# at a whole second. That last is a run moved by hand: a later occurrence
# of its series can then be due though it is less than a second late.
sub lone_run {
    my ($name, $catch_up, $next, $at) = @_;
    return $t->psql(<<"SQL");
WITH s AS (
    INSERT INTO campaign.campaigns (tenant, name, type, status, message,
        recurrence, cron, next_run_at)
    SELECT 'acme', '$name', 'sms', 'scheduled', '{}',
        jsonb_build_object('cron', '* * * * * *', 'timezone', 'UTC',
            'starts_at', NULL, 'ends_at', NULL, 'max_runs', NULL,
            'overlap', 'queue', 'catch_up', $catch_up),
        campaign.cron_parse('* * * * * *'), $next
    RETURNING id)
INSERT INTO campaign.campaigns (tenant, name, type, status, message,
    scheduled_at, series_id)
SELECT 'acme', '$name run', 'sms', 'scheduled', '{}', $at, s.id FROM s
RETURNING id
SQL
}
my $moved = lone_run('moved', 3600, "now() - interval '0.1 seconds'",
                     "now() - interval '0.2 seconds'");
my $late = lone_run('late', 1, "now() + interval '1 hour'",
                    "date_trunc('second', now()) - interval '2 seconds'");
$t->psql("SELECT count(*) FROM campaign.scheduler_start('a', 60000)");
like($t->psql("SELECT status || ': ' || failure FROM campaign.campaigns "
              . "WHERE id = '$moved'"),
     qr/^cancelled: skipped: .*a later occurrence is due/,
     'a run moved by hand off the whole second, with a later occurrence '
     . 'of its series due, is skipped');
like($t->psql("SELECT status || ': ' || failure FROM campaign.campaigns "
              . "WHERE id = '$late'"),
     qr/^cancelled: skipped: missed by longer than catch_up/,
     'a run 2 s late, its series\' catch_up 1 s: skipped');

$t->done(no_metrics => 1);
done_testing;
