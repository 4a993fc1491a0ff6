# Delivery (API.md section 6): every recipient sent once to its type's
# provider, as specified; retries; pause, resume and cancel; pools and rates.
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

sub recipients {
    my ($n, $from) = @_;
    return [ map { { to => sprintf('+1555%07d', ($from // 0) + $_),
                     vars => { name => "N$_" } } } 1 .. $n ];
}
sub create {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 'd', type => 'sms', message => { body => 'Hi {{name}}' },
        %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub campaign { $t->req(GET => "/v1/campaigns/$_[0]", %k)->{json} }
sub wait_status {
    my ($id, $status, $secs) = @_;
    CampaignTest::wait_for(sub { campaign($id)->{status} eq $status },
                           $secs // 20, "campaign to be $status");
}
sub deliveries_of {
    my ($id) = @_;
    return grep { $_->{body}{campaign_id} eq $id } $t->deliveries;
}
sub recipient_rows {
    my ($id) = @_;
    my (@all, $cursor);
    do {
        my $p = $t->req(GET => "/v1/campaigns/$id/recipients?limit=1000"
                        . ($cursor ? "&cursor=$cursor" : ''), %k)->{json};
        push @all, @{ $p->{data} };
        $cursor = $p->{next_cursor};
    } while ($cursor);
    return @all;
}

my $s = $t->start_scheduler(conf => <<"CONF");
pool sms 10;
pool voice 1;
pool email 10;
provider sms $url/sms;
provider voice $url/slow;
retry 3 100ms 1s;
window 32;
CONF

# Row updates of recipients so far, and how many were heap-only (no index
# touched); the counters reach pg_stat within a second or two.
sub recipient_updates {
    return split /\|/, $t->psql("SELECT n_tup_upd, n_tup_hot_upd "
        . "FROM pg_stat_user_tables WHERE relid = 'campaign.recipients'::regclass");
}
my ($upd0, $hot0) = recipient_updates();

# --- 1,000 recipients ----------------------------------------------------------
my $id = create(recipients => recipients(1000), start => \1,
                message => { body => 'Hi {{name}}, this is {{to}}{{nope}}.',
                             meta => [ '{{name}}', 7 ] });
wait_status($id, 'completed');
my $c = campaign($id);
is_deeply($c->{stats}, { total => 1000, pending => 0, sent => 1000,
                         failed => 0, cancelled => 0, delivered => 0,
                         undelivered => 0 },
          '1,000 recipients: stats exact');
ok($c->{finished_at}, 'completed with finished_at');
my @d = deliveries_of($id);
my %keys = map { $_->{key} => 1 } @d;
is(scalar(@d), 1000, 'exactly 1,000 requests reached the provider');
is(scalar(keys %keys), 1000, '1,000 distinct Idempotency-Keys');
my ($one) = grep { $_->{body}{to} eq '+15550000007' } @d;
is($one->{key}, "$id:$one->{body}{recipient_id}",
   'Idempotency-Key is <campaign id>:<recipient id>');
is($one->{path}, '/sms', "POSTed to the type's provider URL");
like($one->{ctype}, qr{^application/json}, 'Content-Type: application/json');
is_deeply([ sort keys %{ $one->{body} } ],
          [ qw(campaign_id message recipient_id to type vars) ],
          'body fields: campaign_id, recipient_id, type, to, vars, message');
is($one->{body}{message}{body}, 'Hi N7, this is +15550000007.',
   'placeholders filled: a var, {{to}}, a missing var empty');
is_deeply($one->{body}{message}{meta}, [ 'N7', 7 ], 'in every string');
is_deeply($one->{body}{vars}, { name => 'N7' }, 'vars as given');
my @rows = recipient_rows($id);
my ($row) = grep { $_->{to} eq '+15550000007' } @rows;
is($row->{status}, 'sent', 'recipient sent');
like($row->{provider_id}, qr/^p-\d+$/, "provider_id from the answer's id");
ok($row->{sent_at}, 'sent_at set');
is($row->{attempts}, 1, 'one attempt');
my ($upd, $hot) = CampaignTest::wait_for(sub {
    my @u = recipient_updates();
    $u[0] - $upd0 >= 1000 ? \@u : undef }, 10, 'update statistics')->@*;
cmp_ok($hot - $hot0, '>=', 0.9 * ($upd - $upd0),
       'results are heap-only updates: no index is rewritten per recipient');

# --- answers -----------------------------------------------------------------------
sub with_provider {
    my ($path, $n) = @_;
    $t->stop_scheduler($s);
    $s = $t->start_scheduler(conf => <<"CONF");
pool sms 10;
provider sms $url$path;
retry 3 100ms 1s;
window 32;
CONF
    my $cid = create(recipients => recipients($n // 5, 100), start => \1);
    return $cid;
}

$id = with_provider('/flaky');
wait_status($id, 'completed');
@rows = recipient_rows($id);
is(scalar(grep { $_->{status} eq 'sent' && $_->{attempts} == 2 } @rows), 5,
   '503 then 200: sent on the second attempt');
my %by_key;
$by_key{ $_->{key} }++ for deliveries_of($id);
is(scalar(grep { $_ != 2 } values %by_key), 0,
   'the retry carries the same Idempotency-Key');

$id = with_provider('/bad');
wait_status($id, 'completed');
@rows = recipient_rows($id);
is(scalar(grep { $_->{status} eq 'failed' && $_->{attempts} == 1
                 && $_->{last_error} eq 'HTTP 400' } @rows), 5,
   '400: failed at once, last_error says why');
is(campaign($id)->{stats}{failed}, 5, 'stats count the failures');

$id = with_provider('/down');
wait_status($id, 'completed');
@rows = recipient_rows($id);
is(scalar(grep { $_->{status} eq 'failed' && $_->{attempts} == 3
                 && $_->{last_error} eq 'HTTP 500' } @rows), 5,
   'always 500: failed after the 3 attempts of retry');

$id = with_provider('/busy');
wait_status($id, 'completed');
@rows = recipient_rows($id);
is(scalar(grep { $_->{status} eq 'sent' && $_->{attempts} == 2 } @rows), 5,
   '429 then 200: sent on the second attempt');
my %at;
push @{ $at{ $_->{key} } }, $_->{at} for deliveries_of($id);
my @gaps = map { $_->[1] - $_->[0] } values %at;
is(scalar(grep { $_ < 1 } @gaps), 0, sprintf(
   'the retry honoured Retry-After: 1 (shortest gap %.2f s)',
   (sort { $a <=> $b } @gaps)[0]));

# --- no provider ----------------------------------------------------------------
$id = create(type => 'email', recipients => [ { to => 'a@example.com' } ],
             start => \1);
wait_status($id, 'failed');
like(campaign($id)->{failure}, qr/no provider for type email/,
     'no provider for its type: failed, with the reason');

# --- pause, resume, cancel -----------------------------------------------------
$t->stop_scheduler($s);
$s = $t->start_scheduler(conf => <<"CONF");
pool sms 10;
provider sms $url/sms;
rate sms 400;
window 16;
CONF
# Starts a campaign, stops it mid-way with $action, and watches the
# provider for 2 s: the absence of requests is what is checked, so this
# is an observation window, not a wait for a condition.
sub stop_mid_way {
    my ($action, $from) = @_;
    my $cid = create(recipients => recipients(2000, $from), start => \1);
    CampaignTest::wait_for(sub { campaign($cid)->{stats}{sent} >= 200 }, 10,
                           'some deliveries');
    $t->req(POST => "/v1/campaigns/$cid/$action", %k);
    my $at = time;
    sleep 2;
    is(scalar(grep { $_->{at} > $at + 1 } deliveries_of($cid)), 0,
       "$action: no request from 1 s after it");
    return $cid;
}

$id = stop_mid_way('pause', 5000);
my $stats = campaign($id)->{stats};
cmp_ok($stats->{pending}, '>', 0, "paused with $stats->{pending} pending");
$t->req(POST => "/v1/campaigns/$id/resume", %k);
wait_status($id, 'completed', 30);
my @all = deliveries_of($id);
my %n;
$n{ $_->{key} }++ for @all;
is(scalar(keys %n), 2000, 'resumed: every recipient delivered');
is(scalar(grep { $_ > 1 } values %n), 0, 'none sent twice');

$id = stop_mid_way('cancel', 9000);
$stats = campaign($id)->{stats};
is($stats->{pending}, 0, 'cancel leaves nothing pending');
is($stats->{sent} + $stats->{cancelled}, 2000,
   "sent $stats->{sent} + cancelled $stats->{cancelled} = all");
is($stats->{sent}, scalar(deliveries_of($id)),
   'every request that went out is counted sent');

# cancel racing with result writes never costs the client a 503; a 409 is
# right only for a campaign that finished first (the sink is fast)
my (@answers, $cancelled);
for my $round (1 .. 8) {
    my $cid = create(recipients => recipients(2000, 40000 + 3000 * $round),
                     start => \1);
    CampaignTest::wait_for(sub { campaign($cid)->{stats}{sent} >= 20 }, 10,
                           'deliveries under way');
    my $status = $t->req(POST => "/v1/campaigns/$cid/cancel", %k)->{status};
    push @answers, $status == 200 ? 200
                 : $status == 409 ? '409/' . campaign($cid)->{status}
                 : $status;
    $cancelled++ if $status == 200;
}
is(scalar(grep { !/^(200|409\/completed)$/ } @answers), 0,
   'eight cancels during delivery: 200, or 409 once completed')
    or diag("answers: @answers");
cmp_ok($cancelled, '>=', 4, "$cancelled of 8 cancelled mid-way");

# --- a slow voice pool does not slow sms; the rate cap holds ----------------------
$t->stop_scheduler($s);
$s = $t->start_scheduler(conf => <<"CONF");
pool sms 10;
pool voice 1;
provider sms $url/sms;
provider voice $url/slow;
rate sms 500;
window 64;
CONF
my @voice = map { create(type => 'voice', start => \1,
                         recipients => recipients(200, 20000 + 1000 * $_)) }
            1 .. 3;
CampaignTest::wait_for(sub { grep { campaign($_)->{status} eq 'running' }
                             @voice }, 5, 'voice running');
is(scalar(grep { campaign($_)->{status} eq 'queued' } @voice), 2,
   'the voice pool of 1 is full, two voice campaigns queued');
my $sms = create(recipients => recipients(3000, 30000), start => \1);
wait_status($sms, 'completed', 30);
my @at = sort { $a <=> $b } map { $_->{at} } deliveries_of($sms);
my $secs = $at[-1] - $at[0];
my $rate = (@at - 1) / $secs;
# never above the rate; below it only by what the machine cannot keep up
# with (a shared CI machine, the sanitizers: their slowness is no rate)
my $floor = $ENV{CAMPAIGN_ASAN} ? 0.75 : 0.9;
ok($rate <= 500 * 1.05 && $rate >= 500 * $floor, sprintf(
    'rate sms 500: %.0f deliveries/s over %.1f s (at most 5 %% over, '
    . 'at least %.0f %%)', $rate, $secs, $floor * 100));
ok(scalar(grep { campaign($_)->{status} ne 'completed' } @voice),
   'sms ran at its full rate while the slow voice pool was still busy');

# a reload that changes the database reconnects mid-delivery, losing nothing
$id = create(recipients => recipients(1500, 60000), start => \1);
CampaignTest::wait_for(sub { campaign($id)->{stats}{sent} >= 100 }, 10,
                       'deliveries under way');
{
    local @ARGV = ($s->{conf});
    my $conf = join '', <>;
    $conf =~ s/user=campaign"/user=campaign application_name=reloaded"/;
    open(my $fh, '>', $s->{conf}) or die;
    print $fh $conf;
}
kill 'HUP', $s->{pid};
wait_status($id, 'completed', 30);
like(`cat $s->{log}`, qr/reason="the database setting changed"/,
     'SIGHUP with another database string reconnects');
%n = ();
$n{ $_->{key} }++ for deliveries_of($id);
is(scalar(keys %n), 1500, 'the delivery went on: every recipient sent');
is(scalar(grep { $_ > 1 } values %n), 0, 'none twice');

$t->done;
done_testing;
