# SPDX-License-Identifier: Apache-2.0
# Thin wrapper around CMake.  The two set-up commands of the README:
#   make demo   install what is missing, build, run the main job end to end
#   make check  install what is missing, build twice (-Werror, ASan+UBSan),
#               run the whole test suite on both
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_RUNS  ?= 10000000
FUZZ_SECONDS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure -j$(JOBS)
MODULES    := common;pkcs11;policy;acme;agent;net;testca;tests
# make install DESTDIR=/tmp/root PREFIX=/usr
PREFIX     ?= /usr/local
DESTDIR    ?=

# Leaks inside SoftHSM are not ours; full unwinding lets the suppression
# see the module's frames.
SAN_ENV = ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_leaks=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
          LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp

.PHONY: all deps build build-asan check check-normal check-asan demo \
        format format-check clean fuzz install

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCSA_WERROR=ON \
	      -DCSA_SUBDIRS="$(MODULES)" -DCMAKE_INSTALL_PREFIX="$(PREFIX)"
	cmake --build $(BUILD) -j$(JOBS)

# The programs, manual pages, systemd unit, sysusers.d entry, docs and
# examples (CMake's GNUInstallDirs layout under PREFIX).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCSA_WERROR=ON \
	      -DCSA_SUBDIRS="$(MODULES)" \
	      -DCSA_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)

check: deps format-check check-normal check-asan

check-normal: build
	cd $(BUILD) && ctest $(CTEST_ARGS)

check-asan: build-asan
	cd $(ASAN_BUILD) && $(SAN_ENV) ctest $(CTEST_ARGS)

demo: build
	scripts/demo.sh $(BUILD)

# Every libFuzzer harness for FUZZ_RUNS executions (clang, ASan+UBSan,
# libraries instrumented too); prints a table for docs/security.md.
# make check replays the same parsers through their mutation loops.
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	      -DCSA_SUBDIRS="$(MODULES)" -DCSA_SANITIZE=ON \
	      -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_RUNS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@files=$$(git ls-files '*.c' '*.h'); \
	if ! clang-format --dry-run --Werror $$files; then \
	  echo "make format-check: run 'make format'"; exit 1; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
