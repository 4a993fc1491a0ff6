# campaign-scheduler: its command line and configuration, and every campaign
# starting at its time, once, within the pools.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $bin = $ENV{CAMPAIGN_ASAN} ? "$CampaignTest::ROOT/build/asan/campaign-scheduler"
                              : "$CampaignTest::ROOT/build/campaign-scheduler";

# --- command line ----------------------------------------------------------
my $tmp = File::Temp::tempdir(CLEANUP => 1);
sub conf_file {
    my ($text) = @_;
    open(my $fh, '>', "$tmp/s.conf") or die;
    print $fh $text;
    close $fh;
    return "$tmp/s.conf";
}
my $out = qx($bin -c @{[conf_file("database dbname=x;\npool sms 3;\n")]} -t 2>&1);
is($?, 0, '-t on a good file exits 0');
like($out, qr/syntax is ok/, '-t says so');
$out = qx($bin -c @{[conf_file("database \"host=no.such.host.invalid password=s3cret\";\n")]} -t 2>&1);
is($? >> 8, 1, '-t with a host that does not resolve exits 1');
like($out, qr/cannot resolve "no\.such\.host\.invalid"/, 'and says which');
unlike($out, qr/s3cret/, 'never with the password');
$out = qx($bin -c @{[conf_file("database \"dbname=x password=a b\";\n")]} -t 2>&1);
is($? >> 8, 1, '-t with a connection string libpq cannot read exits 1');
unlike($out, qr/\bb\b.*missing|missing.*"b"/, 'without quoting a piece of it');
$out = qx($bin -c @{[conf_file("database x;\n\npool sms three;\n")]} -t 2>&1);
is($? >> 8, 1, '-t on a bad file exits 1');
like($out, qr{s\.conf:3: invalid pool size "three"}, 'and names the line');
$out = qx($bin -c $tmp/missing.conf -t 2>&1);
is($? >> 8, 1, 'a missing file exits 1');
like(qx($bin -v), qr/^campaign-scheduler \d/, '-v');
like(qx($bin -h), qr/usage/, '-h');

# --- on time -------------------------------------------------------------------
my $t = CampaignTest->new(workers => 2);
my %k = (key => $t->key('acme'));
# campaigns must stay running here: their provider refuses, and the retry
# waits longer than this test (delivery itself is t/12-dispatch.t)
my $hold = "provider sms http://127.0.0.1:9/;\nprovider voice "
         . "http://127.0.0.1:9/;\nretry 100 60s 60s;\n";
my $s1 = $t->start_scheduler(conf => "pool sms 1000;\npool voice 2;\n$hold");

sub create {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 'c', type => 'sms', message => { body => 'hi' },
        recipients => [ { to => '+15551234567' } ], %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub row {
    my ($id, $cols) = @_;
    return $t->psql("SELECT $cols FROM campaign.campaigns WHERE id = '$id'");
}

# 300 campaigns scheduled over 3 s (created in parallel, 10 clients). On a
# loaded machine a create may outlast campaign_timeout: its 503 rolled back
# and the client retries, as the contract tells it to; one created after its
# time (never more than 5 s) starts at once and is left out of the lateness
my $base = time + 3;
my @ids = map { split /\n/ } CampaignTest::parallel(10, sub {
    my ($i) = @_;
    join "\n", map {
        my $in = $base - time + ($i * 30 + $_) / 100;
        my $id;
        for my $try (1 .. 5) {
            my $r = $t->req(POST => '/v1/campaigns', %k, json => {
                name => 'c', type => 'sms', message => { body => 'hi' },
                recipients => [ { to => '+15551234567' } ],
                scheduled_at => CampaignTest::iso_in($in > 0 ? $in : 0) });
            $id = $r->{json}{id}, last if $r->{status} == 201;
            die "create: $r->{status} $r->{body}\n" unless $r->{status} == 503;
        }
        $id // die "create: 503 five times\n";
    } 0 .. 29;
});
my @bad = grep { !/^[0-9a-f-]{36}$/ } @ids;
is(scalar(@ids) - @bad, 300, '300 campaigns scheduled over 3 s')
    or diag(join '', @bad);
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM campaign.campaigns WHERE status = 'running'")
        == 300 }, 15, 'all 300 to run');
# a loaded machine may create some after their time (they start at once, as
# they should); lateness is that of the ones created ahead of their time
my @late = sort { $a <=> $b } split /\n/, $t->psql(
    "SELECT extract(epoch FROM started_at - scheduled_at) * 1000 "
    . "FROM campaign.campaigns WHERE status = 'running' "
    . "AND created_at < scheduled_at - interval '50 ms'");
cmp_ok(scalar(@late), '>=', 150, scalar(@late) . ' of 300 created ahead of '
       . 'their time, to measure');
my $p99 = $late[int(0.99 * $#late)];
cmp_ok($late[0], '>=', 0, 'none started before its time');
# (5-20 ms on an idle 2-core machine while the 10 clients still create;
# 35-68 ms seen while t/06's 100,000-row upload shares the two cores, as
# prove -j2 pairs them, and a p99 of 100.1 ms once in a clean clone, with
# a p50 of 1.6 ms). A start left to the 1 s sweep would be uniformly 0 to
# 1,000 ms late: a p50 of about 500 ms, a p99 near 1 s. The median shows
# the arming to the ms whatever shares the machine; the p99 bound keeps
# room for the tail it makes. t/bench/timing measures precision.
my ($p50_bound, $bound) = $ENV{CAMPAIGN_ASAN} ? (100, 400) : (50, 250);
cmp_ok($late[@late / 2], '<', $p50_bound,
       sprintf('lateness p50 %.1f ms', $late[@late / 2]));
cmp_ok($p99, '<', $bound, sprintf('lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms',
                              $late[@late / 2], $p99, $late[-1]));
$t->psql("UPDATE campaign.campaigns SET status = 'cancelled' "
         . "WHERE status = 'running'");

# start and resume through the API run within 50 ms
my $id = create();
my $t0 = time;
$t->req(POST => "/v1/campaigns/$id/start", %k);
CampaignTest::wait_for(sub { row($id, 'status') eq 'running' }, 5,
                       'the started campaign to run');
cmp_ok(row($id, "extract(epoch FROM started_at - queued_at) * 1000"), '<', 50,
       'start: running within 50 ms of queued');
$t->req(POST => "/v1/campaigns/$id/pause", %k);
is(row($id, 'status'), 'paused', 'paused');
my $first_start = row($id, 'started_at');
$t->req(POST => "/v1/campaigns/$id/resume", %k);
CampaignTest::wait_for(sub { row($id, 'status') eq 'running' }, 5,
                       'the resumed campaign to run');
my @starts = `cat $s1->{log}` =~ /event=started campaign=$id type=sms lateness_ms=([\d.]+)/g;
is(scalar(@starts), 2, 'the scheduler logged both starts');
cmp_ok($starts[1] // 1e9, '<', 50, 'resume: running within 50 ms of the resume');
is(row($id, 'started_at'), $first_start, 'started_at keeps the first start');

# no recipients: completed at once
my $empty = $t->req(POST => '/v1/campaigns', %k,
                    json => { name => 'e', type => 'sms', message => {},
                              start => \1 })->{json}{id};
CampaignTest::wait_for(sub { row($empty, 'status') eq 'completed' }, 5,
                       'an empty campaign to complete');
ok(row($empty, 'finished_at IS NOT NULL'), 'finished_at set');

# reschedule later and earlier, cancel before time
my $later = create(scheduled_at => CampaignTest::iso_in(1));
my $earlier = create(scheduled_at => CampaignTest::iso_in(4));
my $cancel = create(scheduled_at => CampaignTest::iso_in(1));
$t->req(POST => "/v1/campaigns/$later/schedule", %k,
        json => { scheduled_at => CampaignTest::iso_in(3) });
$t->req(POST => "/v1/campaigns/$earlier/schedule", %k,
        json => { scheduled_at => CampaignTest::iso_in(1.5) });
$t->req(POST => "/v1/campaigns/$cancel/cancel", %k);
CampaignTest::wait_for(sub { row($later, 'status') eq 'running' }, 10,
                       'the rescheduled campaign');
my %lat = map { $_ => row($_, "extract(epoch FROM started_at - scheduled_at)"
                              . " * 1000") } $later, $earlier;
# at the new time, not the old (2 s early, 2.5 s late), nor late beyond
# what a shared machine makes of a start (20.6 ms seen under ASan beside
# t/06's upload)
my $on_time = $ENV{CAMPAIGN_ASAN} ? 200 : 100;
ok($lat{$later} >= 0 && $lat{$later} < $on_time,
   "rescheduled later: starts at the new time, not the old ($lat{$later} ms)");
ok($lat{$earlier} >= 0 && $lat{$earlier} < $on_time,
   "rescheduled earlier: starts at the new time ($lat{$earlier} ms)");
is(row($cancel, 'status'), 'cancelled', 'cancelled before its time: never '
                                        . 'started');
is(row($cancel, 'started_at IS NULL'), 't', 'no started_at');

# a full pool of one type never delays another type
my @voice = map { create(type => 'voice', start => \1,
                         recipients => [ { to => '+15550000001' } ]) } 1 .. 4;
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM campaign.campaigns WHERE type = 'voice' "
             . "AND status = 'running'") == 2 }, 5, 'two voice running');
my $sms = create(start => \1);
CampaignTest::wait_for(sub { row($sms, 'status') eq 'running' }, 5,
                       'sms runs while voice is full');
# starved, it would wait for a voice campaign to end; at once means a
# start's time on a shared machine (116.8 ms seen beside t/06's upload)
cmp_ok(row($sms, "extract(epoch FROM started_at - queued_at) * 1000"), '<',
       $ENV{CAMPAIGN_ASAN} ? 400 : 250, 'sms starts at once though voice is full');
is($t->psql("SELECT count(*) FROM campaign.campaigns WHERE type = 'voice' "
            . "AND status = 'queued'"), 2, 'voice: 2 queued behind the pool');
my $r = $t->req(GET => '/v1/status', %k)->{json};
is_deeply($r->{types}{voice}, { limit => 2, running => 2, queued => 2,
                               waiting => 0 },
          '/v1/status shows the pool');
is($r->{schedulers}[0]{id}, 'sched1', '/v1/status shows the scheduler');
$t->req(POST => "/v1/campaigns/$voice[0]/pause", %k);
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM campaign.campaigns WHERE type = 'voice' "
             . "AND status = 'queued'") == 1 }, 5,
    'a paused campaign frees its slot for the next queued');
my $first_queued = $t->psql("SELECT id FROM campaign.campaigns WHERE type = "
    . "'voice' AND status = 'running' ORDER BY queued_at DESC LIMIT 1");
is($first_queued, $voice[2], 'queued campaigns take slots in order');

# systemd: READY=1 once loaded, WATCHDOG=1 at half of WATCHDOG_USEC
{
    use IO::Socket::UNIX;
    my $path = "$t->{dir}/notify.sock";
    my $sock = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
        or die $!;
    chmod 0777, $path;
    local $ENV{NOTIFY_SOCKET} = $path;
    local $ENV{WATCHDOG_USEC} = 2_000_000;
    my $sd = $t->start_scheduler(conf => "pool sms 1000;\n$hold");
    my %got;
    my $deadline = time + 5;
    while (time < $deadline && !($got{'READY=1'} && $got{'WATCHDOG=1'})) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.2);
        $sock->recv(my $msg, 4096);
        $got{$_}++ for split /\n/, $msg;
    }
    ok($got{'READY=1'}, 'sd_notify READY=1 once the wheel is loaded');
    ok($got{'WATCHDOG=1'}, 'sd_notify WATCHDOG=1');
    is($t->stop_scheduler($sd), 0, 'and it stops with 0');
}

# campaigns that fell due while the scheduler was away start when it starts
is($t->stop_scheduler($s1), 0, 'SIGTERM: exits 0');
my @missed = map { create(scheduled_at => CampaignTest::iso_in(0.3)) } 1 .. 5;
# a voice slot freed, one voice campaign queued, one falling due: the due one
# must not take the slot before the one that waited
$t->req(POST => "/v1/campaigns/$voice[1]/pause", %k);
my $due_voice = create(type => 'voice', scheduled_at => CampaignTest::iso_in(0.3));
sleep 1;   # they fall due with no scheduler running
is($t->psql("SELECT count(*) FROM campaign.campaigns WHERE status = "
            . "'scheduled' AND scheduled_at < now() AND type = 'sms'"), 5,
   'five campaigns overdue while no scheduler runs');
# a time of -infinity (set in SQL) is no number for the wheel: the update
# is notified, the scheduler still loads its wheel and becomes ready (its
# due_within() failed before, and it never did), and the sweep starts it
my $minus = create(scheduled_at => CampaignTest::iso_in(3600));
$t->psql("UPDATE campaign.campaigns SET scheduled_at = '-infinity' "
         . "WHERE id = '$minus'");
my $up = time;
my $s2 = $t->start_scheduler(conf => "pool sms 1000;\npool voice 2;\n$hold");
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM campaign.campaigns WHERE id IN ("
             . join(',', map { "'$_'" } @missed) . ") AND status = 'running'")
        == 5 }, 5, 'the overdue campaigns to start');
cmp_ok(time - $up, '<', 2, 'overdue campaigns start as soon as it starts');
CampaignTest::wait_for(sub { row($minus, 'status') eq 'running' }, 5,
                       'the one due at -infinity to start');
pass('a campaign due at -infinity: the scheduler is ready and starts it');
CampaignTest::wait_for(sub { row($voice[3], 'status') eq 'running' }, 5,
                       'the queued voice campaign to take the free slot');
is(row($due_voice, 'status'), 'queued', 'the due one queues behind it');
is($t->psql("SELECT string_agg(action || ' ' || from_status, ',' ORDER BY id) "
            . "FROM campaign.events WHERE campaign_id = '$due_voice' "
            . "AND actor LIKE 'scheduler:%'"), 'queued scheduled',
   'and its trail says queued');
is($t->psql("SELECT string_agg(action || ' ' || from_status, ',' ORDER BY id) "
            . "FROM campaign.events WHERE campaign_id = '$missed[0]' "
            . "AND actor LIKE 'scheduler:%'"), 'running scheduled',
   'an overdue one with a free slot: started in one move');

# SIGHUP with a bad file keeps the old configuration
open(my $fh, '>', $s2->{conf}); print $fh "database x;\npool sms x;\n";
close $fh;
kill 'HUP', $s2->{pid};
CampaignTest::wait_for(sub { `cat $s2->{log}` =~ /reload_failed/ }, 5,
                       'the bad reload to be logged');
my $after = create(start => \1);
CampaignTest::wait_for(sub { row($after, 'status') eq 'running' }, 5,
                       'still scheduling after a bad reload');
pass('a bad SIGHUP keeps the running configuration');

$t->done;
done_testing;
