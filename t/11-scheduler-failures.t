# Many schedulers and failures: kill -9 and lease takeover, Postgres down
# for 3 s, two schedulers racing for 400 campaigns due in the same second,
# the connection that starts campaigns lost and refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $t = CampaignTest->new(workers => 2);
my %k = (key => $t->key('acme'));
# campaigns stay running: their provider refuses and the retry waits long
my $conf = "pool sms 50;\nlease 2s;\nprovider sms http://127.0.0.1:9/;\n"
         . "retry 100 60s 60s;\n";

sub create {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 'f', type => 'sms', message => {},
        recipients => [ { to => '+15551234567' } ], %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub count {
    my ($where) = @_;
    return $t->psql("SELECT count(*) FROM campaign.campaigns WHERE $where");
}

# --- two schedulers, 400 campaigns due in the same second -------------------
my $a = $t->start_scheduler(conf => $conf);
my $b = $t->start_scheduler(conf => $conf);
my $at = CampaignTest::iso_in(3);
my @ids = map { split /\n/ } CampaignTest::parallel(8, sub {
    join "\n", map { create(scheduled_at => $at) } 1 .. 50;
});
is(scalar(@ids), 400, '400 campaigns due at the same instant');

my ($max, $samples) = (0, 0);
my $sample = sub {
    my $n = count("type = 'sms' AND status = 'running'");
    $max = $n if $n > $max;
    $samples++;
    return $n;
};
CampaignTest::wait_for(sub { $sample->() == 50 }, 10, '50 to run');
# free the slots 50 at a time; the rest follow through both schedulers
while (count("status IN ('scheduled', 'queued')") > 0) {
    $t->psql("UPDATE campaign.campaigns SET status = 'completed' "
             . "WHERE status = 'running'");
    CampaignTest::wait_for(sub {
        $sample->();
        count("status = 'running'") > 0
            || count("status IN ('scheduled', 'queued')") == 0 }, 10,
        'the next campaigns to take the freed slots');
    $sample->() for 1 .. 3;
}
is(count("started_at IS NOT NULL"), 400, 'all 400 started');
cmp_ok($max, '<=', 50, "the pool of 50 never exceeded ($samples samples, "
                       . "max $max)");
my (%started, %by);
for my $h ($a, $b) {
    open(my $fh, '<', $h->{log}) or die;
    while (my $line = <$fh>) {
        next unless $line =~ /event=started campaign=(\S+)/;
        $started{$1}++;
        $by{ $h->{id} }++;
    }
}
is(scalar(grep { ($started{$_} // 0) != 1 } @ids), 0,
   'each campaign started exactly once over both schedulers');
# which scheduler wins each type's lock is up to the race
note(sprintf('started by the schedulers: %d and %d', $by{ $a->{id} } // 0,
             $by{ $b->{id} } // 0));

# --- kill -9 of a scheduler holding running campaigns -------------------------
$t->stop_scheduler($b);
$t->psql("UPDATE campaign.campaigns SET status = 'cancelled' "
         . "WHERE status = 'running'");
my @held = map { create(start => \1) } 1 .. 5;
CampaignTest::wait_for(sub {
    count("status = 'running' AND lease_owner = '$a->{id}'") == 5 }, 5,
    'the first scheduler to hold 5 running campaigns');
$t->stop_scheduler($a, 'KILL');
# (how soon, with a lease far longer than that: t/16-failover.t)
my $c = $t->start_scheduler(conf => $conf);
CampaignTest::wait_for(sub {
    count("status = 'running' AND lease_owner = '$c->{id}'") == 5 }, 10,
    'another scheduler to take the campaigns over');
is(count("status = 'running'"), 5, 'still running, not restarted');
is(count("status = 'running' AND lease_expires_at > now()"), 5,
   'under a fresh lease');

# --- Postgres down for 3 s with campaigns due in that window --------------------
my @due = map { create(scheduled_at => CampaignTest::iso_in(1.5)) } 1 .. 10;
$t->stop_pg('fast');
sleep 3;
my $up = time;
$t->start_pg;
CampaignTest::wait_for(sub {
    count("id IN (" . join(',', map { "'$_'" } @due) . ") "
          . "AND status = 'running'") == 10 }, 10,
    'the campaigns due during the outage to start');
cmp_ok(time - $up, '<', 5, sprintf('they start %.1f s after Postgres is back',
                                   time - $up));
like(`cat $c->{log}`, qr/event=db_lost.*\n(.*\n)*.*event=db_connected/,
     'the scheduler lost the database and reconnected by itself');
is($c->{pid} && kill(0, $c->{pid}), 1, 'without a restart');

# --- the starts' own connection lost, and refused: the main one starts ------
# (a role at its connection limit refuses the reconnect; the connections
# open stay, and this test's own statements go as postgres meanwhile)
sub as_pg { $t->psql_as('postgres', 'campaigns', $_[0]) }
CampaignTest::wait_for(sub {
    as_pg("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
          . "'%campaign.scheduler_start(%' AND pid <> pg_backend_pid()")
        == 1 }, 10,
    'the starts\' connection to have started something');
as_pg("ALTER ROLE campaign CONNECTION LIMIT 0");
as_pg("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query "
      . "LIKE '%campaign.scheduler_start(%' AND pid <> pg_backend_pid()");
CampaignTest::wait_for(sub { `cat $c->{log}` =~ /event=db_lost conn=starts/ },
                       10, 'the scheduler to see its starts\' connection go');
my @fallback = split /\n/, as_pg(
    "INSERT INTO campaign.campaigns (tenant, name, type, status, message, "
    . "scheduled_at) SELECT 'acme', 'f', 'sms', 'scheduled', '{}', "
    . "clock_timestamp() + g * interval '300 ms' FROM generate_series(1, 3) g "
    . "RETURNING id");
my $in = join(',', map { "'$_'" } @fallback);
CampaignTest::wait_for(sub {
    as_pg("SELECT count(*) FROM campaign.campaigns WHERE id IN ($in) "
          . "AND started_at IS NOT NULL") == 3 }, 10,
    'the campaigns due while it is away to start');
my $worst = as_pg("SELECT max(extract(epoch FROM started_at - scheduled_at) "
                  . "* 1000) FROM campaign.campaigns WHERE id IN ($in)");
cmp_ok($worst, '<', $ENV{CAMPAIGN_ASAN} ? 200 : 100,
       "while the starts' connection is refused, the main one starts on "
       . "time (worst $worst ms late)");
like(`cat $c->{log}`,
     qr/event=db_lost conn=starts reason="FATAL:  too many connections/,
     'its reconnects were refused meanwhile');
as_pg("ALTER ROLE campaign CONNECTION LIMIT -1");
CampaignTest::wait_for(sub {
    my @n = `cat $c->{log}` =~ /event=db_connected conn=starts/g;
    @n >= 2 }, 10, 'the starts\' connection to be back');
# nginx's own connections may have been refused too while the role was at
# its limit: a 503 with Retry-After until its pool is back, as a client
# would see it
my $after;
CampaignTest::wait_for(sub {
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 'f', type => 'sms', message => {},
        recipients => [ { to => '+15551234567' } ],
        scheduled_at => CampaignTest::iso_in(0.5) });
    die "create: $r->{status} $r->{body}"
        unless $r->{status} == 201 || $r->{status} == 503;
    $after = $r->{json}{id} if $r->{status} == 201;
    return $after }, 10, 'nginx to reach the database again', 0.2);
CampaignTest::wait_for(sub {
    count("id = '$after' AND status = 'running'") == 1 }, 10,
    'a campaign due after it is back to start');
cmp_ok(count("id = '$after' AND started_at - scheduled_at < interval "
             . "'100 ms'"), '==', 1, 'on time');

$t->done(db_errors_expected => 1, schedulers_killed => 1);
done_testing;
