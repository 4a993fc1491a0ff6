# The audit trail (issue 14): every change of a campaign recorded, in the
# transaction that makes it, with who made it; a request that fails records
# nothing; GET /v1/campaigns/{id}/events and the tenant's feed
# GET /v1/events?after=, followed while four writers work, every event once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use JSON::PP;
use CampaignTest;

my $t = CampaignTest->new(workers => 2);
my $alice = $t->psql("SELECT campaign.create_api_key('acme', 'alice')");
my $bob = $t->psql("SELECT campaign.create_api_key('acme', 'bob')");
my $nameless = $t->psql("SELECT campaign.create_api_key('acme')");
my $other = $t->psql("SELECT campaign.create_api_key('globex', 'eve')");
my $url = $t->start_provider;
my $s = $t->start_scheduler(conf => <<"CONF");
pool sms 10;
pool voice 0;
provider sms $url/sms;
provider voice $url/voice;
CONF
my $sched = "scheduler:$s->{id}";

sub create {
    my ($key, %body) = @_;
    my $r = $t->req(POST => '/v1/campaigns', key => $key, json => {
        name => 'e', type => 'sms', message => { body => 'Hi' }, %body });
    die "create: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub events {
    my ($key, $id) = @_;
    my $r = $t->req(GET => "/v1/campaigns/$id/events?limit=1000", key => $key);
    return $r->{status} == 200 ? @{ $r->{json}{data} } : ();
}
# one line per event; a run of result batches is one line (how many
# batches three results take depends on the scheduler's timing)
sub trail {
    my ($key, $id) = @_;
    my @lines = map {
        join ' ', $_->{actor}, $_->{action}, $_->{from_status} // '-',
                  $_->{to_status} // '-' } events($key, $id);
    my @out;
    for my $l (@lines) {
        push @out, $l unless $l =~ / results / && @out && $out[-1] eq $l;
    }
    return join "\n", @out;
}
sub campaign {
    my ($key, $id) = @_;
    return $t->req(GET => "/v1/campaigns/$id", key => $key)->{json};
}
sub count_events { $t->psql('SELECT count(*) FROM campaign.events') }

# --- one campaign's life, by two keys and the scheduler -----------------------
my $id = create($alice, recipients => [ { to => '+15550000001' } ]);
is($t->req(PATCH => "/v1/campaigns/$id", key => $alice,
           json => { name => 'renamed' })->{status}, 200, 'edit');
is($t->req(POST => "/v1/campaigns/$id/recipients", key => $alice,
           json => [ { to => '+15550000002' }, { to => '+15550000003' } ])
   ->{status}, 200, 'recipients');
is($t->req(POST => "/v1/campaigns/$id/schedule", key => $bob,
           json => { scheduled_at => CampaignTest::iso_in(60) })->{status},
   200, 'schedule');
is($t->req(POST => "/v1/campaigns/$id/schedule", key => $bob,
           json => { scheduled_at => CampaignTest::iso_in(1) })->{status},
   200, 'reschedule');
CampaignTest::wait_for(sub { campaign($alice, $id)->{status} eq 'completed' },
                       30, 'the campaign to complete');
is(trail($alice, $id), join("\n",
    'key:alice create - draft',
    'key:alice recipients_added draft draft',
    'key:alice edit draft draft',
    'key:alice recipients_added draft draft',
    'key:bob schedule draft scheduled',
    'key:bob reschedule scheduled scheduled',
    # due with a slot free: started in one move, never queued
    "$sched running scheduled running",
    "$sched results running running",
    "$sched completed running completed"),
   'every change, in order, with who made it');
my @ev = events($alice, $id);
my @results = grep { $_->{action} eq 'results' } @ev;
ok(!grep({ my $d = $_->{detail};
           join(',', sort keys %$d) ne 'delivered,failed,sent,undelivered'
           || $d->{failed} != 0 || $d->{sent} < 1 || $d->{sent} > 3 }
          @results), 'each results event has the totals so far')
    or diag explain \@results;
is($results[-1]{detail}{sent}, 3, 'the last has all three sent');
my $batches = @results;
is_deeply($ev[1]{detail}, { added => 1, total => 1 }, 'recipients: counts');
is_deeply($ev[3]{detail}, { added => 2, total => 3 }, 'and again');
is_deeply($ev[2]{detail}, { fields => ['name'] }, 'an edit names its fields');
ok($ev[5]{detail}{old_scheduled_at} && $ev[5]{detail}{new_scheduled_at}
   && $ev[5]{detail}{old_scheduled_at} ne $ev[5]{detail}{new_scheduled_at},
   'a reschedule has the old and the new time');
like($ev[0]{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'at in ms');
my $c = campaign($alice, $id);
is($c->{created_by}, 'key:alice', 'created_by');
is($c->{scheduled_by}, 'key:bob', 'scheduled_by: the last schedule\'s');

# a key with no note is named by a prefix of its hash, never by the key
my $n = create($nameless);
my ($first) = events($nameless, $n);
like($first->{actor}, qr/^key:[0-9a-f]{12}$/, 'a nameless key: its hash');
unlike($first->{actor}, qr/\Q$nameless\E|ck_/, 'never the key');

# --- the other actions; pool voice 0 keeps it queued -------------------------
my $v = create($alice, type => 'voice', recipients => [ { to => '+15550000009' } ]);
for my $a (qw(start pause resume cancel)) {
    is($t->req(POST => "/v1/campaigns/$v/$a", key => $bob)->{status}, 200, $a);
}
is(trail($alice, $v), join("\n",
    'key:alice create - draft',
    'key:alice recipients_added draft draft',
    'key:bob start draft queued',
    'key:bob pause queued paused',
    'key:bob resume paused queued',
    'key:bob cancel queued cancelled'), 'start, pause, resume, cancel');
is(campaign($alice, $v)->{scheduled_by}, 'key:bob', 'a start is a schedule');

# due with no slot free: queued, and the trail says so
my $vq = create($alice, type => 'voice', scheduled_at => CampaignTest::iso_in(1));
CampaignTest::wait_for(sub { campaign($alice, $vq)->{status} eq 'queued' },
                       30, 'the full pool to queue it');
is(trail($alice, $vq), join("\n",
    'key:alice create - draft',
    'key:alice schedule draft scheduled',
    "$sched queued scheduled queued"), 'due with no slot: queued');

# --- created scheduled, or started; unscheduled ---------------------------------
my $cs = create($alice, scheduled_at => CampaignTest::iso_in(3600));
my $cq = create($bob, type => 'voice', start => JSON::PP::true);
is($t->req(PATCH => "/v1/campaigns/$cs", key => $bob,
           json => { scheduled_at => undef })->{status}, 200, 'unschedule');
is(trail($alice, $cs), join("\n",
    'key:alice create - draft',
    'key:alice schedule draft scheduled',
    'key:bob unschedule scheduled draft'), 'created scheduled, unscheduled');
is(trail($alice, $cq), join("\n",
    'key:bob create - draft',
    'key:bob start draft queued'), 'created started');
is(campaign($alice, $cs)->{scheduled_by}, 'key:alice',
   'scheduled_by stays the last schedule\'s');

# --- what fails records nothing -----------------------------------------------
my $before = count_events();
is($t->req(POST => "/v1/campaigns/$v/pause", key => $alice)->{status}, 409,
   'a 409');
is(count_events(), $before, 'a 409 records nothing');
# the campaign and its create event are written, then the second
# recipient fails the request: all of it rolls back
is($t->req(POST => '/v1/campaigns', key => $alice, json => {
    name => 'x', type => 'sms', message => { body => 'Hi' },
    recipients => [ { to => '+15550000077' }, { to => 'nope' } ] })->{status},
   400, 'a create that fails at its second recipient');
is(count_events(), $before, 'leaves no event of what it had written');
my $d = create($alice);
$before = count_events();
is($t->req(POST => "/v1/campaigns/$d/recipients", key => $alice,
           json => [ { to => '+15550000011' }, { to => 'nope' } ])->{status},
   400, 'a 400 mid-way (the second recipient)');
is($t->req(PATCH => "/v1/campaigns/$d", key => $alice,
           json => { name => 'x', bogus => 1 })->{status}, 400,
   'a 400 for an unknown field');
is($t->req(PATCH => "/v1/campaigns/$d", key => $alice, json => { name => 'y' },
           headers => { 'If-Match' => '"999"' })->{status}, 412, 'a 412');
is(count_events(), $before, 'none of them recorded anything');

# --- delete: the record outlives the campaign ---------------------------------
is($t->req(DELETE => "/v1/campaigns/$id", key => $alice)->{status}, 204,
   'delete');
is((events($alice, $id))[-1]{action}, 'delete', 'its delete is recorded');
is(scalar(events($alice, $id)), 9 + $batches,
   'and its events are still there');

# --- tenants -------------------------------------------------------------------
is($t->req(GET => "/v1/campaigns/$v/events", key => $other)->{status}, 404,
   'another tenant\'s campaign: 404');
my $feed = $t->req(GET => '/v1/events', key => $other)->{json};
is(scalar @{ $feed->{data} }, 0, 'another tenant\'s feed has none of them');
ok($feed->{next_cursor}, 'and still a cursor to poll with');
is($t->req(GET => '/v1/events?after=bogus', key => $alice)->{status}, 400,
   'a bad cursor is a 400');
is($t->req(GET => '/v1/events?after=999999999999.1', key => $alice)->{status},
   400, 'so is one from the future (it would never move)');
is($t->req(GET => '/v1/events?after=1.9999999999999999999', key => $alice)
   ->{status}, 400, 'and one past any event id');

# --- the feed, followed while four writers work --------------------------------
my $done = "$t->{dir}/writers-done";
my @out = CampaignTest::parallel(5, sub {
    my ($i) = @_;
    $t->{http} = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
    if ($i < 4) {
        for my $j (1 .. 8) {
            my $w = create($j % 2 ? $alice : $bob,
                           recipients => [ { to => sprintf('+1555%07d',
                                                           $i * 100 + $j) } ]);
            $t->req(POST => "/v1/campaigns/$w/" . ($j % 3 ? 'start' : 'cancel'),
                    key => $alice);
            $t->req(PATCH => "/v1/campaigns/$w", key => $bob,
                    json => { name => "w$j" });       # a 409 once started
        }
        open(my $fh, '>>', $done) or die $!;
        print $fh "$i\n";
        close $fh;
        return 'ok';
    }
    # the follower: polls until the writers are done, then drains
    my ($cursor, @seen, $empty) = (undef);
    my $deadline = time + 60;
    while (time < $deadline) {
        my $r = $t->req(GET => '/v1/events?limit=7'
                        . ($cursor ? "&after=$cursor" : ''), key => $bob);
        return "feed: $r->{status}" unless $r->{status} == 200;
        push @seen, map { $_->{id} } @{ $r->{json}{data} };
        $cursor = $r->{json}{next_cursor};
        my $finished = -e $done && (() = `cat $done` =~ /\n/g) == 4;
        if (!@{ $r->{json}{data} }) {
            last if $finished && ++$empty >= 3;
            sleep 0.05;
        }
    }
    return join(',', @seen) . "|$cursor";
});
is(join(' ', @out[0 .. 3]), 'ok ok ok ok', 'the four writers ran');
# the scheduler's starts and completions go on after the writers: once
# they are done, the follower's cursor drains the rest
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM campaign.campaigns WHERE tenant = 'acme' "
             . "AND status IN ('queued', 'running') AND type = 'sms'") == 0 },
    30, 'the writers\' campaigns to finish');
my ($ids, $cursor) = split /\|/, $out[4];
my @seen = split /,/, $ids // '';
cmp_ok(scalar @seen, '>=', 4 * 8 * 2, 'the follower saw the writers\' events');
# (a scheduler's transaction still open may hold the last ones back a
# moment: drain until the feed has given as many as the table holds)
my $total = sub { $t->psql("SELECT count(*) FROM campaign.events "
                           . "WHERE tenant = 'acme'") };
CampaignTest::wait_for(sub {
    my $r = $t->req(GET => "/v1/events?limit=50&after=$cursor", key => $alice);
    push @seen, map { $_->{id} } @{ $r->{json}{data} };
    $cursor = $r->{json}{next_cursor};
    @seen >= $total->() }, 30, 'the feed to give every event');
diag(sprintf('feed: the follower took %d events while the writers ran, '
             . '%d in all', scalar(split /,/, $ids // ''), scalar @seen));
my %n;
$n{$_}++ for @seen;
is(scalar(grep { $n{$_} > 1 } keys %n), 0, 'the feed gave no event twice');
my $all = $t->psql("SELECT string_agg(id::text, ',' ORDER BY xid, id) FROM "
                   . "campaign.events WHERE tenant = 'acme'");
is(join(',', @seen), $all,
   'followed while four writers worked, it gave every event of the tenant '
   . 'once, in the order of their transactions');

$t->done;
done_testing;
