# Delivery receipts (issue 12): POST /v1/receipts/{type}, no API key, the
# provider's signature checked (Standard Webhooks, Twilio's); a receipt
# sets the recipient's delivery once, stats follow exactly, forged, stale
# and unknown ones change nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(hmac_sha1_base64 hmac_sha256_base64);
use File::Temp qw(tempdir);
use MIME::Base64 qw(decode_base64);
use JSON::PP;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $json = JSON::PP->new->canonical;
my $whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
my $token = 'twilio-auth-TOKEN-12345';
my $sec = tempdir('receipt-secrets-XXXXXX', TMPDIR => 1, CLEANUP => 1);
for ([voice => "$whsec\n"], [sms => "$token\n"], [email => "$token\n"]) {
    open(my $fh, '>', "$sec/$_->[0]") or die;
    print $fh $_->[1];
    close $fh;
}

sub pad { my ($b) = @_; $b .= '=' while length($b) % 4; $b }
# the signers, written from the specs, checked against their own vectors
sub webhook_sig {
    my ($secret, $id, $ts, $body) = @_;
    my $key = decode_base64((split /_/, $secret, 2)[1]);
    return 'v1,' . pad(hmac_sha256_base64("$id.$ts.$body", $key));
}
sub twilio_sig {
    my ($tok, $url, %p) = @_;
    return pad(hmac_sha1_base64($url . join('', map { $_ . $p{$_} }
                                           sort keys %p), $tok));
}
is(webhook_sig($whsec, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330,
               '{"test": 2432232314}'),
   'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
   'the test\'s Standard Webhooks signer: the spec\'s vector');
is(twilio_sig('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2',
              CallSid => 'CA1234567890ABCDE', Caller => '+12349013030',
              Digits => '1234', From => '+12349013030', To => '+18005551212'),
   '0/KCTR6DLpKmkAf8muzZqo1nDgQ=', 'the test\'s Twilio signer: its vector');

my $t = CampaignTest->new(workers => 2, http_config => <<"END");
    campaign_receipt_secret voice $sec/voice;
    campaign_receipt_secret sms $sec/sms twilio;
    campaign_receipt_secret email $sec/email twilio origin=https://public.example;
END
my %k = (key => $t->key('acme'));
my $url = $t->start_provider;
$t->start_scheduler(conf => "provider sms $url/sms;\nprovider voice "
                    . "$url/voice;\nprovider email $url/email;\n"
                    . "rate voice 150;\n");

sub campaign { $t->req(GET => "/v1/campaigns/$_[0]", %k)->{json} }
sub run {
    my ($type, $n) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 'r', type => $type, message => { body => 'hi' }, start => \1,
        recipients => [ map { { to => $type eq 'email' ? "r$_\@example.com"
                                    : sprintf('+1555%07d', $_) } } 1 .. $n ] });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub rows {
    my ($id, $q) = @_;
    return @{ $t->req(GET => "/v1/campaigns/$id/recipients?limit=1000"
                      . ($q // ''), %k)->{json}{data} };
}
sub stats { campaign($_[0])->{stats} }

# --- Standard Webhooks -----------------------------------------------------
sub webhook {
    my (%o) = @_;
    my $body = $o{raw} // $json->encode($o{receipt});
    my $id = $o{id} // 'msg_' . int(rand(1e9));
    my $ts = $o{ts} // time;
    $ts = int $ts;
    return $t->req(POST => '/v1/receipts/voice', body => $body, headers => {
        'Content-Type' => 'application/json', 'webhook-id' => $id,
        'webhook-timestamp' => $ts,
        'webhook-signature' => $o{sig}
            // webhook_sig($o{secret} // $whsec, $id, $ts, $body) });
}
my $voice = run('voice', 3);
CampaignTest::wait_for(sub { campaign($voice)->{status} eq 'completed' }, 20,
                       'the voice campaign');
my @v = rows($voice);
my %receipt = (provider_id => $v[0]{provider_id}, status => 'delivered');

my $r = webhook(receipt => \%receipt);
is($r->{status}, 200, 'a signed receipt: 200') or diag($r->{body});
is($r->{json}{result}, 'recorded', 'recorded');
my ($row) = grep { $_->{id} eq $v[0]{id} } rows($voice);
is($row->{delivery}, 'delivered', 'the recipient\'s delivery');
like($row->{delivered_at} // '', qr/^\d{4}-.*\.\d{3}Z$/, 'delivered_at');
is(stats($voice)->{delivered}, 1, 'stats: delivered 1');

$r = webhook(receipt => \%receipt);
is($r->{status}, 200, 'the same receipt again: 200');
is($r->{json}{result}, 'unchanged', 'and changes nothing');
is(stats($voice)->{delivered}, 1, 'stats: still delivered 1');

my %other = (provider_id => $v[1]{provider_id}, status => 'undelivered',
             error => 'handset off', at => '2026-12-01T10:00:00.250Z');
my $before = $json->encode([ rows($voice) ]);
for my $bad ([ 'a forged signature', sig => 'v1,' . ('A' x 43) . '=' ],
             [ 'a signature by another secret',
               secret => 'whsec_' . 'QUJD' x 8 ],
             [ 'a timestamp over 5 minutes old', ts => time - 330 ],
             [ 'a timestamp over 5 minutes ahead', ts => time + 330 ],
             [ 'no signature', sig => '' ]) {
    my ($what, @o) = @$bad;
    $r = webhook(receipt => \%other, @o);
    is($r->{status}, 401, "$what: 401");
    is($r->{json}{error}{code}, 'invalid_signature', "$what: invalid_signature");
}
is($json->encode([ rows($voice) ]), $before, 'none of them changed anything');

$r = webhook(receipt => { provider_id => 'no-such-id', status => 'delivered' });
is($r->{status}, 200, 'an unknown provider id: 200 (providers retry errors)');
is($r->{json}{result}, 'unknown_provider_id', 'and says so');
$r = webhook(receipt => { provider_id => $v[2]{provider_id}, status => 'read' });
is($r->{status}, 400, 'a status that is neither: 400');
is($r->{json}{error}{field}, 'status', 'naming the field');
$r = webhook(raw => '{"provider_id": ');
is($r->{status}, 400, 'signed but not JSON: 400');

$r = webhook(receipt => \%other);
is($r->{status}, 200, 'an undelivered receipt');
($row) = grep { $_->{id} eq $v[1]{id} } rows($voice);
is($row->{delivery}, 'undelivered', 'undelivered');
is($row->{last_error}, 'handset off', 'with its error');
is($row->{delivered_at}, '2026-12-01T10:00:00.250Z', 'at: when the provider says');
is_deeply([ map { $_->{id} } rows($voice, '&delivery=undelivered') ],
          [ $v[1]{id} ], 'recipients filter by delivery');
is_deeply([ map { $_->{id} } rows($voice, '&delivery=none') ],
          [ $v[2]{id} ], 'none: no receipt yet');
is($t->req(GET => "/v1/campaigns/$voice/recipients?delivery=maybe", %k)
   ->{status}, 400, 'an unknown delivery filter: 400');
is($t->req(POST => '/v1/receipts/fax', body => '{}', headers => {
       'Content-Type' => 'application/json' })->{status}, 404,
   'a type with no receipt secret: 404');
is($t->req(POST => '/v1/receipts/voice', body => 'a=b', headers => {
       'Content-Type' => 'application/x-www-form-urlencoded' })->{status},
   415, 'a form for a Standard Webhooks type: 415');

$r = webhook(receipt => { %receipt, status => 'undelivered',
                          at => '2020-01-01T00:00:00.000Z' });
is($r->{json}{result}, 'unchanged', 'a receipt older than the one kept: '
   . 'unchanged (a replay cannot undo a later one)');
is(stats($voice)->{delivered}, 1, 'still delivered');
$r = webhook(raw => '{"provider_id":"a\\u0000b","status":"delivered"}');
is($r->{status}, 400, 'signed JSON Postgres cannot store (\\u0000): 400, '
   . 'not a 500 to retry');
$r = $t->req(POST => '/v1/receipts/voice', body => '{"x":"' . ('a' x 70000)
             . '"}', headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 413, 'a receipt over 64 KiB: 413 before anything is read');

# a receipt before its result: kept, and applied when the result is written
# (the stub's ids are p-1, p-2, ... in the order it answers)
my $seen = $t->psql("SELECT count(*) FROM campaign.recipients "
                    . "WHERE provider_id LIKE 'p-%'");
for my $i (1 .. 3) {
    $r = webhook(receipt => { provider_id => 'p-' . ($seen + $i),
                              status => $i == 2 ? 'undelivered' : 'delivered',
                              error => 'early' });
    is($r->{json}{result}, 'unknown_provider_id', "an early receipt $i: 200, "
       . 'unknown yet');
}
my $early = run('voice', 3);
CampaignTest::wait_for(sub { campaign($early)->{status} eq 'completed' }, 20,
                       'the early campaign');
is_deeply([ sort map { $_->{delivery} // 'none' } rows($early) ],
          [ 'delivered', 'delivered', 'undelivered' ],
          'the early receipts applied with the results');
is_deeply([ @{ stats($early) }{qw(delivered undelivered)} ], [ 2, 1 ],
          'and counted');

# --- Twilio's callbacks ----------------------------------------------------
sub twilio {
    my (%p) = @_;
    my $sig = delete $p{_sig};
    my $path = '/v1/receipts/sms' . (delete $p{_query} // '');
    my $body = join '&', map { "$_=" . uri($p{$_}) } sort keys %p;
    $sig //= twilio_sig($token, $t->url($path), %p);
    return $t->req(POST => $path, body => $body, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded',
        'X-Twilio-Signature' => $sig });
}
sub uri { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $s }
my $sms = run('sms', 3);
CampaignTest::wait_for(sub { campaign($sms)->{status} eq 'completed' }, 20,
                       'the sms campaign');
my @s = rows($sms);
$r = twilio(MessageSid => $s[0]{provider_id}, MessageStatus => 'delivered',
            AccountSid => 'AC123', To => '+15550000001', _query => '?x=1&y=%20');
is($r->{status}, 200, 'a signed Twilio callback (with a query string): 200')
    or diag($r->{body});
is(stats($sms)->{delivered}, 1, 'delivered');
$r = twilio(MessageSid => $s[1]{provider_id}, MessageStatus => 'sent');
is($r->{json}{result}, 'ignored', 'a status that is not an end: ignored');
$r = twilio(MessageSid => $s[1]{provider_id}, MessageStatus => 'failed',
            ErrorCode => '30003');
is(stats($sms)->{undelivered}, 1, 'failed: undelivered');
($row) = grep { $_->{id} eq $s[1]{id} } rows($sms);
is($row->{last_error}, 'ErrorCode 30003', 'with Twilio\'s error code');
$before = $json->encode([ rows($sms) ]);
$r = twilio(MessageSid => $s[2]{provider_id}, MessageStatus => 'delivered',
            _sig => twilio_sig('wrong-token', $t->url('/v1/receipts/sms'),
                               MessageSid => $s[2]{provider_id},
                               MessageStatus => 'delivered'));
is($r->{status}, 401, 'a Twilio callback signed with another token: 401');
$r = twilio(MessageSid => $s[2]{provider_id}, MessageStatus => 'delivered',
            _sig => '');
is($r->{status}, 401, 'without a signature: 401');
$r = $t->req(POST => '/v1/receipts/sms', body => '%zz=1', headers => {
    'Content-Type' => 'application/x-www-form-urlencoded',
    'X-Twilio-Signature' => 'x' });
is($r->{status}, 400, 'a malformed form (%zz): 400');
is($json->encode([ rows($sms) ]), $before, 'none changed anything');

$r = $t->req(POST => '/v1/receipts/sms', body => join('&', map { "a$_=1" }
             1 .. 300), headers => {
    'Content-Type' => 'application/x-www-form-urlencoded',
    'X-Twilio-Signature' => 'x' });
is($r->{status}, 400, 'a form of over 256 parameters: 400');

# behind a proxy: the URL Twilio called is the origin's
my $mail = run('email', 1);
CampaignTest::wait_for(sub { campaign($mail)->{status} eq 'completed' }, 20,
                       'the email campaign');
my ($m) = rows($mail);
my %cb = (MessageSid => $m->{provider_id}, MessageStatus => 'delivered');
my $body = join '&', map { "$_=" . uri($cb{$_}) } sort keys %cb;
my $post = sub {
    $t->req(POST => '/v1/receipts/email', body => $body, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded',
        'X-Twilio-Signature' => twilio_sig($token, $_[0], %cb) });
};
is($post->($t->url('/v1/receipts/email'))->{status}, 401,
   'origin= set: signed for the address nginx saw, 401');
is($post->('https://public.example/v1/receipts/email')->{json}{result},
   'recorded', 'signed for the origin\'s URL: recorded');

# --- 1,000 receipts while the campaign still sends --------------------------
my $big = run('voice', 1500);
my (%done, $while_running);
my $deadline = time + 60;
while (keys(%done) < 1000 && time < $deadline) {
    my @ids = grep { !$done{$_} } split /\n/, $t->psql(
        "SELECT provider_id FROM campaign.recipients WHERE campaign_id = "
        . "'$big' AND provider_id IS NOT NULL ORDER BY seq LIMIT 1000");
    splice(@ids, 1000 - keys %done) if keys(%done) + @ids > 1000;
    if (!@ids) { sleep 0.05; next; }
    my $running = campaign($big)->{status} eq 'running';
    my @out = CampaignTest::parallel(4, sub {
        my ($i) = @_;
        my $ok = 0;
        for my $n (grep { $_ % 4 == $i } 0 .. $#ids) {
            my $r = webhook(receipt => { provider_id => $ids[$n], status =>
                (substr($ids[$n], -1) % 3 ? 'delivered' : 'undelivered') });
            $ok++ if $r->{status} == 200 && $r->{json}{result} eq 'recorded';
        }
        return $ok;
    });
    my $ok = 0;
    $ok += $_ for @out;
    is($ok, scalar @ids, 'each receipt recorded') unless $ok == @ids;
    $while_running += @ids if $running;
    $done{$_} = 1 for @ids;
}
is(scalar keys %done, 1000, '1,000 receipts sent');
cmp_ok($while_running // 0, '>=', 300, "$while_running of them while the "
       . 'campaign was still sending');
CampaignTest::wait_for(sub { campaign($big)->{status} eq 'completed' }, 60,
                       'the big campaign');
my ($dl, $ud) = split /\|/, $t->psql(
    "SELECT count(*) FILTER (WHERE delivery = 'delivered'), "
    . "count(*) FILTER (WHERE delivery = 'undelivered') "
    . "FROM campaign.recipients WHERE campaign_id = '$big'");
my $want_ud = grep { substr($_, -1) % 3 == 0 } keys %done;
is($dl + $ud, 1000, 'the recipients: 1,000 with a delivery');
is($ud, $want_ud, 'as many undelivered as were sent so');
my $st = stats($big);
is_deeply([ @$st{qw(delivered undelivered sent)} ], [ $dl, $ud, 1500 ],
          'stats exact: delivered, undelivered, sent');

$t->done;
done_testing();
