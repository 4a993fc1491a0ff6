# Delivery survives kill -9 and a Postgres restart: every recipient ends
# final; only requests in flight at the crash may repeat, with the same key.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $t = CampaignTest->new(workers => 2);
my %k = (key => $t->key('acme'));
my $url = $t->start_provider;
my $window = 32;
my $conf = <<"CONF";
pool sms 10;
provider sms $url/sms;
rate sms 1500;
window $window;
lease 2s;
CONF

sub create {
    my ($n, $from) = @_;
    my @r = map { { to => sprintf('+1555%07d', $from + $_) } } 1 .. $n;
    my $id;
    for (my $i = 0; $i < @r; $i += 5000) {
        if (!$id) {
            $id = $t->req(POST => '/v1/campaigns', %k, json => {
                name => 'f', type => 'sms', message => { body => 'x' },
                recipients => [ @r[$i .. ($i + 4999 < $#r ? $i + 4999 : $#r)] ]
            })->{json}{id};
        }
    }
    return $id;
}
sub stats {
    my ($id) = @_;
    return $t->req(GET => "/v1/campaigns/$id", %k)->{json};
}
sub keys_of {
    my ($id) = @_;
    my %n;
    $n{ $_->{key} }++ for grep { $_->{body}{campaign_id} eq $id }
                          $t->deliveries;
    return %n;
}

# --- kill -9 mid-campaign, then a restart --------------------------------------
my $s = $t->start_scheduler(conf => $conf);
my @parts = map { [ map { { to => sprintf('+1555%07d', 100000 + $_) } }
                    (($_ - 1) * 2500 + 1) .. ($_ * 2500) ] } 1 .. 2;
my $id = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'crash', type => 'sms', message => { body => 'x' },
    recipients => $parts[0] })->{json}{id};
$t->req(POST => "/v1/campaigns/$id/recipients", %k, json => $parts[1]);
is(stats($id)->{stats}{total}, 5000, '5,000 recipients');
$t->req(POST => "/v1/campaigns/$id/start", %k);
CampaignTest::wait_for(sub { stats($id)->{stats}{sent} >= 1500 }, 20,
                       'a third delivered');
$t->stop_scheduler($s, 'KILL');
my $at_kill = stats($id)->{stats};
ok($at_kill->{pending} > 0, "killed with $at_kill->{pending} pending");
my $s2 = $t->start_scheduler(conf => $conf);
CampaignTest::wait_for(sub { stats($id)->{status} eq 'completed' }, 60,
                       'the campaign to complete after the restart');
my $st = stats($id)->{stats};
is_deeply([@$st{qw(total sent pending failed)}], [5000, 5000, 0, 0],
          'all 5,000 final and sent');
my %n = keys_of($id);
is(scalar(keys %n), 5000, '5,000 distinct keys reached the provider');
my @twice = grep { $n{$_} > 1 } keys %n;
cmp_ok(scalar(@twice), '<=', $window,
       scalar(@twice) . " sent twice, at most the in-flight window ($window)");
is(scalar(grep { $n{$_} > 2 } keys %n), 0, 'none more than twice');

# --- a Postgres restart mid-campaign -------------------------------------------------
$id = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'pg', type => 'sms', message => { body => 'x' }, start => \1,
    recipients => [ map { { to => sprintf('+1555%07d', 200000 + $_) } }
                    1 .. 4000 ] })->{json}{id};
CampaignTest::wait_for(sub { stats($id)->{stats}{sent} >= 1000 }, 20,
                       'a quarter delivered');
$t->stop_pg('fast');
sleep 1;
$t->start_pg;
CampaignTest::wait_for(sub {
    my $r = $t->req(GET => "/v1/campaigns/$id", %k, fresh => 1);
    $r->{status} == 200 && $r->{json}{status} eq 'completed' }, 60,
    'the campaign to complete after Postgres is back');
$st = stats($id)->{stats};
is_deeply([@$st{qw(total sent pending failed)}], [4000, 4000, 0, 0],
          'Postgres restart mid-campaign: all 4,000 sent, none lost');
%n = keys_of($id);
is(scalar(keys %n), 4000, '4,000 distinct keys');
cmp_ok(scalar(grep { $n{$_} > 1 } keys %n), '<=', 2 * $window,
       'repeats only from what was in flight');

# --- SIGTERM lets deliveries in flight finish ---------------------------------------
$t->stop_scheduler($s2);
my $slow = $t->start_scheduler(conf => "pool sms 10;\nprovider sms $url/slow;\n"
                                       . "window 8;\n");
$id = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'term', type => 'sms', message => { body => 'x' }, start => \1,
    recipients => [ map { { to => sprintf('+1555%07d', 300000 + $_) } }
                    1 .. 50 ] })->{json}{id};
CampaignTest::wait_for(sub { scalar(keys %{ { keys_of($id) } }) >= 8 }, 10,
                       'requests in flight to the slow provider');
my $t0 = time;
is($t->stop_scheduler($slow), 0, 'SIGTERM with deliveries in flight: exit 0');
cmp_ok(time - $t0, '<', 10, 'within the 10 s drain');
my $sent = stats($id)->{stats}{sent};
is($sent, scalar(keys %{ { keys_of($id) } }),
   "the $sent in flight finished and were recorded before it exited");

# --- a reload that takes the type away fails its running campaigns ---------------
my $hup = $t->start_scheduler(conf => "pool sms 10;\nprovider sms $url/slow;\n"
                                      . "window 4;\n");
$id = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'gone', type => 'sms', message => { body => 'x' }, start => \1,
    recipients => [ map { { to => sprintf('+1555%07d', 400000 + $_) } }
                    1 .. 40 ] })->{json}{id};
CampaignTest::wait_for(sub { scalar(keys %{ { keys_of($id) } }) >= 4 }, 10,
                       'requests in flight to the slow provider');
{
    local @ARGV = ($hup->{conf});
    my $conf = join '', <>;
    $conf =~ s/^(pool|provider) sms .*\n//mg;     # no sms in the file now
    open(my $fh, '>', $hup->{conf}) or die;
    print $fh $conf;
}
kill 'HUP', $hup->{pid};
CampaignTest::wait_for(sub { stats($id)->{status} eq 'failed' }, 15,
                       'the campaign to fail');
is(stats($id)->{failure}, 'no provider for type sms',
   'a reload without the type fails its campaign, with the reason');
ok(kill(0, $hup->{pid}), 'and the scheduler keeps running');
is($t->stop_scheduler($hup), 0, 'then stops with exit status 0');

$t->done(db_errors_expected => 1, schedulers_killed => 1);
done_testing;
