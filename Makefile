# Thin wrapper over meson: `make check` and `make demo` are the two commands of the README.
# Both install what they need on a Debian 12 machine (as root) and build first.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
# Seconds each libFuzzer target runs in `make check`.
FUZZ_SECONDS ?= 60
MESON_TEST  = meson test --print-errorlogs --num-processes 2

.PHONY: all deps build build-asan build-fuzz check check-unit check-asan check-fuzz demo clean

all: build

deps:
	tools/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Dbuildtype=debug

# The libFuzzer targets only, every object instrumented for coverage, with the sanitizers.
$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link -Dbuildtype=debug

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

build-fuzz: deps $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ) fuzzers

# Everything: the sanitizer build runs the unit and integration suites (those that run our
# binaries directly), the normal build runs every suite, Docker included, and the fuzz build
# runs each libFuzzer target for FUZZ_SECONDS (a crash leaves its input in
# $(BUILD_FUZZ)/tests/fuzz/TARGET/).
check: build build-asan build-fuzz
	tools/ensure-dockerd.sh start
	rc=0; \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(MESON_TEST) -C $(BUILD_ASAN) --suite unit --suite integration || rc=1; \
	$(MESON_TEST) -C $(BUILD) || rc=1; \
	ACS_FUZZ_SECONDS=$(FUZZ_SECONDS) $(MESON_TEST) -C $(BUILD_FUZZ) --no-rebuild --suite fuzz || rc=1; \
	tools/ensure-dockerd.sh stop; \
	tools/test-summary.py $(BUILD_ASAN)/meson-logs/testlog.json $(BUILD)/meson-logs/testlog.json \
		$(BUILD_FUZZ)/meson-logs/testlog.json || rc=1; \
	exit $$rc

check-unit: build
	$(MESON_TEST) -C $(BUILD) --suite unit

check-fuzz: build-fuzz
	ACS_FUZZ_SECONDS=$(FUZZ_SECONDS) $(MESON_TEST) -C $(BUILD_FUZZ) --no-rebuild --suite fuzz

# The whole cluster on this machine, in the foreground; Ctrl-C stops it and removes its
# containers. Options: make demo DEMO_ARGS="--two-tier --placement binpack" (tools/demo.sh --help).
demo: build
	tools/demo.sh --build-dir $(BUILD) $(DEMO_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
