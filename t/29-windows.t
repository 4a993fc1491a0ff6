# Send windows (issue 15): a running campaign sends only inside its
# window. A window closing mid-campaign stops its sends within 1 s and
# frees its slot for the next; a campaign started outside its window waits
# (running, waiting_until) without a slot and takes one at the opening
# with a start's precision; an opening while the type's pool is full;
# pause, resume and cancel while waiting; a type's default window from the
# scheduler's file; a close and an opening with two schedulers; and the
# window's arithmetic (midnight, DST, windows that meet) in SQL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(strftime floor);
use JSON::PP;
use CampaignTest;

my $t = CampaignTest->new(workers => 1);
my %k = (key => $t->key('acme'));
my $late_bound = $ENV{CAMPAIGN_ASAN} ? 200 : 100;

sub create {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 't', type => 'sms', message => { body => 'Hi' }, %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json};
}
sub refused {
    my ($window) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 't', type => 'sms', message => {}, send_window => $window });
    return "$r->{status} " . ($r->{json}{error}{field} // '');
}
sub campaign { $t->req(GET => "/v1/campaigns/$_[0]", %k)->{json} }
sub hms { strftime('%H:%M:%S', gmtime $_[0]) }
sub iso { strftime('%Y-%m-%dT%H:%M:%S.000Z', gmtime $_[0]) }
sub phones { [ map { { to => sprintf('+1555%07d', $_) } } 1 .. $_[0] ] }
sub sent_at {
    my ($id) = @_;
    my @at = sort { $a <=> $b } map { $_->{at} }
             grep { $_->{key} =~ /^\Q$id\E:/ } $t->deliveries;
    return @at;
}
sub sent { my @at = sent_at($_[0]); return scalar @at }
sub events {
    my ($id) = @_;
    return @{ $t->req(GET => "/v1/campaigns/$id/events?limit=1000", %k)
              ->{json}{data} };
}

# --- what the API takes -----------------------------------------------
is(refused('08:00'), '400 send_window', 'a window is an object');
is(refused({ from => '08:00' }), '400 send_window.to', 'to is required');
is(refused({ from => '8:00', to => '20:00' }), '400 send_window.from',
   'from is HH:MM');
is(refused({ from => '08:00', to => '24:01' }), '400 send_window.to',
   'to is at most 24:00');
is(refused({ from => '08:00', to => '08:00:00' }), '400 send_window.to',
   'a whole day on every day is no window');
is(refused({ from => '00:00', to => '24:00' }), '400 send_window.to',
   'nor is midnight to midnight');
is(refused({ from => '08:00', to => '20:00', days => ['funday'] }),
   '400 send_window.days', 'days are names of days');
is(refused({ from => '08:00', to => '20:00', days => [] }),
   '400 send_window.days', 'at least one day');
is(refused({ from => '08:00', to => '20:00', timezone => 'Mars/Base' }),
   '400 send_window.timezone', 'a zone is an IANA name');
is(refused({ from => '08:00', to => '20:00', hours => 1 }),
   '400 send_window.hours', 'an unknown field is named');
my $c = create(send_window => { days => ['FRI', 'mon', 'fri'],
                                from => '22:00', to => '06:00:30',
                                timezone => 'Europe/Vienna' });
is_deeply($c->{send_window}, { days => ['mon', 'fri'], from => '22:00',
                               to => '06:00:30',
                               timezone => 'Europe/Vienna' },
          'a window is shown with its days in order, each once');
is($c->{waiting_until}, undef, 'a draft waits for nothing');
is(create(send_window => { days => ['sat', 'sun'], from => '00:00',
                           to => '24:00' })->{send_window}{to}, '24:00',
   'whole days on some days are a window');
my $r = $t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
                json => { send_window => undef });
is_deeply([$r->{status}, $r->{json}{send_window}], [200, undef],
          'PATCH send_window null takes it away');
is($t->psql("SELECT count(*) FROM campaign.campaigns"), 2,
   'a refused window made no campaign');

# --- the arithmetic, in SQL -------------------------------------------
sub at {
    my ($w, $tz, $when) = @_;
    my $json = JSON::PP->new->canonical->encode($w);
    return $t->psql("SELECT s.open || ' ' || coalesce(to_char(s.until AT "
        . "TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), 'never') FROM "
        . "campaign.window_at('$json'::jsonb, '$tz', '$when'::timestamptz) s");
}
my $all = [qw(mon tue wed thu fri sat sun)];
my $night = { days => $all, from => '22:00', to => '06:00' };
is(at($night, 'UTC', '2026-12-07 23:30Z'), 'true 2026-12-08 06:00:00',
   'a window crossing midnight: open before it, until the next morning');
is(at($night, 'UTC', '2026-12-08 05:59:59Z'), 'true 2026-12-08 06:00:00',
   'and after it');
is(at($night, 'UTC', '2026-12-08 12:00Z'), 'false 2026-12-08 22:00:00',
   'closed at noon: opens at 22:00');
my $fri = { days => ['fri'], from => '22:00', to => '02:00' };
is(at($fri, 'UTC', '2026-12-12 01:00Z'), 'true 2026-12-12 02:00:00',
   'Friday night\'s window is open on Saturday at 01:00');
is(at($fri, 'UTC', '2026-12-12 03:00Z'), 'false 2026-12-18 22:00:00',
   'and then closed until next Friday');
is(at({ days => $all, from => '02:30', to => '03:30' }, 'Europe/Vienna',
      '2026-03-29 00:00Z'), 'false 2026-03-29 01:00:00',
   'an opening the spring-forward gap skips is the first instant after it');
is(at({ days => $all, from => '02:30', to => '03:30' }, 'Europe/Vienna',
      '2026-10-25 00:00Z'), 'false 2026-10-25 00:30:00',
   'one the fall-back shows twice is its first occurrence');
is(at({ days => ['mon', 'tue'], from => '00:00', to => '24:00' }, 'UTC',
      '2026-12-07 10:00Z'), 'true 2026-12-09 00:00:00',
   'windows that meet are one');
is(at({ days => $all, from => '00:00', to => '24:00' }, 'UTC',
      '2026-12-07 10:00Z'), 'true never', 'one open all week never closes');
is(at({ days => ['mon'], from => '09:00', to => '17:00',
        timezone => 'Asia/Kathmandu' }, 'UTC', '2026-12-07 03:00Z'),
   'false 2026-12-07 03:15:00', 'a window\'s own zone wins (+05:45)');

# --- on real servers ----------------------------------------------------
my $url = $t->start_provider;
my $now = floor(time);
# email has a default window opening in an hour, from the file
my $email_from = $now + 3600;
# sweep 5s: what a window's close does is the scheduler's own timing,
# not the safety sweep's
my $conf = <<"CONF";
pool sms 1;
pool voice 5;
pool email 5;
provider sms $url/slow;
provider voice $url/voice;
provider email $url/email;
sweep 5s;
send_window email * ${\ hms($email_from)}-${\ hms($email_from + 60)} UTC;
CONF
my $s = $t->start_scheduler(conf => $conf);

# A window closing mid-campaign: sms has one slot and a provider that
# answers in 2 s; A (200 recipients, 64 in flight) holds the slot when its
# window closes, 4 s from now, and opens again 4 s later (a window from
# 4 s after the close to the close, crossing midnight).
my $close = floor(time) + 4;
my $reopen = $close + 4;
my $a = create(name => 'A', start => JSON::PP::true, recipients => phones(200),
               send_window => { from => hms($reopen), to => hms($close) });
my $b = create(name => 'B', start => JSON::PP::true, recipients => phones(1));
CampaignTest::wait_for(sub { sent($a->{id}) > 0 }, 10, 'A to send');
is(campaign($b->{id})->{status}, 'queued', 'B waits for the one slot');
CampaignTest::wait_for(sub { campaign($a->{id})->{waiting_until} }, 10,
                       'A to wait for its window');
my $got = campaign($a->{id});
is($got->{status}, 'running', 'A stays running outside its window');
is($got->{waiting_until}, iso($reopen), 'waiting until the next opening');
cmp_ok($got->{stats}{pending}, '>', 0, 'with recipients still pending');
my @a_sent = sent_at($a->{id});
cmp_ok($a_sent[-1], '<', $close + 1, 'its last send came within 1 s of the '
       . 'close') or diag "closed at $close, last send at $a_sent[-1]";
CampaignTest::wait_for(sub { sent($b->{id}) > 0 }, 10,
                       'B to run in the freed slot');
my ($b_first) = sent_at($b->{id});
cmp_ok($b_first - $close, '<', 1, 'B had the slot within 1 s of the close, '
       . 'a sweep being 5 s') or diag "B's first send " . ($b_first - $close)
       . ' s after the close';
my $n = sent($a->{id});
my $st = $t->req(GET => '/v1/status', %k)->{json}{types}{sms};
is_deeply([$st->{running}, $st->{waiting}], [1, 1],
          '/v1/status counts A waiting, B running');
# the requests in flight at the close are answered (2 s) and recorded
CampaignTest::wait_for(sub { campaign($a->{id})->{stats}{sent} == $n }, 5,
                       'the results of A\'s last requests');
is(sent($a->{id}), $n, 'A sent nothing more while it waited');
$got = campaign($a->{id});
is_deeply([$got->{stats}{sent}, $got->{stats}{pending}], [$n, 200 - $n],
          'its stats are exact: what the provider had, and the rest pending');
my @ev = grep { $_->{action} eq 'window_closed' } events($a->{id});
is_deeply([map { $_->{detail}{waiting_until} } @ev], [iso($reopen)],
          'its trail has the close, with the opening it waits for');
CampaignTest::wait_for(sub { campaign($a->{id})->{status} eq 'completed' },
                       20, 'A to finish after the opening');
@a_sent = sent_at($a->{id});
cmp_ok($a_sent[$n], '>=', $reopen, 'A sent again only from the opening');
my ($a_late) = `cat $s->{log}` =~ /.*event=started campaign=$a->{id} type=sms lateness_ms=(\S+)/s;
ok(defined $a_late && $a_late >= 0 && $a_late < $late_bound,
   "and took the slot at the opening within $late_bound ms")
    or diag 'lateness ' . ($a_late // 'not logged');
is_deeply([scalar(@a_sent), campaign($a->{id})->{stats}{sent},
           $t->repeats], [200, 200, 0],
          'every recipient of A sent once, over two openings');

# A campaign started outside its window waits from the start, without a
# slot, and takes one at the opening with a start's precision.
my $open = floor(time) + 3;
my $w = create(name => 'W', type => 'voice', start => JSON::PP::true,
               recipients => phones(5),
               send_window => { from => hms($open), to => hms($open + 3600) });
CampaignTest::wait_for(sub { campaign($w->{id})->{status} eq 'running' }, 5,
                       'W to start');
is(campaign($w->{id})->{waiting_until}, iso($open),
   'started outside its window: waiting for the opening');
CampaignTest::wait_for(sub { campaign($w->{id})->{status} eq 'completed' },
                       10, 'W to send at the opening');
my @w_sent = sent_at($w->{id});
cmp_ok($w_sent[0], '>=', $open, 'nothing sent before the opening');
my ($late) = `cat $s->{log}` =~ /event=started campaign=$w->{id} type=voice lateness_ms=(\S+)\n(?![\s\S]*campaign=$w->{id} type=voice lateness)/;
ok(defined $late && $late >= 0 && $late < $late_bound,
   "it took its slot at the opening within $late_bound ms")
    or diag 'lateness ' . ($late // 'not logged');
ok((grep { $_->{action} eq 'window_opened' } events($w->{id})),
   'its trail has the opening');

# A window opening while its type's pool is full: the campaign does not
# take a slot beyond the limit, sends nothing before one frees, and takes
# the freed one at once. X (200 recipients, 64 in flight on a provider
# answering in 2 s) holds sms's one slot for some 8 s; F's window opens
# 2 s after X started.
my $x = create(name => 'X', start => JSON::PP::true, recipients => phones(200));
CampaignTest::wait_for(sub { sent($x->{id}) > 0 }, 10, 'X to hold the slot');
$open = floor(time) + 2;
my $f = create(name => 'F', start => JSON::PP::true, recipients => phones(3),
               send_window => { from => hms($open), to => hms($open + 3600) });
my $most = 0;
CampaignTest::wait_for(sub {
    my $st = $t->req(GET => '/v1/status', %k)->{json}{types}{sms};
    $most = $st->{running} if $st->{running} > $most;
    campaign($x->{id})->{status} eq 'completed' }, 30, 'X to finish', 0.1);
my $x_done = (sent_at($x->{id}))[-1];
cmp_ok(time, '>', $open + 1, 'X held the slot past F\'s opening');
is($most, 1, 'the pool never ran more than its one slot');
CampaignTest::wait_for(sub { campaign($f->{id})->{status} eq 'completed' },
                       10, 'F to send once the slot is free');
my @f_sent = sent_at($f->{id});
cmp_ok($f_sent[0], '>=', $x_done, 'F sent nothing while X held the slot')
    or diag "F's first send at $f_sent[0], X's last at $x_done";
my $x_end = CampaignTest::epoch_of(campaign($x->{id})->{finished_at});
cmp_ok($f_sent[0] - $x_end, '<', 1, 'and took the freed slot at once, a '
       . 'sweep being 5 s')
    or diag 'F\'s first send ' . ($f_sent[0] - $x_end) . ' s after X ended';
is_deeply([scalar(@f_sent), $t->repeats], [3, 0], 'F sent each recipient once');

# Pause, resume and cancel while waiting
my $p = create(name => 'P', type => 'voice', start => JSON::PP::true,
               recipients => phones(2),
               send_window => { from => hms($now + 7200),
                                to => hms($now + 7300) });
CampaignTest::wait_for(sub { campaign($p->{id})->{waiting_until} }, 5,
                       'P to wait');
$r = $t->req(POST => "/v1/campaigns/$p->{id}/pause", %k);
is_deeply([$r->{json}{status}, $r->{json}{waiting_until}], ['paused', undef],
          'a waiting campaign pauses');
$r = $t->req(POST => "/v1/campaigns/$p->{id}/resume", %k);
CampaignTest::wait_for(sub { campaign($p->{id})->{waiting_until} }, 5,
                       'P to wait again once resumed');
is(campaign($p->{id})->{waiting_until}, iso($now + 7200),
   'resumed outside its window, it waits for the same opening');
$r = $t->req(POST => "/v1/campaigns/$p->{id}/cancel", %k);
is_deeply([$r->{json}{status}, $r->{json}{stats}{cancelled}],
          ['cancelled', 2], 'a waiting campaign cancels, its recipients too');
is(sent($p->{id}), 0, 'and sent nothing');

# A type's window from the scheduler's file
my $e = create(name => 'E', type => 'email', start => JSON::PP::true,
               recipients => [{ to => 'a@example.com' }]);
CampaignTest::wait_for(sub { campaign($e->{id})->{waiting_until} }, 5,
                       'E to wait for its type\'s window');
is(campaign($e->{id})->{waiting_until}, iso($email_from),
   'a campaign without a window of its own takes its type\'s');
is(campaign($e->{id})->{send_window}, undef, 'and shows none of its own');

# A scheduler started while a campaign waits finds the opening in the
# database (its wheel is filled from due_within()), and keeps to it.
$open = floor(time) + 4;
my $v = create(name => 'V', type => 'voice', start => JSON::PP::true,
               recipients => phones(2),
               send_window => { from => hms($open), to => hms($open + 3600) });
CampaignTest::wait_for(sub { campaign($v->{id})->{waiting_until} }, 5,
                       'V to wait');
$t->stop_scheduler($s);
$s = $t->start_scheduler(conf => $conf);
CampaignTest::wait_for(sub { campaign($v->{id})->{status} eq 'completed' },
                       10, 'V to send at the opening');
($late) = `cat $s->{log}` =~ /event=started campaign=$v->{id} type=voice lateness_ms=(\S+)/;
ok(defined $late && $late >= 0 && $late < $late_bound,
   "a scheduler started meanwhile opened it within $late_bound ms")
    or diag 'lateness ' . ($late // 'not logged');

# Two schedulers: a window's close and opening are kept whichever holds
# the campaign (each has the campaign's times in its wheel; the one whose
# claim wins sends), and no recipient is sent twice. sms: one slot, a
# provider answering in 2 s.
my $s2 = $t->start_scheduler(conf => $conf);
$close = floor(time) + 4;
$reopen = $close + 4;
my $two = create(name => 'Two', start => JSON::PP::true,
                 recipients => phones(200),
                 send_window => { from => hms($reopen), to => hms($close) });
CampaignTest::wait_for(sub { sent($two->{id}) > 0 }, 10, 'Two to send');
CampaignTest::wait_for(sub { campaign($two->{id})->{waiting_until} }, 10,
                       'Two to wait for its window');
CampaignTest::wait_for(sub { campaign($two->{id})->{status} eq 'completed' },
                       30, 'Two to finish after the opening');
my @two_sent = sent_at($two->{id});
my @closed = grep { $_ >= $close + 1 && $_ < $reopen } @two_sent;
my ($again) = grep { $_ >= $reopen } @two_sent;
ok(!@closed && (grep { $_ < $close } @two_sent) && defined $again,
   'two schedulers: sends before the close, none from 1 s after it until '
   . 'the opening, the rest after it') or diag explain [$close, $reopen, \@two_sent];
cmp_ok(($again // 0) - $reopen, '<', 1, 'and again within 1 s of the opening')
    or diag 'first send after the opening: ' . (($again // 0) - $reopen) . ' s';
is_deeply([scalar(@two_sent), campaign($two->{id})->{stats}{sent},
           $t->repeats], [200, 200, 0],
          'every recipient sent once, with two schedulers');

$t->done;
done_testing;
