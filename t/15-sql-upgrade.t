# The SQL's layout and its upgrade: every function and trigger has one
# live definition, in one file of sql/functions/; a database built and
# filled with the migrations 001-009 of the old layout moves to the new one
# with nothing lost, and the API and a scheduler carry on with it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

my $root = $CampaignTest::ROOT;
my $t = CampaignTest->new(migrate => 0);

# --- the database as the old layout left it ---------------------------------
$t->psql('CREATE TABLE public.campaign_migrations (name text PRIMARY KEY, '
         . 'applied_at timestamptz NOT NULL DEFAULT now())');
for my $f (grep { m{/00[1-9]_[^/]+\.sql$} }
           sort glob("$root/sql/migrations/*.sql")) {
    my ($name) = $f =~ m{([^/]+)$};
    system('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1', '-h',
           '127.0.0.1', '-p', $t->{pg_port}, '-U', 'campaign', '-d',
           'campaigns', '-f', $f,
           '-c', "INSERT INTO public.campaign_migrations VALUES ('$name')")
        == 0 or die "$name failed";
}
is($t->psql('SELECT count(*) FROM public.campaign_migrations'), 9,
   'the old layout: migrations 001-009');

# one campaign in every status, recipients pending, sent, failed, cancelled
my $key = $t->psql("SELECT campaign.create_api_key('acme', 'upgrade')");
$t->psql(<<'SQL');
INSERT INTO campaign.campaigns (tenant, name, type, status, message,
                                scheduled_at, queued_at, started_at,
                                finished_at, lease_owner, lease_expires_at)
SELECT 'acme', s, 'sms', s, '{"body": "Hi {{name}}"}',
       CASE s WHEN 'scheduled' THEN now() + interval '3 seconds' END,
       CASE WHEN s IN ('queued', 'running') THEN now() END,
       CASE WHEN s IN ('running', 'paused', 'completed', 'failed')
            THEN now() END,
       CASE WHEN s IN ('completed', 'cancelled', 'failed') THEN now() END,
       CASE s WHEN 'running' THEN 'gone-scheduler' END,
       CASE s WHEN 'running' THEN now() - interval '1 minute' END
  FROM unnest(ARRAY['draft', 'scheduled', 'queued', 'running', 'paused',
                    'completed', 'cancelled', 'failed']) s;
INSERT INTO campaign.recipients (campaign_id, address, vars, status,
                                 attempts, sent_at)
SELECT c.id, '+1555' || lpad((c.seq * 100 + i)::text, 7, '0'),
       jsonb_build_object('name', 'R' || i),
       CASE WHEN c.status = 'completed' THEN 'sent'
            WHEN c.status = 'cancelled' THEN 'cancelled'
            WHEN c.status = 'failed' THEN 'failed'
            WHEN c.status = 'running' AND i <= 5 THEN 'sent'
            ELSE 'pending' END,
       CASE WHEN c.status IN ('completed', 'failed')
              OR (c.status = 'running' AND i <= 5) THEN 1 ELSE 0 END,
       CASE WHEN c.status = 'completed'
              OR (c.status = 'running' AND i <= 5) THEN now() END
  FROM campaign.campaigns c, generate_series(1, 20) i;
SQL
my $snapshot = sub {
    return $t->psql('SELECT string_agg(x::text, E\'\\n\' ORDER BY x::text) '
                    . 'FROM (SELECT id, tenant, name, type, status, message, '
                    . 'scheduled_at, total, pending, sent, failed, cancelled, '
                    . 'version, started_at, finished_at FROM '
                    . 'campaign.campaigns) x')
         . "\n" . $t->psql('SELECT string_agg(x::text, E\'\\n\' ORDER BY '
                           . 'x::text) FROM (SELECT id, seq, campaign_id, '
                           . 'address, vars, status, attempts, sent_at FROM '
                           . 'campaign.recipients) x');
};
my $before = $snapshot->();
is($t->psql('SELECT count(*) FROM campaign.recipients'), 160,
   '8 campaigns of 20 recipients each');

# --- the move ----------------------------------------------------------------
$t->migrate;
is($snapshot->(), $before, 'every campaign and recipient as it was');
my $stamps = sub { $t->psql("SELECT string_agg(name || ' ' || checksum "
    . "|| ' ' || applied_at, E'\\n' ORDER BY name) "
    . 'FROM public.campaign_functions') };
my $stamped = $stamps->();
$t->migrate;
is($snapshot->(), $before, 'migrating again changes nothing');
is($stamps->(), $stamped, 'and re-applies no file whose checksum is the same');

# a changed file is applied again, and only that one (a copy of the tree)
{
    my $copy = "$t->{dir}/tree";
    mkdir $copy or die $!;
    system('cp', '-r', "$root/scripts", "$root/sql", "$copy/") == 0
        or die 'cp failed';
    open(my $fh, '>>', "$copy/sql/functions/format.sql") or die $!;
    print $fh "\n-- changed by t/15\n";
    close $fh;
    system("$copy/scripts/migrate.sh", '-h', '127.0.0.1', '-p', $t->{pg_port},
           '-U', 'campaign', '-d', 'campaigns') == 0 or die 'migrate failed';
    # name => "checksum applied_at": a file applied again has a new time
    my %was = map { split / /, $_, 2 } split /\n/, $stamped;
    my %now = map { split / /, $_, 2 } split /\n/, $stamps->();
    is(join(' ', grep { $was{$_} ne $now{$_} } sort keys %now), 'format.sql',
       'a changed file is applied again, and no other');
    is((split / /, $now{'format.sql'})[0],
       (split / /, `sha256sum $copy/sql/functions/format.sql`)[0],
       'its new checksum recorded');
    $t->migrate;                    # the repository's version back
}
is($t->psql('SELECT count(*) FROM public.campaign_functions'),
   scalar(my @f = glob("$root/sql/functions/*.sql")),
   'each file of sql/functions/ applied, its checksum recorded');

# --- one home for each function -----------------------------------------------
my (%defined, @twice);
for my $f (glob("$root/sql/functions/*.sql")) {
    my $src = do { local (@ARGV, $/) = ($f); <> };
    my ($file) = $f =~ m{([^/]+)$};
    while ($src =~ /CREATE OR REPLACE (FUNCTION|TRIGGER)\s+(?:campaign\.)?(\w+)/g) {
        my $what = lc("$1 $2");
        push @twice, "$what ($file and $defined{$what})" if $defined{$what};
        $defined{$what} = $file;
    }
}
is(join(', ', @twice), '', 'no function or trigger defined twice');
my @live = split /\n/, $t->psql(
    "SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n "
    . "ON n.oid = p.pronamespace WHERE n.nspname = 'campaign' UNION "
    . "SELECT 'trigger ' || tgname FROM pg_trigger t JOIN pg_class c "
    . "ON c.oid = tgrelid "
    . "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
    . "'campaign' AND NOT tgisinternal ORDER BY 1");
is($t->psql("SELECT string_agg(p.proname, ', ') FROM (SELECT p.proname "
            . "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            . "WHERE n.nspname = 'campaign' GROUP BY 1 HAVING count(*) > 1) p"),
   '', 'no function left with an older signature beside its live one');
is(join(', ', grep { !$defined{$_} } @live), '',
   'every function and trigger in the database is one of sql/functions/');
my %in_db = map { $_ => 1 } @live;
is(join(', ', grep { !$in_db{$_} } sort keys %defined), '',
   'and every one of them is in the database');
my $migrations = join '', map { local (@ARGV, $/) = ($_); <> }
                 grep { !m{/00[1-9]_} } glob("$root/sql/migrations/*.sql");
unlike($migrations, qr/CREATE (OR REPLACE )?(FUNCTION|TRIGGER)/,
       'new migrations hold no function or trigger');

# --- and on it goes -----------------------------------------------------------
my %k = (key => $key);
my $url = $t->start_provider;
my ($draft) = $t->psql("SELECT id FROM campaign.campaigns "
                       . "WHERE status = 'draft'");
is($t->req(GET => "/v1/campaigns/$draft", %k)->{json}{stats}{total}, 20,
   'the API reads an old campaign');
is($t->req(POST => "/v1/campaigns/$draft/start", %k)->{json}{status},
   'queued', 'and starts it');
my ($done) = $t->psql("SELECT id FROM campaign.campaigns "
                      . "WHERE status = 'completed'");
is($t->req(DELETE => "/v1/campaigns/$done", %k)->{status}, 204,
   'deletes one');
is($t->psql("SELECT count(*) FROM campaign.recipients "
            . "WHERE campaign_id = '$done'"), 0, 'with its recipients');

$t->start_scheduler(conf => "pool sms 10;\nprovider sms $url/sms;\n");
CampaignTest::wait_for(sub {
    $t->psql("SELECT count(*) FROM campaign.campaigns WHERE status IN "
             . "('scheduled', 'queued', 'running')") == 0 }, 20,
    'the scheduled, queued, running and started campaigns to complete');
is($t->psql("SELECT string_agg(status, ',' ORDER BY status) FROM "
            . "campaign.campaigns"),
   'cancelled,completed,completed,completed,completed,failed,paused',
   'every campaign where its status leads');
my %sent;
$sent{ $_->{body}{to} }++ for $t->deliveries;
is(scalar(keys %sent), 4 * 20 - 5, 'the pending recipients of the running '
   . '(taken over), queued, scheduled and started campaigns were sent');
is(scalar(grep { $_ > 1 } values %sent), 0, 'each once');

$t->done;
done_testing;
