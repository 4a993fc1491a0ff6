# make run   installs what is missing, builds, starts everything on loopback
# make test  installs, builds, runs every test, then again under ASan+UBSan

BUILD   := build
MODULE  := $(BUILD)/release/ngx_http_campaign_module.so
SCHED   := $(BUILD)/campaign-scheduler
SCHED_ASAN := $(BUILD)/asan/campaign-scheduler
ASAN    := $(BUILD)/asan/ngx_http_campaign_module.so
SOURCES := config docs/openapi.json \
           $(wildcard ngx_campaign_module/*.[ch] common/*.[ch])

SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
CFLAGS   := -g -O2 -Wall -Wextra -Werror -std=gnu11

UNIT_TESTS := $(patsubst t/unit/%.c,%,$(wildcard t/unit/*_test.c))
UNIT       := $(addprefix $(BUILD)/unit/,$(UNIT_TESTS))
UNIT_ASAN  := $(addprefix $(BUILD)/unit-asan/,$(UNIT_TESTS))
COMMON     := common/pg_conninfo.c common/hmac.c common/prom.c
SCHED_SRCS := $(filter-out scheduler/main.c,$(wildcard scheduler/*.c)) $(COMMON)
SCHED_DEPS := $(wildcard scheduler/*.[ch] common/*.[ch])
# the scheduler's HTTP side alone, a reference t/bench/dispatch measures
HTTP_ONLY  := $(BUILD)/bench/http_only

.PHONY: all deps build asan npm-tools test test-release test-asan run bench clean deb \
        fuzz fuzz-build test-fuzz test-valgrind chaos test-chaos bench-peers

all: build

deps:
	@scripts/deps.sh

PGINC    := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
SCHED_LIBS := -lpq -lsystemd -lyajl -lcurl -lcrypto -lm -pthread

build: deps $(MODULE) $(SCHED) $(UNIT) $(HTTP_ONLY)

asan: deps $(ASAN) $(SCHED_ASAN) $(UNIT_ASAN)

# The scheduler's sources are compiled once into objects that the daemon
# and each unit test link (and again for ASan); any header change remakes
# them all. EXTRA_*: a package build's hardening flags (debian/rules)
OBJ        := $(BUILD)/obj
OBJ_ASAN   := $(BUILD)/obj-asan
SCHED_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(SCHED_SRCS))
SCHED_OBJS_ASAN := $(patsubst %.c,$(OBJ_ASAN)/%.o,$(SCHED_SRCS))

$(OBJ)/%.o: %.c $(SCHED_DEPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -I$(PGINC) -c -o $@ $<

$(OBJ_ASAN)/%.o: %.c $(SCHED_DEPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANITIZE) -O1 -I$(PGINC) -c -o $@ $<

$(SCHED): $(OBJ)/scheduler/main.o $(SCHED_OBJS)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(EXTRA_LDFLAGS) $(SCHED_LIBS)

$(HTTP_ONLY): t/bench/http_only.c scheduler/http.c scheduler/loop.c \
              scheduler/log.c $(wildcard scheduler/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -iquote scheduler -o $@ $(filter %.c,$^) -lcurl

$(SCHED_ASAN): $(OBJ_ASAN)/scheduler/main.o $(SCHED_OBJS_ASAN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(SCHED_LIBS)

$(BUILD)/unit/%_test: t/unit/%_test.c $(SCHED_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(PGINC) -o $@ $^ $(SCHED_LIBS)

$(BUILD)/unit-asan/%_test: t/unit/%_test.c $(SCHED_OBJS_ASAN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANITIZE) -O1 -I$(PGINC) -o $@ $^ $(SCHED_LIBS)

$(MODULE): $(SOURCES) scripts/build-module.sh
	@scripts/build-module.sh $(BUILD)/release

$(ASAN): $(SOURCES) scripts/build-module.sh
	@scripts/build-module.sh $(BUILD)/asan "$(SANITIZE) -O1" "$(SANITIZE)"

# the npm tools of the tests (redocly's OpenAPI linter, axe-core for the
# console's pages), from the lockfile
REDOCLY := $(BUILD)/npm/node_modules/.bin/redocly

$(REDOCLY): t/openapi/package.json t/openapi/package-lock.json \
            scripts/npm-tools.sh
	@scripts/npm-tools.sh $(BUILD)/npm
	@touch $@

npm-tools: deps $(REDOCLY)

# the builds two at a time, then the two passes, then the chaos run beside
# the fuzz replay and valgrind's run (short, and light on the database)
test: deps
	$(MAKE) --no-print-directory -j2 build asan fuzz-build npm-tools
	$(MAKE) --no-print-directory test-release test-asan
	$(MAKE) --no-print-directory -j2 -Otarget test-chaos test-fuzz \
	    test-valgrind

# the longest first: prove runs them in this order, two at a time, and
# the short ones fill in at the end instead of one long one running alone
SLOW_TESTS := t/17-faults.t t/24-packages.t t/28-time.t t/23-metrics.t \
              t/31-console.t t/16-failover.t t/12-dispatch.t t/29-windows.t \
              t/06-recipients.t
# tests at once (make test JOBS=3 on a machine with more cores)
JOBS ?= 2
TESTS := $(SLOW_TESTS) $(filter-out $(SLOW_TESTS),$(sort $(wildcard t/*.t)))

test-release:
	prove -j$(JOBS) $(TESTS)

ASAN_ENV := CAMPAIGN_ASAN=1 CAMPAIGN_MODULE=$(CURDIR)/$(ASAN) \
            CAMPAIGN_ASAN_PRELOAD=$$(gcc -print-file-name=libasan.so)

test-asan:
	$(ASAN_ENV) prove -j$(JOBS) $(TESTS)

# the scheduler's unit tests and a short dispatch run under valgrind
test-valgrind:
	t/valgrind/run

# three schedulers, kills, Postgres restarts, mixed load; under ASan
CHAOS_SECONDS ?= 600

chaos: build asan
	$(ASAN_ENV) CHAOS_SECONDS=$(CHAOS_SECONDS) t/chaos/run

test-chaos:
	$(ASAN_ENV) CHAOS_SECONDS=60 t/chaos/run

# libFuzzer targets (t/fuzz/) under ASan+UBSan; make fuzz runs each for
# FUZZ_SECONDS and grows t/fuzz/corpus; make test replays corpus and findings
FUZZ_SECONDS ?= 60

fuzz-build: build
	@scripts/build-fuzz.sh $(BUILD)/fuzz

fuzz: fuzz-build
	t/fuzz/run fuzz $(FUZZ_SECONDS)

test-fuzz:
	t/fuzz/run replay

run: build
	@scripts/run.sh

# libnginx-mod-http-campaign and campaign-scheduler, into build/deb/,
# checked by lintian
deb: deps
	@scripts/build-deb.sh

# the peers make bench measures ours against (issue 14; t/bench/peers/):
# npm packages from its lockfile into build/bench-npm, FastAPI and friends
# with apt-get; for make bench only, never make test
bench-peers: deps
	@scripts/bench-peers.sh $(BUILD)/bench-npm

bench: build bench-peers
	@t/bench/api
	@t/bench/timing
	@t/bench/metrics
	@t/bench/dispatch
	@t/bench/recipients
	@t/bench/failover

clean:
	rm -rf $(BUILD)
