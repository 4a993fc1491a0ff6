# Metrics (issue 13): the scheduler's GET /metrics and nginx's
# campaign_metrics location, in Prometheus's text format, scraped by a real
# Prometheus (Debian's package) whose answers must match what this test
# measures itself; the example alert rules checked and unit-tested with
# promtool; the retention directive.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use IO::Socket::INET;
use CampaignTest;

my $ROOT = "$FindBin::Bin/..";
my $ASAN = $ENV{CAMPAIGN_ASAN};
# a prove time-out or Ctrl-C still runs the END blocks (Prometheus, servers)
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);
my $t = CampaignTest->new(workers => 2, pool => 4, server_config =>
    q{location = /sink { return 200 '{"id":"s"}'; }});
my %k = (key => $t->key('acme'));
my $url = $t->start_provider;
my $mport = CampaignTest::free_port();
my $murl = "http://127.0.0.1:$mport/metrics";
my $http = HTTP::Tiny->new(timeout => 10);

# an id with a quote, a backslash and a line feed: label values escaped
my $sched_conf = <<"CONF";
metrics 127.0.0.1:$mport;
pool sms 4;
pool email 40;
rate sms 400;
provider sms $url/sms;
provider email $url/email;
provider voice $url/down;
type fast e164;
pool fast 2;
provider fast http://127.0.0.1:$t->{port}/sink;
retry 2 50ms 100ms;
window 256;
CONF
my $s = $t->start_scheduler(conf => $sched_conf,
                            id => '"we\\"ird\\\\id\\n2"');

sub scrape {
    my ($u) = @_;
    my $r = $http->get($u);
    die "$u: $r->{status}" unless $r->{status} == 200;
    return $r;
}
# promtool's complaints about a text (none: '')
sub lint {
    my ($text) = @_;
    my $f = "$t->{dir}/lint.txt";
    open(my $fh, '>', $f) or die $!;
    print $fh $text;
    close $fh;
    my $out = `promtool check metrics < $f 2>&1`;
    return $? == 0 ? $out : "exit $?: $out";
}
# name{labels} => value, for the samples whose name and labels match
sub samples {
    my ($text, $name) = @_;
    my %v;
    for (split /\n/, $text) {
        next if /^#/;
        my ($n, $l, $v) = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/
            or next;
        $v{ $n . ($l // '') } = $v if $n eq $name;
    }
    return \%v;
}
sub value {
    my ($text, $name, $labels) = @_;
    return samples($text, $name)->{ $name . ($labels // '') };
}
sub create {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 'm', type => 'sms', message => { body => 'Hi' }, %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub campaign { $t->req(GET => "/v1/campaigns/$_[0]", %k)->{json} }
sub recipients {
    my ($n, $from) = @_;
    return [ map { { to => sprintf('+1555%07d', ($from // 0) + $_) } }
             1 .. $n ];
}
sub emails {
    my ($n, $from) = @_;
    return [ map { { to => sprintf('r%d@example.com', ($from // 0) + $_) } }
             1 .. $n ];
}
sub add_recipients {
    my ($id, $n, $make) = @_;
    $make //= \&recipients;
    for (my $i = 0; $i < $n; $i += 5000) {
        my $r = $t->req(POST => "/v1/campaigns/$id/recipients", %k,
                        json => $make->($n - $i < 5000 ? $n - $i : 5000,
                                        $i));
        die "recipients: $r->{status} $r->{body}" unless $r->{status} == 200;
    }
}

# ------------------------------------------------------------ the format

my $text = scrape($murl)->{content};
is(scrape($murl)->{headers}{'content-type'},
   'text/plain; version=0.0.4; charset=utf-8', 'the exposition format\'s type');
like($text, qr/^campaign_scheduler_build_info\{version="[^"]+",id="we\\"ird\\\\id\\n2"\} 1$/m,
     'a label value is escaped: quote, backslash and line feed');

# every family named once by HELP and TYPE, before its samples
sub families_ok {
    my ($text, $what) = @_;
    my (%help, %type, @bad);
    for (split /\n/, $text) {
        if (/^# HELP (\S+) \S/) { push @bad, "HELP $1 twice" if $help{$1}++; next }
        if (/^# TYPE (\S+) (counter|gauge|histogram)$/) {
            push @bad, "TYPE $1 twice" if $type{$1};
            $type{$1} = $2;
            next;
        }
        next if /^#/;
        my ($n) = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/ or do { push @bad, "line: $_"; next };
        my $f = $n;
        $f =~ s/_(bucket|sum|count)$// unless $type{$n};
        push @bad, "$n: no HELP or TYPE before it" unless $help{$f} && $type{$f};
        push @bad, "$n: a counter not named _total"
            if ($type{$f} // '') eq 'counter' && $f !~ /_total$/;
    }
    is(join("\n", @bad), '', "$what: every family has HELP and TYPE first");
    return \%type;
}
my $types = families_ok($text, 'the scheduler');
for my $f (qw(campaign_scheduler_deliveries_total
              campaign_scheduler_delivery_duration_seconds
              campaign_scheduler_start_lateness_seconds
              campaign_scheduler_jobs_running
              campaign_scheduler_requests_in_flight
              campaign_scheduler_rate_wait_seconds_total
              campaign_scheduler_db_query_duration_seconds
              campaign_scheduler_db_reconnects_total
              campaign_scheduler_leases_taken_over_total
              campaign_scheduler_result_batches_total
              campaign_scheduler_result_batch_rows
              campaign_scheduler_wheel_timers
              campaign_scheduler_heartbeat_timestamp_seconds
              campaign_scheduler_retention_deleted_campaigns_total)) {
    ok($types->{$f}, "the scheduler has $f");
}

# the scheduler's little server: only GET /metrics, idle peers cannot
# lock a scraper out
is($http->get("http://127.0.0.1:$mport/other")->{status}, 404, '404 elsewhere');
my $post = $http->post($murl);
is($post->{status}, 405, '405 for a POST');
is($post->{headers}{allow}, 'GET, HEAD', 'with Allow');
my @idle = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$mport") }
           1 .. 40;
syswrite($_, "GET /metr") for grep { $_ } @idle;     # and never the rest
is(scalar(grep { $_ } @idle), 40, '40 connections that never finish a head');
is($http->get($murl)->{status}, 200, 'and /metrics still answers');
close $_ for grep { $_ } @idle;

# ------------------------------------------------------ a real Prometheus

my $pport = CampaignTest::free_port();
my $pdir = "$t->{dir}/prometheus";
mkdir $pdir;
open(my $fh, '>', "$pdir/prometheus.yml") or die $!;
print $fh <<"YML";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [ '$ROOT/conf/prometheus-rules.yml' ]
scrape_configs:
  - job_name: campaign-scheduler
    static_configs: [ { targets: ['127.0.0.1:$mport'] } ]
  - job_name: campaign-nginx
    metrics_path: /metrics
    static_configs: [ { targets: ['127.0.0.1:$t->{port}'] } ]
YML
close $fh;
my $ppid = fork // die $!;
if ($ppid == 0) {
    open STDOUT, '>', "$pdir/log";
    open STDERR, '>&', \*STDOUT;
    # never the parent's END blocks in the child
    exec('prometheus', "--config.file=$pdir/prometheus.yml",
         "--storage.tsdb.path=$pdir/data",
         "--web.listen-address=127.0.0.1:$pport") or POSIX::_exit(127);
}
END { kill 'TERM', $ppid if $ppid; waitpid($ppid, 0) if $ppid }

sub promql {
    my ($q, $at) = @_;
    my $u = "http://127.0.0.1:$pport/api/v1/query?query="
          . join('', map { sprintf('%%%02X', ord) } split //, $q)
          . (defined $at ? sprintf('&time=%.3f', $at) : '');
    my $r = HTTP::Tiny->new(timeout => 10)->get($u);
    return undef unless $r->{status} == 200;
    my $res = decode_json($r->{content})->{data}{result};
    return @$res ? $res->[0]{value}[1] : undef;
}
CampaignTest::wait_for(sub {
    (promql('sum(up)') // 0) == 2 }, 60, 'Prometheus to scrape both targets');
pass('Prometheus scrapes the scheduler and nginx');

# the example alert rules: valid, unit-tested, and loaded by Prometheus
my $check = `cd $ROOT && promtool check rules conf/prometheus-rules.yml 2>&1`;
is($?, 0, 'promtool check rules conf/prometheus-rules.yml') or diag($check);
my $unit = `cd $ROOT/t/prometheus && promtool test rules rules_test.yml 2>&1`;
is($?, 0, 'promtool test rules t/prometheus/rules_test.yml') or diag($unit);
my @loaded;
CampaignTest::wait_for(sub {
    my $rules = decode_json($http->get("http://127.0.0.1:$pport/api/v1/rules")
                            ->{content});
    @loaded = map { @{ $_->{rules} } } @{ $rules->{data}{groups} };
    @loaded == 6 && !grep { $_->{health} ne 'ok' } @loaded }, 30,
    'Prometheus to evaluate the six rules');
is(scalar(grep { $_->{health} eq 'ok' } @loaded), 6,
   'Prometheus loaded the six alert rules and evaluates each without error');

# start lateness: email campaigns due 100 ms apart
my $t0 = time + 4;
my @late_ids = map {
    create(type => 'email', recipients => [ { to => "l$_\@example.com" } ],
           scheduled_at => CampaignTest::iso_in($t0 - time + $_ * 0.1))
} 1 .. 30;
CampaignTest::wait_for(sub {
    !grep { campaign($_)->{status} ne 'completed' } @late_ids }, 60,
    'the 30 timed campaigns to complete');
# measured here to the microsecond: started_at minus scheduled_at
my @lateness = sort { $a <=> $b } map {
    $t->psql("SELECT extract(epoch FROM started_at - scheduled_at) "
             . "FROM campaign.campaigns WHERE id = '$_'")
} @late_ids;
my $q50 = $lateness[14];
my $q90 = $lateness[26];
CampaignTest::wait_for(sub {
    (promql('sum(campaign_scheduler_start_lateness_seconds_count{type="email"})')
     // 0) == 30 }, 30, 'Prometheus to have the 30 starts');
my $p50 = promql('histogram_quantile(0.5, sum by (le) '
    . '(campaign_scheduler_start_lateness_seconds_bucket{type="email"}))');
my $p90 = promql('histogram_quantile(0.9, sum by (le) '
    . '(campaign_scheduler_start_lateness_seconds_bucket{type="email"}))');
# the histogram knows a quantile to its bucket: within the bucket's width
my @le = (0, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03,
          0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60);
sub width {
    my ($v) = @_;
    for my $i (1 .. $#le) { return $le[$i] - $le[$i - 1] if $v <= $le[$i] }
    return 60;
}
diag(sprintf('lateness p50 measured %.2f ms, Prometheus %.2f ms; '
             . 'p90 %.2f ms, %.2f ms', $q50 * 1e3, $p50 * 1e3, $q90 * 1e3,
             $p90 * 1e3));
# (the scheduler reads its clock just after started_at is set: at a
# bucket's edge the two may fall in neighbours)
cmp_ok(abs($p50 - $q50), '<=', (sort { $b <=> $a } width($q50), width($p50))[0]
       + 0.001,
       'histogram_quantile(0.5) of lateness is what the API says, to a bucket');
cmp_ok(abs($p90 - $q90), '<=', (sort { $b <=> $a } width($q90), width($p90))[0]
       + 0.001,
       'histogram_quantile(0.9) of lateness is what the API says, to a bucket');

# deliveries: one sms campaign held to 400/s by its rate
my $n = 9000;               # 22.5 s at 400/s
my $rid = create(type => 'sms');
add_recipients($rid, $n);
my $started = time;
is($t->req(POST => "/v1/campaigns/$rid/start", %k)->{status}, 200, 'start');
# the gauges, while it runs (nginx's are read at most every 5 s)
ok(CampaignTest::wait_for(sub {
    (promql('campaign_scheduler_jobs_running{type="sms"}') // 0) == 1 }, 15,
    'the scheduler\'s job gauge'), 'the scheduler\'s job gauge: 1 sms job');
ok(CampaignTest::wait_for(sub {
    (promql('campaign_campaigns{type="sms",status="running"}') // 0) == 1 }, 15,
    'nginx\'s campaign gauge'), 'nginx\'s gauges: one sms campaign running');

# scrapes of the scheduler while it delivers
my @scrape_ms;
CampaignTest::wait_for(sub {
    my $s0 = time;
    scrape($murl);
    push @scrape_ms, (time - $s0) * 1000;
    sleep 0.2;
    time - $started > 19 }, 40, 'nineteen seconds of delivery');
my $at = time - 1;
my $prom_rate = promql('sum(rate(campaign_scheduler_deliveries_total'
                       . '{result="sent"}[15s]))', $at);
my @at = map { $_->{at} } grep { $_->{path} eq '/sms' } $t->deliveries;
my $own = grep { $_ > $at - 15 && $_ <= $at } @at;
my $first = (sort { $a <=> $b } @at)[0];
my $span = $at - ($first > $at - 15 ? $first : $at - 15);
my $own_rate = $own / $span;
diag(sprintf('sent per second: Prometheus %.1f, the provider\'s own '
             . 'records %.1f', $prom_rate // -1, $own_rate));
cmp_ok(abs(($prom_rate // 0) - $own_rate), '<=', 0.15 * $own_rate,
       'sum(rate(deliveries[15s])) is the rate the provider saw, within 15 %');

cmp_ok(promql('sum(campaign_http_requests_total{route="create",code="201"})')
       // 0, '>=', 31, 'nginx counted the creates');
cmp_ok(promql('sum(campaign_scheduler_rate_wait_seconds_total{type="sms"})')
       // 0, '>', 0, 'time waited on the rate is counted');

@scrape_ms = sort { $a <=> $b } @scrape_ms;
my $median = $scrape_ms[@scrape_ms / 2];
diag(sprintf('/metrics while delivering: %d scrapes, median %.2f ms, '
             . 'max %.2f ms', scalar @scrape_ms, $median, $scrape_ms[-1]));
cmp_ok($median, '<', $ASAN ? 30 : 10, 'the scheduler answers /metrics within '
       . '10 ms while it delivers (median; 30 ms under ASan)');

CampaignTest::wait_for(sub { campaign($rid)->{status} eq 'completed' }, 60,
                       'the rate campaign to complete');

# failures and retries: voice's provider always answers 500
my $vid = create(type => 'voice', recipients => recipients(5));
$t->req(POST => "/v1/campaigns/$vid/start", %k);
CampaignTest::wait_for(sub { campaign($vid)->{status} eq 'completed' }, 30,
                       'the voice campaign to complete');
# a text is reused for 100 ms (a scrape of Prometheus's may have just
# written one): the last answers are in the next; and a batch is counted
# when the scheduler reads its commit, a moment after the campaign it
# completed shows completed
CampaignTest::wait_for(sub {
    $text = scrape($murl)->{content};
    (value($text, 'campaign_scheduler_deliveries_total',
           '{type="voice",result="failed"}') // 0) >= 5
    && (value($text, 'campaign_scheduler_result_batch_rows_sum') // 0)
       >= $n + 30 + 10 }, 10,
    'the last failures and their batch in the text');
is(lint($text), '', 'promtool check metrics: the scheduler\'s text, with '
   . 'every family filled and an escaped id');
is(value($text, 'campaign_scheduler_deliveries_total',
         '{type="voice",result="failed"}'), 5, '5 failed');
is(value($text, 'campaign_scheduler_deliveries_total',
         '{type="voice",result="retried"}'), 5,
   '5 retried (retry 2: two attempts each)');
is(value($text, 'campaign_scheduler_deliveries_total',
         '{type="sms",result="sent"}'), $n, "$n sms sent");
is(value($text, 'campaign_scheduler_delivery_duration_seconds_count',
         '{type="sms"}'), $n, 'a duration for each');
is(value($text, 'campaign_scheduler_start_lateness_seconds_count',
         '{type="email"}'), 30, 'a lateness for each start');
my $rows = value($text, 'campaign_scheduler_result_batch_rows_sum');
cmp_ok($rows, '>=', $n + 30 + 10, 'every result in a counted batch');

# at full speed, to nginx's sink: /metrics answers from its own thread
# (bounded: another test runs beside this one under prove -j2)
my $fast_n = $ASAN ? 15000 : 30000;
my $fid = create(type => 'fast');
add_recipients($fid, $fast_n);
my (@fast_ms, $during);
$t->req(POST => "/v1/campaigns/$fid/start", %k);
my $fc;
do {
    my $s0 = time;
    my $r = scrape($murl);
    push @fast_ms, (time - $s0) * 1000;
    $during //= $r->{content}
        if (value($r->{content}, 'campaign_scheduler_requests_in_flight',
                  '{type="fast"}') // 0) > 0;
    sleep 0.02;
    $fc = campaign($fid);
} while ($fc->{status} ne 'completed');
my $fast_secs = CampaignTest::epoch_of($fc->{finished_at})
              - CampaignTest::epoch_of($fc->{started_at});
@fast_ms = sort { $a <=> $b } @fast_ms;
diag(sprintf('full speed: %d delivered in %.2f s (%.0f/s); /metrics meanwhile '
             . 'median %.2f ms, p90 %.2f ms, max %.2f ms over %d scrapes',
             $fast_n, $fast_secs, $fast_n / $fast_secs, $fast_ms[@fast_ms / 2],
             $fast_ms[int(@fast_ms * 0.9)], $fast_ms[-1], scalar @fast_ms));
cmp_ok($fast_ms[@fast_ms / 2], '<', 10,
       'at full speed the scheduler answers /metrics within 10 ms (median)');
ok($during, 'a scrape saw requests in flight');
is(lint($during // ''), '', 'promtool passes on it');

# counters survive a reload
my $sent = value($text, 'campaign_scheduler_deliveries_total',
                 '{type="sms",result="sent"}');
kill 'HUP', $s->{pid};
CampaignTest::wait_for(sub { `cat $s->{log}` =~ /event=reloaded/ }, 20,
                       'the reload');
$text = scrape($murl)->{content};
is(value($text, 'campaign_scheduler_deliveries_total',
         '{type="sms",result="sent"}'), $sent, 'counters survive SIGHUP');

# nginx's side
my $mt = scrape($t->url('/metrics'));
is($mt->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'nginx: the exposition format\'s type');
$types = families_ok($mt->{content}, 'nginx');
for my $f (qw(campaign_http_requests_total
              campaign_http_request_duration_seconds campaign_db_connections
              campaign_db_pool_wait_seconds campaign_db_errors_total
              campaign_key_cache_hits_total campaign_key_cache_misses_total
              campaign_campaigns campaign_pool_limit campaign_pool_running
              campaign_schedulers_last_seen_timestamp_seconds)) {
    ok($types->{$f}, "nginx has $f");
}
like($mt->{content}, qr/^campaign_schedulers_last_seen_timestamp_seconds\{scheduler="we\\"ird\\\\id\\n2"\} \d/m,
     'nginx escapes a label value too');
# summed over both workers: as many requests as this test sent to create
my $creates = 30 + 1 + 1 + 1;
is(value($mt->{content}, 'campaign_http_requests_total',
         '{route="create",code="201"}'), $creates,
   'requests summed over the workers');
is(value($mt->{content}, 'campaign_pool_limit', '{pool="email"}'), 40,
   'a pool\'s limit');

# the gauges are cached: 50 scrapes within 5 s read them at most twice
my $queries = sub {
    value(scrape($t->url('/metrics'))->{content},
          'campaign_gauges_queries_total') };
my $before = $queries->();
my $s0 = time;
scrape($t->url('/metrics')) for 1 .. 50;
my $after = $queries->();
cmp_ok($after - $before, '<=', time - $s0 < 5 ? 2 : 3,
       'the campaign gauges: one query per 5 s at most, not one per scrape');
cmp_ok($after, '>=', 1, 'and they were read');

# a worker killed: the master (which walks every zone when one dies)
# carries on, a new worker takes the dead one's slot, nothing is counted
# twice or lost
sub conns_total {
    my $v = samples(scrape($t->url('/metrics'))->{content},
                    'campaign_db_connections');
    my $sum = 0;
    $sum += $_ for values %$v;
    return $sum;
}
is(conns_total(), 2 * 4, 'connections by state: two workers of a pool of 4');
my $hits = value(scrape($t->url('/metrics'))->{content},
                 'campaign_http_requests_total', '{route="create",code="201"}');
my ($worker) = grep { $_ } map { /^\s*(\d+)\s+$t->{nginx_pid}\s/ ? $1 : () }
               `ps -eo pid,ppid`;
ok($worker, "a worker of nginx ($worker)");
kill 'KILL', $worker;
CampaignTest::wait_for(sub {
    my @w = map { /^\s*(\d+)\s+$t->{nginx_pid}\s/ ? $1 : () } `ps -eo pid,ppid`;
    @w == 2 && !grep { $_ == $worker } @w }, 20, 'a new worker');
# a dead worker's slot is not summed: the successor's must be found
ok(CampaignTest::wait_for(sub { conns_total() == 2 * 4 }, 20,
   'the successor\'s slot'), 'the dead worker\'s slot is taken by its successor');
is(value(scrape($t->url('/metrics'))->{content}, 'campaign_http_requests_total',
         '{route="create",code="201"}'), $hits, 'the counters are intact');

# ----------------------------------------------------------- retention

my @old = map { create(type => 'email', recipients => emails(3, $_ * 10)) }
          1 .. 3;
my $big = create(type => 'email');
add_recipients($big, 12000, \&emails);
my $keep = create(type => 'email', recipients => emails(2));
my $draft = create(type => 'email', recipients => emails(2));
$t->req(POST => "/v1/campaigns/$_/start", %k) for @old, $big, $keep;
$t->req(POST => "/v1/campaigns/$old[2]/cancel", %k);
CampaignTest::wait_for(sub {
    !grep { campaign($_)->{status} !~ /^(completed|cancelled)$/ }
        @old, $big, $keep }, 60, 'the retention campaigns to finish');
# finished two days ago, all but $keep; the draft is old too
$t->psql("UPDATE campaign.campaigns SET finished_at = now() - interval '2 days' "
         . "WHERE id IN (" . join(',', map { "'$_'" } @old, $big) . ")");
$t->psql("UPDATE campaign.campaigns SET created_at = now() - interval '2 days' "
         . "WHERE id = '$draft'");
my $count = sub { $t->psql("SELECT count(*) FROM campaign.recipients "
                           . "WHERE campaign_id = '$_[0]'") };
is($count->($big), 12000, 'the big one has its recipients');

# off by default: a reload (which runs retention) without it deletes nothing
my $reloads = () = `cat $s->{log}` =~ /event=reloaded/g;
kill 'HUP', $s->{pid};
CampaignTest::wait_for(sub {
    (() = `cat $s->{log}` =~ /event=reloaded/g) > $reloads }, 20, 'a reload');
my $beat = value(scrape($murl)->{content},
                 'campaign_scheduler_heartbeat_timestamp_seconds');
CampaignTest::wait_for(sub {
    value(scrape($murl)->{content},
          'campaign_scheduler_heartbeat_timestamp_seconds') > $beat }, 20,
    'a heartbeat after the reload');
is($count->($big), 12000, 'no retention without the directive');
is(value(scrape($murl)->{content},
         'campaign_scheduler_retention_deleted_campaigns_total'), 0,
   'and nothing counted');
open($fh, '>>', $s->{conf}) or die $!;
print $fh "retention 1d;\n";
close $fh;
kill 'HUP', $s->{pid};
CampaignTest::wait_for(sub {
    value(scrape($murl)->{content},
          'campaign_scheduler_retention_deleted_campaigns_total') == 4 },
    60, 'retention to delete the four');
is($t->req(GET => "/v1/campaigns/$_", %k)->{status}, 404,
   'a campaign finished two days ago is gone') for @old, $big;
is($count->($big), 0, 'and its recipients');
is(campaign($keep)->{status}, 'completed', 'one finished today stays');
is(campaign($draft)->{status}, 'draft', 'a draft stays, however old');
$text = scrape($murl)->{content};
is(value($text, 'campaign_scheduler_retention_deleted_recipients_total'),
   12000 + 9, 'the recipients deleted are counted');
like(`cat $s->{log}`, qr/event=retention_deleted campaigns=1/,
     'each deletion is logged');

# their trails stay for the retention period, then go with it
my $trail = sub {
    my $r = $t->req(GET => "/v1/campaigns/$_[0]/events?limit=1000", %k);
    return $r->{status} == 200 ? @{ $r->{json}{data} } : ();
};
my @last = map { ($trail->($_))[-1] } @old, $big;
is_deeply([map { "$_->{actor} $_->{action}" } @last],
          [('system delete') x 4], 'retention\'s deletions are in the trails, '
          . 'by system');
my $gone = $t->psql("SELECT count(*) FROM campaign.events WHERE campaign_id "
                    . "IN (" . join(',', map { "'$_'" } @old, $big) . ")");
my $kept = scalar $trail->($keep);
cmp_ok($kept, '>', 0, 'the campaign kept has its trail');
is(value(scrape($murl)->{content},
         'campaign_scheduler_retention_deleted_events_total'), 0,
   'no event is old enough yet');
$t->psql("UPDATE campaign.events SET at = at - interval '2 days' "
         . "WHERE campaign_id IN (" . join(',', map { "'$_'" } @old, $big)
         . ")");
kill 'HUP', $s->{pid};
CampaignTest::wait_for(sub {
    value(scrape($murl)->{content},
          'campaign_scheduler_retention_deleted_events_total') == $gone },
    60, 'retention to delete the trails of those deleted two days ago');
is(scalar(map { $trail->($_) } @old, $big), 0,
   'the trails of the campaigns deleted two days ago are gone');
is(scalar $trail->($keep), $kept, 'the kept campaign\'s trail is whole');

$t->done(expected => qr/exited on signal 9/);
done_testing;
