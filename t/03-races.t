# Concurrency: racing actions on one campaign end consistent; concurrent
# repeats of one Idempotency-Key create one campaign.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

# a roomy campaign_timeout: 30 actions queue for one row's lock, and on a
# loaded CI machine they once outlasted 3 s (a 503, rolled back); what
# this test checks is their outcome, not their time
my $t = CampaignTest->new(workers => 2, pool => 4, timeout => '10s');
my %k = (key => $t->key('acme'));

# 30 clients: pause, resume and cancel, all at once, on one running campaign.
my $c = $t->req(POST => '/v1/campaigns', %k,
                json => { name => 'race', type => 'sms', message => {},
                          start => \1 })->{json};
my @actions = map { (qw(pause resume cancel))[$_ % 3] } 0 .. 29;
my @out = CampaignTest::parallel(30, sub {
    my ($i) = @_;
    my $r = $t->req(POST => "/v1/campaigns/$c->{id}/$actions[$i]", %k,
                    fresh => 1);
    return "$actions[$i] $r->{status} "
           . ($r->{json}{status} // $r->{json}{error}{status} // '?');
});
is(scalar(grep { /^\w+ (200|409) / } @out), 30,
   'every racing action answered 200 or 409') or diag join "\n", @out;
is(scalar(grep { /^cancel 200 cancelled/ } @out), 10,
   'every cancel succeeded: cancel is allowed from every state it meets');
my $final = $t->req(GET => "/v1/campaigns/$c->{id}", %k)->{json};
is($final->{status}, 'cancelled', 'the campaign ends cancelled');
my @after_cancel = grep { /^(pause|resume) 200 (paused|queued)/ } @out;
my $changes = $t->psql("SELECT version FROM campaign.campaigns "
                       . "WHERE id = '$c->{id}'");
cmp_ok($changes, '<=', 31, 'no more changes than actions');
is($t->psql("SELECT count(*) FROM campaign.campaigns "
            . "WHERE id = '$c->{id}' AND finished_at IS NOT NULL"), 1,
   'finished_at set once, by the winning cancel');

# Two clients racing start on a draft: one changes it, the other sees it.
for my $round (1 .. 5) {
    my $d = $t->req(POST => '/v1/campaigns', %k,
                    json => { name => "start $round", type => 'sms',
                              message => {} })->{json};
    my @o = CampaignTest::parallel(10, sub {
        my $r = $t->req(POST => "/v1/campaigns/$d->{id}/start", %k,
                        fresh => 1);
        return "$r->{status} $r->{json}{status}";
    });
    is(scalar(grep { $_ eq '200 queued' } @o), 10,
       "round $round: ten racing starts all answer queued");
    is($t->psql("SELECT version FROM campaign.campaigns "
                . "WHERE id = '$d->{id}'"), 2,
       "round $round: exactly one of them changed the campaign");
}

# Concurrent repeats of one Idempotency-Key.
my $body = { name => 'once', type => 'sms', message => { body => 'x' } };
my @idem = CampaignTest::parallel(20, sub {
    my $r = $t->req(POST => '/v1/campaigns', %k, json => $body, fresh => 1,
                    headers => { 'Idempotency-Key' => 'order-42' });
    return join ' ', $r->{status}, $r->{json}{id},
                     $r->{headers}{'idempotent-replayed'} // '-';
});
my %ids = map { (split / /)[1] => 1 } @idem;
is(scalar(keys %ids), 1, 'twenty concurrent repeats: one campaign id')
    or diag join "\n", @idem;
is(scalar(grep { /^201 / } @idem), 1, 'the first answers 201');
is(scalar(grep { /^200 \S+ true$/ } @idem), 19,
   'the others replay it with Idempotent-Replayed: true');
is($t->psql("SELECT count(*) FROM campaign.campaigns WHERE name = 'once'"),
   1, 'one campaign stored');

my $r = $t->req(POST => '/v1/campaigns', %k, json => { %$body, name => 'x' },
                headers => { 'Idempotency-Key' => 'order-42' });
is($r->{status}, 409, 'same key, different body: 409');
is($r->{json}{error}{code}, 'idempotency_key_reused', 'code');

my $other = $t->key('other');
$r = $t->req(POST => '/v1/campaigns', key => $other, json => $body,
             headers => { 'Idempotency-Key' => 'order-42' });
is($r->{status}, 201, 'another tenant may use the same key');

$t->psql("UPDATE campaign.idempotency_keys SET created_at = now() - "
         . "interval '25 hours' WHERE key = 'order-42'");
$r = $t->req(POST => '/v1/campaigns', %k, json => $body,
             headers => { 'Idempotency-Key' => 'order-42' });
is($r->{status}, 201, 'after 24 h the key creates anew');

$t->done;
done_testing;
