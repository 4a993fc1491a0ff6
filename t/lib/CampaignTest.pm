package CampaignTest;

# The test bench: a private Postgres cluster (initdb in a temp folder), the
# migrations, and Debian's nginx with the module, all on loopback. Each test
# file gets its own, torn down (and its logs checked) at the end.

use strict;
use warnings;
use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy ();
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Test::More;

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $JSON = JSON::PP->new->canonical->allow_nonref;
my @live;

sub pg_bin {
    my ($name) = @_;
    my ($dir) = reverse sort glob('/usr/lib/postgresql/*/bin');
    croak 'no PostgreSQL server installed' unless $dir;
    return "$dir/$name";
}

# An RFC 3339 time $secs from now, in UTC.
sub iso_in {
    my ($secs) = @_;
    my $t = time + $secs;
    my @g = gmtime(int $t);
    return sprintf('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', $g[5] + 1900,
                   $g[4] + 1, @g[3, 2, 1, 0], ($t - int $t) * 1000);
}

# seconds since the epoch of the API's "2026-12-02T06:23:03.262Z"
sub epoch_of {
    my ($iso) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $f) =
        $iso =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$/
        or croak "not a timestamp: $iso";
    require Time::Local;
    return Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y) + ($f // 0);
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1) or die $!;
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Poll a condition until it holds or the deadline passes; never a bare sleep.
sub wait_for {
    my ($cond, $timeout, $what, $every) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep $every // 0.02;
    }
    croak 'timed out waiting for ' . ($what // 'a condition');
}

sub quiet {
    my (@cmd) = @_;
    open(my $saved, '>&', \*STDOUT) or die $!;
    open(STDOUT, '>', '/dev/null') or die $!;
    my $rc = system(@cmd);
    open(STDOUT, '>&', $saved) or die $!;
    return $rc;
}

sub as_pg {
    my (@cmd) = @_;
    return $> == 0 ? ('runuser', '-u', 'postgres', '--', @cmd) : @cmd;
}

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        workers    => $o{workers} // 1,
        pool       => $o{pool} // 4,
        timeout    => $o{timeout} // '3s',
        http_extra => $o{http_config} // '',
        loc_extra  => $o{location_config} // '',
        srv_extra  => $o{server_config} // '',
        migrate    => $o{migrate} // 1,
        database   => $o{database},
        # the module through pgbouncer (transaction pooling, no prepared
        # statements): CAMPAIGN_PGBOUNCER=transaction runs a file so
        pgbouncer  => $o{pgbouncer} // $ENV{CAMPAIGN_PGBOUNCER},
        module     => $ENV{CAMPAIGN_MODULE}
                      // "$ROOT/build/release/ngx_http_campaign_module.so",
        # how nginx.conf loads the module: Debian's way is
        # "include /etc/nginx/modules-enabled/*.conf;"
        load       => $o{load},
    }, $class;

    $self->{dir} = tempdir('campaign-test-XXXXXX', TMPDIR => 1,
                           CLEANUP => !$ENV{CAMPAIGN_KEEP});
    chmod 0755, $self->{dir};
    push @live, $self;

    $self->start_pg;
    if ($self->{pgbouncer}) {
        my $port = $self->start_pgbouncer($self->{pgbouncer});
        $self->{database} //= $self->conninfo($port);
        $self->{http_extra} .= "\n    campaign_database_prepare off;\n"
            if $self->{pgbouncer} eq 'transaction';
    }
    $self->start_nginx;
    return $self;
}

# A pgbouncer in front of this bench's Postgres, in a pool mode
# ('transaction' or 'session'); returns its port. Stopped with the bench.
sub start_pgbouncer {
    my ($self, $mode) = @_;
    my $n = ++$self->{npgbouncer};
    my $dir = "$self->{dir}/pgbouncer$n";
    mkdir $dir or die $!;
    my $port = free_port();
    open(my $fh, '>', "$dir/pgbouncer.ini") or die $!;
    print $fh <<"INI";
[databases]
campaigns = host=127.0.0.1 port=$self->{pg_port} dbname=campaigns
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = $mode
max_client_conn = 500
default_pool_size = 40
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    close $fh;
    open($fh, '>', "$dir/users.txt") or die $!;
    print $fh qq{"campaign" ""\n"postgres" ""\n};
    close $fh;
    system('chown', '-R', 'postgres', $dir) if $> == 0;
    quiet(as_pg('pgbouncer', '-d', "$dir/pgbouncer.ini")) == 0
        or die 'pgbouncer did not start';
    wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => $port) }, 10,
             'pgbouncer');
    push @{ $self->{pgbouncers} }, $dir;
    return $port;
}

sub stop_pgbouncers {
    my ($self) = @_;
    for my $dir (@{ delete $self->{pgbouncers} // [] }) {
        open(my $fh, '<', "$dir/pgbouncer.pid") or next;
        my $pid = <$fh>;
        kill 'TERM', $pid if $pid && $pid =~ /^(\d+)/;
    }
}

# A cluster initdb'd and migrated by scripts/migrate.sh once per state of
# sql/ (build/pg-template/<its digest>), which each bench that wants the
# migrations copies: initdb and the migrations cost a bench about 3 s, a
# copy a tenth of it. CAMPAIGN_PG_TEMPLATE=0 makes every bench its own.
sub pg_template {
    return undef if ($ENV{CAMPAIGN_PG_TEMPLATE} // '') eq '0';
    require Digest::SHA;
    my $sha = Digest::SHA->new(256);
    $sha->add(pg_bin('initdb'));
    for my $f (sort(glob("$ROOT/sql/*/*.sql")), "$ROOT/scripts/migrate.sh") {
        $sha->add($f);
        $sha->addfile($f);
    }
    my $base = "$ROOT/build/pg-template";
    my $dir = "$base/" . substr($sha->hexdigest, 0, 16);
    return "$dir/data" if -e "$dir/ready";
    system('mkdir', '-p', $base) == 0 or die "mkdir $base failed";
    open(my $lock, '>', "$base/lock") or die $!;
    flock($lock, 2) or die $!;              # one builder; the others wait
    return "$dir/data" if -e "$dir/ready";
    # older ones, and one a killed builder left half made
    system('rm', '-rf', grep { !m{/lock$} } glob("$base/*")) == 0
        or die "cleaning $base failed";
    my $tpl = bless { pg_dir => $dir, migrate => 1, template => 0 }, __PACKAGE__;
    $tpl->start_pg;
    $tpl->stop_pg;
    open(my $ready, '>', "$dir/ready") or die $!;
    close $ready;
    close $lock;
    return "$dir/data";
}

sub start_pg {
    my ($self) = @_;
    my $pgdir = $self->{pg_dir} //= "$self->{dir}/pg";
    unless (-d $pgdir) {
        mkdir $pgdir or die $!;
        system('chown', 'postgres', $pgdir) if $> == 0;
        $self->{pg_port} = free_port();
        my $tpl = $self->{migrate} && ($self->{template} // 1) && pg_template();
        if ($tpl) {
            system('cp', '-a', $tpl, "$pgdir/data") == 0
                or die 'copying the template cluster failed';
        } else {
            quiet(as_pg(pg_bin('initdb'), '-D', "$pgdir/data", '-A', 'trust',
                         '-U', 'postgres', '--no-sync', '-E', 'UTF8'))
                == 0 or die 'initdb failed';
            $self->{pg_fresh} = 1;
        }
    }
    quiet(as_pg(pg_bin('pg_ctl'), '-D', "$pgdir/data", '-l', "$pgdir/log",
                '-w', '-o', "-p $self->{pg_port} -k $pgdir "
                . '-c listen_addresses=127.0.0.1 -c fsync=off '
                . '-c max_connections=200 '
                # e.g. shared_preload_libraries for a benchmark's look
                . ($ENV{CAMPAIGN_PG_OPTIONS} // ''), 'start'))
        == 0 or die 'pg_ctl start failed';
    if (delete $self->{pg_fresh}) {
        $self->psql_as('postgres', 'postgres',
                       'CREATE ROLE campaign LOGIN');
        $self->psql_as('postgres', 'postgres',
                       'CREATE DATABASE campaigns OWNER campaign');
        $self->migrate if $self->{migrate};
    }
}

# scripts/migrate.sh on this bench's database
sub migrate {
    my ($self) = @_;
    system("$ROOT/scripts/migrate.sh", '-h', '127.0.0.1', '-p',
           $self->{pg_port}, '-U', 'campaign', '-d', 'campaigns') == 0
        or die 'migrations failed';
}

sub stop_pg {
    my ($self, $mode) = @_;
    quiet(as_pg(pg_bin('pg_ctl'), '-D', "$self->{pg_dir}/data", '-m',
                $mode // 'fast', '-w', 'stop'));
}

# A streaming standby of this bench's Postgres (pg_basebackup -R), on a
# port of its own; returns the port. Stopped with the bench.
sub start_standby {
    my ($self) = @_;
    my $dir = "$self->{dir}/standby";
    mkdir $dir or die $!;
    system('chown', 'postgres', $dir) if $> == 0;
    my $port = free_port();
    quiet(as_pg(pg_bin('pg_basebackup'), '-h', '127.0.0.1', '-p',
                $self->{pg_port}, '-U', 'postgres', '-D', "$dir/data", '-R',
                '-X', 'stream', '-c', 'fast')) == 0
        or die 'pg_basebackup failed';
    quiet(as_pg(pg_bin('pg_ctl'), '-D', "$dir/data", '-l', "$dir/log",
                '-w', '-o', "-p $port -k $dir -c listen_addresses=127.0.0.1 "
                . '-c fsync=off -c max_connections=200', 'start')) == 0
        or die 'the standby did not start';
    $self->{standby} = { dir => $dir, port => $port };
    wait_for(sub {
        my $in = `psql -X -At -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null`;
        $in =~ /^t/;
    }, 20, 'the standby to stream');
    return $port;
}

# The primary stops and the standby is promoted: from now on it is this
# bench's Postgres (psql, stop_pg and start_pg go to it).
sub fail_over {
    my ($self) = @_;
    my $sb = delete $self->{standby} or croak 'no standby';
    $self->stop_pg('fast');
    quiet(as_pg(pg_bin('pg_ctl'), '-D', "$sb->{dir}/data", '-w',
                'promote')) == 0 or die 'promote failed';
    $self->{old_primary} = $self->{pg_dir};
    $self->{pg_dir} = $sb->{dir};
    $self->{pg_port} = $sb->{port};
}

# A conninfo of both, primary first, that follows a failover.
sub conninfo_both {
    my ($self) = @_;
    return "host=127.0.0.1,127.0.0.1 port=$self->{pg_port},"
         . "$self->{standby}{port} dbname=campaigns user=campaign "
         . 'target_session_attrs=read-write';
}

sub psql_as {
    my ($self, $user, $db, $sql) = @_;
    open(my $fh, '-|', 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
         '-h', '127.0.0.1', '-p', $self->{pg_port}, '-U', $user, '-d', $db,
         '-c', $sql) or die $!;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    die "psql failed: $sql\n" if $?;
    $out =~ s/\s+\z//;
    return $out;
}

sub psql {
    my ($self, $sql) = @_;
    return $self->psql_as('campaign', 'campaigns', $sql);
}

sub key {
    my ($self, $tenant) = @_;
    return $self->psql("SELECT campaign.create_api_key('$tenant', 'test')");
}

sub start_nginx {
    my ($self) = @_;
    my $d = $self->{dir};
    $self->{port} //= free_port();
    mkdir "$d/logs";
    mkdir "$d/asan";
    # "load_module modules/..." is relative to the prefix (-p): Debian's
    # prefix has this link too
    symlink '/usr/lib/nginx/modules', "$d/modules" unless -e "$d/modules";
    chmod 01777, "$d/asan";
    open(my $fh, '>', "$d/nginx.conf") or die $!;
    print $fh <<"CONF";
@{[ $self->{load} // "load_module $self->{module};" ]}
daemon off;
master_process on;
worker_processes $self->{workers};
error_log $d/logs/error.log info;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body;
    campaign_database "@{[ $self->{database} // $self->conninfo ]}";
    campaign_database_pool $self->{pool};
    campaign_timeout $self->{timeout};
    $self->{http_extra}
    server {
        listen 127.0.0.1:$self->{port};
        location /v1/ {
            campaign_api;
            $self->{loc_extra}
        }
        location = /metrics {
            campaign_metrics;
        }
        $self->{srv_extra}
    }
}
CONF
    close $fh;

    # no abort_on_error: a report is a file in asan/, and a worker that
    # fails exits non-zero, which nginx logs; LeakSanitizer's own tracer
    # can crash under this VM's ptrace, and that must not look like ours
    local $ENV{ASAN_OPTIONS} = "log_path=$d/asan/asan:detect_leaks=1"
        if $ENV{CAMPAIGN_ASAN};
    local $ENV{UBSAN_OPTIONS} = "log_path=$d/asan/ubsan:print_stacktrace=1:"
        . 'halt_on_error=1' if $ENV{CAMPAIGN_ASAN};
    # a copy beside the logs: nginx's workers (nobody) may not reach the
    # clone (mktemp -d is 0700)
    if ($ENV{CAMPAIGN_ASAN}) {
        File::Copy::copy("$ROOT/t/lsan.supp", "$d/lsan.supp")
            or die "lsan.supp: $!";
        chmod 0644, "$d/lsan.supp";
    }
    local $ENV{LSAN_OPTIONS} = "suppressions=$d/lsan.supp:"
        . "print_suppressions=0"
        if $ENV{CAMPAIGN_ASAN};
    local $ENV{LD_PRELOAD} = $ENV{CAMPAIGN_ASAN_PRELOAD}
        if $ENV{CAMPAIGN_ASAN};

    my $pid = fork // die $!;
    if ($pid == 0) {
        open STDOUT, '>>', "$d/logs/stdout.log";
        open STDERR, '>>', "$d/logs/stderr.log";
        exec 'nginx', '-p', $d, '-c', "$d/nginx.conf", '-e',
             "$d/logs/error.log";
        exit 127;
    }
    $self->{nginx_pid} = $pid;
    $self->{http} = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
    wait_for(sub {
        my $r = HTTP::Tiny->new(timeout => 1)
            ->get("http://127.0.0.1:$self->{port}/v1/healthz");
        $r->{status} == 200;
    }, 15, 'nginx to answer');
}

sub stop_nginx {
    my ($self) = @_;
    my $pid = delete $self->{nginx_pid} or return;
    kill 'QUIT', $pid;
    my $deadline = time + 15;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# The conninfo of this bench's database (or another port's).
sub conninfo {
    my ($self, $port) = @_;
    return "host=127.0.0.1 port=" . ($port // $self->{pg_port})
         . ' dbname=campaigns user=campaign';
}

# A campaign-scheduler on this bench's Postgres: start_scheduler(conf =>
# "extra directives", database => conninfo, env => { NAME => value },
# id => "the id directive's argument, as written in the file")
# returns a handle; its log is $h->{log}.
sub start_scheduler {
    my ($self, %o) = @_;
    my $n = ++$self->{nsched};
    my $conf = "$self->{dir}/scheduler$n.conf";
    # every scheduler of this build serves /metrics (done() lints it)
    my $metrics;
    if (!$o{bin} && ($o{conf} // '') !~ /^\s*metrics\s/m) {
        $metrics = free_port();
    }
    open(my $fh, '>', $conf) or die $!;
    print $fh 'database "' . ($o{database} // $self->{database}
                              // $self->conninfo) . "\";\n"
            . "id " . ($o{id} // "sched$n") . ";\n"
            . ($metrics ? "metrics 127.0.0.1:$metrics;\n" : '')
            . ($o{conf} // '');
    close $fh;
    my $bin = $o{bin} // ($ENV{CAMPAIGN_ASAN}
                          ? "$ROOT/build/asan/campaign-scheduler"
                          : "$ROOT/build/campaign-scheduler");
    my $log = "$self->{dir}/logs/scheduler$n.log";
    my $pid = fork // die $!;
    if ($pid == 0) {
        $ENV{ASAN_OPTIONS} = "log_path=$self->{dir}/asan/sched:"
                           . 'detect_leaks=1';
        $ENV{UBSAN_OPTIONS} = "log_path=$self->{dir}/asan/sched-ub:"
                            . 'print_stacktrace=1:halt_on_error=1';
        $ENV{$_} = $o{env}{$_} for keys %{ $o{env} // {} };
        open STDERR, '>>', $log;
        exec @{ $o{wrap} // [] }, $bin, '-c', $conf;
        exit 127;
    }
    my $h = { pid => $pid, log => $log, conf => $conf, id => "sched$n",
              metrics => $metrics && "http://127.0.0.1:$metrics/metrics" };
    push @{ $self->{schedulers} }, $h;
    my $ready = eval {
        wait_for(sub { -e $log && `cat $log` =~ /event=ready/ },
                 $o{wrap} ? 60 : 20, 'the scheduler to be ready');
    };
    unless ($ready) {
        my @lines = -e $log ? split(/\n/, `cat $log`) : ();
        splice(@lines, 0, @lines - 20) if @lines > 20;
        croak "timed out waiting for the scheduler $h->{id} to be ready; "
            . "its log ends:\n" . join("\n", @lines);
    }
    return $h;
}

# The provider stub (scripts/provider-stub) on a free port, recording to
# $self->{deliveries}; returns its base URL.
sub start_provider {
    my ($self) = @_;
    return $self->{provider_url} if $self->{provider_url};
    my $port = free_port();
    $self->{deliveries} = "$self->{dir}/deliveries.jsonl";
    my $pid = fork // die $!;
    if ($pid == 0) {
        exec "$ROOT/scripts/provider-stub", $port, $self->{deliveries};
        exit 127;
    }
    $self->{provider_pid} = $pid;
    wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => $port) }, 10,
             'the provider stub');
    return $self->{provider_url} = "http://127.0.0.1:$port";
}

sub deliveries {
    my ($self) = @_;
    open(my $fh, '<', $self->{deliveries}) or return ();
    return map { $JSON->decode($_) } <$fh>;
}

# How many requests the provider stub has had (cheaper than decoding).
sub delivered {
    my ($self) = @_;
    open(my $fh, '<', $self->{deliveries}) or return 0;
    my $n = 0;
    $n++ while <$fh>;
    return $n;
}

# Idempotency-Keys the provider answered more than once with 200: the
# recipients a person would have had twice.
sub repeats {
    my ($self) = @_;
    my %n;
    $n{ $_->{key} }++ for grep { $_->{status} == 200 } $self->deliveries;
    return scalar grep { $_ > 1 } values %n;
}

sub stop_scheduler {
    my ($self, $h, $signal) = @_;
    return unless $h->{pid};
    kill $signal // 'TERM', $h->{pid};
    waitpid($h->{pid}, 0);
    $h->{status} = $?;
    delete $h->{pid};
    return $h->{status};
}

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}$path";
}

# req(METHOD, PATH, json => DATA | body => RAW, key => KEY, headers => {...},
#     by_nginx => 1 where nginx itself may answer instead of the module, as
#     limit_req or client_max_body_size do: such an answer is not the API's)
sub req {
    my ($self, $method, $path, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} //= "Bearer $o{key}" if defined $o{key};
    my %args = (headers => \%h);
    if (exists $o{json}) {
        $args{content} = $JSON->encode($o{json});
        $h{'Content-Type'} //= 'application/json';
    } elsif (defined $o{body}) {
        $args{content} = $o{body};
    }
    my $http = $o{fresh} ? HTTP::Tiny->new(timeout => 30) : $self->{http};
    my $r = $http->request($method, $self->url($path), \%args);
    my $json = eval { $JSON->decode($r->{content}) } if length($r->{content} // '');
    $self->record_answer($method, $path, $r) unless $o{by_nginx};
    return { status => $r->{status}, headers => $r->{headers},
             body => $r->{content}, json => $json };
}

# Every answer req() receives goes to answers.jsonl, for done() to check
# against docs/openapi.json (t/tools/openapi-check). Appended a line at a
# time, so the children of parallel() may write too.
my $ANSWER_JSON = JSON::PP->new->canonical->ascii;
sub record_answer {
    my ($self, $method, $path, $r) = @_;
    return if $r->{status} == 599;      # HTTP::Tiny's own: nothing answered
    my %h = %{ $r->{headers} // {} };
    delete @h{qw(date server connection keep-alive)};
    my $line = $ANSWER_JSON->encode({
        method => $method, path => $path, status => $r->{status} + 0,
        headers => \%h, body => $r->{content} // '' }) . "\n";
    open(my $fh, '>>:raw', "$self->{dir}/answers.jsonl") or die $!;
    syswrite($fh, $line) == length($line) or die $!;
    close $fh;
}

# What t/tools/openapi-check says of the answers received: '' when
# docs/openapi.json describes every one.
sub check_answers {
    my ($self) = @_;
    my $f = "$self->{dir}/answers.jsonl";
    return '' unless -s $f;
    my $out = `$ROOT/t/tools/openapi-check $ROOT/docs/openapi.json $f 2>&1`;
    return $? == 0 ? '' : ($out || "openapi-check failed: $?\n");
}

# Sends raw bytes on a fresh connection; returns all the server answered.
sub raw {
    my ($self, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}) or die $!;
    print $s $bytes;
    shutdown($s, 1);
    local $/;
    my $answer = <$s> // '';
    close $s;
    return $answer;
}

# Runs $n copies of $code in child processes, all at once (and $n2 of
# $code2, ...: each copy gets its index in its group); returns what each
# returned, in order.
sub parallel {
    my @groups = @_;
    my @kids;
    while (my ($n, $code) = splice(@groups, 0, 2)) {
        for my $i (0 .. $n - 1) {
            pipe(my $r, my $w) or die $!;
            my $pid = fork // die $!;
            if ($pid == 0) {
                close $r;
                my $out = eval { $code->($i) } // "died: $@";
                print $w $out;
                close $w;
                POSIX::_exit(0);
            }
            close $w;
            push @kids, [$pid, $r];
        }
    }
    my @out;
    for my $k (@kids) {
        local $/;
        my $fh = $k->[1];
        push @out, scalar <$fh>;
        waitpid($k->[0], 0);
    }
    return @out;
}

sub error_log {
    my ($self) = @_;
    open(my $fh, '<', "$self->{dir}/logs/error.log") or return '';
    local $/;
    return <$fh>;
}

# What must never be in the logs: a crash, an alert, a sanitizer report.
sub check_logs {
    my ($self, %o) = @_;
    my $log = $self->error_log;
    my @bad = grep { /\[(alert|emerg|crit)\]|exited on|signal (6|11|4|8|7)\b/ }
              grep { !$o{expected} || !/$o{expected}/ }
              split /\n/, $log;
    for my $f ("$self->{dir}/logs/stderr.log",
               glob("$self->{dir}/logs/scheduler*.log")) {
        open(my $fh, '<', $f) or next;
        push @bad, grep { /runtime error|ERROR: \w+Sanitizer/ } <$fh>;
    }
    is(join('', map { $_->{status} // 0 } @{ $self->{schedulers} // [] }),
       '0' x @{ $self->{schedulers} // [] },
       'every scheduler stopped with exit status 0')
        if $self->{schedulers} && !$o{schedulers_killed};
    is(join("\n", @bad), '', 'no crash, alert or emergency in error.log');
    unless ($o{db_errors_expected}) {
        my @db = grep { /campaign: (query failed|unexpected answer)/ }
                 split /\n/, $log;
        for my $f (glob("$self->{dir}/logs/scheduler*.log")) {
            open(my $fh, '<', $f) or next;
            push @db, grep { /event=query_failed/ } <$fh>;
        }
        is(join("\n", @db), '', 'no failed query in error.log');
    }
    my @reports = glob("$self->{dir}/asan/*");
    my $text = join '', map { local (@ARGV, $/) = ($_); <> } @reports;
    # the tool failing (its tracer crashing) is not a finding; say so
    if ($text =~ /LeakSanitizer has encountered a fatal error/
        && $text !~ /ERROR: (AddressSanitizer|LeakSanitizer: detected)|runtime error/)
    {
        diag("LeakSanitizer itself failed at a process exit (not a report):"
             . "\n$text");
        $text = '';
    }
    is($text, '', 'no sanitizer report');
}

sub stop_provider {
    my ($self) = @_;
    my $pid = delete $self->{provider_pid} or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

sub stop_standby {
    my ($self) = @_;
    my $sb = delete $self->{standby} or return;
    quiet(as_pg(pg_bin('pg_ctl'), '-D', "$sb->{dir}/data", '-m', 'fast',
                '-w', 'stop'));
}

# What nginx's and each live scheduler's /metrics say now, each run
# through promtool's linter (Debian's prometheus package): its complaints.
sub lint_metrics {
    my ($self) = @_;
    # a scheduler whose file a test rewrote (and reloaded) may serve none
    my @urls = grep { $_ } ($self->{nginx_pid} ? $self->url('/metrics') : ()),
        map { $_->{pid} && `cat $_->{conf}` =~ /^metrics /m ? $_->{metrics}
                                                          : () }
            @{ $self->{schedulers} // [] };
    my $out = '';
    for my $url (@urls) {
        my $r = HTTP::Tiny->new(timeout => 10)->get($url);
        if ($r->{status} != 200) {
            $out .= "$url: $r->{status}\n";
            next;
        }
        my $f = "$self->{dir}/metrics.txt";
        open(my $fh, '>', $f) or die $!;
        print $fh $r->{content};
        close $fh;
        my $lint = `promtool check metrics < $f 2>&1`;
        $out .= "$url: $lint" if $? != 0 || $lint ne '';
    }
    return $out;
}

sub done {
    my ($self, %o) = @_;
    is($self->check_answers, '', 'docs/openapi.json describes every answer '
       . 'received');
    is($self->lint_metrics, '', 'promtool check metrics passes on every '
       . '/metrics') unless $o{no_metrics};
    $self->stop_scheduler($_) for @{ $self->{schedulers} // [] };
    $self->stop_provider;
    $self->stop_nginx;
    $self->check_logs(%o);
    $self->stop_pgbouncers;
    $self->stop_pg;
    $self->stop_standby;
    @live = grep { $_ != $self } @live;
}

END {
    local $?;       # stopping servers runs commands: keep the exit status
    for my $t (@live) {
        $t->stop_scheduler($_) for @{ $t->{schedulers} // [] };
        $t->stop_provider;
        $t->stop_nginx;
        $t->stop_pgbouncers;
        $t->stop_pg;
        $t->stop_standby;
    }
}

1;
