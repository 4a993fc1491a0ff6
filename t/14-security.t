# The security checklist of the README, the points no other test covers:
# provider URLs only from the operator's file, no user text in SQL, the CSV
# row bound, the scheduler running unprivileged under the unit's
# restrictions, and nginx's limit_req in front of the API.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

my $t = CampaignTest->new(
    http_config => 'limit_req_zone $binary_remote_addr zone=api:1m '
                 . 'rate=50r/s;',
    location_config => 'limit_req zone=api burst=10 nodelay; '
                     . 'limit_req_status 429;');
my %k = (key => $t->key('sec'));
my $root = $CampaignTest::ROOT;
my $stub = $t->start_provider;

# ------------------------------------------ nginx's limit_req in front of it

my %seen;
$seen{ $t->req(GET => '/v1/status', %k, by_nginx => 1)->{status} }++
    for 1 .. 60;
cmp_ok($seen{200} // 0, '>=', 10, 'limit_req: the burst is served');
cmp_ok($seen{429} // 0, '>=', 10, 'limit_req: the excess gets 429');
sleep 0.5;                  # the zone refills before the rest

# ------------------------------ provider URLs only from the operator's file

# a copy in the test's folder: the checkout may be closed to nobody
my $bin = "$t->{dir}/campaign-scheduler";
system('cp', ($ENV{CAMPAIGN_ASAN} ? "$root/build/asan" : "$root/build")
       . '/campaign-scheduler', $bin) == 0 or die 'cp';
chmod 0755, $bin;
my $s = $t->start_scheduler(bin => $bin,
    wrap => ['setpriv', '--reuid=nobody', '--regid=nogroup',
             '--clear-groups', '--no-new-privs'],
    conf => "pool sms 2;\nprovider sms $stub/sms;\n");
my $uid = (stat("/proc/$s->{pid}"))[4];
is(scalar(getpwuid($uid)), 'nobody', 'the scheduler runs as nobody');
like(`grep NoNewPrivs /proc/$s->{pid}/status`, qr/NoNewPrivs:\s+1/,
     'with no_new_privs set');

my $r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'p', type => 'sms', message => { body => 'x' },
    provider => "$stub/bad" });
is($r->{json}{error}{code} // '', 'unknown_field',
   'a "provider" field in a campaign is refused');

my $evil = "$stub/down";
$r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'p', type => 'sms',
    message => { body => 'x', url => $evil, provider => $evil },
    metadata => { provider => $evil, url => $evil, callback => $evil },
    recipients => [ map { { to => sprintf('+1555%07d', $_),
                            vars => { url => $evil } } } 1 .. 20 ],
    start => \1 });
is($r->{status}, 201, 'a campaign whose every field names another URL');
my $id = $r->{json}{id};
CampaignTest::wait_for(sub {
    $t->req(GET => "/v1/campaigns/$id", %k)->{json}{status} eq 'completed'
}, 20, 'it to complete');
my @paths = map { $_->{path} } grep { $_->{body}{campaign_id} eq $id }
            $t->deliveries;
is(scalar(@paths), 20, 'all 20 delivered');
is(join(',', sort { $a cmp $b } keys %{ { map { $_ => 1 } @paths } }), '/sms',
   'each to the URL of the operator\'s file, none elsewhere');

# ------------------------------------------------------ no user text in SQL

my $name = q{x'); DROP TABLE campaign.campaigns; --};
$r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => $name, type => 'sms', message => { body => q{'"\\;} } });
is($r->{status}, 201, 'a name made to break out of a string literal');
is($t->req(GET => "/v1/campaigns/$r->{json}{id}", %k)->{json}{name}, $name,
   'is stored and read back as text');
is($t->req(GET => '/v1/campaigns?status=draft%27%3B--', %k)->{status}, 400,
   'a query value made to break out: a plain 400');

# every statement the C code sends is a literal or a prepared name
my @calls;
for my $f (glob("$root/ngx_campaign_module/*.c $root/scheduler/*.c")) {
    my $src = do { local (@ARGV, $/) = ($f); <> };
    while ($src =~ /\b(PQsendQuery(?:Params)?|PQexec(?:Params)?|PQsendPrepare|
                       PQprepare|cs_pg_query)\s*\(\s*[^,]+,\s*([^,]+?)\s*[,)]/gx)
    {
        push @calls, "$f: $1($2)";
    }
}
cmp_ok(scalar(@calls), '>=', 10, scalar(@calls) . ' calls that send SQL');
# cs_pg_query() hands its callers' literal on to libpq; each program's
# connection set-up is the operator's time-out as a number and literals
my @dynamic = grep { !/\(\s*(?:"|NGX_HTTP_CAMPAIGN_STMT_)/
                     && !m{scheduler/pg\.c: PQsendQueryParams\(sql\)}
                     && !m{scheduler/pg\.c: cs_pg_query\(const char \*sql\)}
                     && !m{scheduler/pg\.c: PQsendQuery\(pg->setup\)}
                     && !m{campaign_pg\.c: PQsendQuery\(conn->pool->setup\)}
                     && !m{campaign_pg\.c: PQsendQueryParams\(q->sql\)} }
              @calls;
my $sched_pg = do { local (@ARGV, $/) = ("$root/scheduler/pg.c"); <> };
like($sched_pg, qr/snprintf\(pg->setup, sizeof\(pg->setup\),\s*"SET statement_timeout = %llu; "\s*"SET application_name = 'campaign-scheduler'%s",\s*statement_ms, pg->events\.notify \? "; LISTEN campaign" : ""\);/,
     'the scheduler\'s set-up statement is a number and literals');
my $pg_src = do { local (@ARGV, $/) = (
    "$root/ngx_campaign_module/ngx_http_campaign_pg.c"); <> };
like($pg_src, qr/"SET statement_timeout = %M; %s",\s*cmcf->statement_timeout, prepare\)/,
     'the module\'s set-up statement is a number and a literal');
# q->sql is one of the module's two statements, or its prepared name's text
my $handler_src = do { local (@ARGV, $/) = (
    "$root/ngx_campaign_module/ngx_http_campaign_handler.c"); <> };
my @sql_set = $handler_src =~ /q->sql = (\w+);/g;
is(join(' ', sort @sql_set), 'NGX_HTTP_CAMPAIGN_SQL_API NGX_HTTP_CAMPAIGN_SQL_GET',
   'a statement sent as it is (no prepare) is one of two literals');
is(join("\n", @dynamic), '', 'each sends a literal statement or a '
   . 'prepared name, values only as parameters');
my @sprintf = grep { /printf\s*\([^;]*\b(SELECT|INSERT|UPDATE|DELETE)\b/ }
              map { my $f = $_; local (@ARGV) = ($f); <> }
              glob("$root/ngx_campaign_module/*.c $root/scheduler/*.c");
is(join('', @sprintf), '', 'no statement is built with printf');
my @execute = grep { /\bEXECUTE\b(?!\s+(FUNCTION|PROCEDURE))/ }
              map { my $f = $_; local (@ARGV) = ($f); <> }
              glob("$root/sql/*/*.sql");
is(join('', @execute), '', 'no dynamic EXECUTE in the SQL functions');

# ------------------------------------------------------------ CSV row bound

my $draft = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'csv', type => 'sms', message => { body => 'x' } })->{json}{id};
$r = $t->req(POST => "/v1/campaigns/$draft/recipients", %k,
             headers => { 'Content-Type' => 'text/csv' },
             body => "to\n" . join('', map { sprintf("+1555%07d\n", $_) }
                                       1 .. 100001));
is($r->{status} . ' ' . ($r->{json}{error}{code} // ''),
   '400 validation_failed', '100,001 CSV rows in one request: 400');
is($t->req(GET => "/v1/campaigns/$draft", %k)->{json}{stats}{total}, 0,
   'and none added');

# ------------------------------------------------ the unit's restrictions

my $unit = do { local (@ARGV, $/) = ("$root/conf/campaign-scheduler.service");
                <> };
my %want = (User => qr/^(?!root$)\w+$/, NoNewPrivileges => qr/^yes$/,
            ProtectSystem => qr/^strict$/, ProtectHome => qr/^yes$/,
            PrivateTmp => qr/^yes$/, PrivateDevices => qr/^yes$/,
            CapabilityBoundingSet => qr/^$/,
            RestrictAddressFamilies => qr/^AF_UNIX AF_INET AF_INET6$/,
            SystemCallFilter => qr/^\@system-service$/,
            MemoryDenyWriteExecute => qr/^yes$/);
for my $d (sort keys %want) {
    my ($v) = $unit =~ /^\Q$d\E=(.*)$/m;
    like($v // '(missing)', $want{$d}, "the unit sets $d");
}

$t->done;
done_testing;
