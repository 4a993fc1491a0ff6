# Behind pgbouncer (Debian's 1.18), as many deployments run Postgres: the
# module in transaction pooling (campaign_database_prepare off: a prepared
# statement does not outlive a transaction there) passes every case of
# t/01-routes.t; the scheduler, which needs a session of its own (LISTEN,
# its advisory lock), works through session pooling.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

# --- the module, transaction pooling: the routes' cases ----------------------
{
    local $ENV{CAMPAIGN_PGBOUNCER} = 'transaction';
    my @tap = `$^X $FindBin::Bin/01-routes.t 2>&1`;
    my $rc = $?;
    my @bad = grep { /^not ok/ } @tap;
    my ($plan) = map { /^1\.\.(\d+)/ ? $1 : () } @tap;
    is($rc, 0, sprintf('t/01-routes.t through pgbouncer in transaction '
                       . 'pooling: %d cases', $plan // 0))
        or diag(join '', grep { /^(not ok|#)/ } @tap);
    is(scalar(@bad), 0, 'none failed');
    cmp_ok($plan // 0, '>=', 50, 'all of them ran');
}

# --- the scheduler, session pooling -------------------------------------------
my $t = CampaignTest->new;
my %k = (key => $t->key('acme'));
my $url = $t->start_provider;
my $port = $t->start_pgbouncer('session');
my $s = $t->start_scheduler(database => $t->conninfo($port),
                            conf => "provider sms $url/ms;\n");
my $r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'b', type => 'sms', message => { body => 'Hi' },
    scheduled_at => CampaignTest::iso_in(1),
    recipients => [ map { { to => sprintf('+1559%07d', $_) } } 1 .. 200 ] });
is($r->{status}, 201, 'a campaign due in a second');
my $id = $r->{json}{id};
CampaignTest::wait_for(sub {
    $t->req(GET => "/v1/campaigns/$id", %k)->{json}{status} eq 'completed' },
    20, 'it to run and complete');
is($t->req(GET => "/v1/campaigns/$id", %k)->{json}{stats}{sent}, 200,
   'the scheduler, through pgbouncer in session pooling, sent all 200');
like(`cat $s->{log}`, qr/event=locked/, 'holding its lock through it');
is($t->psql("SELECT count(*) FROM pg_stat_activity WHERE application_name "
            . "= 'campaign-scheduler'"), 3,
   'on its three connections (main, starts, results)');

$t->done;
done_testing;
