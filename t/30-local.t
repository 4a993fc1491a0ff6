# Recipient-local delivery (issue 15): recipients carry a time zone (JSON
# or a CSV column); a campaign with a local_time sends each at that time of
# its date in the recipient's own zone, in waves. Three zones: the time a
# few seconds ahead in the first, already past in the second (sent at
# once), an hour ahead in the third (still pending, its due time listed).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(strftime floor);
use CampaignTest;

my $t = CampaignTest->new(workers => 1);
my %k = (key => $t->key('acme'));

sub iso { strftime('%Y-%m-%dT%H:%M:%S.000Z', gmtime $_[0]) }
sub campaign { $t->req(GET => "/v1/campaigns/$_[0]", %k)->{json} }
sub recipients {
    my ($id) = @_;
    return { map { $_->{to} => $_ } @{ $t->req(GET =>
        "/v1/campaigns/$id/recipients?limit=100", %k)->{json}{data} } };
}
sub sent_at {
    my ($id) = @_;
    my %at;
    for my $d ($t->deliveries) {
        next unless $d->{key} =~ /^\Q$id\E:/;
        $at{ $d->{body}{to} // '' } = $d->{at};
    }
    return \%at;
}

# --- what the API takes -----------------------------------------------
my $r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 't', type => 'sms', message => {}, local_time => '9:00' });
is("$r->{status} $r->{json}{error}{field}", '400 local_time',
   'local_time is HH:MM or HH:MM:SS');
$r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 't', type => 'sms', message => {},
    recipients => [{ to => '+15550000001', timezone => 'Mars/Base' }] });
is("$r->{status} $r->{json}{error}{code} $r->{json}{error}{index}",
   '400 invalid_recipient 0', 'a recipient\'s unknown zone is refused');
$r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 't', type => 'sms', message => {},
    recipients => [{ to => '+15550000001', timezone => 9 }] });
is($r->{status}, 400, 'a zone is a string');
is($t->psql('SELECT count(*) FROM campaign.campaigns'), 0,
   'the refused ones made nothing');

my $c = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'csv', type => 'sms', message => { body => 'Hi {{name}}' },
    local_time => '09:00:30' })->{json};
is($c->{local_time}, '09:00:30', 'a campaign shows its local_time');
$r = $t->req(POST => "/v1/campaigns/$c->{id}/recipients", %k,
             headers => { 'Content-Type' => 'text/csv' },
             body => "to,timezone,name\n+15550000001,Asia/Tokyo,Ann\n"
                   . "+15550000002,,Bob\n");
is($r->{status}, 200, 'CSV with a timezone column') or diag $r->{body};
my $list = recipients($c->{id});
is_deeply([map { [$list->{$_}{timezone}, $list->{$_}{vars}] }
           '+15550000001', '+15550000002'],
          [['Asia/Tokyo', { name => 'Ann' }], [undef, { name => 'Bob' }]],
          'the column is the recipient\'s zone, not a var; empty is none');

# --- three zones on real servers -----------------------------------------
my $url = $t->start_provider;
$t->start_scheduler(conf => "pool sms 5;\nprovider sms $url/sms;\n");

# the campaign's date is its start's in Tokyo (UTC+9, no DST): its
# local_time is Tokyo's clock 4 s from now, on the same Tokyo date
my $tokyo_day = sub { strftime('%Y-%m-%d', gmtime($_[0] + 9 * 3600)) };
sleep 1 while $tokyo_day->(time) ne $tokyo_day->(time + 20);
my $due = floor(time) + 4;
my $local = strftime('%H:%M:%S', gmtime($due + 9 * 3600));
# Tonga is UTC+13 all year: its 'local' came 4 h ago; Shanghai, UTC+8,
# reaches it an hour after Tokyo
my %zone = ('+15550000011' => 'Asia/Tokyo', '+15550000012' => undef,
            '+15550000013' => 'Pacific/Tongatapu',
            '+15550000014' => 'Asia/Shanghai');
my %want = ('+15550000011' => $due, '+15550000012' => $due,
            '+15550000013' => $due - 4 * 3600,
            '+15550000014' => $due + 3600);
my $start = time;
$c = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'waves', type => 'sms', message => { body => 'Hi' },
    timezone => 'Asia/Tokyo', local_time => $local, start => \1,
    recipients => [ map { { to => $_, timezone => $zone{$_} } }
                    sort keys %zone ] })->{json};
my $id = $c->{id};
CampaignTest::wait_for(sub { keys %{ sent_at($id) } >= 3 }, 10,
                       'the first two waves');
my $at = sent_at($id);
cmp_ok($at->{'+15550000013'} - $start, '<', 2,
       'Tonga, whose time had passed, was sent at once');
for my $to ('+15550000011', '+15550000012') {
    ok($at->{$to} >= $due && $at->{$to} < $due + 1,
       "$to (" . ($zone{$to} // 'the campaign\'s zone') . ') was sent at '
       . 'its local time, within 1 s')
        or diag sprintf('due %d, sent %.3f', $due, $at->{$to});
}
ok(!exists $at->{'+15550000014'}, 'Shanghai\'s recipient is not sent yet');
$list = recipients($id);
is_deeply({ map { $_ => $list->{$_}{due_at} } keys %want },
          { map { $_ => iso($want{$_}) } keys %want },
          'the recipients list shows each one\'s due time');
is($list->{'+15550000014'}{status}, 'pending', 'the last one pending');
$c = campaign($id);
is_deeply([$c->{status}, @{ $c->{stats} }{qw(sent pending)}],
          ['running', 3, 1],
          'the campaign runs until its last wave, its stats exact');
# between its waves it rests as for a send window: no slot held
CampaignTest::wait_for(sub { defined campaign($id)->{waiting_until} }, 5,
                       'the campaign to rest until its last wave');
is(campaign($id)->{waiting_until}, iso($want{'+15550000014'}),
   'it waits for Shanghai\'s time');
my $pool = $t->req(GET => '/v1/status', %k)->{json}{types}{sms};
is_deeply([@{$pool}{qw(running waiting)}], [0, 1],
          'resting, it holds no slot of its pool');
is($t->req(POST => "/v1/campaigns/$id/pause", %k)->{json}{status}, 'paused',
   'a resting campaign pauses');
is($t->req(POST => "/v1/campaigns/$id/resume", %k)->{status}, 200,
   'and resumes');
CampaignTest::wait_for(sub { defined campaign($id)->{waiting_until} }, 5,
                       'it to rest again, its wave not due');
is(campaign($id)->{stats}{pending}, 1, 'nothing sent early on resume');
is($t->req(POST => "/v1/campaigns/$id/cancel", %k)->{json}{status},
   'cancelled', 'a resting campaign cancels');
is(campaign($id)->{stats}{cancelled}, 1, 'its last recipient cancelled');

# --- a later wave after a rest, more recipients than a claim plans -------
# 6,000 recipients (two chunks of planning), Tokyo's clock 3 s ahead: the
# campaign rests until then without a slot, opens on time, sends them all
# (none early) and completes
sleep 1 while $tokyo_day->(time) ne $tokyo_day->(time + 20);
my $due2 = floor(time) + 4;
my $big = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'big wave', type => 'sms', message => { body => 'Hi' },
    timezone => 'Asia/Tokyo',
    local_time => strftime('%H:%M:%S', gmtime($due2 + 9 * 3600)),
    recipients => [ map { { to => sprintf('+1555100%04d', $_),
                            $_ % 2 ? (timezone => 'Asia/Tokyo') : () } }
                    1 .. 6000 ] });
is($big->{status}, 201, '6,000 recipients, half with a zone');
$big = $big->{json}{id};
is($t->req(POST => "/v1/campaigns/$big/start", %k)->{status}, 200,
   'started 4 s before its wave');
CampaignTest::wait_for(sub { defined campaign($big)->{waiting_until} }, 5,
                       'it to rest until its wave');
is(campaign($big)->{waiting_until}, iso($due2), 'resting until its wave');
CampaignTest::wait_for(sub { campaign($big)->{status} eq 'completed' }, 30,
                       'the wave to be sent and the campaign to complete');
my $first = (sort { $a <=> $b } values %{ sent_at($big) })[0];
is(scalar(keys %{ sent_at($big) }), 6000, 'every one sent');
ok($first >= $due2 && $first < $due2 + 1,
   sprintf('the wave opened on time: %.0f ms after it was due',
           ($first - $due2) * 1000));
is_deeply([ map { $_->{action} } grep { $_->{action} =~ /^window_/ }
            @{ $t->req(GET => "/v1/campaigns/$big/events?limit=100", %k)
                 ->{json}{data} } ],
          [ 'window_closed', 'window_opened' ],
          'the trail has the rest and its end');
is($t->repeats, 0, 'no one sent twice');

# --- a send window in each recipient's zone -----------------------------
# A window without a zone of its own, on a campaign whose recipients have
# zones, is each recipient's. Its hours are Shanghai's clock (UTC+8) from
# 3 s from now for two hours: open now in Tokyo (UTC+9, an hour into
# them), opening in 3 s in Shanghai, in 2 h 30 min in Kolkata (UTC+5:30),
# and in 8 h in the campaign's UTC, for the recipient without a zone.
my $n0 = floor(time) + 1;
my $sh = sub { strftime('%H:%M:%S', gmtime($_[0] + 8 * 3600)) };
my %wz = ('+15552000001' => 'Asia/Tokyo', '+15552000002' => 'Asia/Shanghai',
          '+15552000003' => 'Asia/Kolkata', '+15552000004' => undef);
my $wc = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'zoned window', type => 'sms', message => { body => 'Hi' },
    timezone => 'UTC', start => \1,
    send_window => { from => $sh->($n0 + 3), to => $sh->($n0 + 3 + 7200) },
    recipients => [ map { { to => $_, timezone => $wz{$_} } }
                    sort keys %wz ] });
is($wc->{status}, 201, 'a campaign with a window and recipients in zones');
$wc = $wc->{json}{id};
CampaignTest::wait_for(sub { keys %{ sent_at($wc) } >= 2 }, 10,
                       'Tokyo\'s and Shanghai\'s recipients');
CampaignTest::wait_for(sub { defined campaign($wc)->{waiting_until} }, 5,
                       'it to rest until the next zone opens');
$at = sent_at($wc);
cmp_ok($at->{'+15552000001'} - $n0, '<', 2,
       'Tokyo, inside its window, sent at once');
ok($at->{'+15552000002'} >= $n0 + 3 && $at->{'+15552000002'} < $n0 + 4,
   sprintf('Shanghai sent when its window opened (%.0f ms after)',
           ($at->{'+15552000002'} - $n0 - 3) * 1000));
ok(!exists $at->{'+15552000003'} && !exists $at->{'+15552000004'},
   'Kolkata\'s and the zone-less (UTC) recipient not sent: their windows '
   . 'are closed');
is(campaign($wc)->{waiting_until}, iso($n0 + 3 + 9000),
   'resting until Kolkata\'s opening, 2 h 30 min on, with no slot');
is(campaign($wc)->{status}, 'running', 'still running');
is($t->req(POST => "/v1/campaigns/$wc/cancel", %k)->{status}, 200,
   'cancelled while it rests');
is($t->repeats, 0, 'no one sent twice');

# A zone that closed with recipients unsent (a backlog first in due order)
# holds no other zone back: one claim puts all of them off to their
# zone's opening and returns an open zone's recipient
my $hol = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'backlog', type => 'sms', message => {}, timezone => 'UTC',
    send_window => { from => $sh->(time - 3600), to => $sh->(time + 7200) },
    recipients => [ { to => '+15553000000', timezone => 'Asia/Tokyo' },
                    map { { to => sprintf('+1555300%04d', $_),
                            timezone => 'Asia/Kolkata' } } 1 .. 2000 ] });
$hol = $hol->{json}{id};
$t->psql("UPDATE campaign.campaigns SET status = 'running', "
         . "started_at = now(), lease_owner = 'x', lease_expires_at = "
         . "now() + interval '1 hour' WHERE id = '$hol'");
$t->psql("UPDATE campaign.recipients SET next_attempt_at = now() - "
         . "interval '1 minute' - seq * interval '1 ms' WHERE campaign_id = "
         . "'$hol' AND timezone = 'Asia/Kolkata'");
$t->psql("UPDATE campaign.campaigns SET waves_planned = 9223372036854775807"
         . " WHERE id = '$hol'");
$t->psql("UPDATE campaign.recipients SET next_attempt_at = now() "
         . "WHERE campaign_id = '$hol' AND timezone = 'Asia/Tokyo'");
is($t->psql("SELECT string_agg(address || ' ' || (until_ms > 0), ',') FROM "
            . "campaign.next_recipients('x', '$hol', 0, 100, 30000)"),
   '+15553000000 true', 'a claim returns the open zone\'s recipient, '
   . 'with how long it may be sent');
is($t->psql("SELECT count(*) FROM campaign.recipients WHERE campaign_id = "
            . "'$hol' AND timezone = 'Asia/Kolkata' AND next_attempt_at > "
            . "now() + interval '1 hour'"), 2000,
   'all 2,000 of the closed zone put off to its opening at once');

# --- refused input -------------------------------------------------------
$r = $t->req(POST => "/v1/campaigns", %k, json => {
    name => 'd', type => 'sms', message => {} });
$r = $t->req(POST => "/v1/campaigns/$r->{json}{id}/recipients", %k,
             headers => { 'Content-Type' => 'text/csv' },
             body => "to,timezone,timezone\n+15550000001,UTC,UTC\n");
is("$r->{status} $r->{json}{error}{field}", '400 recipients',
   'a CSV naming timezone twice is refused');

$t->done;
done_testing;
