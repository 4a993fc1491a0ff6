# A key never sees, changes or counts another tenant's campaigns; a revoked
# key stops working; only a hash of a key is stored.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

my $t = CampaignTest->new(workers => 2);
my $acme = $t->key('acme');
my $globex = $t->key('globex');

my $c = $t->req(POST => '/v1/campaigns', key => $acme,
                json => { name => 'secret', type => 'sms', message => {},
                          start => \1 })->{json};
my $d = $t->req(POST => '/v1/campaigns', key => $acme,
                json => { name => 'draft', type => 'sms',
                          message => {} })->{json};

my @routes = (
    [GET => "/v1/campaigns/$c->{id}"],
    [PATCH => "/v1/campaigns/$d->{id}", { name => 'stolen' }],
    [DELETE => "/v1/campaigns/$d->{id}"],
    [POST => "/v1/campaigns/$c->{id}/pause"],
    [POST => "/v1/campaigns/$c->{id}/resume"],
    [POST => "/v1/campaigns/$c->{id}/cancel"],
    [POST => "/v1/campaigns/$d->{id}/start"],
    [POST => "/v1/campaigns/$d->{id}/schedule",
     { scheduled_at => '2030-01-01T00:00:00Z' }],
    [POST => "/v1/campaigns/$d->{id}/recipients", [ { to => '+15550001111' } ]],
    [GET => "/v1/campaigns/$c->{id}/recipients"],
);
for my $route (@routes) {
    my ($m, $path, $json) = @$route;
    my $r = $t->req($m => $path, key => $globex,
                    defined $json ? (json => $json) : ());
    is($r->{status}, 404, "another tenant's $m $path: 404");
}

my $list = $t->req(GET => '/v1/campaigns', key => $globex)->{json};
is(scalar(@{ $list->{data} }), 0, "another tenant's list is empty");
my $status = $t->req(GET => '/v1/status', key => $globex)->{json};
is($status->{types}{sms}{queued}, 0, "another tenant's counts are zero");
is($t->req(GET => '/v1/status', key => $acme)->{json}{types}{sms}{queued},
   1, 'the owner counts its own');

my $r = $t->req(GET => "/v1/campaigns/$d->{id}", key => $acme);
is($r->{json}{name}, 'draft', 'nothing the other tenant tried changed it');
is($r->{json}{status}, 'draft', 'still a draft');

# keys
is($t->psql("SELECT count(*) FROM campaign.api_keys "
            . "WHERE key_hash = sha256(convert_to('$acme', 'UTF8'))"), 1,
   'the key is stored as its SHA-256');
# (no row holds either key's text, in any column; LIKE's _ would match
# any byte of a hash, so strpos)
is($t->psql("SELECT count(*) FROM campaign.api_keys k, "
            . "unnest(ARRAY['$acme', '$globex']) AS t(key) "
            . "WHERE strpos(k::text, t.key) > 0 "
            . "OR position(convert_to(t.key, 'UTF8') IN k.key_hash) > 0"), 0,
   'no key text stored');
is($t->psql("SELECT campaign.revoke_api_key('$globex')"), 't', 'revoke');
my $revoked_at = time;
CampaignTest::wait_for(sub {
    $t->req(GET => '/v1/campaigns', key => $globex)->{status} == 401
}, 2, 'the revoked key to stop working');
cmp_ok(time - $revoked_at, '<=', 2, 'a revoked key stops within 2 s');
is($t->req(GET => '/v1/campaigns', key => $acme)->{status}, 200,
   'other keys keep working');

$t->done;
done_testing;
