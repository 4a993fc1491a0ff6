# Cursor pages never repeat or skip a campaign while others are created.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

my $t = CampaignTest->new(workers => 2);
my %k = (key => $t->key('acme'));

$t->psql(q{
    INSERT INTO campaign.campaigns (tenant, name, type, status, message)
    SELECT 'acme', 'seed ' || g, CASE WHEN g % 3 = 0 THEN 'voice' ELSE 'sms'
           END, CASE WHEN g % 2 = 0 THEN 'draft' ELSE 'cancelled' END, '{}'
      FROM generate_series(1, 237) g});
my %seed = map { $_ => 1 } split /\n/,
    $t->psql("SELECT id FROM campaign.campaigns WHERE tenant = 'acme'");

# A writer creates campaigns the whole time the reader pages.
my $writer = fork // die;
if ($writer == 0) {
    for my $i (1 .. 60) {
        $t->req(POST => '/v1/campaigns', %k, fresh => 1,
                json => { name => "new $i", type => 'sms', message => {} });
    }
    POSIX::_exit(0);
}

sub pages {
    my ($query) = @_;
    my (@seen, $cursor);
    my $n = 0;
    do {
        my $url = "/v1/campaigns?$query" . ($cursor ? "&cursor=$cursor" : '');
        my $r = $t->req(GET => $url, %k);
        die "page failed: $r->{status}" if $r->{status} != 200;
        push @seen, @{ $r->{json}{data} };
        $cursor = $r->{json}{next_cursor};
        $n++;
    } while ($cursor && $n < 100);
    return @seen;
}

my @seen = pages('limit=7');
waitpid($writer, 0);

my %count;
$count{ $_->{id} }++ for @seen;
is(scalar(grep { $count{$_} > 1 } keys %count), 0, 'no campaign repeated');
is(scalar(grep { !$count{$_} } keys %seed), 0,
   'every campaign that existed at the start was seen');
my @created = map { $_->{created_at} } @seen;
is_deeply(\@created, [sort { $b cmp $a } @created], 'newest first');

my @voice = pages('type=voice&status=draft&limit=50');
is(scalar(@voice), 39, 'filters: type and status');
is(scalar(grep { $_->{type} ne 'voice' || $_->{status} ne 'draft' } @voice),
   0, 'filters hold on every page');
my @two = pages('status=draft,cancelled&limit=200');
cmp_ok(scalar(@two), '>=', 237, 'a list of statuses');

my $r = $t->req(GET => '/v1/campaigns', %k);
is(scalar(@{ $r->{json}{data} }), 50, 'default limit 50');
$r = $t->req(GET => '/v1/campaigns?limit=201', %k);
is($r->{status}, 400, 'limit over 200 is a 400');

$t->done;
done_testing;
