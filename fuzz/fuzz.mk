# Fuzzing: cargo-fuzz (libFuzzer) targets in fuzz/fuzz_targets, one per
# decoder of bytes another PD or a file controls (fuzz/README.md). Included
# by the root Makefile.
#
#   make fuzz          every target for FUZZ_RUNS executions, one after the
#                      other; fails on the first crash (the input is left in
#                      fuzz/artifacts/<target>/)
#   make fuzz-smoke    every target for FUZZ_SMOKE_RUNS executions (CI)
#   make fuzz-build    build the targets only
#
# Needs cargo-fuzz (cargo install cargo-fuzz --locked) and nightly features:
# the `nightly` toolchain if rustup has one (FUZZ_TOOLCHAIN), else the
# default toolchain with RUSTC_BOOTSTRAP=1 (a machine whose one toolchain is
# stable, as CI's may be).
# The corpora grow in fuzz/corpus/<target>/ (not committed); they start from
# fuzz/seeds/<target>/ and from the repository's own system descriptions and
# Tingu specifications, copied in by fuzz-corpus. One libFuzzer job, one
# worker: the machine is shared.

FUZZ_TARGETS ?= fault_decode serial_messages observers persist_region sdf_parse \
	tingu_compile fault_plan stream_config
FUZZ_RUNS ?= 10000000
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_TOOLCHAIN ?= $(shell rustup run nightly rustc --version > /dev/null 2>&1 && echo nightly)
# Extra libFuzzer options, e.g. FUZZ_FLAGS=-max_total_time=600.
FUZZ_FLAGS ?=
# AddressSanitizer (the region, plan and channel code reads raw pointers),
# except, in `make fuzz`, for the targets in FUZZ_NOSAN: they reach no unsafe
# code, and without it tingu_compile runs four times as fast (its
# diagnostics allocate a lot). The smoke run builds one set: all with ASan.
FUZZ_SANITIZER ?= address
FUZZ_NOSAN ?= sdf_parse tingu_compile
# Release build with debug assertions (overflow checks included); one target
# directory per sanitizer, so that neither set rebuilds the other.
fuzz_flags = --debug-assertions --sanitizer $(1) --target-dir target/$(1)
FUZZ_BUILD_FLAGS = $(call fuzz_flags,$(FUZZ_SANITIZER))
FUZZ_CARGO_FUZZ = $(if $(FUZZ_TOOLCHAIN),$(CARGO) +$(FUZZ_TOOLCHAIN),RUSTC_BOOTSTRAP=1 $(CARGO)) fuzz
FUZZ_CARGO = cd $(ROOT)/fuzz && $(FUZZ_CARGO_FUZZ)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-corpus

fuzz-build:
	$(FUZZ_CARGO) build $(FUZZ_BUILD_FLAGS)

# Seed the corpora with what the repository holds (missing ones are fine).
fuzz-corpus:
	@for t in $(FUZZ_TARGETS) sdf_parse tingu_compile; do mkdir -p fuzz/corpus/$$t; done
	@cp system.xml tests/systems/*.xml support/sdf/tests/data/*.xml fuzz/corpus/sdf_parse/
	@find . -name '*.tingu' -not -path './target/*' -not -path './build/*' -not -path './fuzz/*' \
		| while read -r f; do cp "$$f" "fuzz/corpus/tingu_compile/$$(echo "$${f#./}" | tr / _)"; done

# $(1): executions per target; $(2): the targets run without a sanitizer.
define fuzz_all
	@set -e; cd $(ROOT)/fuzz; n=0; for t in $(FUZZ_TARGETS); do \
		case " $(2) " in *" $$t "*) san=none ;; *) san=$(FUZZ_SANITIZER) ;; esac; \
		echo "fuzz: $$t: $(1) executions (sanitizer $$san)"; \
		start=$$(date +%s); \
		$(FUZZ_CARGO_FUZZ) run $(call fuzz_flags,$$san) $$t corpus/$$t seeds/$$t -- \
			-runs=$(1) -jobs=1 -workers=1 -print_final_stats=1 $(FUZZ_FLAGS) > logs/$$t.log 2>&1 \
			|| { tail -n 60 logs/$$t.log; echo "fuzz: $$t FAILED (input in fuzz/artifacts/$$t/, log in fuzz/logs/$$t.log)"; exit 1; }; \
		echo "fuzz: $$t: ok in $$(( $$(date +%s) - start ))s: $$(grep -E '^#[0-9]+[[:space:]]+DONE' logs/$$t.log | tail -n 1)"; \
		n=$$((n + 1)); \
	done; \
	echo "fuzz: $$n passed, 0 failed"
endef

fuzz: fuzz-build fuzz-corpus
	@mkdir -p fuzz/logs
	$(call fuzz_all,$(FUZZ_RUNS),$(FUZZ_NOSAN))

fuzz-smoke: fuzz-build fuzz-corpus
	@mkdir -p fuzz/logs
	$(call fuzz_all,$(FUZZ_SMOKE_RUNS),)
