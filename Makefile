# selfheal: build, run and test.
#
# Host (no SDK needed):
#   make demo         the whole system on the hosted runtime, with faults
#   make test         the host test suite (TEST_CMDS)
#   make lint         rustfmt --check and clippy -D warnings
#   make bench        benchmarks on the hosted runtime, and the block bench in process
#   make verify       model-check the shipped protocols as bound in system.xml
#   make campaign     the fault-anywhere campaign on the hosted runtime (both boards)
#   make fuzz         every fuzz target for FUZZ_RUNS runs (make fuzz-smoke: short; fuzz/fuzz.mk)
#
# seL4 under QEMU (needs the Microkit SDK, see README.md, section "seL4"):
#   make              PD ELFs + sel4-reset + system file + region images + loader image
#   make qemu         boot it (serial on the terminal; C-a x quits)
#   make test-qemu    boot under a timeout, capture the serial log, check it
#   make test-qemu-blk  the block system (systems/blk.xml): FAT files through the
#                     virtio-blk driver, the disk judged by fsck.fat and mcopy
#   make test-qemu-blk-stop  a crash loop in the block driver: stopped, the
#                     client told "stopped" (no hang)
#   make bench-qemu-blk  block throughput under -icount, 4 KiB sequential and
#                     random, 32 in flight, fault-free and one fault per ~1,000
#                     requests in one run (build/<board>-<config>/blk-bench.json)
#   make bench-qemu   boot under -icount and extract the restart phases; records
#                     them in docs/figures/ and renders the README's table
#   make test-qemu-escalation   a crash loop: warm -> cold -> stop, clients told
#   make test-qemu-protocol     protocol violations: an illegal reply, a client in the
#                               wrong state, a livelock past a timeout state
#   make bench-qemu-observers   what the protocol observers cost on seL4 (-icount):
#                               one check in guest instructions, stream on/off
#                               (recorded and rendered likewise)
#   make readme-figures  the README's figure tables from docs/figures/*.json
#   make lint-sel4    clippy -D warnings on support/sel4 for the board and config
#   make campaign-qemu          the fault-anywhere campaign on seL4 under QEMU
#   make test-qemu-monitor-down the monitor itself crashes: the console says so
#
# Microkit conventions: MICROKIT_SDK, MICROKIT_BOARD, MICROKIT_CONFIG.

MICROKIT_BOARD ?= qemu_virt_aarch64
MICROKIT_CONFIG ?= debug
MICROKIT_SDK ?=

# Stream and fault plan prefilled into the image (stream_config, fault_plan).
FRAMES ?= 1024
FAULTS ?= 24
FAULT_SEED ?= 1
FAULT_KINDS ?= wild-write,null-read,panic,loop
# Extra options for the stream configuration (e.g. --probe-wrong-state).
CONFIG_FLAGS ?=
# test-qemu: QEMU time limit (s) and what the log must show.
QEMU_TIMEOUT ?= 300
MIN_BYTES ?= 65536
MIN_FAULTS ?= 20
CHECK_KINDS ?= memory,panic,hang

# Rust for the PDs: the nightly rust-sel4 v5.0.0 pins (support/sel4/rust-toolchain.toml).
SEL4_TOOLCHAIN ?= nightly-2026-04-04
# sel4-reset-cli (rust-sel4's ELF post-processor): from the environment, PATH,
# or installed into build/tools from the same rust-sel4 tag.
SEL4_RESET_CLI ?= $(shell command -v sel4-reset-cli 2> /dev/null)
RUST_SEL4_GIT ?= https://github.com/seL4/rust-sel4
RUST_SEL4_TAG ?= v5.0.0

# Fault plan: random (FAULTS faults of FAULT_KINDS over the stream, FAULT_SEED),
# escalation (the crash loop of the hosted escalation test) or monitor-crash
# (the monitor panics MONITOR_CRASH_MS after its start).
PLAN ?= random
MONITOR_CRASH_MS ?= 1500

# Host test suite: shell commands separated by ';' (the first failure stops
# it). Add one with `TEST_CMDS += ; <command>` below. After the tests, every
# protocol composition bound in system.xml is model-checked with driver
# restarts and cross-checked with spin (state counts and times printed; any
# violation or disagreement fails).
# Without spin (and without REQUIRE_SPIN) the cross-check is left out and
# the command says so. Last, a small seeded fault-anywhere campaign (about a
# minute; `make campaign` is the full one).
VERIFY_SPIN = $(if $(or $(REQUIRE_SPIN),$(shell command -v spin 2> /dev/null)),--spin)
TEST_CAMPAIGN_FAULTS ?= 1000
TEST_CAMPAIGN_MUTATIONS ?= 16
TEST_CAMPAIGN_SEED ?= 3
TEST_CMDS ?= cargo test --workspace ; \
	$(if $(VERIFY_SPIN),,echo 'verify: spin not installed: cross-check skipped' ;) \
	cargo run -q --release -p tingu --bin tingu -- verify $(VERIFY_SPIN) system.xml ; \
	$(CAMPAIGN) --faults $(TEST_CAMPAIGN_FAULTS) --mutations $(TEST_CAMPAIGN_MUTATIONS) \
		--seed $(TEST_CAMPAIGN_SEED) --keep-failed target/campaign-failed --report target/campaign-test.md

CARGO ?= cargo
ROOT := $(abspath .)
SEL4_WS := $(ROOT)/support/sel4
BUILD := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)$(BUILD_SUFFIX)
IMAGE := $(BUILD)/loader.img
# One cargo target directory per board, shared by its configs and variants
# (images, logs and final ELFs stay in $(BUILD)): the host half (bindgen,
# the build scripts) is most of a target directory's size. A change of
# config re-runs sel4-sys's build script (it watches SEL4_INCLUDE_DIRS) and
# rebuilds what depends on it, so kernel headers of two configs never mix;
# run one make per board at a time.
SEL4_TARGET_DIR := $(ROOT)/build/cargo-$(MICROKIT_BOARD)
SPEC = $(ROOT)/build/specs/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)/$(SEL4_ARCH)-sel4.json
SYSTEM := $(BUILD)/selfheal.system

ifeq ($(MICROKIT_BOARD),qemu_virt_aarch64)
SEL4_ARCH := aarch64
else ifeq ($(MICROKIT_BOARD),x86_64_generic)
SEL4_ARCH := x86_64
else
SEL4_ARCH := unsupported
endif

SEL4_ENV = cd $(SEL4_WS) && \
	SEL4_INCLUDE_DIRS=$(MICROKIT_SDK)/board/$(MICROKIT_BOARD)/$(MICROKIT_CONFIG)/include \
	MICROKIT_BOARD=$(MICROKIT_BOARD) \
	SELFHEAL_SEL4_ELF_DIR=$(BUILD) \
	RUSTUP_TOOLCHAIN=$(SEL4_TOOLCHAIN) \
	RUSTFLAGS="--remap-path-prefix=$(ROOT)/= $(SEL4_RUSTFLAGS)"
SEL4_FLAGS = --release \
	-Z build-std=core,alloc,compiler_builtins -Z build-std-features=compiler-builtins-mem \
	-Z json-target-spec --target $(SPEC)
SEL4_CARGO = $(SEL4_ENV) $(CARGO) build $(SEL4_FLAGS) --target-dir $(SEL4_TARGET_DIR) $(SEL4_FEATURES)
# Per-PD cargo features (measuring only), as <pd>/<feature> words, e.g.
# PD_FEATURES="serial/unchecked client/unchecked": each PD build gets its own.
PD_FEATURES ?=
comma := ,
space := $(subst ,, )
pd_features = $(addprefix selfheal-pd-,$(filter $(addsuffix /%,$(1)),$(PD_FEATURES)))
pd_feature_flag = $(if $(call pd_features,$(1)),--features $(subst $(space),$(comma),$(call pd_features,$(1))))
ELF_OUT = $(SEL4_TARGET_DIR)/$(SEL4_ARCH)-sel4/release
# Host tools of the seL4 targets (escalation plan and check, bench report).
SEL4_TOOLS = cd $(SEL4_WS) && RUSTUP_TOOLCHAIN=$(SEL4_TOOLCHAIN) $(CARGO) run -q -p selfheal-sel4-tools --

.PHONY: all image elfs system regions qemu test-qemu blk-elfs blk-image test-qemu-blk test-qemu-blk-stop bench-qemu-blk bench-qemu test-qemu-escalation test-qemu-protocol bench-qemu-observers lint-sel4 readme-figures \
	campaign campaign-qemu test-qemu-monitor-down demo test lint bench verify sdk-check clean clean-sel4 help FORCE

all: image

help:
	@sed -n '1,/^$$/p' Makefile

# ---------------------------------------------------------------------------
# Host targets.

demo:
	$(CARGO) run --release -p selfheal-hosted -- demo

test:
	set -e; $(TEST_CMDS)

lint:
	$(CARGO) fmt --all -- --check
	rustfmt --edition 2021 --check $$(find support/sel4 -name '*.rs' -not -path '*/target/*')
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p system-tests -p blk-server

verify:
	$(CARGO) run -q -p tingu --bin tingu -- verify system.xml

# The fault-anywhere campaign (docs/recovery.md): CAMPAIGN_FAULTS runtime
# faults over both boards, then CAMPAIGN_MUTATIONS code mutations; tables and
# the two final lines on stdout and in the report. Fails unless lost=0,
# duplicated=0, hung=0, monitor_down=0, detected=manifested, and the
# mutations hung=0, monitor_down=0.
CAMPAIGN_FAULTS ?= 10000
CAMPAIGN_MUTATIONS ?= 200
CAMPAIGN_SEED ?= 1
CAMPAIGN = $(CARGO) run -q --release -p system-tests --bin campaign --
campaign:
	$(CARGO) build -q --release -p selfheal-hosted
	$(CAMPAIGN) --faults $(CAMPAIGN_FAULTS) --mutations $(CAMPAIGN_MUTATIONS) --seed $(CAMPAIGN_SEED) \
		--keep-failed target/campaign-failed --report target/campaign.md

# ---------------------------------------------------------------------------
# seL4: prerequisites.

sdk-check:
	@$(SEL4_WS)/scripts/sdk-check.sh "$(MICROKIT_SDK)" "$(MICROKIT_BOARD)" "$(MICROKIT_CONFIG)" \
		"$(SEL4_TOOLCHAIN)" "$(SEL4_RESET_CLI_GIVEN)" "$(SEL4_RESET_CLI_SRC)" \
		"$(ROOT)/build/tools/bin/sel4-reset-cli"

# sel4-reset-cli: given, on PATH, built from a local rust-sel4 clone
# (SEL4_RESET_CLI_SRC: its three crates as a standalone package, with the
# clone's own lock file, in build/tools; rust-sel4's workspace itself patches
# a crate from another GitHub repository), or installed by git from GitHub.
SEL4_RESET_CLI_SRC ?=
RESET_SRC := $(ROOT)/build/tools/src
SEL4_RESET_CLI_GIVEN := $(SEL4_RESET_CLI)
ifeq ($(SEL4_RESET_CLI),)
SEL4_RESET_CLI := $(ROOT)/build/tools/bin/sel4-reset-cli
$(SEL4_RESET_CLI): | sdk-check
ifneq ($(SEL4_RESET_CLI_SRC),)
	@t=$$(git -C $(SEL4_RESET_CLI_SRC) describe --tags --exact-match 2> /dev/null); \
		[ "$$t" = $(RUST_SEL4_TAG) ] || echo "warning: $(SEL4_RESET_CLI_SRC) is at '$$t', not $(RUST_SEL4_TAG)"
	rm -rf $(RESET_SRC) && mkdir -p $(RESET_SRC)/crates/sel4-reset $(RESET_SRC)/crates/sel4-phdrs
	cp -r $(SEL4_RESET_CLI_SRC)/crates/sel4-reset/cli $(RESET_SRC)/crates/sel4-reset/
	cp -r $(SEL4_RESET_CLI_SRC)/crates/sel4-patch-elf $(RESET_SRC)/crates/
	cp -r $(SEL4_RESET_CLI_SRC)/crates/sel4-phdrs/constants $(RESET_SRC)/crates/sel4-phdrs/
	cp $(SEL4_RESET_CLI_SRC)/Cargo.lock $(RESET_SRC)/crates/sel4-reset/cli/
	printf '\n[workspace]\n' >> $(RESET_SRC)/crates/sel4-reset/cli/Cargo.toml
	$(CARGO) +$(SEL4_TOOLCHAIN) install --locked --path $(RESET_SRC)/crates/sel4-reset/cli \
		--root $(ROOT)/build/tools
else
	$(CARGO) +$(SEL4_TOOLCHAIN) install --locked --git $(RUST_SEL4_GIT) --tag $(RUST_SEL4_TAG) \
		sel4-reset-cli --root $(ROOT)/build/tools
endif
endif

$(BUILD):
	mkdir -p $@

# The target spec comes from the pinned rust-sel4 checkout cargo fetched.
$(SPEC): | sdk-check
	@mkdir -p $(dir $@); manifest=$$(cd $(SEL4_WS) && RUSTUP_TOOLCHAIN=$(SEL4_TOOLCHAIN) $(CARGO) metadata --format-version 1 \
		| grep -o '"manifest_path":"[^"]*/crates/sel4/Cargo.toml"' | head -1 | cut -d'"' -f4); \
	spec=$${manifest%/crates/sel4/Cargo.toml}/support/targets/$(SEL4_ARCH)-sel4.json; \
	test -f "$$spec" || { echo "error: no target spec $$spec in the rust-sel4 checkout"; exit 2; }; \
	cp "$$spec" $@

# ---------------------------------------------------------------------------
# seL4: PD ELFs. Children first: the monitor's table carries their `_reset`
# addresses, read from their final ELFs (SELFHEAL_SEL4_ELF_DIR). Every PD
# enables the same sel4-microkit features (the glue defines the Microkit
# symbols itself, in .persistent), so no feature unification can differ
# between PDs; the target directory is per board and config because
# sel4-sys bakes in the kernel configuration's headers.

# Replace $2 by $1 only if they differ (keeps the monitor from rebuilding).
define install_elf
	$(SEL4_RESET_CLI) $(1) -o $(2).tmp
	cmp -s $(2).tmp $(2) && rm $(2).tmp || mv $(2).tmp $(2)
endef

elfs: $(BUILD)/monitor.elf $(BUILD)/serial.elf $(BUILD)/client.elf

$(BUILD)/serial.elf $(BUILD)/client.elf &: $(SPEC) $(SEL4_RESET_CLI) FORCE | sdk-check $(BUILD)
	$(SEL4_CARGO) $(call pd_feature_flag,serial client) -p selfheal-pd-serial -p selfheal-pd-client
	$(call install_elf,$(ELF_OUT)/serial.elf,$(BUILD)/serial.elf)
	$(call install_elf,$(ELF_OUT)/client.elf,$(BUILD)/client.elf)

$(BUILD)/monitor.elf: $(BUILD)/serial.elf $(BUILD)/client.elf FORCE | sdk-check
	$(SEL4_CARGO) $(call pd_feature_flag,monitor) -p selfheal-pd-monitor
	$(call install_elf,$(ELF_OUT)/monitor.elf,$(BUILD)/monitor.elf)

# ---------------------------------------------------------------------------
# seL4: system file and prefilled regions.

system: $(SYSTEM)
$(SYSTEM): system.xml FORCE | sdk-check $(BUILD)
	$(CARGO) run -q -p sdf -- render --board $(MICROKIT_BOARD) system.xml -o $@.tmp
	sed -e 's|<memory_region name="fault_plan" |&prefill_path="fault_plan.bin" |' \
	    -e 's|<memory_region name="stream_config" |&prefill_path="stream_config.bin" |' $@.tmp > $@
	rm $@.tmp
	@grep -q 'prefill_path="fault_plan.bin"' $@ && grep -q 'prefill_path="stream_config.bin"' $@ \
		|| { echo "error: could not add prefill_path to the rendered system file"; exit 2; }

regions: $(BUILD)/fault_plan.bin $(BUILD)/stream_config.bin
$(BUILD)/fault_plan.bin: FORCE | $(BUILD)
	$(CARGO) run -q --release -p selfheal-hosted -- plan --board $(MICROKIT_BOARD) \
		--frames $(FRAMES) --faults $(FAULTS) --seed $(FAULT_SEED) --kinds $(FAULT_KINDS) \
		$(if $(filter escalation,$(PLAN)),--escalation) \
		$(if $(filter monitor-crash,$(PLAN)),--monitor-crash $(MONITOR_CRASH_MS)) -o $@
$(BUILD)/stream_config.bin: FORCE | $(BUILD)
	$(CARGO) run -q --release -p selfheal-hosted -- config --frames $(FRAMES) --seed $(FAULT_SEED) \
		$(CONFIG_FLAGS) -o $@

image: $(IMAGE)
$(IMAGE): elfs $(SYSTEM) regions | sdk-check
	$(MICROKIT_SDK)/bin/microkit $(SYSTEM) --search-path $(BUILD) --board $(MICROKIT_BOARD) \
		--config $(MICROKIT_CONFIG) -o $@ -r $(BUILD)/report.txt
	@echo "image: $@ ($(MICROKIT_BOARD), $(MICROKIT_CONFIG), $(FRAMES) frames, seed $(FAULT_SEED)," \
		"$$(cat $(BUILD)/fault_plan.txt))"

# ---------------------------------------------------------------------------
# seL4: QEMU.

QEMU_SH := MICROKIT_SDK=$(MICROKIT_SDK) $(SEL4_WS)/scripts/qemu.sh $(MICROKIT_BOARD) $(MICROKIT_CONFIG)
DONE_REGEX := client: (stream done|.*stream abandoned)

qemu: $(IMAGE)
	$(QEMU_SH) $(IMAGE)

test-qemu: $(IMAGE)
	$(QEMU_SH) $(IMAGE) $(BUILD)/test-qemu.log $(QEMU_TIMEOUT) '$(DONE_REGEX)' || \
		echo "test-qemu: QEMU did not reach the end of the stream (see the check below)"
	$(CARGO) run -q -p system-tests --bin log-check -- $(BUILD)/test-qemu.log \
		--min-bytes $(MIN_BYTES) --min-faults $(MIN_FAULTS) --kinds $(CHECK_KINDS)

# clippy on the seL4 workspace: the PD crates for the target (both glue
# features on), the host tools for the host.
lint-sel4: $(SPEC) | sdk-check
	$(SEL4_ENV) $(CARGO) clippy $(SEL4_FLAGS) --target-dir $(SEL4_TARGET_DIR) \
		--features selfheal-sel4/deferred-log,selfheal-sel4/trace \
		-p selfheal-sel4 -p selfheal-pd-serial -p selfheal-pd-client -p selfheal-pd-monitor -- -D warnings
	$(SEL4_ENV) SELFHEAL_SYSTEM=$(BLK_XML) $(CARGO) clippy $(SEL4_FLAGS) --target-dir $(SEL4_TARGET_DIR) \
		-p selfheal-pd-blk -p selfheal-pd-fsclient -- -D warnings
	cd $(SEL4_WS) && RUSTUP_TOOLCHAIN=$(SEL4_TOOLCHAIN) $(CARGO) clippy -p selfheal-sel4-build \
		-p selfheal-sel4-tools --all-targets -- -D warnings

# ---------------------------------------------------------------------------
# seL4: the block system (systems/blk.xml; issue 9, both boards):
# the virtio-blk driver and the FAT client. The disk image is made by
# mkfs.fat (blk-disk make) and judged after the run by fsck.fat and mcopy
# (blk-disk check), with the client's summary line from the console.
BLK_XML := $(ROOT)/systems/blk.xml
BLK_SUFFIX ?=
BLK_BUILD := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-blk$(BLK_SUFFIX)
# BLK_FSCLIENT_FEATURES=bench: the client runs the block bench, not the file set.
BLK_FSCLIENT_FEATURES ?=
BLK_IMAGE := $(BLK_BUILD)/loader.img
BLK_DISK := $(BLK_BUILD)/disk.img
BLK_TIMEOUT ?= 900
# aarch64: a virtio-mmio slot, version 2 (QEMU's virt machine offers the
# legacy interface unless told otherwise); the first virtio device takes the
# last slot. x86: a modern-only
# virtio-pci function at 00:04.0 (systems/blk.xml maps its BAR and IRQ).
BLK_QEMU_DRIVE := -drive file=$(BLK_DISK),if=none,format=raw,id=d0
ifeq ($(MICROKIT_BOARD),x86_64_generic)
BLK_QEMU_EXTRA := $(BLK_QEMU_DRIVE) -device virtio-blk-pci,drive=d0,disable-legacy=on,addr=4
else
BLK_QEMU_EXTRA := -global virtio-mmio.force-legacy=false $(BLK_QEMU_DRIVE) -device virtio-blk-device,drive=d0
endif
BLK_DISK_TOOL = $(CARGO) run -q -p system-tests --bin blk-disk --
# The client's last line, matched on the raw console: every PD writes to
# it, so a PD that preempts the client mid-line splits the line (blk-disk
# takes it apart again); match its tail rather than its "fsclient:" prefix.
BLK_DONE_REGEX := done: files=|failed: (filesystem|sync)

$(BLK_BUILD):
	mkdir -p $@

blk-elfs: $(SPEC) $(SEL4_RESET_CLI) FORCE | sdk-check $(BLK_BUILD)
	$(SEL4_ENV) SELFHEAL_SYSTEM=$(BLK_XML) $(CARGO) build $(SEL4_FLAGS) --target-dir $(SEL4_TARGET_DIR) \
		-p selfheal-pd-blk -p selfheal-pd-fsclient $(SEL4_FEATURES) \
		$(addprefix --features selfheal-pd-fsclient/,$(BLK_FSCLIENT_FEATURES))
	$(call install_elf,$(ELF_OUT)/blk.elf,$(BLK_BUILD)/blk.elf)
	$(call install_elf,$(ELF_OUT)/fsclient.elf,$(BLK_BUILD)/fsclient.elf)
	$(SEL4_ENV) SELFHEAL_SYSTEM=$(BLK_XML) SELFHEAL_SEL4_ELF_DIR=$(BLK_BUILD) $(CARGO) build $(SEL4_FLAGS) \
		--target-dir $(SEL4_TARGET_DIR) -p selfheal-pd-monitor $(SEL4_FEATURES)
	$(call install_elf,$(ELF_OUT)/monitor.elf,$(BLK_BUILD)/monitor.elf)

# The fault plan: BLK_FAULTS in the driver (interrupt path, during DMA, on a
# client notification; crashes of four kinds and hangs) and BLK_SUSPENDS
# asynchronous stops by the monitor. BLK_FAULTS=0 BLK_SUSPENDS=0: none.
BLK_FAULTS ?= 24
BLK_SUSPENDS ?= 8
BLK_SEED ?= 1
BLK_MIN_RESTARTS ?= 20
# Mean site visits between planned driver faults (empty: 60-140).
BLK_GAP ?=

blk-image: blk-elfs | sdk-check
	$(CARGO) run -q -p sdf -- render --board $(MICROKIT_BOARD) $(BLK_XML) -o $(BLK_BUILD)/blk.system.tmp
	sed -e 's|<memory_region name="fault_plan" |&prefill_path="fault_plan.bin" |' \
		$(BLK_BUILD)/blk.system.tmp > $(BLK_BUILD)/blk.system
	rm $(BLK_BUILD)/blk.system.tmp
	$(BLK_DISK_TOOL) plan --faults $(BLK_FAULTS) --suspends $(BLK_SUSPENDS) --seed $(BLK_SEED) \
		$(addprefix --gap ,$(BLK_GAP)) -o $(BLK_BUILD)/fault_plan.bin
	$(MICROKIT_SDK)/bin/microkit $(BLK_BUILD)/blk.system --search-path $(BLK_BUILD) --board $(MICROKIT_BOARD) \
		--config $(MICROKIT_CONFIG) -o $(BLK_IMAGE) -r $(BLK_BUILD)/report.txt

test-qemu-blk: blk-image
	$(BLK_DISK_TOOL) make $(BLK_DISK)
	QEMU_EXTRA="$(BLK_QEMU_EXTRA)" $(QEMU_SH) $(BLK_IMAGE) $(BLK_BUILD)/test-qemu.log $(BLK_TIMEOUT) \
		'$(BLK_DONE_REGEX)' || echo "test-qemu-blk: the client did not finish (see the check below)"
	$(BLK_DISK_TOOL) check $(BLK_DISK) --log $(BLK_BUILD)/test-qemu.log --min-restarts $(BLK_MIN_RESTARTS)

# A crash loop in the block driver (blk-disk plan-loop: a panic on the
# 200th client notification, then in every start until the policy, read
# from systems/blk.xml, stops it): warm restarts without
# progress, a cold start that fails too, stop. The stopped driver answers
# every request "no device" and the client ends on `Stopped`, not in a hang
# (blk-disk check-stopped).
BLK_STOP_BUILD = $(BLK_BUILD)-stop
test-qemu-blk-stop: sdk-check
	$(MAKE) --no-print-directory blk-image BLK_SUFFIX=-stop BLK_FAULTS=0 BLK_SUSPENDS=0
	$(BLK_DISK_TOOL) plan-loop --system $(BLK_XML) --pd blk --first 200 -o $(BLK_STOP_BUILD)/fault_plan.bin
	$(MICROKIT_SDK)/bin/microkit $(BLK_STOP_BUILD)/blk.system --search-path $(BLK_STOP_BUILD) \
		--board $(MICROKIT_BOARD) --config $(MICROKIT_CONFIG) -o $(BLK_STOP_BUILD)/loader.img \
		-r $(BLK_STOP_BUILD)/report.txt
	$(BLK_DISK_TOOL) make $(BLK_STOP_BUILD)/disk.img
	QEMU_EXTRA="$(subst $(BLK_DISK),$(BLK_STOP_BUILD)/disk.img,$(BLK_QEMU_EXTRA))" \
		$(QEMU_SH) $(BLK_STOP_BUILD)/loader.img $(BLK_STOP_BUILD)/test-qemu.log $(BLK_TIMEOUT) \
		'$(BLK_DONE_REGEX)' || true
	$(BLK_DISK_TOOL) check-stopped --log $(BLK_STOP_BUILD)/test-qemu.log

# The block bench (blk-bench): the client, built with `bench`, runs four
# phases of 2,048 requests of 4 KiB (sequential and random writes and
# reads, 32 in flight, every read verified) under -icount shift=0, once
# without faults and once with BLK_BENCH_FAULTS driver faults about
# BLK_BENCH_GAP site visits apart, for about one fault per 1,000 requests
# (a site is visited 0.8 times a request on aarch64, 0.55 on x86, where
# the device answers faster and interrupts coalesce more; the report
# counts the restarts that happened). Each image is judged block by block
# (blk-disk bench-check); the figures go to
# build/<board>-<config>/blk-bench.json. Built with the glue's deferred log
# (as bench-qemu): console output, a system call per byte on x86, would
# otherwise sit inside the restart phases the monitor times.
BLK_BENCH_FAULTS ?= 14
ifeq ($(MICROKIT_BOARD),x86_64_generic)
BLK_BENCH_GAP ?= 550
else
BLK_BENCH_GAP ?= 800
endif
BLK_BENCH_JSON := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)/blk-bench.json
BLK_BENCH_RUN = $(MAKE) --no-print-directory blk-image BLK_SUFFIX=-bench-$(1) BLK_FSCLIENT_FEATURES=bench \
		SEL4_FEATURES="--features selfheal-sel4/deferred-log" \
		BLK_SUSPENDS=0 BLK_FAULTS=$(2) BLK_GAP=$(BLK_BENCH_GAP) && \
	$(BLK_DISK_TOOL) make $(BLK_BUILD)-bench-$(1)/disk.img && \
	QEMU_ICOUNT=1 QEMU_EXTRA="$(subst $(BLK_DISK),$(BLK_BUILD)-bench-$(1)/disk.img,$(BLK_QEMU_EXTRA))" \
		$(QEMU_SH) $(BLK_BUILD)-bench-$(1)/loader.img $(BLK_BUILD)-bench-$(1)/run.log $(BLK_TIMEOUT) \
		'bench done: |failed: bench' ; \
	$(BLK_DISK_TOOL) bench-check $(BLK_BUILD)-bench-$(1)/disk.img --log $(BLK_BUILD)-bench-$(1)/run.log

bench-qemu-blk: sdk-check
	$(call BLK_BENCH_RUN,clean,0)
	$(call BLK_BENCH_RUN,faulted,$(BLK_BENCH_FAULTS))
	mkdir -p $(dir $(BLK_BENCH_JSON))
	$(BLK_DISK_TOOL) bench-report --board $(MICROKIT_BOARD) --clean $(BLK_BUILD)-bench-clean/run.log \
		--faulted $(BLK_BUILD)-bench-faulted/run.log -o $(BLK_BENCH_JSON)

# A crash loop (PLAN=escalation, 64 frames): eight warm restarts, a cold start
# that faults in init, stop; the client gets `stopped` and a notification.
ESC_BUILD := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-escalation
test-qemu-escalation: sdk-check
	$(MAKE) --no-print-directory image BUILD_SUFFIX=-escalation PLAN=escalation FRAMES=64 FAULT_SEED=3
	$(QEMU_SH) $(ESC_BUILD)/loader.img $(ESC_BUILD)/test-qemu.log $(QEMU_TIMEOUT) \
		'the monitor reports the serial driver stopped' || true
	$(SEL4_TOOLS) check-escalation $(ESC_BUILD)/test-qemu.log

# The monitor's own failure (docs/recovery.md): the monitor panics 1.5 s into
# a long stream; Microkit's monitor reports the faulting PD (debug kernels
# only: it prints through the kernel), the client, whose calls go on, that the
# monitor's heartbeat stopped.
MDOWN_BUILD := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-monitor-down
test-qemu-monitor-down: sdk-check
	$(MAKE) --no-print-directory image BUILD_SUFFIX=-monitor-down PLAN=monitor-crash FRAMES=65536
	$(QEMU_SH) $(MDOWN_BUILD)/loader.img $(MDOWN_BUILD)/test-qemu.log $(QEMU_TIMEOUT) \
		'client: the recovery monitor is down' || true
	$(LOG_CHECK) $(MDOWN_BUILD)/test-qemu.log --no-stream \
		--expect 'monitor: injected panic into the monitor itself' \
		$(if $(filter debug,$(MICROKIT_CONFIG)),--expect-console 'MON|ERROR: faulting PD: recovery_monitor') \
		--expect 'client: the recovery monitor is down'

# Protocol observers on seL4 (issue 3), three images:
#  reply:   the driver answers writes out of order at random points; its own
#           observer traps it, the monitor prints the observer's report and
#           restarts it warm; the stream stays exact;
#  client:  the client writes before opening, around its own observer; the
#           driver's observer refuses it, the driver is untouched;
#  timeout: the driver livelocks (heartbeat moving) in the `busy [3s]` timeout
#           state; the monitor acts on the deadline the observer publishes:
#           cold start, the client is told `restarted` and resends.
PROTO_BUILD = $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-protocol-$(1)
PROTO_RUN = $(QEMU_SH) $(call PROTO_BUILD,$(1))/loader.img $(call PROTO_BUILD,$(1))/test-qemu.log \
	$(QEMU_TIMEOUT) '$(DONE_REGEX)' || true
LOG_CHECK = $(CARGO) run -q -p system-tests --bin log-check --
FIGURES = $(CARGO) run -q -p figures --
FIGURES_DIR = $(ROOT)/docs/figures
# Which tree the figures measure: the commit the images were built from,
# -dirty if anything but the README and docs/ (where the figures go) had
# changes.
FIGURES_MADE = --board $(MICROKIT_BOARD) --config $(MICROKIT_CONFIG) --date $$(date -u +%F) \
	--commit $$(git -C $(ROOT) rev-parse --short HEAD)$$(git -C $(ROOT) diff --quiet HEAD -- . ':!README.md' ':!docs' || echo -dirty)
test-qemu-protocol: sdk-check
	$(MAKE) --no-print-directory image BUILD_SUFFIX=-protocol-reply FAULTS=6 \
		FAULT_KINDS=illegal-reply,panic FAULT_SEED=5
	$(call PROTO_RUN,reply)
	$(LOG_CHECK) $(call PROTO_BUILD,reply)/test-qemu.log --min-bytes $(MIN_BYTES) --min-faults 6 \
		--kinds protocol,panic --expect 'serial: protocol violation (own)' \
		--expect 'monitor: serial report: own violation: Out Reply label 0x103' \
		--expect 'monitor: serial report:   port client (SerialStream) on ch0: busy.writing'
	$(MAKE) --no-print-directory image BUILD_SUFFIX=-protocol-client FAULTS=0 \
		CONFIG_FLAGS=--probe-wrong-state
	$(call PROTO_RUN,client)
	$(LOG_CHECK) $(call PROTO_BUILD,client)/test-qemu.log --min-bytes $(MIN_BYTES) --max-faults 0 \
		--expect "client: probe: a write before open was refused by the driver's observer" \
		--expect 'serial: protocol violation (peer)'
	$(MAKE) --no-print-directory image BUILD_SUFFIX=-protocol-timeout FAULTS=1 FAULT_KINDS=livelock
	$(call PROTO_RUN,timeout)
	$(LOG_CHECK) $(call PROTO_BUILD,timeout)/test-qemu.log --no-stream --decisions 'cold(timeout)' \
		--expect 'protocol-timeout deadline-in=' --expect 'interrupted by a cold restart' \
		--expect 'client: stream done'

# The fault-anywhere campaign on seL4 under QEMU, for MICROKIT_BOARD: one
# image with the serial driver's window site (serial/fault-window); every
# trial prefills its own plan and stream (the Microkit tool again), boots,
# and is checked from the captured console.
CAMPAIGN_QEMU_FAULTS ?= 560
CAMPAIGN_QEMU_MUTATIONS ?= 40
CAMPAIGN_BUILD := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-campaign
campaign-qemu: sdk-check
	$(MAKE) --no-print-directory image BUILD_SUFFIX=-campaign FAULTS=0 PD_FEATURES=serial/fault-window
	$(CAMPAIGN) --qemu $(CAMPAIGN_BUILD) --config $(MICROKIT_CONFIG) --board $(MICROKIT_BOARD) \
		--faults $(CAMPAIGN_QEMU_FAULTS) --mutations $(CAMPAIGN_QEMU_MUTATIONS) --seed $(CAMPAIGN_SEED) \
		--keep-failed $(CAMPAIGN_BUILD)/failed --report $(CAMPAIGN_BUILD)/campaign.md

# Restart phases and throughput under -icount shift=0 (deterministic: virtual
# time is instruction count). Two runs of the same PD images, built with the
# glue's deferred log and raw-tick traces: without faults, then with FAULTS.
BENCH_BUILD := $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-bench
BENCH_MAKE := $(MAKE) --no-print-directory image BUILD_SUFFIX=-bench \
	SEL4_FEATURES="--features selfheal-sel4/deferred-log,selfheal-sel4/trace"
bench-qemu: sdk-check
	$(BENCH_MAKE) FAULTS=0
	cp $(BENCH_BUILD)/loader.img $(BENCH_BUILD)/clean.img
	$(BENCH_MAKE) FAULTS=$(FAULTS)
	QEMU_ICOUNT=1 $(QEMU_SH) $(BENCH_BUILD)/clean.img $(BENCH_BUILD)/clean.log $(QEMU_TIMEOUT) '$(DONE_REGEX)'
	QEMU_ICOUNT=1 $(QEMU_SH) $(BENCH_BUILD)/loader.img $(BENCH_BUILD)/faulted.log $(QEMU_TIMEOUT) '$(DONE_REGEX)'
	$(CARGO) run -q -p system-tests --bin log-check -- $(BENCH_BUILD)/faulted.log \
		--min-bytes $(MIN_BYTES) --min-faults $(MIN_FAULTS) --kinds $(CHECK_KINDS)
	$(FIGURES) bench $(BENCH_BUILD)/clean.log $(BENCH_BUILD)/faulted.log \
		--record $(FIGURES_DIR)/bench-qemu-$(MICROKIT_BOARD)-$(MICROKIT_CONFIG).json $(FIGURES_MADE) \
		| tee $(BENCH_BUILD)/report.txt
	$(MAKE) --no-print-directory readme-figures

# Protocol observers on seL4 (issue 3), under -icount shift=0, no faults:
# the stream with every observer on and with every observer off (the PDs'
# `unchecked` feature), and a short run whose serial driver measures one
# check in place before its init (`check-cost`).
OBS_BUILD = $(ROOT)/build/$(MICROKIT_BOARD)-$(MICROKIT_CONFIG)-observers-$(1)
OBS_MAKE = $(MAKE) --no-print-directory image FAULTS=0 SEL4_FEATURES="--features selfheal-sel4/deferred-log"
OBS_RUN = QEMU_ICOUNT=1 $(QEMU_SH) $(call OBS_BUILD,$(1))/loader.img $(call OBS_BUILD,$(1))/run.log \
	$(QEMU_TIMEOUT) '$(DONE_REGEX)'
bench-qemu-observers: sdk-check
	$(OBS_MAKE) BUILD_SUFFIX=-observers-on
	$(OBS_MAKE) BUILD_SUFFIX=-observers-off PD_FEATURES="serial/unchecked client/unchecked monitor/unchecked"
	$(OBS_MAKE) BUILD_SUFFIX=-observers-cost PD_FEATURES=serial/check-cost FRAMES=64
	$(call OBS_RUN,on)
	$(call OBS_RUN,off)
	$(call OBS_RUN,cost)
	$(LOG_CHECK) $(call OBS_BUILD,on)/run.log --min-bytes $(MIN_BYTES) --max-faults 0
	$(LOG_CHECK) $(call OBS_BUILD,off)/run.log --min-bytes $(MIN_BYTES) --max-faults 0
	$(FIGURES) observers $(call OBS_BUILD,on)/run.log $(call OBS_BUILD,off)/run.log \
		$(call OBS_BUILD,cost)/run.log \
		--record $(FIGURES_DIR)/observers-$(MICROKIT_BOARD)-$(MICROKIT_CONFIG).json $(FIGURES_MADE) \
		| tee $(call OBS_BUILD,cost)/report.txt
	$(MAKE) --no-print-directory readme-figures

# The README's figure tables are rendered from the records the two benches
# leave in docs/figures/ (with board, config, commit and date); a cargo test
# fails if README.md and the records disagree.
readme-figures:
	$(FIGURES) readme README.md $(FIGURES_DIR)

clean:
	rm -rf build

# Everything the seL4 targets made (target directories, images, logs), but
# the tools (build/tools: sel4-reset-cli).
clean-sel4:
	rm -rf build/cargo-* build/specs build/qemu_virt_aarch64-* build/x86_64_generic-*

FORCE:

include fuzz/fuzz.mk
