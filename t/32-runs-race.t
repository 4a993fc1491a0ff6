# The decisions at a series run's time (campaign.runs_due(), in
# sql/functions/series.sql) against what else holds or changes its runs:
# a start beside another (a scheduler's sweep beside its starts, or two
# schedulers), a start whose instant is a second past the other's, an
# edit moving a run. And the runs it starts without reading their series
# (the usual case, read without a lock) are those with nothing to skip.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Handle;
use POSIX ();
use CampaignTest;

my $t = CampaignTest->new(workers => 1);
$t->psql("SELECT campaign.scheduler_beat(x) FROM unnest(ARRAY['a', 'b']) x");

# a series: overlap, catch_up (s), next_run_at (SQL)
sub series {
    my ($overlap, $catch_up, $next) = @_;
    return $t->psql(<<"SQL");
INSERT INTO campaign.campaigns (tenant, name, type, status, message,
    recurrence, cron, next_run_at)
SELECT 'acme', '$overlap', 'sms', 'scheduled', '{}',
    jsonb_build_object('cron', '* * * * * *', 'timezone', 'UTC',
        'starts_at', NULL, 'ends_at', NULL, 'max_runs', NULL,
        'overlap', '$overlap', 'catch_up', $catch_up),
    campaign.cron_parse('* * * * * *'), $next
RETURNING id
SQL
}
# one of its runs: status, scheduled_at (SQL); one recipient pending, so
# that one started stays running
sub run {
    my ($series, $status, $at) = @_;
    my $id = $t->psql(<<"SQL");
INSERT INTO campaign.campaigns (tenant, name, type, status, message,
    scheduled_at, series_id)
VALUES ('acme', 'run', 'sms', '$status', '{}', $at, '$series')
RETURNING id
SQL
    $t->psql("INSERT INTO campaign.recipients (campaign_id, address) "
             . "VALUES ('$id', '+15550000001')");
    return $id;
}
sub row {
    my ($id) = @_;
    return $t->psql("SELECT status || CASE WHEN started_at IS NULL THEN '' "
                    . "ELSE ', started' END || coalesce(': ' || failure, "
                    . "'') FROM campaign.campaigns WHERE id = '$id'");
}
sub trail {
    my ($id, $action) = @_;
    return $t->psql("SELECT count(*) FROM campaign.events WHERE "
                    . "campaign_id = '$id' AND action = '$action'");
}
# a session whose transaction is left open until finish()
sub session {
    my ($sql) = @_;
    open(my $fh, '|-', 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
         '-o', '/dev/null', $t->conninfo) or die "psql: $!";
    $fh->autoflush(1);
    print $fh "SET application_name = 'holder';\nBEGIN;\n$sql;\n";
    CampaignTest::wait_for(sub {
        # (and has written: idle in transaction is also the moment
        # between its statements)
        $t->psql("SELECT count(*) FROM pg_stat_activity WHERE "
                 . "application_name = 'holder' AND state = "
                 . "'idle in transaction' AND backend_xid IS NOT NULL")
        == 1 }, 20,
        'the holder to have made its change, uncommitted');
    return $fh;
}
sub finish {
    my ($fh) = @_;
    print $fh "COMMIT;\n";
    close $fh;
    return $? == 0;
}
# $sql run in the background, once it waits for a lock: the pid
sub blocked {
    my ($sql) = @_;
    my $pid = fork // die $!;
    if ($pid == 0) {
        { exec('psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-o',
               '/dev/null', '-c', "SET application_name = 'waiter'; $sql",
               $t->conninfo) }
        POSIX::_exit(1);
    }
    CampaignTest::wait_for(sub {
        $t->psql("SELECT count(*) FROM pg_stat_activity WHERE "
                 . "application_name = 'waiter' AND wait_event_type = "
                 . "'Lock'") == 1 }, 20, 'the second to wait for a lock');
    return $pid;
}

# --- two starts at once: each skip made and recorded once, a replace ------
# never cancels the run it is for
my $now = "'" . $t->psql("SELECT date_trunc('second', now())")
          . "'::timestamptz";
my $skip = series('skip', 3600, "now() + interval '1 hour'");
my $skip_before = run($skip, 'paused', "now() - interval '1 hour'");
my $skip_due = run($skip, 'scheduled', $now);
my $repl = series('replace', 3600, "now() + interval '1 hour'");
my $repl_before = run($repl, 'paused', "now() - interval '1 hour'");
my $repl_due = run($repl, 'scheduled', $now);

my $first = session("SELECT count(*) FROM "
                    . "campaign.scheduler_start('a', 60000)");
my $pid = blocked("SELECT count(*) FROM campaign.scheduler_start('b', "
                  . "60000)");
ok(finish($first), 'the first start committed');
waitpid($pid, 0);
is($?, 0, 'the second start ended without an error');

like(row($skip_due), qr/^cancelled: skipped: the previous run was still /,
     'skip: the due run is skipped, the previous one being active');
is(row($skip_before), 'paused', 'skip: the active run goes on');
is(trail($skip, 'run_skipped'), 1,
   'skip: recorded once in the series\' trail, though both starts saw the '
   . 'run due');
is(row($repl_due), 'running, started', 'replace: the due run runs');
is(row($repl_before), 'cancelled', 'replace: the run before it is '
   . 'cancelled');
is(trail($repl_due, 'cancel'), 0, 'replace: the due run has no cancel in '
   . 'its trail');

# --- a second apart: the later start sees the run the earlier one started -
# (overlap skip: two runs of one series must never run at once)
my $tick = series('skip', 3600, "$now + interval '1 hour'");
my $r1 = run($tick, 'scheduled', "$now - interval '5 seconds'");
my $r2 = run($tick, 'scheduled', "$now - interval '4 seconds'");
# the earlier start: r1 on time (its instant is r1's), started, uncommitted
$first = session("SELECT campaign.act_as_scheduler('a'); SELECT count(*) "
                 . "FROM campaign.apply_transition('run', ARRAY['$r1'::uuid],"
                 . " p_owner => 'a', p_lease => interval '1 minute')");
# the later one: r1 a second late, r2 due
$pid = blocked("BEGIN; SELECT campaign.act_as_scheduler('b'); SELECT "
               . "campaign.runs_due($now - interval '3.99 seconds'); COMMIT");
ok(finish($first), 'the earlier start committed');
waitpid($pid, 0);
is($?, 0, 'the later one ended without an error');
is(row($r1), 'running, started', 'the earlier run runs');
like(row($r2), qr/^cancelled: skipped: the previous run was still active/,
     'the next one is skipped: the earlier run is active');

# --- an edit moving a due run to later: no longer due, not skipped --------
my $moved_series = series('queue', 1, "now() + interval '1 hour'");
my $moved = run($moved_series, 'scheduled', "$now - interval '3 seconds'");
$first = session("SELECT campaign.apply_transition('schedule', "
                 . "ARRAY['$moved'::uuid], now() + interval '1 hour')");
$pid = blocked("SELECT campaign.runs_due(now())");
ok(finish($first), 'the edit committed');
waitpid($pid, 0);
is($?, 0, 'the start ended without an error');
is(row($moved), 'scheduled', 'the run moved meanwhile is not skipped as '
   . 'missed: it is no longer due');

# --- what makes a run's series worth reading (each alone) ----------------
# each case: catch_up (s), next_run_at, the due run's time, p_due (SQL),
# what the run ends as; an active run, another due run, as the case says
my $T = "'2030-01-01 00:00:00+00'::timestamptz";
my $later = "$T + interval '1 hour'";
my %case = (
    'a run 2 s late, catch_up 1 s: skipped' =>
        [1, $later, $T, "$T + interval '2 seconds'",
         qr/^cancelled: skipped: missed by longer than catch_up/],
    'a run off the whole second (moved by hand), a later run of its series '
    . 'due less than a second after: skipped' =>
        [3600, $later, "$T + interval '0.5 seconds'",
         "$T + interval '1.2 seconds'", qr/^cancelled: skipped: .*a later/,
         "$T + interval '1 second'"],
    'a run on time, its series\' next occurrence due, not yet made: skipped'
    => [3600, $T, $T, "$T + interval '0.01 seconds'",
        qr/^cancelled: skipped: .*a later/],
    'a run on time, its series with a run active (overlap skip): skipped' =>
        [3600, $later, $T, "$T + interval '0.01 seconds'",
         qr/^cancelled: skipped: the previous run was still active/],
    'a run of a series deleted since, 2 s late: left to start' =>
        [1, $later, $T, "$T + interval '2 seconds'", qr/^scheduled$/],
    'a run on time, nothing to skip: left to start' =>
        [3600, $later, $T, "$T + interval '0.01 seconds'", qr/^scheduled$/],
);
for my $what (sort keys %case) {
    my ($catch_up, $next, $at, $due, $want, $also) = @{ $case{$what} };
    $t->psql("DELETE FROM campaign.campaigns");
    my $s = series('skip', $catch_up, $next);
    run($s, 'paused', "$T - interval '1 day'") if $what =~ /active/;
    my $r = run($s, 'scheduled', $at);
    run($s, 'scheduled', $also) if $also;
    $t->psql("DELETE FROM campaign.campaigns WHERE id = '$s'")
        if $what =~ /deleted/;
    $t->psql("SELECT campaign.runs_due($due)");
    like(row($r), $want, $what);
}

$t->done(no_metrics => 1);
done_testing;
