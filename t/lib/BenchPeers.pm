package BenchPeers;

# The peers make bench measures ours against (issue 14; the code is in
# t/bench/peers/, the npm packages in build/bench-npm from
# scripts/bench-peers.sh). Each peer runs in a process group of its own, so
# that stopping it stops whatever it forked (node's cluster workers,
# uvicorn's); every one still running is stopped at exit, and on INT or
# TERM, which would otherwise end the bench without its END blocks.

use strict;
use warnings;
use Carp qw(croak);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use CampaignTest;

our $DIR = "$CampaignTest::ROOT/t/bench/peers";
our $NPM = "$CampaignTest::ROOT/build/bench-npm";
my @live;

$SIG{INT} = $SIG{TERM} = sub { stop_all(); exit 130 };

sub check_installed {
    -d "$NPM/node_modules"
        or croak "no peers in $NPM: scripts/bench-peers.sh $NPM "
               . '(make bench runs it)';
}

# The bench's Postgres as node-postgres, asyncpg and the job queues take it
sub dsn {
    my ($t) = @_;
    return "postgresql://campaign\@127.0.0.1:$t->{pg_port}/campaigns";
}

# "fastify 4.29.1, ..." of build/bench-npm, and the node that runs them
sub versions {
    my @names = @_;
    my @v = map {
        open(my $fh, '<', "$NPM/node_modules/$_/package.json")
            or croak "$_ is not installed in $NPM";
        local $/;
        "$_ " . decode_json(<$fh>)->{version};
    } @names;
    chomp(my $node = `node --version`);
    return join(', ', @v) . " (node $node)";
}

# "FastAPI 0.92.0, ..." of Debian's python3 packages the FastAPI peer uses
sub py_versions {
    my $v = `/usr/bin/python3 -c 'import sys, fastapi, uvicorn, asyncpg, uvloop
print("FastAPI %s, uvicorn %s, asyncpg %s, uvloop %s (python %s)" % (
    fastapi.__version__, uvicorn.__version__, asyncpg.__version__,
    uvloop.__version__, sys.version.split()[0]))' 2>&1`;
    croak "the FastAPI peer's packages: $v" if $?;
    chomp $v;
    return $v;
}

# start(t => $t, name => 'fastify', cmd => [...], env => {...}): the peer
# in a process group of its own, its output in the bench's logs/NAME.log
sub start {
    my (%o) = @_;
    my $log = "$o{t}{dir}/logs/$o{name}.log";
    my $pid = fork // die $!;
    if ($pid == 0) {
        setpgrp(0, 0);
        $ENV{NODE_PATH} = "$NPM/node_modules";
        $ENV{$_} = $o{env}{$_} for keys %{ $o{env} // {} };
        chdir $o{t}{dir};   # no config file of the repo's is picked up
        # a child that cannot exec must not run the bench's END blocks
        open(STDOUT, '>', $log) && open(STDERR, '>&', \*STDOUT)
            && exec @{ $o{cmd} };
        print STDERR "exec $o{cmd}[0]: $!\n";
        POSIX::_exit(127);
    }
    my $p = { pid => $pid, name => $o{name}, log => $log };
    push @live, $p;
    return $p;
}

sub log_tail {
    my ($p) = @_;
    open(my $fh, '<', $p->{log}) or return '';
    my @lines = <$fh>;
    splice(@lines, 0, @lines - 20) if @lines > 20;
    return join '', @lines;
}

# Stops the peer's whole group: TERM, then KILL after 5 s
sub stop {
    my ($p) = @_;
    return unless $p->{pid};
    my $pid = delete $p->{pid};
    kill 'TERM', -$pid;
    my $deadline = time + 5;
    while (time < $deadline && kill(0, -$pid)) {
        waitpid($pid, WNOHANG);
        sleep 0.05;
    }
    kill 'KILL', -$pid if kill 0, -$pid;
    waitpid($pid, 0);
    @live = grep { $_ != $p } @live;
}

sub stop_all { stop($_) for my @all = @live }   # stop() edits @live

# run(t => $t, name => ..., cmd => [...], timeout => s): a peer that ends by
# itself (the queue benchmarks); its output, or a death with its log's end
sub run {
    my (%o) = @_;
    my $p = start(%o);
    my $deadline = time + ($o{timeout} // 300);
    my $status;
    while (time < $deadline) {
        if (waitpid($p->{pid}, WNOHANG) == $p->{pid}) {
            $status = $?;
            kill 'KILL', -$p->{pid} if kill 0, -$p->{pid};
            delete $p->{pid};
            @live = grep { $_ != $p } @live;
            last;
        }
        sleep 0.1;
    }
    unless (defined $status) {
        stop($p);
        croak "$o{name} did not finish in $o{timeout} s; its log ends:\n"
            . log_tail($p);
    }
    croak "$o{name} failed ($status); its log ends:\n" . log_tail($p)
        if $status != 0;
    open(my $fh, '<', $p->{log}) or die $!;
    local $/;
    return <$fh>;
}

END {
    local $?;
    stop_all();
}

1;
