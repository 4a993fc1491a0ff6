# The OpenAPI document (issue 14): docs/openapi.json passes redocly's lint,
# names every route the module serves and every error code the SQL answers,
# is served at GET /v1/openapi.json with no key; and the checker that
# validates every answer of every test (CampaignTest::done) refuses answers
# the document does not describe.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use CampaignTest;

my $root = $CampaignTest::ROOT;
my $doc_file = "$root/docs/openapi.json";
my $doc = do {
    open(my $fh, '<:raw', $doc_file) or die "$doc_file: $!";
    local $/;
    <$fh>;
};
my $api = JSON::PP->new->decode($doc);

# ---------------------------------------------------------------- the lint

my $redocly = "$root/build/npm/node_modules/.bin/redocly";
ok(-x $redocly, 'redocly is installed (make npm-tools)');
my $lint = `$redocly lint $doc_file --config $root/docs/redocly.yaml `
         . '--format=stylish 2>&1';
is($?, 0, 'redocly lint passes') or diag $lint;
unlike($lint, qr/\b(error|warning)\b/, 'with no error and no warning')
    or diag $lint;
is($api->{openapi}, '3.1.0', 'OpenAPI 3.1');

# ---------------------------------------- every route of the module, no more

open(my $src, '<', "$root/ngx_campaign_module/ngx_http_campaign_route.c")
    or die $!;
my $code = do { local $/; <$src> };
my %module;
while ($code =~ /\{ NGX_HTTP_(\w+), ngx_string\("([^"]+)"\)/g) {
    my ($method, $path) = (lc $1, "/$2");
    $path =~ s/\{name\}/{type}/;
    $module{"$method $path"} = 1;
}
cmp_ok(scalar keys %module, '>=', 18, 'the module\'s routes are read');
my %described;
for my $path (keys %{ $api->{paths} }) {
    next if $path eq '/metrics';    # its own location, not campaign_api's
    for my $m (grep { /^(get|post|patch|delete|put)$/ }
               keys %{ $api->{paths}{$path} })
    {
        $described{"$m $path"} = 1;
    }
}
is_deeply([sort keys %described], [sort keys %module],
          'the document describes each route the module serves, no other');
ok($api->{paths}{'/metrics'}{get}, 'and GET /metrics');

# ------------------------------------------------------------ the server

my $t = CampaignTest->new;

my @codes = split /\n/, $t->psql('SELECT code FROM campaign.error_codes '
                                 . 'ORDER BY code');
my $enum = $api->{components}{schemas}{Error}{properties}{error}
               {properties}{code}{enum};
is_deeply([sort @$enum], [sort @codes],
          'the Error schema names every error code of campaign.error_codes');

my $r = $t->req(GET => '/v1/openapi.json');
is($r->{status}, 200, 'GET /v1/openapi.json needs no key');
like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
ok($r->{body} eq $doc, 'the very bytes of docs/openapi.json');
my $etag = $r->{headers}{etag} // '';
like($etag, qr/^"\d+-\d+"$/, 'with an ETag');
$r = $t->req(GET => '/v1/openapi.json', headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'If-None-Match with it: 304');
is($r->{body} // '', '', 'with no body');
$r = $t->req(HEAD => '/v1/openapi.json');
is($r->{status}, 200, 'HEAD: 200');
is($r->{headers}{'content-length'}, length($doc), 'with its length');
is($t->req(POST => '/v1/openapi.json')->{status}, 405, 'POST: 405');
# Bearer garbage does not matter: the document is public
is($t->req(GET => '/v1/openapi.json', key => 'nonsense')->{status}, 200,
   'a wrong key is not looked at');

# ---------------------------------------------- the checker can say no

sub check {
    my (@answers) = @_;
    my $f = "$t->{dir}/made-up.jsonl";
    open(my $fh, '>', $f) or die $!;
    print $fh JSON::PP->new->ascii->encode($_), "\n" for @answers;
    close $fh;
    my $out = `$root/t/tools/openapi-check $doc_file $f 2>&1`;
    return ($? >> 8, $out);
}

my $key = $t->key('acme');
my $c = $t->req(POST => '/v1/campaigns', key => $key,
                json => { name => 'n', type => 'sms', message => {} });
is($c->{status}, 201, 'a campaign');
my %ok = (method => 'GET', path => "/v1/campaigns/$c->{json}{id}",
          status => 200,
          headers => { 'content-type' => 'application/json',
                       etag => '"1"' },
          body => $c->{body});
my ($rc, $out) = check(\%ok);
is($rc, 0, 'the checker passes a campaign as the module answers it')
    or diag $out;

my %changed = %{ JSON::PP->new->decode($c->{body}) };
delete $changed{stats};
($rc, $out) = check({ %ok, body => JSON::PP->new->encode(\%changed) });
is($rc, 1, 'a campaign without stats fails');
like($out, qr/'stats' is a required property/, 'saying what is missing');

$changed{stats} = {};
$changed{colour} = 'red';
($rc, $out) = check({ %ok, body => JSON::PP->new->encode(\%changed) });
like($out, qr/colour/, 'a field the document does not have fails');

($rc, $out) = check({ %ok, headers => { 'content-type' => 'application/json' } });
like($out, qr/header ETag is missing/, 'a campaign without its ETag fails');

($rc, $out) = check({ %ok, status => 418 });
like($out, qr/418 is not among/, 'a status the operation lacks fails');

($rc, $out) = check({ %ok, path => '/v1/campaigns/not-a-uuid' });
like($out, qr/a 404 is due/, 'a malformed id must be the 404');

($rc, $out) = check({ %ok, method => 'PUT', status => 200 });
like($out, qr/a 405 is due/, 'a method the path lacks must be the 405');

($rc, $out) = check({ %ok, method => 'PUT', status => 405,
                      body => '{"error":{"code":"method_not_allowed",'
                            . '"message":"m"}}' });
like($out, qr/a 405 without Allow/, 'and with Allow');

($rc, $out) = check({ %ok, method => 'PUT', status => 405,
                      headers => { 'content-type' => 'application/json',
                                   allow => 'GET, HEAD' },
                      body => '{"error":{"code":"method_not_allowed",'
                            . '"message":"m"}}' });
like($out, qr/Allow: GET, HEAD, but the path takes/,
     'and with the methods the path takes');

($rc, $out) = check({ %ok, headers => { %{ $ok{headers} },
                                        location => '/v1/campaigns/x' } });
like($out, qr/header location where none is described/,
     'a Location where none is described fails');

($rc, $out) = check({ %ok, status => 503, headers => {
                          'content-type' => 'application/json' },
                      body => '{"error":{"code":"database_unavailable",'
                            . '"message":"m"}}' });
like($out, qr/Retry-After is missing/, 'a 503 without Retry-After fails');

($rc, $out) = check({ %ok, status => 404,
                      body => '{"error":{"code":"not_found","message":"m",'
                            . '"sql":"SELECT"}}' });
like($out, qr/sql/, 'an error with more than the document says fails');

my %post_action = (method => 'POST', path => "/v1/campaigns/$c->{json}{id}/pause",
                   status => 409,
                   headers => { 'content-type' => 'application/json' });
($rc, $out) = check({ %post_action, body => '{"error":{"code":'
                      . '"invalid_transition","message":"m","status":"draft"}}' });
is($rc, 0, 'an invalid_transition with its status passes') or diag $out;
($rc, $out) = check({ %post_action, body => '{"error":{"code":'
                      . '"invalid_transition","message":"m"}}' });
like($out, qr/'status' is a required property/,
     'an invalid_transition without the status fails');
($rc, $out) = check({ method => 'POST',
                      path => "/v1/campaigns/$c->{json}{id}/recipients",
                      status => 400,
                      headers => { 'content-type' => 'application/json' },
                      body => '{"error":{"code":"invalid_recipient",'
                            . '"message":"m"}}' });
like($out, qr/'index' is a required property/,
     'an invalid_recipient without its index fails');

($rc, $out) = check({ %ok, headers => { 'content-type' => 'text/html',
                                        etag => '"1"' } });
like($out, qr/Content-Type 'text\/html'/, 'a media type not described fails');

$t->done;
done_testing;
