# Real providers (issue 12): stubs that check what Twilio, Amazon SES and a
# Standard Webhooks receiver check, HTTPS with a CA of the test's own and
# mutual TLS; secrets never in a log, -t's output or a command line; a pool
# two types share.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use CampaignTest;

my $ROOT = "$FindBin::Bin/..";
my $t = CampaignTest->new(workers => 1);
my $dir = $t->{dir};
my %k = (key => $t->key('acme'));
my $json = JSON::PP->new->utf8->canonical;

sub spew {
    my ($path, $text) = @_;
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh;
}

# --- secrets, one of them a systemd credential ------------------------------
my %secret = (twilio => 'AC123:tw-SECRET-token', ses => 'AKIDEXAMPLE:ses-SECRET-key',
              whsec => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
              wrong => 'AC123:not-the-token', bearer => 'bearer-SECRET-tok',
              apikey => 'apikey-SECRET-1');
mkdir "$dir/creds";
spew("$dir/twilio", "$secret{twilio}\n");
spew("$dir/creds/ses", $secret{ses});
spew("$dir/whsec", "$secret{whsec}\n");
spew("$dir/wrong", $secret{wrong});
spew("$dir/bearer", $secret{bearer});
spew("$dir/apikey", $secret{apikey});

# --- a CA, a server certificate for 127.0.0.1, a client certificate ----------
mkdir "$dir/tls";
my $ossl = sub {
    system(join(' ', 'openssl', @_, '2>/dev/null')) == 0
        or die "openssl @_ failed";
};
{
    $ossl->(qw(req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca),
            -addext => 'basicConstraints=critical,CA:TRUE',
            -keyout => "$dir/tls/ca.key", -out => "$dir/tls/ca.pem");
    for my $who (qw(server client)) {
        $ossl->(qw(req -newkey rsa:2048 -nodes), -subj => "/CN=$who",
                -keyout => "$dir/tls/$who.key", -out => "$dir/tls/$who.csr");
        spew("$dir/tls/$who.ext", $who eq 'server'
             ? "subjectAltName=IP:127.0.0.1\n"
             : "extendedKeyUsage=clientAuth\n");
        $ossl->(qw(x509 -req -days 2 -CAcreateserial),
                -in => "$dir/tls/$who.csr", -CA => "$dir/tls/ca.pem",
                -CAkey => "$dir/tls/ca.key", -out => "$dir/tls/$who.pem",
                -extfile => "$dir/tls/$who.ext");
    }
}

# --- the stubs ---------------------------------------------------------------
my @stubs;
sub stub {
    my ($mode, @opt) = @_;
    my $port = CampaignTest::free_port();
    my $record = "$dir/$mode-$port.jsonl";
    spew($record, '');
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$dir/logs/stubs.log";
        exec "$ROOT/t/tools/real-provider", $mode, $port, $record, @opt;
        exit 127;
    }
    push @stubs, $pid;
    CampaignTest::wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port) }, 20, "the $mode stub");
    return ($port, $record);
}
sub records {
    my ($record) = @_;
    open(my $fh, '<', $record) or die;
    return map { $json->decode($_) } <$fh>;
}
my ($tw, $tw_rec) = stub('twilio', '--user', $secret{twilio});
my ($ses, $ses_rec) = stub('ses', '--keys', $secret{ses},
                           '--region', 'eu-west-1');
my ($wh, $wh_rec) = stub('webhook', '--whsec', $secret{whsec},
                         '--cert', "$dir/tls/server.pem",
                         '--key', "$dir/tls/server.key");
my ($pl, $pl_rec) = stub('plain');
my ($mt, $mt_rec) = stub('plain', '--cert', "$dir/tls/server.pem",
                         '--key', "$dir/tls/server.key",
                         '--client-ca', "$dir/tls/ca.pem");

spew("$dir/ses.json", $json->encode({
    FromEmailAddress => 'news@example.com',
    Destination => { ToAddresses => [ '{{to}}' ] },
    Content => { Simple => {
        Subject => { Data => '{{message.subject}}' },
        Body => { Text => { Data => '{{message.body}}' } } } },
    EmailTags => [ { Name => 'campaign', Value => '{{campaign.id}}' },
                   { Name => 'first', Value => '{{vars.name}}' } ] }));

sub conf {
    my (%o) = @_;
    my $ca = $o{no_ca} ? '' : "    tls_ca $dir/tls/ca.pem;\n";
    return <<"END";
secret twilio $dir/twilio;
secret ses ses;
secret whsec $dir/whsec;
secret wrong $dir/wrong;
secret bearer $dir/bearer;
secret apikey $dir/apikey;
type hybrid e164;
type wrongauth e164;
type adapter e164;
retry 20 100ms 300ms;
provider sms http://127.0.0.1:$tw/2010-04-01/Accounts/AC123/Messages.json {
    body      form To={{to}} From=+15550001111 Body={{message.body}};
    auth      basic \$twilio;
    answer_id sid;
}
provider wrongauth http://127.0.0.1:$tw/2010-04-01/Accounts/AC123/Messages.json {
    body      form To={{to}} From=+15550001111 Body={{message.body}};
    auth      basic \$wrong;
}
provider email http://127.0.0.1:$ses/v2/email/outbound-emails {
    body      json-template $dir/ses.json;
    auth      aws-sigv4 aws:amz:eu-west-1:ses \$ses;
    answer_id MessageId;
}
provider voice https://127.0.0.1:$wh/voice {
    sign      standard-webhooks \$whsec;
    header    X-Tenant {{campaign.metadata.account}};
    header    X-Recipient {{recipient.id}};
$ca    timeout   2s 10s;
}
provider adapter http://127.0.0.1:$pl/adapter {
    auth      bearer \$bearer;
    header    X-Api-Key \$apikey;
}
provider hybrid https://127.0.0.1:$mt/hybrid {
    tls_ca    $dir/tls/ca.pem;
    tls_cert  $dir/tls/client.pem;
    tls_key   $dir/tls/client.key;
}
END
}

my $env = { CREDENTIALS_DIRECTORY => "$dir/creds" };
my $sched = $t->start_scheduler(conf => conf(), env => $env);

# a recipient whose vars hold what breaks forms, JSON and templates
my $hostile = "a\"b & c=d %41 {{x}} +1\nline two \x{e9}t\x{e9} \x{2603}";
sub create {
    my ($type, $to, %o) = @_;
    # (as UTF-8: the harness's own encoder keeps characters)
    my $r = $t->req(POST => '/v1/campaigns', %k,
        headers => { 'Content-Type' => 'application/json' },
        body => $json->encode({
        name => "p-$type", type => $type,
        message => { body => 'Hi {{name}}!', subject => 'News for {{name}}' },
        metadata => { account => 'acct-42' },
        recipients => [ { to => $to, vars => { name => $hostile } } ],
        %o }));
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    my $id = $r->{json}{id};
    $r = $t->req(POST => "/v1/campaigns/$id/start", %k);
    die "start: $r->{status} $r->{body}" unless $r->{status} == 200;
    return $id;
}
sub recipient {
    my ($id) = @_;
    return $json->decode($t->req(GET => "/v1/campaigns/$id/recipients",
                                 %k)->{body})->{data}[0];
}
sub settled {
    my ($id, $what) = @_;
    CampaignTest::wait_for(sub { (recipient($id)->{status} // '') ne 'pending' },
                           20, $what);
    return recipient($id);
}
my $rendered = "Hi $hostile!";

# --- Twilio: a form, basic auth, the sid as provider_id ------------------------
my $sms = create('sms', '+15551230001');
my $r = settled($sms, 'the sms recipient');
is($r->{status}, 'sent', 'Twilio-shaped: sent');
like($r->{provider_id} // '', qr/^SM\d+$/, 'answer_id sid is the provider_id');
my ($got) = grep { $_->{status} == 201 } records($tw_rec);
ok($got, 'the Twilio stub took it (basic auth right, a form)');
is($got->{form}{To}, '+15551230001', 'To');
is($got->{form}{From}, '+15550001111', 'From, as the file says');
is($got->{form}{Body}, $rendered, 'Body: the vars exactly as sent, "{{" '
   . 'and all, percent-encoded and decoded back');
is($got->{headers}{'idempotency-key'}, "$sms:$r->{id}",
   'the Idempotency-Key stays');

my $bad = create('wrongauth', '+15551230002');
$r = settled($bad, 'the wrong-auth recipient');
is($r->{status}, 'failed', 'wrong basic auth: refused by the stub, failed');
like($r->{last_error} // '', qr/HTTP 401/, 'with the provider\'s status');
ok((grep { ($_->{why} // '') eq 'wrong basic auth' } records($tw_rec)),
   'the stub said why');

# --- SES: a JSON template, AWS SigV4 checked by botocore ---------------------
my $email = create('email', 'a+b@example.com');
$r = settled($email, 'the email recipient');
is($r->{status}, 'sent', 'SES-shaped: sent (the SigV4 signature verified)')
    or diag(join "\n", map { $_->{why} // '' } records($ses_rec));
like($r->{provider_id} // '', qr/^ses-\d+$/, 'answer_id MessageId');
($got) = grep { $_->{status} == 200 } records($ses_rec);
my $doc = $got ? JSON::PP->new->decode($got->{body}) : {};
is_deeply($doc->{Destination}, { ToAddresses => [ 'a+b@example.com' ] },
          'the template\'s shape, with {{to}}');
is($doc->{Content}{Simple}{Body}{Text}{Data}, $rendered,
   'message.body: JSON-escaped, exactly as sent');
is($doc->{Content}{Simple}{Subject}{Data}, "News for $hostile",
   'message.subject');
is_deeply($doc->{EmailTags}, [ { Name => 'campaign', Value => $email },
                               { Name => 'first', Value => $hostile } ],
          'campaign.id and vars.name');
like($got->{headers}{authorization} // '', qr{Credential=AKIDEXAMPLE/\d{8}/eu-west-1/ses/aws4_request},
     'signed for eu-west-1 and ses with the key id of the credential');

# --- Standard Webhooks over HTTPS with the test's CA ----------------------------
my $voice = create('voice', '+15551230003');
$r = settled($voice, 'the voice recipient');
is($r->{status}, 'sent', 'webhook: sent over HTTPS (tls_ca), signature '
   . 'verified') or diag(join "\n", map { $_->{why} // '' } records($wh_rec));
($got) = grep { $_->{status} == 200 } records($wh_rec);
is($got->{headers}{'x-tenant'}, 'acct-42', 'header from campaign.metadata');
is($got->{headers}{'x-recipient'}, $r->{id}, 'header from recipient.id');
is($got->{headers}{'webhook-id'}, "$voice:$r->{id}",
   'webhook-id is the Idempotency-Key');
my $body = $got ? JSON::PP->new->decode($got->{body}) : {};
is($body->{vars}{name}, $hostile, 'the project\'s own body, vars as sent');
is($body->{message}{body}, $rendered, 'and its message rendered');

# --- a bearer token and a secret in a header ------------------------------------
my $ad = create('adapter', '+15551230006');
$r = settled($ad, 'the adapter recipient');
is($r->{status}, 'sent', 'bearer auth: sent');
($got) = records($pl_rec);
is($got->{headers}{authorization}, "Bearer $secret{bearer}",
   'Authorization: Bearer, from the secret');
is($got->{headers}{'x-api-key'}, $secret{apikey},
   'header X-Api-Key $apikey: the secret\'s value, not rendered');

# --- mutual TLS --------------------------------------------------------------
my $hybrid = create('hybrid', '+15551230004');
$r = settled($hybrid, 'the hybrid recipient');
is($r->{status}, 'sent', 'mutual TLS: sent');
($got) = records($mt_rec);
ok($got && $got->{client_cert}, 'with the client certificate');

# --- a certificate problem is retried; a fixed file and SIGHUP recover --------
sub reload {
    my ($text) = @_;
    my ($head) = do { local (@ARGV, $/) = ($sched->{conf}); <> } =~
        /\A(database [^\n]*\nid [^\n]*\n(?:metrics [^\n]*\n)?)/;
    spew("$sched->{conf}.new", $head . $text);
    rename "$sched->{conf}.new", $sched->{conf};
    my $n = () = `cat $sched->{log}` =~ /event=reloaded/g;
    kill 'HUP', $sched->{pid};
    CampaignTest::wait_for(sub { (() = `cat $sched->{log}` =~ /event=reloaded/g) > $n },
                           10, 'the reload');
}
reload(conf(no_ca => 1));
my $voice2 = create('voice', '+15551230005');
CampaignTest::wait_for(sub { (recipient($voice2)->{attempts} // 0) >= 2 }, 20,
                       'attempts without the CA');
$r = recipient($voice2);
is($r->{status}, 'pending', 'without tls_ca: not sent, still pending '
   . '(retried like a connection error)');
like($r->{last_error} // '', qr/certificate/i, "last_error says why: "
     . ($r->{last_error} // ''));
reload(conf());
$r = settled($voice2, 'the voice recipient after the fix');
is($r->{status}, 'sent', 'the CA back and a SIGHUP: sent');

# --- secrets: never in a log, -t's output or a command line ----------------------
my $bin = $ENV{CAMPAIGN_ASAN} ? "$ROOT/build/asan/campaign-scheduler"
                              : "$ROOT/build/campaign-scheduler";
my $out = do {
    local $ENV{CREDENTIALS_DIRECTORY} = "$dir/creds";
    local $ENV{ASAN_OPTIONS} = 'detect_leaks=0';
    `$bin -t -c $sched->{conf} 2>&1`;
};
like($out, qr/syntax is ok/, '-t on the file with secrets');
spew("$dir/broken.conf", "database x;\nsecret whsec $dir/whsec;\n"
     . "provider sms http://p {\n    auth basic \$whsec;\n}\n");
my $err = `$bin -t -c $dir/broken.conf 2>&1`;
like($err, qr/broken\.conf:4: secret "whsec" must hold user:password/,
     'a secret of the wrong shape: the line, not the secret');
spew("$dir/missing.conf", "database x;\nsecret a $dir/nope;\n");
like(`$bin -t -c $dir/missing.conf 2>&1`,
     qr/missing\.conf:2: secret "a": cannot open ".*nope": No such file/,
     'a missing secret file: a config error naming its line');
my $cmdline = do { local (@ARGV, $/) = ("/proc/$sched->{pid}/cmdline"); <> };
my $env_of = do { local (@ARGV, $/) = ("/proc/$sched->{pid}/environ"); <> };
my $all = join '', $out, $err, $cmdline,
              map { local (@ARGV, $/) = ($_); <> } glob("$dir/logs/*");
my $key_b64 = (split /_/, $secret{whsec})[1];
for my $s ('tw-SECRET-token', 'ses-SECRET-key', $key_b64, 'not-the-token',
           $secret{bearer}, $secret{apikey}) {
    unlike($all, qr/\Q$s\E/, "\"$s\" is in no log, no -t output, no command line");
}
unlike($env_of, qr/SECRET/, 'nor in the environment');

# --- a pool two types share -----------------------------------------------------
my $url = $t->start_provider;
reload(<<"END");
type hybrid e164;
pool voice hybrid 2;
pool sms 10;
provider voice $url/slow;
provider hybrid $url/slow;
provider sms $url/slow;
END
CampaignTest::wait_for(sub {
    my $s = $t->req(GET => '/v1/status', %k)->{json};
    ($s->{types}{hybrid}{pool} // '') eq 'voice' && $s->{types}{hybrid}{limit} == 2
}, 10, '/v1/status to show the shared pool');
pass('/v1/status: hybrid shares the voice pool, limit 2');
my @shared = map { create($_ % 2 ? 'voice' : 'hybrid', sprintf('+1555124%04d', $_)) } 1 .. 5;
my @free = map { create('sms', sprintf('+1555125%04d', $_)) } 1 .. 4;
my ($max_shared, $max_sms) = (0, 0);
my $deadline = time + 40;
while (time < $deadline) {
    my ($n, $s) = split /\|/, $t->psql(
        "SELECT count(*) FILTER (WHERE type IN ('voice', 'hybrid')), "
        . "count(*) FILTER (WHERE type = 'sms') FROM campaign.campaigns "
        . "WHERE status = 'running' AND id = ANY('{" . join(',', @shared, @free) . "}')");
    $max_shared = $n if $n > $max_shared;
    $max_sms = $s if $s > $max_sms;
    last if $t->psql("SELECT count(*) FROM campaign.campaigns WHERE status = "
                     . "'completed' AND id = ANY('{" . join(',', @shared, @free)
                     . "}')") == 9;
    sleep 0.05;
}
is($t->psql("SELECT count(*) FROM campaign.campaigns WHERE status = "
            . "'completed' AND id = ANY('{" . join(',', @shared, @free) . "}')"),
   9, 'all nine completed');
is($max_shared, 2, 'voice and hybrid together: never more than their shared 2');
is($max_sms, 4, 'sms ran freely beside them: all 4 at once');

kill 'TERM', @stubs;
waitpid($_, 0) for @stubs;
$t->done;
done_testing();
