# A primary with a streaming standby (pg_basebackup -R); the module and the
# scheduler are given both, the standard way to follow a failover
# ("host=a,b target_session_attrs=read-write"). The primary is stopped and
# the standby promoted mid-campaign: the API answers again within 10 s,
# the campaign completes, nothing is lost and repeats stay within the window.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $t = CampaignTest->new(timeout => '3s');
my %k = (key => $t->key('acme'));
my $url = $t->start_provider;
my $window = 64;

# --- a first host that never answers -------------------------------------------
# a socket that listens and never accepts: the connect hangs in libpq until
# it times out; the next connect begins with the next host, not that one
my $hole = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                 LocalPort => 0) or die $!;
$t->{database} = 'host=127.0.0.1,127.0.0.1 port=' . $hole->sockport
               . ",$t->{pg_port} dbname=campaigns user=campaign";
$t->stop_nginx;
$t->start_nginx;
my $began = time;
# requests four at a time (the pool's size): connects that all time out
# on the first host together must not move the next ones round to it again
my $answered = CampaignTest::wait_for(sub {
    my @got = CampaignTest::parallel(4, sub {
        $t->req(GET => '/v1/status', %k, fresh => 1)->{status} });
    (grep { $_ == 200 } @got) && time }, 20,
    'the API to answer past the silent host');
cmp_ok($answered - $began, '<', 10, sprintf('the API answers %.1f s after a '
       . 'start with a silent first host (campaign_timeout 3 s)',
       $answered - $began));
my $h = $t->start_scheduler(conf => "database_timeout 1s;\n");
like(`cat $h->{log}`, qr/event=db_lost conn=\w+ reason="the connect timed out"/,
     'the scheduler gave the silent host one time-out');
$t->stop_scheduler($h);
close $hole;

# --- a first host that accepts and closes at once ------------------------------
# (a proxy or balancer before a dead primary): libpq does not go on to the
# next host after such a failure; the next connect must begin after it
my $closer = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                   LocalPort => 0, ReuseAddr => 1) or die $!;
my $closer_pid = fork // die $!;
if ($closer_pid == 0) {
    while (my $c = $closer->accept) { close $c }
    POSIX::_exit(0);
}
$t->{database} = 'host=127.0.0.1,127.0.0.1 port=' . $closer->sockport
               . ",$t->{pg_port} dbname=campaigns user=campaign";
$t->stop_nginx;
$t->start_nginx;
$began = time;
# requests four at a time: a burst of connects that all fail on the first
# host must not move the next burst round to that host again
$answered = CampaignTest::wait_for(sub {
    my @got = CampaignTest::parallel(4, sub {
        $t->req(GET => '/v1/status', %k, fresh => 1)->{status} });
    (grep { $_ == 200 } @got) && time }, 20,
    'the API to answer past the closing host');
cmp_ok($answered - $began, '<', 5, sprintf('the API answers %.1f s after a '
       . 'start with a first host that closes at once', $answered - $began));
$h = $t->start_scheduler(conf => "database_timeout 1s;\n");
like(`cat $h->{log}`, qr/event=ready/,
     'the scheduler is ready past a first host that closes at once');
$t->stop_scheduler($h);
kill 'TERM', $closer_pid;
waitpid($closer_pid, 0);
close $closer;

# --- the standby ---------------------------------------------------------------
$t->start_standby;
$t->{database} = $t->conninfo_both;
$t->stop_nginx;
$t->start_nginx;
my $s = $t->start_scheduler(conf => "provider sms $url/ms;\nrate sms 1000;\n"
                                  . "window $window;\n");

my $r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'f', type => 'sms', message => { body => 'Hi' }, start => \1,
    recipients => [ map { { to => sprintf('+1558%07d', $_) } } 1 .. 5000 ] });
is($r->{status}, 201, 'a campaign of 5,000 through both hosts');
my $id = $r->{json}{id};
CampaignTest::wait_for(sub { $t->delivered >= 1000 }, 20, '1,000 deliveries');

# mid-campaign, the primary goes and the standby takes its place
my $stopped = time;
$t->fail_over;
my $back = CampaignTest::wait_for(sub {
    $t->req(GET => "/v1/campaigns/$id", %k, fresh => 1)->{status} == 200
        && time }, 20, 'the API to answer again');
cmp_ok($back - $stopped, '<', 10, sprintf('the API answers again %.1f s '
                                          . 'after the primary stopped',
                                          $back - $stopped));

CampaignTest::wait_for(sub {
    my $c = $t->req(GET => "/v1/campaigns/$id", %k, fresh => 1)->{json};
    $c && $c->{status} eq 'completed' }, 60, 'the campaign to complete');
my $c = $t->req(GET => "/v1/campaigns/$id", %k)->{json};
is_deeply($c->{stats}, { total => 5000, pending => 0, sent => 5000,
                         failed => 0, cancelled => 0, delivered => 0,
                         undelivered => 0 },
          'on the promoted standby: all 5,000 sent, none lost');
my %keys;
$keys{ $_->{key} }++ for $t->deliveries;
is(scalar(keys %keys), 5000, 'each reached the provider');
my $twice = grep { $_ > 1 } values %keys;
cmp_ok($twice, '<=', $window, "$twice twice: at most the window");
like(`cat $s->{log}`, qr/event=db_lost.*\n(.*\n)*.*event=db_connected conn=main/,
     'the scheduler lost the primary and found the promoted standby');

$t->done(db_errors_expected => 1);
done_testing;
