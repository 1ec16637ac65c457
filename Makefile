# posterior — the README's commands. Every target installs what it needs first
# (scripts/bootstrap.sh is idempotent and quiet when nothing is missing).
BUILD ?= build
JOBS  ?= $(shell nproc)
# make fuzz: every libFuzzer target of tests/fuzz for FUZZ_SECONDS each (or only
# FUZZ_TARGETS), in a clang build of its own; make fuzz-ci: 5 s each (CI)
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
# WERROR=ON: compiler warnings are errors (CI: .ci/run). make test-clang: the default
# variant built with clang; make test-native: a -march=native build (POSTERIOR_NATIVE)
# and the test that its results agree with the default build's.
WERROR       ?= OFF
CLANG_BUILD  ?= build-clang
NATIVE_BUILD ?= build-native
CMAKE_FLAGS   = -DCMAKE_BUILD_TYPE=Release -DPOSTERIOR_WERROR=$(WERROR)

.PHONY: all bootstrap build test test-clang test-native test-sanitize demo bench conformance fuzz-build fuzz fuzz-ci clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) > $(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; exit 1; }
	@grep -E 'warning:|error:' $(BUILD)/build.log || true

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-clang: bootstrap
	@cmake -S . -B $(CLANG_BUILD) -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(CLANG_BUILD) -j$(JOBS) > $(CLANG_BUILD)/build.log 2>&1 || { cat $(CLANG_BUILD)/build.log; exit 1; }
	@grep -E 'warning:|error:' $(CLANG_BUILD)/build.log || true
	@cd $(CLANG_BUILD) && ctest --output-on-failure -j$(JOBS)

test-native: build
	@cmake -S . -B $(NATIVE_BUILD) -DPOSTERIOR_NATIVE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(NATIVE_BUILD) -j$(JOBS) --target posterior > $(NATIVE_BUILD)/build.log 2>&1 || { cat $(NATIVE_BUILD)/build.log; exit 1; }
	@cd $(BUILD) && POSTERIOR_NATIVE_BIN=$(abspath $(NATIVE_BUILD))/posterior \
	    ctest --output-on-failure -R 'build/test_portable_native'

# Every test under AddressSanitizer + UndefinedBehaviorSanitizer (+ float-cast-overflow),
# in its own build folder; any report fails the test (halt_on_error, abort_on_error).
SAN_BUILD ?= build-sanitize
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-sanitize: bootstrap
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DPOSTERIOR_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j$(JOBS) > $(SAN_BUILD)/build.log 2>&1 || { cat $(SAN_BUILD)/build.log; exit 1; }
	@grep -E 'warning:|error:' $(SAN_BUILD)/build.log || true
	@cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j$(JOBS)

# The demo runs where it is built: the CLI built with -march=native (POSTERIOR_NATIVE, in
# $(NATIVE_BUILD)), because the portable default is about 25% slower on the tiny model's
# training and sampling today (measured: docs/building.md) and the demo must fit 15 minutes.
demo: bootstrap
	@cmake -S . -B $(NATIVE_BUILD) -DPOSTERIOR_NATIVE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(NATIVE_BUILD) -j$(JOBS) --target posterior > $(NATIVE_BUILD)/build.log 2>&1 || { cat $(NATIVE_BUILD)/build.log; exit 1; }
	@bash scripts/demo.sh $(NATIVE_BUILD)

bench: build
	@bash bench/run.sh $(BUILD)

conformance: build
	@bash scripts/conformance.sh $(BUILD)

fuzz-build: bootstrap
	@cmake -S . -B $(FUZZ_BUILD) -DPOSTERIOR_FUZZ=ON -DCMAKE_C_COMPILER=clang \
	       -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) > $(FUZZ_BUILD)/build.log 2>&1 || { cat $(FUZZ_BUILD)/build.log; exit 1; }

fuzz: fuzz-build
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci:
	@FUZZ_SEED=1 $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) $(CLANG_BUILD) $(NATIVE_BUILD)
