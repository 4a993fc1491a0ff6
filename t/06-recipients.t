# Recipients as JSON and as CSV: address checks per type, duplicates
# skipped, one bad row rejects all, listing with filters and cursors.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

# 100,000-row uploads take a second or two; a loaded machine must not
# turn that into a 503 (t/bench/recipients measures their speed)
my $t = CampaignTest->new(timeout => '30s');
my %k = (key => $t->key('acme'));

sub campaign {
    my ($type) = @_;
    return $t->req(POST => '/v1/campaigns', %k,
                   json => { name => 'r', type => $type, message => {} })
        ->{json}{id};
}
sub add_csv {
    my ($id, $csv, $ctype) = @_;
    return $t->req(POST => "/v1/campaigns/$id/recipients", %k, body => $csv,
                   headers => { 'Content-Type' => $ctype // 'text/csv' });
}

my $sms = campaign('sms');
my $r = $t->req(POST => "/v1/campaigns/$sms/recipients", %k,
                json => [ { to => '+15551234567', vars => { name => 'Ann' } },
                          { to => '+15557654321' },
                          { to => '+15551234567' } ]);
is($r->{status}, 200, 'JSON recipients: 200');
is_deeply($r->{json}, { added => 2, duplicates => 1, total => 2 },
          'added, duplicates (within the request) and total');
$r = $t->req(POST => "/v1/campaigns/$sms/recipients", %k,
             json => [ { to => '+15557654321' }, { to => '+442071234567' } ]);
is_deeply($r->{json}, { added => 1, duplicates => 1, total => 3 },
          'an address already in the campaign is skipped');

for my $bad ('5551234567', '+1', '+1234567890123456', '+1555abc4567', '') {
    $r = $t->req(POST => "/v1/campaigns/$sms/recipients", %k,
                 json => [ { to => '+15550000001' }, { to => $bad } ]);
    is($r->{status}, 400, "sms address '$bad' rejected");
    is($r->{json}{error}{code}, 'invalid_recipient', 'invalid_recipient');
    is($r->{json}{error}{index}, 1, 'with its index');
}
for my $bad ([ { to => '+15550000001', extra => 1 } ], [ { vars => {} } ],
             [ { to => '+15550000001', vars => [1] } ], [ 'x' ]) {
    $r = $t->req(POST => "/v1/campaigns/$sms/recipients", %k, json => $bad);
    is($r->{json}{error}{code}, 'invalid_recipient',
       'malformed recipient object rejected');
}
is($t->req(GET => "/v1/campaigns/$sms", %k)->{json}{stats}{total}, 3,
   'rejected requests added nothing');
$r = $t->req(POST => "/v1/campaigns/$sms/recipients", %k,
             json => [ map { { to => sprintf('+1555%07d', $_) } } 1 .. 10001 ]);
is($r->{json}{error}{field}, 'recipients', 'over 10,000 JSON recipients: 400');

my $email = campaign('email');
$r = $t->req(POST => "/v1/campaigns/$email/recipients", %k,
             json => [ { to => 'ann@example.com' }, { to => 'b.o+x@a-b.co' } ]);
is($r->{json}{added}, 2, 'email addresses');
for my $bad ('ann', 'ann@', '@example.com', 'a b@example.com',
             'a@b@example.com', ('x' x 250) . '@example.com', '+15551234567') {
    $r = $t->req(POST => "/v1/campaigns/$email/recipients", %k,
                 json => [ { to => $bad } ]);
    is($r->{json}{error}{code}, 'invalid_recipient', "email '$bad' rejected");
}

# CSV
my $voice = campaign('voice');
$r = add_csv($voice, "to,name,city\r\n+15550000001,Ann,\"Paris, FR\"\r\n"
                   . "\r\n+15550000002,\"Bob \"\"B\"\"\",Oslo\n"
                   . "+15550000001,Dup,X\n");
is($r->{status}, 200, 'CSV: 200');
is_deeply($r->{json}, { added => 2, duplicates => 1, total => 2 },
          'CSV: blank lines skipped, duplicates counted');
my $list = $t->req(GET => "/v1/campaigns/$voice/recipients", %k)->{json};
is_deeply([ map { [$_->{to}, $_->{vars}] } @{ $list->{data} } ],
          [ ['+15550000001', { name => 'Ann', city => 'Paris, FR' }],
            ['+15550000002', { name => 'Bob "B"', city => 'Oslo' }] ],
          'CSV columns become vars, quotes and commas kept');
is($list->{data}[0]{status}, 'pending', 'a new recipient is pending');
is($list->{data}[0]{attempts}, 0, 'with no attempts');
like($list->{data}[0]{id}, qr/^[0-9a-f-]{36}$/, 'recipient ids are UUIDs');

$r = add_csv($voice, "\xef\xbb\xbfto\n+15550000003\n",
             'text/csv; charset=utf-8');
is($r->{json}{added}, 1, 'CSV with a BOM and no vars');
$r = add_csv($voice, "phone,name\n+15550000009,X\n");
is($r->{json}{error}{field}, 'to', 'CSV whose first column is not "to"');
$r = add_csv($voice, "to,name\n+15550000010,A\n+15550000011\n");
is($r->{json}{error}{code}, 'invalid_recipient', 'CSV row missing a column');
is($r->{json}{error}{index}, 1, 'its data row index');
$r = add_csv($voice, "to,name\n+15550000010,\"open\n");
is($r->{json}{error}{index}, 0, 'CSV unterminated quote');
$r = add_csv($voice, "to\n+15550000010\nnope\n");
is($r->{json}{error}{index}, 1, 'CSV bad address: its index');
$r = add_csv($voice, "to,name\n+15550000010,\xff\n");
is($r->{json}{error}{code}, 'invalid_json', 'CSV not UTF-8');
is($t->req(GET => "/v1/campaigns/$voice", %k)->{json}{stats}{total}, 3,
   'rejected CSV added nothing');
$r = add_csv($voice, "to\n+15550000010\n", 'text/plain');
is($r->{status}, 415, 'CSV needs text/csv');
$r = $t->req(POST => "/v1/campaigns/$voice/start", %k, body => "to\n",
             headers => { 'Content-Type' => 'text/csv' });
is($r->{status}, 415, 'CSV only where recipients are accepted');

my $big = campaign('sms');
my $csv = "to,n\n" . join('', map { sprintf("+1555%07d,%d\n", $_, $_) }
                                 1 .. 100000);
$r = add_csv($big, $csv);
is($r->{json}{added}, 100000, '100,000 CSV rows in one request');
$r = add_csv(campaign('sms'), $csv . "+15559999999,x\n");
is($r->{json}{error}{field}, 'recipients', '100,001 CSV rows: 400');

# quoted fields, as Excel writes them: the worker's memory stays within a
# small multiple of the body, and is given back with the request
sub worker_kib {
    my ($field) = @_;
    my ($pid) = split /\n/, `pgrep -P $t->{nginx_pid}`;
    my $status = do { local (@ARGV, $/) = ("/proc/$pid/status"); <> };
    return $status =~ /^$field:\s+(\d+)/m ? $1 : die "no $field";
}
my $quoted = qq{"to","name","city"\r\n} . join('', map {
    sprintf(qq{"+1555%07d","Name %d","City, ""%d"""\r\n}, $_, $_, $_)
} 1 .. 100000);
my $quoted_id = campaign('sms');
# the peak from here on, not the earlier uploads' (clear_refs 5 resets it)
{
    my ($pid) = split /\n/, `pgrep -P $t->{nginx_pid}`;
    open(my $fh, '>', "/proc/$pid/clear_refs") or die "clear_refs: $!";
    print $fh "5\n";
    close $fh or die "clear_refs: $!";
}
my $rss0 = worker_kib('VmRSS');
cmp_ok(worker_kib('VmHWM') - $rss0, '<', 1024,
       'the peak counted from this upload on');
$r = add_csv($quoted_id, $quoted);
is($r->{json}{added}, 100000, '100,000 quoted CSV rows');
my $peak = (worker_kib('VmHWM') - $rss0) * 1024 / length($quoted);
cmp_ok($peak, '<=', 3, sprintf('the worker grew by %.1f x the %.1f MB body '
                               . 'at most', $peak, length($quoted) / 1e6));
# (ASan's quarantine keeps freed memory on purpose: the release run of
# make test checks this)
my $kept = (worker_kib('VmRSS') - $rss0) * 1024 / length($quoted);
cmp_ok($kept, '<', $ENV{CAMPAIGN_ASAN} ? 3 : 0.25,
       sprintf('and kept %.2f x of it after the request', $kept));
is_deeply($t->req(GET => "/v1/campaigns/$quoted_id/recipients?limit=1", %k)
            ->{json}{data}[0]{vars}, { name => 'Name 1', city => 'City, "1"' },
          'quoted fields unquoted');

# listing
my (@all, $cursor);
do {
    my $page = $t->req(GET => "/v1/campaigns/$big/recipients?limit=1000"
                       . ($cursor ? "&cursor=$cursor" : ''), %k)->{json};
    push @all, map { $_->{to} } @{ $page->{data} };
    $cursor = $page->{next_cursor};
} while ($cursor && @all < 200000);
is(scalar(@all), 100000, 'recipient pages cover all, once');
my %u = map { $_ => 1 } @all;
is(scalar(keys %u), 100000, 'no recipient repeated');
$t->psql("UPDATE campaign.recipients SET status = 'failed', "
         . "last_error = 'HTTP 400' WHERE address = '+15550000007'");
$r = $t->req(GET => "/v1/campaigns/$big/recipients?status=failed", %k);
is_deeply([ map { [$_->{to}, $_->{last_error}] } @{ $r->{json}{data} } ],
          [ ['+15550000007', 'HTTP 400'] ], 'status filter');
is($t->req(GET => "/v1/campaigns/$big", %k)->{json}{stats}{failed}, 1,
   'stats follow recipient status changes');
is($t->req(GET => "/v1/campaigns/$big/recipients?status=lost", %k)
     ->{status}, 400, 'unknown recipient status: 400');

$t->done;
done_testing;
