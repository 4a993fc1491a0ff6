# The module never blocks a worker: a locked table delays only its own
# requests; a Postgres outage answers 503 at once and heals with no reload.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $t = CampaignTest->new(workers => 1, pool => 4, timeout => '1500ms');
my %k = (key => $t->key('acme'));
my $id = $t->req(POST => '/v1/campaigns', %k,
                 json => { name => 'x', type => 'sms', message => {} })
    ->{json}{id};

# --- a table locked by another session -----------------------------------
my $locker = fork // die;
if ($locker == 0) {
    exec 'psql', '-X', '-q', '-h', '127.0.0.1', '-p', $t->{pg_port}, '-U',
         'campaign', '-d', 'campaigns', '-c',
         'BEGIN; LOCK TABLE campaign.campaigns; SELECT pg_sleep(4); COMMIT;';
}
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM pg_locks WHERE mode = "
             . "'AccessExclusiveLock' AND relation = "
             . "'campaign.campaigns'::regclass") > 0 }, 5, 'the lock');

my @blocked = map {
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = $t->req(GET => "/v1/campaigns/$id", %k, fresh => 1);
        POSIX::_exit($r->{status} == 503 ? 0 : 1);
    }
    $pid;
} 1 .. 3;
sleep 0.2;   # let the three reach the lock (they cannot answer before it)

my @lat;
for (1 .. 10) {
    my $t0 = time;
    my $r = $t->req(GET => '/v1/healthz', fresh => 1);
    push @lat, time - $t0;
    is($r->{status}, 200, 'healthz answers while queries are blocked');
}
my $worst = (sort { $b <=> $a } @lat)[0];
cmp_ok($worst, '<', 0.1, sprintf('healthz within 100 ms (worst %.1f ms) '
                                 . 'on one worker', $worst * 1000));

my $fails = 0;
for (@blocked) { waitpid($_, 0); $fails++ if $? }
is($fails, 0, 'the blocked queries answer 503 at campaign_timeout');
my $r = $t->req(GET => "/v1/campaigns/$id", %k);
waitpid($locker, 0);
$r = $t->req(GET => "/v1/campaigns/$id", %k);
is($r->{status}, 200, 'after the lock the API answers again');

# --- Postgres stopped and started under load ------------------------------
my $log = "$t->{dir}/load.log";
my $stop_at = time + 30;
my @load = map {
    my $n = $_;
    my $pid = fork // die;
    if ($pid == 0) {
        open(my $fh, '>', "$log.$n") or die;
        $fh->autoflush(1);
        my $deadline = time + 30;
        while (time < $deadline && !-e "$log.stop") {
            my $t0 = time;
            my $x = $t->req(GET => "/v1/campaigns/$id", %k, fresh => 1);
            printf $fh "%.3f %d %.3f\n", $t0, $x->{status}, time - $t0;
        }
        POSIX::_exit(0);
    }
    $pid;
} 1 .. 4;

sub load_lines {
    map { local @ARGV = ($_); map { [split] } <> } glob("$log.[0-9]*");
}
CampaignTest::wait_for(sub { grep { $_->[1] == 200 } load_lines() }, 10,
                       'load to start');
my $down_at = time;
$t->stop_pg('fast');
CampaignTest::wait_for(sub {
    grep { $_->[0] > $down_at + 0.1 && $_->[1] == 503 } load_lines() },
    10, '503s while Postgres is down');
my $t0 = time;
$r = $t->req(GET => "/v1/campaigns/$id", %k, fresh => 1);
my $took = time - $t0;
is($r->{status}, 503, 'Postgres down: 503');
is($r->{json}{error}{code}, 'database_unavailable', 'database_unavailable');
is($r->{headers}{'retry-after'}, '1', 'Retry-After');
cmp_ok($took, '<', 0.5, 'answered at once, not after the timeout');
sleep 1;    # hold the outage a moment under load

my $up_at = time;
$t->start_pg;
CampaignTest::wait_for(sub {
    grep { $_->[0] > $up_at + 0.5 && $_->[1] == 200 } load_lines() },
    10, '200s after Postgres is back');
sleep 0.5;
open(my $stop, '>', "$log.stop"); close $stop;
waitpid($_, 0) for @load;

my @lines = load_lines();
my %st;
$st{ $_->[1] }++ for @lines;
is(join(',', sort keys %st), '200,503', 'only 200 and 503 under the outage')
    or diag explain \%st;
my @late = grep { $_->[0] > $up_at + 1 && $_->[1] != 200 } @lines;
is(scalar(@late), 0, 'all 200 a second after Postgres is back, no reload');
is($t->req(GET => '/v1/readyz')->{status}, 200, 'ready again');

$t->done(db_errors_expected => 1);
done_testing;
