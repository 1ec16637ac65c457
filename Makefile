# posterior — the README's commands. Every target installs what it needs first
# (scripts/bootstrap.sh is idempotent and quiet when nothing is missing).
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: all bootstrap build test demo bench conformance clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) > $(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; exit 1; }
	@grep -E 'warning:|error:' $(BUILD)/build.log || true

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash bench/run.sh $(BUILD)

conformance: build
	@bash scripts/conformance.sh $(BUILD)

clean:
	rm -rf $(BUILD)
