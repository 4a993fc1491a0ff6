# Every route, status code, error code and header of API.md sections 2-5.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

my $t = CampaignTest->new;
my $key = $t->key('acme');
my %k = (key => $key);

sub err_is {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: HTTP $status");
    is($r->{json}{error}{code}, $code, "$name: code $code");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$name: JSON error body");
}

my $future = '2030-01-01T09:00:00Z';
my %new = (name => 'Morning outreach', type => 'sms',
           message => { body => 'Hi {{name}}' });

# --- health, readiness, auth -------------------------------------------
is($t->req(GET => '/v1/healthz')->{status}, 200, 'healthz needs no key');
my $r = $t->req(GET => '/v1/readyz');
is($r->{status}, 200, 'readyz answers when the database does');
is($r->{json}{status}, 'ready', 'readyz body');

$r = $t->req(GET => '/v1/campaigns');
err_is($r, 401, 'unauthorized', 'no key');
is($r->{headers}{'www-authenticate'}, 'Bearer', 'WWW-Authenticate: Bearer');
err_is($t->req(GET => '/v1/campaigns', key => 'ck_nope'), 401,
       'unauthorized', 'unknown key');
err_is($t->req(GET => '/v1/campaigns',
               headers => { Authorization => "Basic $key" }),
       401, 'unauthorized', 'not a Bearer key');
my $raw = $t->raw("GET /v1/campaigns HTTP/1.0\r\n"
                  . "Authorization: Bearer \xe9t\xe9\r\n\r\n");
like($raw, qr{^HTTP/1\.1 401 .*"code":"unauthorized"}s,
     'a key with bytes outside ASCII: 401');

# --- create -------------------------------------------------------------
$r = $t->req(POST => '/v1/campaigns', %k, json => \%new);
is($r->{status}, 201, 'create: 201');
my $c = $r->{json};
like($c->{id}, qr/^[0-9a-f-]{36}$/, 'create: a UUID id');
is($c->{status}, 'draft', 'create without a time or start: draft');
is($r->{headers}{location}, "/v1/campaigns/$c->{id}", 'create: Location');
ok($r->{headers}{etag}, 'create: ETag');
is_deeply($c->{stats}, { total => 0, pending => 0, sent => 0, failed => 0,
                         cancelled => 0, delivered => 0, undelivered => 0 },
          'create: zero stats');
like($c->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'times are UTC with milliseconds');
is_deeply($c->{metadata}, {}, 'metadata defaults to {}');

$r = $t->req(POST => '/v1/campaigns', %k,
             json => { %new, scheduled_at => '2030-01-01T10:00:00+01:00',
                       metadata => { owner => 'alice' } });
is($r->{json}{status}, 'scheduled', 'create with scheduled_at: scheduled');
is($r->{json}{scheduled_at}, '2030-01-01T09:00:00.000Z',
   'scheduled_at comes back in UTC with milliseconds');
is($r->{json}{metadata}{owner}, 'alice', 'metadata kept');

$r = $t->req(POST => '/v1/campaigns', %k, json => { %new, start => \1 });
is($r->{json}{status}, 'queued', 'create with start: queued');

$r = $t->req(POST => '/v1/campaigns', %k,
             json => { %new, recipients => [
                 { to => '+15551234567', vars => { name => 'Ann' } },
                 { to => '+15557654321' } ] });
is($r->{json}{stats}{total}, 2, 'create with recipients counts them');

my @bad_create = (
    [ { %new, name => '' }, 'validation_failed', 'name', 'empty name' ],
    [ { %new, name => 'x' x 201 }, 'validation_failed', 'name',
      'name over 200' ],
    [ { type => 'sms', message => {} }, 'validation_failed', 'name',
      'missing name' ],
    [ { %new, type => 'fax' }, 'validation_failed', 'type', 'unknown type' ],
    [ { %new, message => 'hi' }, 'validation_failed', 'message',
      'message not an object' ],
    [ { %new, message => { b => 'x' x 70000 } }, 'validation_failed',
      'message', 'message over 64 KiB' ],
    [ { %new, scheduled_at => '2030-01-01T09:00:00' }, 'validation_failed',
      'scheduled_at', 'time without an offset' ],
    [ { %new, scheduled_at => 'tomorrow' }, 'validation_failed',
      'scheduled_at', 'not a time' ],
    [ { %new, scheduled_at => '2020-01-01T00:00:00Z' }, 'validation_failed',
      'scheduled_at', 'time in the past' ],
    [ { %new, scheduled_at => $future, start => \1 }, 'validation_failed',
      'start', 'start with scheduled_at' ],
    [ { %new, start => 'yes' }, 'validation_failed', 'start',
      'start not a boolean' ],
    [ { %new, nmae => 'typo' }, 'unknown_field', 'nmae', 'unknown field' ],
    [ { %new, metadata => [1] }, 'validation_failed', 'metadata',
      'metadata not an object' ],
    [ [1, 2], 'validation_failed', undef, 'body not an object' ],
);
for my $case (@bad_create) {
    my ($body, $code, $field, $name) = @$case;
    $r = $t->req(POST => '/v1/campaigns', %k, json => $body);
    err_is($r, 400, $code, $name);
    is($r->{json}{error}{field}, $field, "$name: field") if defined $field;
}

$r = $t->req(POST => '/v1/campaigns', %k,
             json => { %new, recipients => [ { to => '+15551234567' },
                                             { to => '5551234' } ] });
err_is($r, 400, 'invalid_recipient', 'malformed recipient');
is($r->{json}{error}{index}, 1, 'invalid_recipient: index');

$r = $t->req(POST => '/v1/campaigns', %k,
             json => { %new, scheduled_at => CampaignTest::iso_in(-2) });
is($r->{status}, 201, 'a time 2 s in the past is accepted');

err_is($t->req(POST => '/v1/campaigns', %k, body => '{"name": ',
               headers => { 'Content-Type' => 'application/json' }),
       400, 'invalid_json', 'truncated JSON');
err_is($t->req(POST => '/v1/campaigns', %k, body => "{\"name\":\"\xff\"}",
               headers => { 'Content-Type' => 'application/json' }),
       400, 'invalid_json', 'not UTF-8');
err_is($t->req(POST => '/v1/campaigns', %k, body => '',
               headers => { 'Content-Type' => 'application/json' }),
       400, 'invalid_json', 'empty body');
err_is($t->req(POST => '/v1/campaigns', %k, body => '{"name":"\u0000"}',
               headers => { 'Content-Type' => 'application/json' }),
       400, 'invalid_json', 'NUL escape Postgres cannot store');
err_is($t->req(POST => '/v1/campaigns', %k,
               body => ('[' x 100) . (']' x 100),
               headers => { 'Content-Type' => 'application/json' }),
       400, 'invalid_json', 'nesting too deep');
err_is($t->req(POST => '/v1/campaigns', %k, body => '{}',
               headers => { 'Content-Type' => 'text/plain' }),
       415, 'unsupported_media_type', 'text/plain body');
err_is($t->req(POST => '/v1/campaigns', %k, body => '{}'),
       415, 'unsupported_media_type', 'no Content-Type');
err_is($t->req(POST => '/v1/campaigns', %k,
               body => '{"name":"' . ('x' x (8 * 1024 * 1024)) . '"}',
               headers => { 'Content-Type' => 'application/json' }),
       413, 'payload_too_large', 'body over 8 MiB');
$r = $t->req(POST => '/v1/campaigns', %k, json => \%new,
             headers => { 'Content-Type' => 'application/json; charset=utf-8' });
is($r->{status}, 201, 'Content-Type with a charset parameter');

# --- read -----------------------------------------------------------------
$r = $t->req(GET => "/v1/campaigns/$c->{id}", %k);
is($r->{status}, 200, 'read: 200');
is($r->{json}{name}, 'Morning outreach', 'read: the campaign');
ok($r->{headers}{etag}, 'read: ETag');
err_is($t->req(GET => '/v1/campaigns/not-a-uuid', %k), 404, 'not_found',
       'malformed id');
err_is($t->req(GET => '/v1/campaigns/00000000-0000-0000-0000-000000000000',
               %k), 404, 'not_found', 'no such campaign');
err_is($t->req(GET => '/v1/nothing', %k), 404, 'not_found', 'no such route');
err_is($t->req(GET => "/v1/campaigns/$c->{id}/nothing", %k), 404,
       'not_found', 'no such sub-route');

$r = $t->req(PUT => "/v1/campaigns/$c->{id}", %k, json => {});
err_is($r, 405, 'method_not_allowed', 'PUT a campaign');
is($r->{headers}{allow}, 'GET, HEAD, PATCH, DELETE', 'Allow header');
$r = $t->req(DELETE => '/v1/campaigns', %k);
is($r->{headers}{allow}, 'GET, HEAD, POST', 'Allow on the collection');
is($t->req(HEAD => "/v1/campaigns/$c->{id}", %k)->{status}, 200, 'HEAD');

# --- edit -----------------------------------------------------------------
my $etag = $t->req(GET => "/v1/campaigns/$c->{id}", %k)->{headers}{etag};
$r = $t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
             json => { name => 'Renamed' }, headers => { 'If-Match' => $etag });
is($r->{status}, 200, 'PATCH with the current ETag');
is($r->{json}{name}, 'Renamed', 'PATCH changed the name');
isnt($r->{headers}{etag}, $etag, 'the ETag changed with the campaign');
err_is($t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
               json => { name => 'Again' }, headers => { 'If-Match' => $etag }),
       412, 'precondition_failed', 'PATCH with a stale ETag');
is($t->req(GET => "/v1/campaigns/$c->{id}", %k)->{json}{name}, 'Renamed',
   'a failed precondition changed nothing');

$r = $t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
             json => { scheduled_at => $future });
is($r->{json}{status}, 'scheduled', 'PATCH scheduled_at schedules a draft');
$r = $t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
             json => { scheduled_at => undef });
is($r->{json}{status}, 'draft', 'PATCH scheduled_at null: draft again');
is($r->{json}{scheduled_at}, undef, 'and no time');
$r = $t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
             json => { metadata => { a => 1 }, message => { body => 'new' } });
is_deeply([$r->{json}{metadata}, $r->{json}{message}],
          [{ a => 1 }, { body => 'new' }], 'PATCH metadata and message');
err_is($t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
               json => { type => 'voice' }), 400, 'unknown_field',
       'PATCH type is not editable');
err_is($t->req(PATCH => "/v1/campaigns/$c->{id}", %k,
               json => { name => 'x', scheduled_at => 'bad' }), 400,
       'validation_failed', 'PATCH with one bad field');
is($t->req(GET => "/v1/campaigns/$c->{id}", %k)->{json}{name}, 'Renamed',
   'a rejected PATCH changed nothing');

# --- actions ---------------------------------------------------------------
$r = $t->req(POST => "/v1/campaigns/$c->{id}/schedule", %k,
             json => { scheduled_at => $future });
is($r->{json}{status}, 'scheduled', 'schedule');
err_is($t->req(POST => "/v1/campaigns/$c->{id}/schedule", %k, json => {}),
       400, 'validation_failed', 'schedule without a time');
$r = $t->req(POST => "/v1/campaigns/$c->{id}/start", %k);
is($r->{json}{status}, 'queued', 'start with no body');
$r = $t->req(POST => "/v1/campaigns/$c->{id}/pause", %k, json => {});
is($r->{json}{status}, 'paused', 'pause with {}');
err_is($t->req(POST => "/v1/campaigns/$c->{id}/pause", %k,
               json => { now => \1 }), 400, 'unknown_field',
       'an action with an unknown field');
err_is($t->req(PATCH => "/v1/campaigns/$c->{id}", %k, json => { name => 'x' }),
       409, 'invalid_transition', 'PATCH a paused campaign');
$r = $t->req(POST => "/v1/campaigns/$c->{id}/resume", %k);
is($r->{json}{status}, 'queued', 'resume');
$r = $t->req(POST => "/v1/campaigns/$c->{id}/cancel", %k);
is($r->{json}{status}, 'cancelled', 'cancel');
ok($r->{json}{finished_at}, 'cancel sets finished_at');
$r = $t->req(POST => "/v1/campaigns/$c->{id}/start", %k);
err_is($r, 409, 'invalid_transition', 'start a cancelled campaign');
is($r->{json}{error}{status}, 'cancelled', 'invalid_transition: status');
is($r->{json}{error}{message}, 'cannot start a campaign that is cancelled',
   'invalid_transition: message');

# --- delete ----------------------------------------------------------------
my $q = $t->req(POST => '/v1/campaigns', %k, json => { %new, start => \1 })
    ->{json};
err_is($t->req(DELETE => "/v1/campaigns/$q->{id}", %k), 409,
       'invalid_transition', 'delete a queued campaign');
$r = $t->req(DELETE => "/v1/campaigns/$c->{id}", %k);
is($r->{status}, 204, 'delete a cancelled campaign: 204');
is($r->{body} // '', '', '204 has no body');
err_is($t->req(GET => "/v1/campaigns/$c->{id}", %k), 404, 'not_found',
       'deleted campaign is gone');

# --- status ----------------------------------------------------------------
$r = $t->req(GET => '/v1/status', %k);
is($r->{status}, 200, 'status: 200');
is_deeply([sort keys %{ $r->{json}{types} }], [qw(email sms voice)],
          'status: every type');
is($r->{json}{types}{voice}{limit}, 5, 'status: limits');
ok($r->{json}{types}{sms}{queued} >= 2, 'status: queued counted');
is(ref $r->{json}{schedulers}, 'ARRAY', 'status: schedulers');
$t->psql("INSERT INTO campaign.schedulers (id) VALUES ('host-a:4242')");
$r = $t->req(GET => '/v1/status', %k);
is($r->{json}{schedulers}[0]{id}, 'host-a:4242', 'status: a live scheduler');

# --- headers and query -----------------------------------------------------
err_is($t->req(POST => '/v1/campaigns', %k, json => \%new,
               headers => { 'Idempotency-Key' => 'k' x 300 }), 400,
       'validation_failed', 'Idempotency-Key over 255 bytes');
err_is($t->req(GET => '/v1/campaigns?limit=0', %k), 400,
       'validation_failed', 'limit 0');
err_is($t->req(GET => '/v1/campaigns?limit=abc', %k), 400,
       'validation_failed', 'limit not a number');
err_is($t->req(GET => '/v1/campaigns?status=sleeping', %k), 400,
       'validation_failed', 'unknown status filter');
err_is($t->req(GET => '/v1/campaigns?cursor=zzz', %k), 400,
       'validation_failed', 'bad cursor');
err_is($t->req(GET => '/v1/campaigns?type=%FF', %k), 400,
       'validation_failed', 'query bytes outside ASCII');

# SQL-looking text is data
my $evil = "x'); DROP TABLE campaign.campaigns; --";
$r = $t->req(POST => '/v1/campaigns', %k,
             json => { %new, name => $evil, metadata => { q => "' OR 1=1" } });
is($r->{json}{name}, $evil, 'SQL-looking name stored verbatim');
is($t->req(GET => "/v1/campaigns/$r->{json}{id}", %k)->{json}{metadata}{q},
   "' OR 1=1", 'SQL-looking metadata stored verbatim');
is($t->req(GET => "/v1/campaigns?status=draft'--", %k)->{status}, 400,
   'SQL-looking filter is a 400');

# --- auth off ------------------------------------------------------------
$t->done;

my $open = CampaignTest->new(location_config => 'campaign_auth off;');
$r = $open->req(POST => '/v1/campaigns', json => \%new);
is($r->{status}, 201, 'campaign_auth off: no key needed');
is($open->psql("SELECT tenant FROM campaign.campaigns WHERE id = '$r->{json}{id}'"),
   'default', 'campaign_auth off: tenant default');
$open->done;

done_testing;
