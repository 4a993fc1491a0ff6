# Debian packages (issue 13): make deb builds libnginx-mod-http-campaign
# and campaign-scheduler with debhelper, lintian finds no error; they
# install with dpkg -i, Debian's own nginx loads the module the way
# Debian's libnginx-mod-* are enabled, campaign-migrate fills a database,
# the packaged scheduler sends a campaign end to end; a purge leaves
# nothing but what Debian policy keeps (the system user). The machine is
# left as it was found, whatever fails.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CampaignTest;

my $ROOT = "$FindBin::Bin/..";
my @PKGS = qw(libnginx-mod-http-campaign campaign-scheduler);

# the ASan pass runs the same files again: the packages are release builds
plan skip_all => 'the packages are built and installed in the release pass'
    if $ENV{CAMPAIGN_ASAN};
if ($> != 0) {
    fail('installing packages needs root (make test runs as root)');
    done_testing;
    exit 1;
}
# a prove time-out or Ctrl-C still runs the END blocks below
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);

sub installed {
    my ($p) = @_;
    my $s = `dpkg-query -W -f='\${db:Status-Status}' $p 2>/dev/null`;
    return $s eq 'installed' || $s eq 'config-files' || $s eq 'half-configured'
        || $s eq 'unpacked' || $s eq 'half-installed';
}
if (my @there = grep { installed($_) } @PKGS) {
    fail("@there already on this machine: not touching it");
    done_testing;
    exit 1;
}
my $had_user = defined getpwnam('campaign');
my $we_installed = 0;
my $t;

# the machine as it was: whatever happens below (this END runs before
# CampaignTest's: the servers using the packages are stopped first)
END {
    local $?;
    if ($t) {
        $t->stop_scheduler($_) for @{ $t->{schedulers} // [] };
        $t->stop_nginx;
    }
    if ($we_installed) {
        system('dpkg', '--purge', @PKGS) if grep { installed($_) } @PKGS;
        system('deluser --system --quiet campaign >/dev/null 2>&1')
            if !$had_user && defined getpwnam('campaign');
        unlink '/etc/nginx/modules-enabled/50-mod-http-campaign.conf.removed';
    }
}

# -------------------------------------------------------------- build
my $out = `make -C $ROOT deb 2>&1`;
is($?, 0, 'make deb builds both packages') or diag($out);
my $deb = "$ROOT/build/deb";
my $lintian = do { local (@ARGV, $/) = ("$deb/lintian.log"); <> } // '';
is(join("\n", grep { /^E: / } split /\n/, $lintian), '',
   'lintian: no error') ;
diag("lintian: " . ($lintian eq '' ? 'nothing to say' : $lintian));
my @debs = map { glob("$deb/${_}_*_*.deb") } @PKGS;
is(scalar @debs, 2, 'two .deb files');
diag(sprintf('%s: %d bytes', $_ =~ s{.*/}{}r, -s $_)) for @debs;

# ------------------------------------------------------------ install
$we_installed = 1;
$out = `dpkg -i @debs 2>&1`;
is($?, 0, 'dpkg -i installs both') or diag($out);

my %list = map { $_ => [ split /\n/, `dpkg -L $_` ] } @PKGS;
my %has = map { my $p = $_; $p => { map { $_ => 1 } @{ $list{$p} } } } @PKGS;
for (qw(/usr/lib/nginx/modules/ngx_http_campaign_module.so
        /usr/share/nginx/modules-available/mod-http-campaign.conf
        /usr/bin/campaign-migrate
        /usr/share/campaign/sql/migrations/001_schema.sql
        /usr/share/campaign/sql/functions/api.sql
        /usr/share/man/man8/campaign-migrate.8.gz)) {
    ok($has{'libnginx-mod-http-campaign'}{$_}, "the module's package has $_");
}
for (qw(/usr/sbin/campaign-scheduler /etc/campaign/scheduler.conf
        /lib/systemd/system/campaign-scheduler.service
        /usr/share/man/man8/campaign-scheduler.8.gz)) {
    ok($has{'campaign-scheduler'}{$_}, "the scheduler's package has $_");
}
is(`cat /usr/share/nginx/modules-available/mod-http-campaign.conf`,
   "load_module modules/ngx_http_campaign_module.so;\n",
   'its load_module line');
is(readlink('/etc/nginx/modules-enabled/50-mod-http-campaign.conf'),
   '/usr/share/nginx/modules-available/mod-http-campaign.conf',
   'enabled as Debian enables libnginx-mod-*: a symlink in modules-enabled');
my ($abi) = `cat /usr/share/nginx/src/debian/libnginx-mod.abisubstvars`
            =~ /^nginx:abi=(\S+)/m;
like(`dpkg-query -W -f='\${Depends}' libnginx-mod-http-campaign`,
     qr/(^|, )\Q$abi\E(,|$)/, "it depends on the nginx ABI it was built for ($abi)");
like(`dpkg-query -W -f='\${Conffiles}' campaign-scheduler`,
     qr{^ /etc/campaign/scheduler\.conf [0-9a-f]{32}$}m,
     '/etc/campaign/scheduler.conf is a conffile');
my @pw = getpwnam('campaign');
ok(@pw && $pw[2] < 1000, 'a campaign system user');
my @st = stat('/etc/campaign/scheduler.conf');
is(sprintf('%04o %s', $st[2] & 07777, scalar getgrgid($st[5])), '0640 campaign',
   'its file readable by the campaign group only');
is(system('/usr/sbin/campaign-scheduler', '-t', '-c',
          '/etc/campaign/scheduler.conf'), 0, 'the shipped file is valid');
like(`man -P cat campaign-scheduler 2>/dev/null`, qr/campaign-scheduler/,
     'man campaign-scheduler');

# ------------------------------------------- Debian's nginx, end to end
$t = CampaignTest->new(migrate => 0,
                          load => 'include /etc/nginx/modules-enabled/*.conf;');
my @db = ('-h', '127.0.0.1', '-p', $t->{pg_port}, '-U', 'campaign', '-d',
          'campaigns');
is(system('/usr/bin/campaign-migrate', @db), 0, 'campaign-migrate runs');
my $applied = sub { $t->psql('SELECT count(*) FROM public.campaign_migrations') };
my $n = () = glob('/usr/share/campaign/sql/migrations/*.sql');
is($applied->(), $n, "it applied the package's $n migrations");
is(system('/usr/bin/campaign-migrate', @db), 0, 'and runs again');
is($applied->(), $n, 'changing nothing');
my %k = (key => $t->key('acme'));
my $url = $t->start_provider;
my $s = $t->start_scheduler(bin => '/usr/sbin/campaign-scheduler',
                            conf => "pool sms 2;\nprovider sms $url/sms;\n");
my $r = $t->req(POST => '/v1/campaigns', %k, json => {
    name => 'packaged', type => 'sms', message => { body => 'Hi {{n}}' },
    recipients => [ map { { to => "+1555000000$_", vars => { n => $_ } } }
                    1 .. 3 ] });
is($r->{status}, 201, 'Debian\'s nginx with the packaged module creates');
my $id = $r->{json}{id};
is($t->req(POST => "/v1/campaigns/$id/start", %k)->{status}, 200, 'starts');
CampaignTest::wait_for(sub {
    $t->req(GET => "/v1/campaigns/$id", %k)->{json}{status} eq 'completed' },
    30, 'the campaign to complete');
is(join(",", sort map { $_->{body}{message}{body} } $t->deliveries), "Hi 1,Hi 2,Hi 3",
   'the packaged scheduler delivered each recipient once');
$t->done;

# ------------------------------------------------ upgrade, remove, purge
$out = `dpkg -i @debs 2>&1`;
is($?, 0, 'installing them again (an upgrade\'s path) works') or diag($out);
@st = stat('/etc/campaign/scheduler.conf');
is(sprintf('%04o %s', $st[2] & 07777, scalar getgrgid($st[5])), '0640 campaign',
   'the file keeps its mode through it (dpkg-statoverride)');
ok(-l '/etc/nginx/modules-enabled/50-mod-http-campaign.conf',
   'the module stays enabled');

$out = `dpkg -r @PKGS 2>&1`;
is($?, 0, 'dpkg -r removes both') or diag($out);
ok(!-e '/usr/sbin/campaign-scheduler' && !-e
   '/usr/lib/nginx/modules/ngx_http_campaign_module.so', 'the programs go');
ok(-e '/etc/campaign/scheduler.conf', 'the conffile stays until a purge');
ok(!-e '/etc/nginx/modules-enabled/50-mod-http-campaign.conf',
   'the module is no longer enabled');

$out = `dpkg --purge @PKGS 2>&1`;
is($?, 0, 'dpkg --purge removes both') or diag($out);
ok(!installed($_), "$_ is gone") for @PKGS;
my @left = grep { -e $_ && !-d $_ } map { @$_ } values %list;
is(join(' ', @left), '', 'no file of theirs is left');
ok(!-e '/etc/campaign', '/etc/campaign is gone with its conffile');
ok(!-e '/etc/nginx/modules-enabled/50-mod-http-campaign.conf'
   && !-l '/etc/nginx/modules-enabled/50-mod-http-campaign.conf.removed',
   'nothing of it in modules-enabled');
ok(!-e '/usr/share/campaign', '/usr/share/campaign is gone');
is(`dpkg-statoverride --list /etc/campaign/scheduler.conf`, '',
   'its statoverride is gone');
ok(defined getpwnam('campaign'),
   'the system user stays, as Debian keeps system users'
   . ($had_user ? '' : ' (this test then removes the one it made)'));

done_testing;
