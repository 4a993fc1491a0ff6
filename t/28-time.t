# Time (issue 15): time zones, cron expressions held to an independent
# oracle (t/tools/cron-oracle, Python's zoneinfo), recurring campaigns on
# real servers (runs on time with copied recipients, each overlap policy,
# pause, resume and cancel, missed occurrences and catch_up) and the
# calendar.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(strftime);
use JSON::PP;
use HTTP::Tiny;
use CampaignTest;

my $JSON = JSON::PP->new->canonical;
my $t = CampaignTest->new(workers => 1);
my %k = (key => $t->key('acme'));
my %other = (key => $t->key('globex'));
my $late_bound = $ENV{CAMPAIGN_ASAN} ? 200 : 100;

sub create {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 't', type => 'sms', message => { body => 'Hi {{name}}' },
        %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json};
}
sub refused {
    my (%body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', %k, json => {
        name => 't', type => 'sms', message => {}, %body });
    return "$r->{status} " . ($r->{json}{error}{field} // '') . ': '
        . ($r->{json}{error}{message} // '');
}
sub campaign { $t->req(GET => "/v1/campaigns/$_[0]", %k)->{json} }
sub runs {
    my ($id) = @_;
    return @{ $t->req(GET => "/v1/campaigns/$id/runs?limit=200", %k)
              ->{json}{data} };
}
sub iso {
    my ($epoch) = @_;
    return strftime('%Y-%m-%dT%H:%M:%S', gmtime $epoch)
        . sprintf('.%03dZ', ($epoch - int $epoch) * 1000);
}

# --- the next occurrence of 1,000 random (cron, zone, instant) triples ---
my $seed = $ENV{CRON_SEED} // int(rand(2**31));
note("CRON_SEED=$seed replays the triples");
my @triples = map { $JSON->decode($_) }
              `$CampaignTest::ROOT/t/tools/cron-oracle $seed 1000`;
is(scalar(@triples), 1000, '1,000 triples from the oracle');
my $values = join ",\n", map {
    my $i = $_;
    my $r = $triples[$i];
    die "a quote in a triple" if join('', values %$r) =~ /'/;
    sprintf("(%d, '%s', '%s', '%s'::timestamptz)", $i, $r->{cron}, $r->{tz},
            $r->{after})
} 0 .. $#triples;
my %got = map { split /\|/, $_, 2 } split /\n/, $t->psql(
    "SELECT i, coalesce(to_char(campaign.cron_next(campaign.cron_parse(c), "
    . "tz, a) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), 'none') "
    . "FROM (VALUES $values) v (i, c, tz, a)");
my @wrong;
for my $i (0 .. $#triples) {
    my $want = $triples[$i]{next} // 'none';
    $want =~ s/\+00:00$//;
    $want .= '.000000' if $want =~ /T\d\d:\d\d:\d\d$/;
    push @wrong, "$triples[$i]{cron} in $triples[$i]{tz} after "
        . "$triples[$i]{after}: oracle $want, ours $got{$i}"
        if $got{$i} ne $want;
}
is(scalar(@wrong), 0, 'campaign.cron_next() agrees with the oracle on all '
   . '1,000 (DST days of New York, Vienna, Lord Howe, Apia and more)')
    or diag join "\n", @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)];

# --- time zones --------------------------------------------------------
my $c = create(timezone => 'America/New_York',
               scheduled_at => '2031-11-02T01:30:00');
is($c->{scheduled_at}, '2031-11-02T05:30:00.000Z',
   'a wall-clock time the clocks show twice is its first occurrence');
is($c->{timezone}, 'America/New_York', 'the zone is shown beside it');
like(refused(timezone => 'America/New_York',
             scheduled_at => '2031-03-09T02:30:00'),
     qr/^400 scheduled_at: .*does not exist in America\/New_York/,
     'a wall-clock time the clocks skip is a 400 that says so');
like(refused(timezone => 'Mars/Olympus_Mons'), qr/^400 timezone: /,
     'an unknown zone is a 400 naming the field');
like(refused(scheduled_at => '2031-03-09T02:30:00'),
     qr/^400 scheduled_at: .*with an offset/,
     'without a zone, a time without an offset is still a 400');
is(create(scheduled_at => '2031-05-06T07:08:09Z')->{timezone}, 'UTC',
   'a campaign with no zone is in UTC');
my $vienna = create(timezone => 'Europe/Vienna');
is($t->req(POST => "/v1/campaigns/$vienna->{id}/schedule", %k,
           json => { scheduled_at => '2031-07-01T09:00:00' })
   ->{json}{scheduled_at}, '2031-07-01T07:00:00.000Z',
   'schedule takes a wall-clock time in the campaign\'s zone');
is($t->req(PATCH => "/v1/campaigns/$vienna->{id}", %k,
           json => { timezone => 'Asia/Kathmandu',
                     scheduled_at => '2031-07-01T09:00:00' })
   ->{json}{scheduled_at}, '2031-07-01T03:15:00.000Z',
   'PATCH: the new zone reads its scheduled_at (+05:45)');

# --- cron expressions refused, each naming the reason --------------------
for my $case (['0 9 * *', qr/has 4 fields/],
              ['0 24 * * *', qr/hour field has 24, outside 0-23/],
              ['0 9 * * MON-FOO', qr/day-of-week field has "FOO"/],
              ['*/0 * * * *', qr/step of 0/],
              ['0 9 20-10 * *', qr/runs backwards/],
              ['0 0 30 2 *', qr/matches no date/],
              ['@reboot', qr/not one of \@hourly/],
              ['0 9 ? * *', qr/not \*, a value, a range or a step/],
              ['0 9 * * MON,', qr/has "", which is not/]) {
    like(refused(recurrence => { cron => $case->[0] }),
         qr/^400 recurrence\.cron: .*$case->[1]/,
         "cron \"$case->[0]\" is refused, saying why");
}
like(refused(recurrence => { cron => '0 9 * * *', overlap => 'maybe' }),
     qr/^400 recurrence\.overlap: /, 'an unknown overlap is refused');
like(refused(recurrence => { cron => '0 9 * * *' },
             scheduled_at => '2031-01-01T00:00:00Z'),
     qr/^400 recurrence: /, 'a series takes no scheduled_at');
like(refused(recurrence => { cron => '0 9 * * *', extra => 1 }),
     qr/^400 extra: |^400 recurrence/, 'an unknown recurrence field');
is($t->psql("SELECT count(*) FROM campaign.campaigns WHERE recurrence IS "
            . "NOT NULL"), 0, 'none of those made a series');
my $trimmed = create(recurrence => { cron => "\t0 9 * * MON-FRI \n" });
is($trimmed->{recurrence}{cron}, '0 9 * * MON-FRI',
   'white space around a cron is no field: it is trimmed');
is($t->req(PATCH => "/v1/campaigns/$trimmed->{id}", %k,
           json => { recurrence => { cron => '0 9 * * *',
                                     ends_at => '2030-01-01T09:30:00Z',
                                     max_runs => 1 } })->{status}, 200,
   'a series\' recurrence changed');
$t->req(POST => "/v1/campaigns/$trimmed->{id}/pause", %k);
like($t->req(PATCH => "/v1/campaigns/$trimmed->{id}", %k,
             json => { recurrence => { cron => '0 9 * * *',
                                       ends_at => '2029-01-01T00:00:00Z',
                                       starts_at => '2029-06-01T00:00:00Z'
                                     } })->{json}{error}{field},
     qr/^recurrence/, 'paused: a recurrence with no occurrence left is a 400');
$t->req(POST => "/v1/campaigns/$trimmed->{id}/cancel", %k);
my $one_time = create(scheduled_at => '2031-01-01T00:00:00Z');
my $r = $t->req(PATCH => "/v1/campaigns/$one_time->{id}", %k,
                json => { recurrence => undef });
is("$r->{status} $r->{json}{status}", '200 scheduled',
   'recurrence: null on a one-time campaign changes nothing');
my $etag = $r->{headers}{etag};
$r = $t->req(PATCH => "/v1/campaigns/$one_time->{id}", %k,
             json => { timezone => 'Asia/Tokyo' });
isnt($r->{headers}{etag}, $etag, 'a new zone is a new version (ETag)');

# --- a series on real servers ---------------------------------------------
my $url = $t->start_provider;
my $s = $t->start_scheduler(conf => <<"CONF");
pool sms 20;
pool voice 20;
provider sms $url/sms;
provider voice $url/slow;
retry 3 100ms 1s;
CONF

my $series = create(name => 'every 3 s',
                    recurrence => { cron => '*/3 * * * * *',
                                    timezone => 'Europe/Vienna' },
                    recipients => [ map { { to => "+1555000000$_",
                                            vars => { name => "N$_" } } }
                                    1 .. 3 ]);
is($series->{status}, 'scheduled', 'a series is scheduled');
is($series->{recurrence}{cron}, '*/3 * * * * *', 'with its recurrence');
is($series->{recurrence}{overlap}, 'skip', 'overlap skip by default');
ok($series->{next_run_at}, "its next occurrence: $series->{next_run_at}");
CampaignTest::wait_for(sub {
    (grep { $_->{status} eq 'completed' } runs($series->{id})) >= 3 }, 30,
    'three runs to complete');
my @runs = grep { $_->{status} eq 'completed' } runs($series->{id});
is(scalar(grep { $_->{series_id} eq $series->{id} } @runs), scalar(@runs),
   'each run names its series');
is(scalar(grep { $_->{stats}{sent} == 3 && $_->{stats}{total} == 3 } @runs),
   scalar(@runs), 'each run sent its copy of the three recipients');
my @lateness = sort { $a <=> $b } map {
    $t->psql("SELECT extract(epoch FROM started_at - scheduled_at) * 1000 "
             . "FROM campaign.campaigns WHERE id = '$_->{id}'") } @runs;
cmp_ok($lateness[-1], '<', $late_bound, sprintf('runs start on time: at '
       . 'most %.1f ms after their occurrence', $lateness[-1]));
cmp_ok($lateness[0], '>=', 0, 'and never before it');
is(scalar(grep { $_->{scheduled_at} =~ /:(\d\d)\.000Z$/ && $1 % 3 == 0 }
          @runs),
   scalar(@runs), 'at the cron\'s occurrences (every third second)');
my %keys = map { ($_->{key} =~ /^([^:]+):/)[0] => 1 } $t->deliveries;
ok($keys{ $runs[0]{id} }, 'the provider got the run\'s deliveries');
like(campaign($runs[0]{id})->{message}{body}, qr/Hi \{\{name\}\}/,
     'a run has the series\' message');
my $trail = $t->req(GET => "/v1/campaigns/$series->{id}/events?limit=1000",
                    %k)->{json}{data};
ok(scalar(grep { $_->{action} eq 'run_created'
                 && $_->{detail}{run_id} eq $runs[0]{id} } @$trail),
   'the series\' trail has each run made');
is($t->req(GET => "/v1/campaigns/$series->{id}/runs", %other)->{status},
   404, 'another tenant does not see the runs');

# edit: future runs only
my %started = map { $_->{id} => 1 } grep { $_->{started_at} }
              runs($series->{id});
$t->req(PATCH => "/v1/campaigns/$series->{id}", %k,
        json => { message => { body => 'Edited {{name}}' } });
CampaignTest::wait_for(sub {
    grep { $_->{status} eq 'completed'
           && $_->{message}{body} eq 'Edited {{name}}' } runs($series->{id})
}, 20, 'a run after the edit');
is(scalar(grep { $started{ $_->{id} }
                 && $_->{message}{body} ne 'Hi {{name}}' }
          runs($series->{id})), 0,
   'an edit changes the runs to come, not those started');

my ($ahead) = grep { $_->{status} eq 'scheduled' } runs($series->{id});
is($t->req(PATCH => "/v1/campaigns/$ahead->{id}", %k,
           json => { recurrence => { cron => '* * * * *' } })
   ->{json}{error}{field}, 'recurrence', 'a run cannot become a series');

# pause: no runs; resume: no replay of the missed ones
$t->req(POST => "/v1/campaigns/$series->{id}/pause", %k);
my $paused = campaign($series->{id});
is($paused->{status}, 'paused', 'a paused series');
is($paused->{next_run_at}, undef, 'has no next occurrence');
my $n_paused = scalar(runs($series->{id}));
is(scalar(grep { $_->{status} eq 'scheduled' } runs($series->{id})), 0,
   'its runs made ahead are cancelled');
sleep 4;
is(scalar(runs($series->{id})), $n_paused, 'no run is made while paused');
my %before = map { $_->{id} => 1 } runs($series->{id});
my $resume_at = time;
$t->req(POST => "/v1/campaigns/$series->{id}/resume", %k);
my $resumed = campaign($series->{id});
is($resumed->{status}, 'scheduled', 'resumed');
CampaignTest::wait_for(sub { scalar(runs($series->{id})) > $n_paused }, 10,
                       'a run after the resume');
is(scalar(grep { !$before{ $_->{id} }
                 && CampaignTest::epoch_of($_->{scheduled_at}) < $resume_at }
          runs($series->{id})), 0,
   'resuming made no run for the occurrences missed');

# cancel: no more runs
$t->req(POST => "/v1/campaigns/$series->{id}/cancel", %k);
my $n_cancel = scalar(runs($series->{id}));
sleep 3.5;
is(campaign($series->{id})->{status}, 'cancelled', 'a cancelled series');
is(scalar(runs($series->{id})), $n_cancel, 'makes no more runs');
is($t->req(POST => "/v1/campaigns/$series->{id}/start", %k)->{status}, 409,
   'a series is never started itself');


# --- overlap: runs of 2 s (voice's provider answers after 2 s), every 1 s --
# the three policies side by side, 5 s, the most running at once of each
my %over = map {
    ($_ => create(name => "overlap $_", type => 'voice',
                  recurrence => { cron => '* * * * * *', overlap => $_ },
                  recipients => [ { to => '+15551230000' } ]))
} qw(skip queue replace);
my %most = map { ($_ => 0) } keys %over;
my $until = time + 5;
while (time < $until) {
    for my $p (keys %over) {
        my $n = $t->psql("SELECT count(*) FROM campaign.campaigns WHERE "
                         . "series_id = '$over{$p}{id}' AND status = "
                         . "'running'");
        $most{$p} = $n if $n > $most{$p};
    }
    sleep 0.1;
}
$t->req(POST => "/v1/campaigns/$_->{id}/cancel", %k) for values %over;
my ($skip, $skip_max) = ($over{skip}, $most{skip});
my ($queue, $queue_max) = ($over{queue}, $most{queue});
my ($replace, $replace_max) = ($over{replace}, $most{replace});
my @skipped = grep { ($_->{failure} // '') =~ /previous run was still active/ }
              runs($skip->{id});
cmp_ok(scalar(@skipped), '>=', 2, 'skip: the occurrences while a run is '
       . 'still active are skipped (' . scalar(@skipped) . ')');
is($skip_max, 1, 'skip: never two runs at once');
is(scalar(grep { $_->{stats}{pending} != 0
                 || $_->{stats}{cancelled} != $_->{stats}{total} } @skipped),
   0, 'skip: a skipped run\'s recipients are cancelled, none pending');
my $strail = $t->req(GET => "/v1/campaigns/$skip->{id}/events?limit=1000",
                     %k)->{json}{data};
is(scalar(grep { $_->{action} eq 'run_skipped'
                 && $_->{detail}{reason} eq 'overlap' } @$strail),
   scalar(@skipped), 'skip: each skip is in the series\' trail');
cmp_ok($queue_max, '>=', 2, "queue: runs overlap ($queue_max at once)");
is(scalar(grep { ($_->{failure} // '') =~ /skipped/ } runs($queue->{id})), 0,
   'queue: none is skipped');
is($replace_max, 1, 'replace: one run at a time');
my @replaced = grep { $_->{status} eq 'cancelled' && $_->{started_at} }
               runs($replace->{id});
cmp_ok(scalar(@replaced), '>=', 2, 'replace: each run is cancelled by the '
       . 'next (' . scalar(@replaced) . ')');

# --- missed occurrences: at most the latest, within catch_up ----------------
$t->stop_scheduler($s);
my $missed = create(name => 'missed', recurrence => { cron => '* * * * * *',
                                                      catch_up => 30 });
my $gone = create(name => 'too old', recurrence => { cron => '* * * * * *',
                                                     catch_up => 0 });
sleep 8;   # five seconds of runs made ahead, then occurrences missed
my $up = time;
$s = $t->start_scheduler(conf => "pool sms 20;\nprovider sms $url/sms;\n");
sub started_before {
    my ($x) = @_;
    return grep { $_->{started_at}
                  && CampaignTest::epoch_of($_->{scheduled_at}) < $up }
           runs($x->{id});
}
CampaignTest::wait_for(sub { started_before($missed) }, 20,
                       'the latest missed occurrence to run, late');
CampaignTest::wait_for(sub {
    !grep { $_->{status} eq 'scheduled'
            && CampaignTest::epoch_of($_->{scheduled_at}) < $up }
    runs($missed->{id}), runs($gone->{id}) }, 20,
    'every run of a missed occurrence to be decided');
my @late = started_before($missed);
is(scalar(@late), 1, 'of the occurrences missed, one runs late');
my $mtrail = $t->req(GET => "/v1/campaigns/$missed->{id}/events?limit=1000",
                     %k)->{json}{data};
my ($span) = grep { $_->{action} eq 'runs_skipped' } @$mtrail;
is($span && $span->{detail}{until}, $late[0]{scheduled_at},
   'the others up to it are skipped, in the series\' trail');
ok((grep { $_->{action} eq 'run_skipped' && $_->{detail}{reason} eq 'missed' }
    @$mtrail), 'and the runs made ahead of the missed ones');
is(scalar(started_before($gone)), 0,
   'catch_up 0: no missed occurrence runs late');
$t->req(POST => "/v1/campaigns/$_->{id}/cancel", %k) for $missed, $gone;

# --- the calendar -----------------------------------------------------------
my $now = time;
my @lt = gmtime($now);
# the next month, whole
my ($y, $m) = ($lt[5] + 1900, $lt[4] + 2);
($y, $m) = ($y + 1, 1) if $m > 12;
my $from = sprintf('%04d-%02d-01T00:00:00Z', $y, $m);
my ($y2, $m2) = $m == 12 ? ($y + 1, 1) : ($y, $m + 1);
my $to = sprintf('%04d-%02d-01T00:00:00Z', $y2, $m2);
my $weekly = create(name => 'weekdays at 9 in Vienna',
                    recurrence => { cron => '0 9 * * MON-FRI',
                                    timezone => 'Europe/Vienna' });
my @one = map { create(name => "one-time $_", scheduled_at => sprintf(
                    '%04d-%02d-%02dT12:00:00Z', $y, $m, 10 + $_))->{id} }
          1 .. 3;
my $cal = $t->req(GET => "/v1/calendar?from=$from&to=$to", %k)->{json};
my @occ = grep { $_->{kind} eq 'occurrence'
                 && $_->{campaign_id} eq $weekly->{id} } @{ $cal->{data} };
my $weekdays = $t->psql("SELECT count(*) FROM generate_series("
    . "'$from'::timestamptz, '$to'::timestamptz - interval '1 day', "
    . "interval '1 day') d WHERE extract(isodow FROM d AT TIME ZONE "
    . "'Europe/Vienna') < 6");
is(scalar(@occ), $weekdays, "the calendar of $y-$m: every weekday's 9:00 "
   . "in Vienna ($weekdays)");
is(scalar(grep { $_->{at} !~ /T0[78]:00:00\.000Z$/ } @occ), 0,
   'each at 9:00 Vienna time (07:00 or 08:00 UTC)');
is(join(',', sort map { $_->{campaign_id} } grep { $_->{kind} eq 'start' }
                 @{ $cal->{data} }), join(',', sort @one),
   'and the one-time campaigns of the month');
is(join(',', map { $_->{at} } @{ $cal->{data} }),
   join(',', sort map { $_->{at} } @{ $cal->{data} }), 'in time order');
is($cal->{truncated}, JSON::PP::false, 'not truncated');
my $three = create(name => 'three runs',
                   recurrence => { cron => '0 12 * * *', max_runs => 3 });
$cal = $t->req(GET => "/v1/calendar?from=" . iso(time)
               . "&to=" . iso(time + 30 * 86400), %k)->{json};
is(scalar(grep { ($_->{series_id} // '') eq $three->{id} } @{ $cal->{data} }),
   3, 'a series of max_runs 3 shows three occurrences');
$t->req(POST => "/v1/campaigns/$three->{id}/cancel", %k);
# twenty series every second: the answer's work is bounded by the answer
my @busy = map { create(name => "every second $_",
                        recurrence => { cron => '* * * * * *' })->{id} }
           1 .. 20;
my $asked = time;
my $raw = HTTP::Tiny->new(timeout => 30)->get(
    $t->url("/v1/calendar?from=$from&to=$to"),
    { headers => { Authorization => "Bearer $k{key}" } });
my $took = time - $asked;
is($raw->{status}, 200, 'the calendar answers');
$cal = $t->req(GET => "/v1/calendar?from=$from&to=$to", %k)->{json};
is(scalar(@{ $cal->{data} }), 10000, 'at most 10,000 entries');
is($cal->{truncated}, JSON::PP::true, 'truncated says so');
is(scalar(grep { $_->{at} lt $cal->{data}[-1]{at} } @{ $cal->{data} }),
   scalar(grep { $_->{at} ne $cal->{data}[-1]{at} } @{ $cal->{data} }),
   'the first 10,000 in time');
cmp_ok($took, '<', 2, sprintf('twenty series every second: answered in '
                              . '%.2f s', $took));
$t->req(POST => "/v1/campaigns/$_/cancel", %k) for @busy;
is($t->req(GET => '/v1/calendar?from=2031-01-01T00:00:00Z'
           . '&to=2031-02-02T00:00:00Z', %k)->{json}{error}{field}, 'to',
   'a range over 31 days is a 400');
is($t->req(GET => '/v1/calendar?from=2031-01-01T00:00:00'
           . '&to=2031-01-02T00:00:00Z', %k)
   ->{json}{error}{field}, 'from', 'a time without an offset is a 400');
is(scalar(@{ $t->req(GET => "/v1/calendar?from=$from&to=$to", %other)
             ->{json}{data} }), 0, 'another tenant\'s calendar is empty');

# --- the recurrence preview (a console's editor) ----------------------------
# Vienna moves to summer time on 29 March 2026: 9:00 is 08:00Z before it,
# 07:00Z after
my $pv = $t->req(GET => '/v1/recurrence/preview?cron=0%209%20*%20*%20MON-FRI'
                 . '&timezone=Europe/Vienna&from=2026-03-27T00:00:00Z', %k);
is($pv->{status}, 200, 'the preview answers');
is_deeply($pv->{json}{occurrences}, [ '2026-03-27T08:00:00.000Z',
    '2026-03-30T07:00:00.000Z', '2026-03-31T07:00:00.000Z',
    '2026-04-01T07:00:00.000Z', '2026-04-02T07:00:00.000Z' ],
    'the next five weekdays at 9:00 in Vienna, across its change of time');
$pv = $t->req(GET => '/v1/recurrence/preview?cron=%40monthly&count=2', %k);
is(scalar(@{ $pv->{json}{occurrences} }), 2, 'count sets how many');
like($pv->{json}{occurrences}[0], qr/^\d{4}-\d\d-01T00:00:00\.000Z$/,
     'in UTC by default, after now');
cmp_ok($pv->{json}{occurrences}[0], 'gt', iso(time), 'after now');
for ([ 'cron=61%20*%20*%20*%20*', 'recurrence.cron', 'a bad cron' ],
     [ 'cron=*%20*%20*%20*%20*&timezone=Mars/Base', 'recurrence.timezone',
       'an unknown zone' ],
     [ 'timezone=UTC', 'recurrence.cron', 'no cron' ],
     [ 'cron=*%20*%20*%20*%20*&count=21', 'count', 'count over 20' ],
     [ 'cron=*%20*%20*%20*%20*&from=tomorrow', 'from', 'a bad from' ],
     [ 'cron=*%20*%20*%20*%20*&count=0', 'count', 'count 0' ],
     [ 'cron=*%20*%20*%20*%20*&count=abc', 'count', 'a count not a number' ],
     [ 'cron=', 'recurrence.cron', 'an empty cron' ]) {
    my ($q, $field, $what) = @$_;
    my $r = $t->req(GET => "/v1/recurrence/preview?$q", %k);
    is("$r->{status} " . ($r->{json}{error}{field} // ''), "400 $field",
       "$what is a 400 on $field");
}
is($t->req(GET => '/v1/recurrence/preview?cron=@daily')->{status}, 401,
   'the preview needs a key');

$t->done;
done_testing;
