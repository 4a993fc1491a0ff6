# The C unit tests (t/unit/*_test.c), built by make into build/unit (or
# build/unit-asan under ASan+UBSan): their TAP is passed through.
use strict;
use warnings;
use FindBin;
use Test::More;

my $dir = "$FindBin::Bin/../build/" . ($ENV{CAMPAIGN_ASAN} ? 'unit-asan'
                                                           : 'unit');
my @tests = sort glob("$dir/*_test");
ok(scalar(@tests), "unit tests are built in $dir") or BAIL_OUT('run make');

for my $test (@tests) {
    local $ENV{ASAN_OPTIONS} = 'detect_leaks=1:abort_on_error=1';
    my $out = qx($test 2>&1);
    my $rc = $?;
    my ($name) = $test =~ m{([^/]+)$};
    is($rc, 0, "$name passes") or diag $out;
    my @failed = grep { /^not ok/ } split /\n/, $out;
    is(scalar(@failed), 0, "$name: no failed case") or diag join "\n", @failed;
    unlike($out, qr/runtime error|Sanitizer/, "$name: no sanitizer report");
    note $out;
}

done_testing;
