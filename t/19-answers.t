# Answers that say what happened: a 503 means nothing changed (or, if the
# connection died as the server committed, that a retry with the same
# Idempotency-Key returns what was made); any other failure of a statement
# is a 500 that leaks nothing; a conditional GET of an unchanged campaign
# is a 304; stock directives may come after campaign_api; day-old
# Idempotency-Keys are neither replayed nor kept.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Handle;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use CampaignTest;

my $t = CampaignTest->new(pool => 1, timeout => '3s');
my %k = (key => $t->key('acme'));

sub create {
    my ($name, %h) = @_;
    return $t->req(POST => '/v1/campaigns', %k, fresh => 1, headers => \%h,
                   json => { name => $name, type => 'sms',
                             message => { body => 'Hi' } });
}
# every statement the module sent has ended, one way or the other
sub settled {
    CampaignTest::wait_for(sub { $t->psql("SELECT count(*) FROM "
        . "pg_stat_activity WHERE datname = 'campaigns' AND state <> 'idle' "
        . "AND backend_type = 'client backend' "
        . "AND pid <> pg_backend_pid()") == 0 }, 10,
        'the statements to end');
}
sub named {
    my ($name) = @_;
    return $t->psql("SELECT count(*) FROM campaign.campaigns "
                    . "WHERE name = '$name'");
}

# --- a 503 means nothing changed ------------------------------------------------
# one connection (pool 1); a create that takes 2 s holds it, the next one
# waits for it: when it could run, too little of its 3 s is left for the
# server's own time-out (2.4 s) to end it in time, so it is not sent
$t->psql(q{CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN
           IF NEW.name = 'slow' THEN PERFORM pg_sleep(2); END IF;
           IF NEW.name = 'slower' THEN PERFORM pg_sleep(2.8); END IF;
           RETURN NEW; END $$});
$t->psql('CREATE TRIGGER slow BEFORE INSERT ON campaign.campaigns '
         . 'FOR EACH ROW EXECUTE FUNCTION public.slow()');
my @got = CampaignTest::parallel(2, sub {
    my ($i) = @_;
    CampaignTest::wait_for(sub { $t->psql("SELECT count(*) FROM "
        . "pg_stat_activity WHERE query LIKE '%campaign.api(%' "
        . "AND state = 'active' AND pid <> pg_backend_pid()") == 1 },
        10, 'the first create to run') if $i;    # the second waits for it
    return create('slow')->{status};
});
is("@got", '201 503', 'the first made in 2 s; the second answered 503 '
                      . 'while it waited for the connection');
settled();                          # what it would have done, done
is(named('slow'), 1, 'and the 503 made nothing, then or later');
my $r = create('slower');
is($r->{status}, 503, 'a statement longer than the server lets run: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
settled();
is(named('slower'), 0, 'the server ended it, and nothing was made');
like($t->error_log, qr/SQLSTATE 57014/, 'the log says the server ended it');
$t->psql('DROP TRIGGER slow ON campaign.campaigns');

# a create that waits for a lock another session holds: the server ends
# the wait before the module gives up, so when the lock is released there
# is nothing left to commit
open(my $lock, '|-', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
     '-h', '127.0.0.1', '-p', $t->{pg_port}, '-U', 'campaign',
     '-d', 'campaigns') or die $!;
$lock->autoflush(1);
print $lock "BEGIN; LOCK TABLE campaign.campaigns IN SHARE MODE;\n";
CampaignTest::wait_for(sub { $t->psql("SELECT count(*) FROM pg_locks "
    . "WHERE relation = 'campaign.campaigns'::regclass AND granted "
    . "AND mode = 'ShareLock'") == 1 }, 10, 'the lock');
$r = create('locked');
is($r->{status}, 503, 'a create that waits for a locked table: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
print $lock "COMMIT;\n";
close $lock;
is($?, 0, 'the lock released');
settled();
is(named('locked'), 0, 'the lock released: no campaign was created');

# --- any other failure is a 500 --------------------------------------------------
$t->psql(q{ALTER TABLE campaign.campaigns ADD CONSTRAINT refused_by_test
           CHECK (name <> 'refuse me')});
$r = create('refuse me');
is($r->{status}, 500, 'a statement that fails for the service: 500');
is($r->{json}{error}{code}, 'internal_error', 'internal_error');
unlike($r->{body}, qr/refused_by_test|constraint|violates|campaign\.|SELECT/i,
       'the answer holds no SQL and no name of the schema');
ok(!$r->{headers}{'retry-after'}, 'no Retry-After: retrying will not help');
my @logged = $t->error_log =~ /query failed \(SQLSTATE 23514\).*request: "POST \/v1\/campaigns/g;
is(scalar(@logged), 1, 'logged once, with the SQLSTATE and the request');
$t->psql('ALTER TABLE campaign.campaigns DROP CONSTRAINT refused_by_test');

# --- conditional GET ---------------------------------------------------------------
$r = create('etag');
my $id = $r->{json}{id};
my $etag = $t->req(GET => "/v1/campaigns/$id", %k)->{headers}{etag};
like($etag, qr/^"\d+"$/, 'GET gives an ETag');
$r = $t->req(GET => "/v1/campaigns/$id", %k,
             headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'If-None-Match with it: 304');
is($r->{body} // '', '', 'with no body');
for my $inm (qq{"0", $etag}, "W/$etag", '*') {
    is($t->req(GET => "/v1/campaigns/$id", %k,
               headers => { 'If-None-Match' => $inm })->{status}, 304,
       "If-None-Match: $inm: 304");
}
is($t->req(GET => "/v1/campaigns/$id", %k,
           headers => { 'If-None-Match' => '"0", W/"1000000"' })->{status},
   200, 'If-None-Match naming other versions: 200');
$t->req(PATCH => "/v1/campaigns/$id", %k, json => { name => 'etag 2' });
$r = $t->req(GET => "/v1/campaigns/$id", %k,
             headers => { 'If-None-Match' => $etag });
is($r->{status}, 200, 'after a change: 200');
isnt($r->{headers}{etag}, $etag, 'with the new ETag');
is($r->{json}{name}, 'etag 2', 'and the campaign as it is');

# If-Match on a read: the API's JSON 412, never nginx's HTML one
$etag = $r->{headers}{etag};
for my $im ($etag, "W/$etag", qq{"0", $etag}, '*') {
    is($t->req(GET => "/v1/campaigns/$id", %k,
               headers => { 'If-Match' => $im })->{status}, 200,
       "GET with If-Match: $im: 200");
}
$r = $t->req(GET => "/v1/campaigns/$id", %k,
             headers => { 'If-Match' => '"0"' });
is($r->{status}, 412, 'GET with If-Match of another version: 412');
is($r->{json}{error}{code} // $r->{body}, 'precondition_failed',
   'as the API\'s JSON error');
is($r->{headers}{etag}, undef, 'with no ETag');
$r = $t->req(HEAD => "/v1/campaigns/$id", %k,
             headers => { 'If-Match' => '"0"' });
is($r->{status}, 412, 'HEAD too');
$r = $t->req(GET => '/v1/campaigns?limit=1', %k,
             headers => { 'If-Match' => $etag });
is($r->{json}{error}{code} // $r->{body}, 'precondition_failed',
   'a list has no ETag: If-Match of one is a JSON 412');
is($t->req(GET => '/v1/campaigns?limit=1', %k,
           headers => { 'If-Match' => '*' })->{status}, 200,
   'and If-Match: * a 200');
$r = $t->req(GET => "/v1/campaigns/$id", %k,
             headers => { 'If-Unmodified-Since' =>
                          'Mon, 01 Jan 2001 00:00:00 GMT' });
is($r->{status}, 200, 'If-Unmodified-Since is ignored (no modification '
   . 'dates): 200, not 412');

# --- Idempotency-Keys a day old ------------------------------------------------
$t->psql("INSERT INTO campaign.idempotency_keys (tenant, key, body_hash, "
         . "campaign_id, response, created_at) SELECT 'acme', k, "
         . "'\\x00', '$id', '{}', now() - interval '24 hours 1 second' "
         . "FROM unnest(ARRAY['old', 'older']) k");
$r = create('fresh', 'Idempotency-Key' => 'old');
is($r->{status}, 201, 'a key a day and a second old is not replayed');
isnt($r->{json}{id}, $id, 'a campaign of its own');
my $s = $t->start_scheduler;
CampaignTest::wait_for(sub { $t->psql("SELECT count(*) FROM "
    . "campaign.idempotency_keys WHERE key = 'older'") == 0 }, 10,
    'the scheduler to purge the day-old key');
pass('a day-old key is purged, off the request path');
is($t->psql("SELECT count(*) FROM campaign.idempotency_keys "
            . "WHERE key = 'old'"), 1, 'the one used again stays, renewed');

$t->done(db_errors_expected => 1);

# --- the connection dies as the server commits --------------------------------
{
    my $u = CampaignTest->new(timeout => '3s', migrate => 1);
    my %uk = (key => $u->key('acme'));
    my $port = CampaignTest::free_port();
    my $proxy = fork // die $!;
    if ($proxy == 0) {
        exec "$CampaignTest::ROOT/t/tools/tcp-proxy", $port, $u->{pg_port};
        exit 127;
    }
    CampaignTest::wait_for(sub { IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port) }, 10, 'the proxy');
    $u->{database} = $u->conninfo($port);
    $u->stop_nginx;
    $u->start_nginx;
    is($u->req(GET => '/v1/status', %uk)->{status}, 200,
       'the module through a proxy');
    my $post = sub {
        return $u->req(POST => '/v1/campaigns', %uk, fresh => 1,
                       headers => { 'Idempotency-Key' => 'cut' },
                       json => { name => 'cut', type => 'sms',
                                 message => { body => 'Hi' } });
    };
    kill 'USR2', $proxy;            # the server's answers held back
    my $pid = open(my $child, '-|') // die $!;
    if ($pid == 0) {
        my $a = $post->();
        print "$a->{status}\n";
        POSIX::_exit(0);
    }
    CampaignTest::wait_for(sub { $u->psql("SELECT count(*) FROM "
        . "campaign.campaigns WHERE name = 'cut'") == 1 }, 10,
        'the server to commit');
    kill 'HUP', $proxy;             # and the connection dies before it
    kill 'USR2', $proxy;            # (later ones are answered)
    my $first = <$child>;
    close $child;
    chomp $first;
    is($first, '503', 'the connection died as the server committed: 503');
    like($u->error_log, qr/database connection lost: (?:(?!\n\d{4}\/\d\d\/\d\d ).)*?request: "POST \/v1\/campaigns /s,
         'logged on the request it cost');
    my $again = $post->();
    is($again->{status}, 200, 'the same Idempotency-Key again: 200');
    is($again->{headers}{'idempotent-replayed'}, 'true',
       'replayed: what was committed');
    is($u->psql("SELECT count(*) FROM campaign.campaigns "
                . "WHERE name = 'cut'"), 1, 'one campaign, not two');
    kill 'TERM', $proxy;
    waitpid($proxy, 0);
    $u->done(db_errors_expected => 1);
}

# --- stock directives after campaign_api -----------------------------------------
{
    my $v = CampaignTest->new(location_config => 'client_max_body_size 1m;');
    my %vk = (key => $v->key('acme'));
    my $rv = $v->req(GET => '/v1/status', %vk);
    is($rv->{status}, 200, 'client_max_body_size after campaign_api: nginx '
                           . 'starts');
    my $id2 = $v->req(POST => '/v1/campaigns', %vk, json => {
        name => 'b', type => 'sms', message => {} })->{json}{id};
    my $csv = "to\n" . join('', map { sprintf("+1555%07d\n", $_) }
                                1 .. 100000);
    $rv = $v->req(POST => "/v1/campaigns/$id2/recipients", %vk, body => $csv,
                  headers => { 'Content-Type' => 'text/csv' }, by_nginx => 1);
    is($rv->{status}, 413, 'and it holds: 1.3 MB over its 1m is a 413');
    $v->done;
}

# --- set above the location: inherited, as nginx does; gzip and If-Match -----
{
    my $v = CampaignTest->new(server_config => 'client_max_body_size 1m;',
        location_config => 'gzip on; gzip_types application/json; '
                         . 'gzip_min_length 1;');
    my %vk = (key => $v->key('acme'));
    my $id2 = $v->req(POST => '/v1/campaigns', %vk, json => {
        name => 'b', type => 'sms', message => {} })->{json}{id};
    my $csv = "to\n" . join('', map { sprintf("+1555%07d\n", $_) }
                                1 .. 100000);
    my $rv = $v->req(POST => "/v1/campaigns/$id2/recipients", %vk,
                     body => $csv, headers => { 'Content-Type' => 'text/csv' },
                     by_nginx => 1);
    is($rv->{status}, 413, 'client_max_body_size 1m in the server: the '
                           . 'location inherits it, 1.3 MB is a 413');
    $rv = $v->req(GET => "/v1/campaigns/$id2", %vk,
                  headers => { 'Accept-Encoding' => 'gzip' });
    is($rv->{headers}{'content-encoding'}, 'gzip', 'a GET, gzipped');
    my $weak = $rv->{headers}{etag} // '';
    like($weak, qr{^W/"\d+"$}, 'with the ETag gzip made weak');
    $rv = $v->req(PATCH => "/v1/campaigns/$id2", %vk,
                  headers => { 'If-Match' => $weak }, json => { name => 'c' });
    is($rv->{status}, 200, 'If-Match with it: the change is made');
    $rv = $v->req(PATCH => "/v1/campaigns/$id2", %vk,
                  headers => { 'If-Match' => $weak }, json => { name => 'd' });
    is($rv->{status}, 412, 'and once more, stale: 412');
    $v->done;
}

# --- what nginx -t refuses ---------------------------------------------------------
{
    my $w = CampaignTest->new;
    my $try = sub {
        my ($http) = @_;
        my $conf = "$w->{dir}/try.conf";
        open(my $fh, '>', $conf) or die $!;
        print $fh "load_module $w->{module};\nerror_log $w->{dir}/try.log;\n"
                . "pid $w->{dir}/try.pid;\nevents {}\nhttp { $http }\n";
        close $fh;
        local $ENV{LD_PRELOAD} = $ENV{CAMPAIGN_ASAN_PRELOAD}
            if $ENV{CAMPAIGN_ASAN};
        local $ENV{ASAN_OPTIONS} = 'detect_leaks=0' if $ENV{CAMPAIGN_ASAN};
        my $out = `nginx -t -q -p $w->{dir} -c $conf 2>&1`;
        return ($? == 0, $out);
    };
    my ($ok, $out) = $try->('campaign_timeout 3s; '
                            . 'campaign_statement_timeout 0;');
    ok(!$ok && $out =~ /campaign_statement_timeout must be more than 0/,
       'campaign_statement_timeout 0 (no limit at all) is refused');
    ($ok, $out) = $try->('campaign_timeout 3s; '
                         . 'campaign_statement_timeout 2950ms;');
    ok(!$ok && $out =~ /at least 100ms less than campaign_timeout/,
       'one less than 100 ms below campaign_timeout is refused');
    ($ok, $out) = $try->('campaign_timeout 300ms;');
    ok(!$ok && $out =~ /campaign_timeout must be at least 500ms/,
       'campaign_timeout 300ms: refused, naming the directive written');
    ($ok, $out) = $try->('campaign_timeout 3s; campaign_statement_timeout 2s;');
    ok($ok, 'campaign_statement_timeout 2s under 3s: accepted') or diag($out);

    # a reload that fails to parse, then one without the module, then
    # another: the master must not call into the unloaded module
    my $conf = "$w->{dir}/nginx.conf";
    my $good = do { local (@ARGV, $/) = ($conf); <> };
    my $reload = sub {
        my ($text, $what) = @_;
        # whole or not at all: the master reads it when it will
        open(my $fh, '>', "$conf.new") or die $!;
        print $fh $text;
        close $fh;
        rename("$conf.new", $conf) or die $!;
        my $before = () = $w->error_log =~ /signal 1 \(SIGHUP\) received/g;
        kill 'HUP', $w->{nginx_pid};
        # read: after this SIGHUP, new workers (taken) or an emerg (refused)
        CampaignTest::wait_for(sub {
            my $log = $w->error_log;
            my $n = () = $log =~ /signal 1 \(SIGHUP\) received/g;
            my ($after) = $log =~ /.*signal 1 \(SIGHUP\) received(.*)\z/s;
            $n > $before && $after =~ /start worker process|\[emerg\]/ }, 10,
            "nginx to read $what");
    };
    (my $broken = $good) =~ s/campaign_api;/campaign_api; no_such_directive;/;
    (my $plain = $good) =~ s/^load_module .*$//m;
    $plain =~ s/^\s*campaign_\w+.*$//mg;
    $plain =~ s#location /v1/ \{#location /v1/ { return 204;#;
    $reload->($broken, 'a broken file');
    $reload->($plain, 'a file without the module');
    CampaignTest::wait_for(sub {
        $w->req(GET => '/v1/status', fresh => 1, by_nginx => 1)->{status}
            == 204 }, 10,
        'the file without the module to serve');
    my @plain_workers = split ' ', `ps -o pid= --ppid $w->{nginx_pid}`;
    $reload->($good, 'the module again');
    CampaignTest::wait_for(sub { kill(0, $w->{nginx_pid})
        && $w->req(GET => '/v1/status', fresh => 1, by_nginx => 1,
                   key => $w->key('acme'))->{status} == 200 }, 10,
        'the module to serve again');
    ok(kill(0, $w->{nginx_pid}), 'a failed reload, one without the module '
       . 'and one with it: the master lives and serves the API');
    # until the workers of the file without the module are gone, one of
    # them may still take a connection (done() scrapes /metrics)
    CampaignTest::wait_for(sub { !grep { kill(0, $_) } @plain_workers }, 20,
        'the old workers to exit');
    $w->done(db_errors_expected => 1,
             expected => qr/\[emerg\].*unknown directive "no_such_directive"/);
}

done_testing;
