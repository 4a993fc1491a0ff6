# The transition table of API.md section 4: every action in every status.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use POSIX ();
use Test::More;
use CampaignTest;

my $t = CampaignTest->new;
my %k = (key => $t->key('acme'));
my $future = '2030-06-01T12:00:00.000Z';

# Puts a fresh campaign in a status: through the API where a client can,
# through SQL for the scheduler's statuses.
sub campaign_in {
    my ($status) = @_;
    my $body = { name => "in $status", type => 'sms', message => {} };
    $body->{scheduled_at} = $future if $status eq 'scheduled';
    $body->{start} = \1 if $status =~ /^(queued|paused|running)$/;
    my $c = $t->req(POST => '/v1/campaigns', %k, json => $body)->{json};
    if ($status eq 'paused') {
        $t->req(POST => "/v1/campaigns/$c->{id}/pause", %k);
    } elsif ($status =~ /^(running|completed|failed|cancelled)$/) {
        $t->psql("UPDATE campaign.campaigns SET status = '$status' "
                 . "WHERE id = '$c->{id}'");
    }
    my $got = $t->req(GET => "/v1/campaigns/$c->{id}", %k)->{json}{status};
    die "could not put a campaign in $status (got $got)" if $got ne $status;
    return $c->{id};
}

my @statuses = qw(draft scheduled queued running paused completed cancelled
                  failed);

# action => { from => to }; "=" is the same-state rule (200, no change).
my %table = (
    start    => { draft => 'queued', scheduled => 'queued', queued => '=',
                  running => '=' },
    schedule => { draft => 'scheduled', scheduled => 'scheduled' },
    pause    => { queued => 'paused', running => 'paused', paused => '=' },
    resume   => { paused => 'queued', queued => '=', running => '=' },
    cancel   => { scheduled => 'cancelled', queued => 'cancelled',
                  running => 'cancelled', paused => 'cancelled',
                  cancelled => '=' },
);

for my $action (sort keys %table) {
    for my $from (@statuses) {
        my $id = campaign_in($from);
        my $before = $t->req(GET => "/v1/campaigns/$id", %k);
        my %body = $action eq 'schedule'
                 ? (json => { scheduled_at => '2031-01-01T00:00:00Z' }) : ();
        my $r = $t->req(POST => "/v1/campaigns/$id/$action", %k, %body);
        my $to = $table{$action}{$from};
        my $after = $t->req(GET => "/v1/campaigns/$id", %k);

        if (!defined $to) {
            is($r->{status}, 409, "$action a $from campaign: 409");
            is($r->{json}{error}{code}, 'invalid_transition',
               "$action $from: invalid_transition");
            is($r->{json}{error}{status}, $from, "$action $from: status");
            is($after->{headers}{etag}, $before->{headers}{etag},
               "$action $from: nothing changed");
        } elsif ($to eq '=') {
            is($r->{status}, 200, "$action a $from campaign: 200");
            is($r->{json}{status}, $from, "$action $from: still $from");
            is($after->{headers}{etag}, $before->{headers}{etag},
               "$action $from: same-state rule changes nothing");
        } else {
            is($r->{status}, 200, "$action a $from campaign: 200");
            is($r->{json}{status}, $to, "$action $from: now $to");
            is($after->{json}{status}, $to, "$action $from: stored");
        }
    }
}

# Edit, delete and recipients follow their own rules.
for my $from (@statuses) {
    my $id = campaign_in($from);
    my $editable = $from =~ /^(draft|scheduled)$/;
    is($t->req(PATCH => "/v1/campaigns/$id", %k, json => { name => 'e' })
         ->{status}, $editable ? 200 : 409, "PATCH a $from campaign");
    is($t->req(POST => "/v1/campaigns/$id/recipients", %k,
               json => [ { to => '+15551230000' } ])->{status},
       $editable ? 200 : 409, "add recipients to a $from campaign");
    my $deletable = $from =~ /^(draft|completed|cancelled|failed)$/;
    is($t->req(DELETE => "/v1/campaigns/$id", %k)->{status},
       $deletable ? 204 : 409, "DELETE a $from campaign");
}

# Reschedule moves the time; cancel marks pending recipients cancelled.
my $id = campaign_in('scheduled');
my $r = $t->req(POST => "/v1/campaigns/$id/schedule", %k,
                json => { scheduled_at => '2032-02-02T02:02:02.5+02:00' });
is($r->{json}{scheduled_at}, '2032-02-02T00:02:02.500Z', 'reschedule');

$r = $t->req(POST => '/v1/campaigns', %k,
             json => { name => 'c', type => 'email', message => {},
                       start => \1, recipients => [
                           { to => 'a@example.com' },
                           { to => 'b@example.com' } ] });
$r = $t->req(POST => "/v1/campaigns/$r->{json}{id}/cancel", %k);
is_deeply([@{ $r->{json}{stats} }{qw(total pending cancelled)}], [2, 0, 2],
          'cancel marks pending recipients cancelled, stats follow');

# The scheduler hears of every change to when a campaign starts or stops.
for my $case ([draft => 'start', 'queued'], [scheduled => 'cancel',
              'cancelled'], [paused => 'resume', 'queued']) {
    my ($from, $action, $to) = @$case;
    my $id = campaign_in($from);
    my $out = $t->psql("LISTEN campaign; SELECT (campaign.transition("
                       . "'$id', '$action')).outcome");
    like($out, qr/notification "campaign" with payload "\{"id" : "$id",.*"status" : "$to"/,
         "$action of a $from campaign NOTIFYs status $to");
}

# A due campaign rescheduled while a tick runs keeps its new time: the
# tick sees the committed change, never starts it at the old one.
{
    my $due = campaign_in('scheduled');
    $t->psql("UPDATE campaign.campaigns SET scheduled_at = now() - "
             . "interval '1 s' WHERE id = '$due'");
    my $pid = fork // die $!;
    if ($pid == 0) {
        $t->psql("BEGIN; UPDATE campaign.campaigns SET scheduled_at = now() "
                 . "+ interval '1 day' WHERE id = '$due'; "
                 . "SELECT pg_sleep(2); COMMIT");
        POSIX::_exit(0);
    }
    CampaignTest::wait_for(sub { $t->psql("SELECT count(*) FROM "
        . "pg_stat_activity WHERE query LIKE '%pg_sleep(2)%' "
        . "AND state = 'active' AND pid <> pg_backend_pid()") }, 10,
        'the edit to hold its row');
    $t->psql("SELECT count(*) FROM campaign.scheduler_tick('t02', 10000)");
    waitpid($pid, 0);
    $t->psql("SELECT count(*) FROM campaign.scheduler_tick('t02', 10000)");
    is($t->psql("SELECT status || ' ' || (scheduled_at > now()) FROM "
                . "campaign.campaigns WHERE id = '$due'"), 'scheduled true',
       'a due campaign rescheduled during a tick waits for its new time');
}

$t->done;
done_testing;
