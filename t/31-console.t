# The web console (issue 16): ui/ served by nginx beside the API, driven
# in a real headless Chromium (Selenium, t/console/journeys.py) against the
# real stack: log in, create from an uploaded CSV and schedule in a zone,
# watch it run, pause, resume, cancel, a refused action, a hostile name,
# the keyboard alone, edits that keep what they do not change, log out;
# axe-core on every page. What the page did is checked again here, in the
# database.
use strict;
use warnings;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use CampaignTest;

my $root = $CampaignTest::ROOT;
my $axe = "$root/build/npm/node_modules/axe-core/axe.min.js";
# make test installs them all: one missing fails this file, not a skip
for my $need ('/usr/bin/chromium', '/usr/bin/chromedriver', $axe) {
    die "$need is missing (make deps npm-tools)\n" unless -e $need;
}
die "python3-selenium is missing (make deps)\n"
    if system('/usr/bin/python3', '-c', 'import selenium') != 0;

# nginx's workers (nobody) may not reach the clone: serve a copy
my $ui = tempdir('campaign-console-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('cp', '-R', "$root/ui/.", $ui) == 0 or die 'cannot copy ui/';
system('chmod', '-R', 'a+rX', $ui) == 0 or die;

# conf/nginx.conf's own location /, with this copy as its root: the
# block from "location / {" to its matching brace
my $conf = do {
    open(my $fh, '<', "$root/conf/nginx.conf") or die $!;
    local $/;
    <$fh>;
};
$conf =~ /^[ \t]*location\s+\/\s*\{/mg or die 'no location / in conf/nginx.conf';
my $from = $-[0];
my $depth = 1;
while ($depth && $conf =~ /([{}])/g) {
    $depth += $1 eq '{' ? 1 : -1;
}
die 'location / is not closed in conf/nginx.conf' if $depth;
my $location = substr($conf, $from, pos($conf) - $from);
$location =~ s/^\s*include \S*console-root\S*\.conf;/root $ui;/m
    or die 'no console-root include in the location';
my $t = CampaignTest->new(workers => 2, server_config => $location);

# the page itself: its headers, before any browser
my $page = $t->req(GET => '/', by_nginx => 1);
is($page->{status}, 200, 'the console is served at /');
is($page->{headers}{'content-security-policy'},
   "default-src 'self'; frame-ancestors 'none'",
   'with Content-Security-Policy: default-src \'self\', in no frame');
is($page->{headers}{'x-frame-options'}, 'DENY', 'and X-Frame-Options: DENY');
my $icon = $t->req(GET => '/favicon.svg', by_nginx => 1);
like($icon->{headers}{'content-type'}, qr{^image/svg\+xml}, 'an icon has its type');
my $js = $t->req(GET => '/js/app.js', by_nginx => 1);
like($js->{headers}{'content-type'}, qr{^text/javascript},
     'modules are served as JavaScript');
unlike($page->{body}, qr/style=|<style|<script(?![^>]*\ssrc=)[^>]*>|https?:\/\//,
       'no inline style or script, nothing from elsewhere');
my @remote = grep { /https?:\/\/|\@import|url\(/ } map {
    open(my $fh, '<', $_) or die $!; local $/; scalar <$fh> // ''
} glob("$root/ui/js/*.js $root/ui/js/*/*.js $root/ui/css/*.css");
is(scalar @remote, 0, 'no script or style loads anything from elsewhere');
my @inner = grep { /\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write/ }
            map { open(my $fh, '<', $_) or die $!; local $/; scalar <$fh> }
            glob("$root/ui/js/*.js $root/ui/js/*/*.js");
is(scalar @inner, 0, 'no script writes HTML');

my $key = $t->key('acme');
my $url = $t->start_provider;

my $out = tempdir('console-out-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{CAMPAIGN_KEEP});
my $shots = $ENV{CONSOLE_SCREENSHOTS};
$shots = "$root/$shots" if $shots && $shots !~ m{^/};

# The scheduler starts when the journeys ask (the file "start-scheduler"):
# the campaign scheduled 5 s ahead is seen purple in the list and on the
# calendar first, however slow this machine is, then started by it, at
# its time or at once if that has passed (never before: checked below).
# Every later journey has it. A rate that keeps 1,000 recipients running
# for about 5 s, to be watched.
my $started_at;
sub scheduler_on_request {
    return if $started_at || !-e "$out/start-scheduler";
    $t->start_scheduler(conf => "pool sms 4;\nprovider sms $url/sms;\n"
                              . "rate sms 200;\n");
    $started_at = time;
    open(my $fh, '>', "$out/scheduler-started") or die $!;
    close $fh;
}

# results.json is written after each journey: a timeout loses only the
# journey it stopped
my $t0 = time;
my $limit = $ENV{CAMPAIGN_ASAN} ? 240 : 150;
my $pid = fork // die $!;
if ($pid == 0) {
    $ENV{CONSOLE_URL} = $t->url('/');
    $ENV{CONSOLE_KEY} = $key;
    $ENV{CONSOLE_OUT} = $out;
    $ENV{CONSOLE_AXE} = $axe;
    $ENV{CONSOLE_SCREENSHOTS} = $shots // '';
    # the viewer's zone is neither UTC nor the campaign's
    $ENV{TZ} = 'Europe/Vienna';
    { exec('timeout', '-k', '5', $limit, '/usr/bin/python3',
           "$root/t/console/journeys.py") }
    POSIX::_exit(127);
}
until (waitpid($pid, WNOHANG) == $pid) {
    scheduler_on_request();
    sleep 0.1;
}
note sprintf('the journeys took %.1f s', time - $t0);
is($? >> 8, 0, 'the journeys ended by themselves');
ok($started_at, 'the journeys asked for the scheduler');
my $res = eval {
    open(my $fh, '<', "$out/results.json") or die $!;
    local $/;
    decode_json(<$fh>);
} // { checks => [] };
cmp_ok(scalar @{ $res->{checks} }, '>=', 40, 'the journeys ran');
for my $c (@{ $res->{checks} }) {
    ok($c->{ok}, $c->{name}) or diag $c->{diag};
}

# what the page did, in the database
if (my $s = $res->{data}{scheduled}) {
    is($t->psql("SELECT count(*) FROM campaign.recipients WHERE campaign_id = '$s->{id}'"),
       1000, 'the uploaded campaign has its 1,000 recipients');
    is($t->psql("SELECT timezone || ' ' || to_char(scheduled_at AT TIME ZONE 'UTC', "
                . "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM campaign.campaigns "
                . "WHERE id = '$s->{id}'"),
       "America/New_York $s->{at_utc}",
       'in America/New_York, starting when the picker said');
    is($t->psql("SELECT started_at >= scheduled_at FROM campaign.campaigns "
                . "WHERE id = '$s->{id}'"),
       't', 'and not started before it');
} else {
    fail('the scheduled campaign was made');
}

$t->done;
done_testing;
