#!/bin/sh
# What the seL4 targets need, checked all at once: every missing piece is
# named with the command that provides it (README.md, section "seL4").
# Usage: sdk-check.sh SDK BOARD CONFIG TOOLCHAIN RESET_CLI RESET_CLI_SRC BUILT_RESET_CLI
# (RESET_CLI, RESET_CLI_SRC: as the user gave them, possibly empty;
# BUILT_RESET_CLI: where make installs its own).
# Exit 0 when nothing is missing, 2 otherwise.
sdk=$1 board=$2 config=$3 toolchain=$4 reset_cli=$5 reset_src=$6 built_reset_cli=$7
missing=0
need() { echo "missing: $1"; shift; for l in "$@"; do echo "    $l"; done; missing=1; }
warn() { echo "warning: $*"; }

case $board in
qemu_virt_aarch64) arch=aarch64 qemu=qemu-system-aarch64 ;;
x86_64_generic) arch=x86_64 qemu=qemu-system-x86_64 ;;
*) need "a supported MICROKIT_BOARD (got '$board')" "MICROKIT_BOARD=qemu_virt_aarch64 or MICROKIT_BOARD=x86_64_generic" ;;
esac
case $config in
debug | release | benchmark) ;;
*) need "a supported MICROKIT_CONFIG (got '$config')" "MICROKIT_CONFIG=debug, release or benchmark" ;;
esac

if [ -z "$sdk" ]; then
	need "MICROKIT_SDK (the Microkit SDK 2.3.0, built from its sources)" \
		"python3 build_sdk.py --sel4 <seL4 clone at 16.0.0> --boards qemu_virt_aarch64,x86_64_generic \\" \
		"    --configs debug,release,benchmark --gcc-toolchain-prefix-aarch64 aarch64-linux-gnu --skip-docs --skip-tar" \
		"export MICROKIT_SDK=<microkit clone>/release/microkit-sdk-2.3.0"
elif [ ! -x "$sdk/bin/microkit" ]; then
	need "bin/microkit in MICROKIT_SDK=$sdk" "point MICROKIT_SDK at <microkit clone>/release/microkit-sdk-2.3.0"
else
	if [ ! -d "$sdk/board/$board/$config/include" ]; then
		need "board $board in config $config in the SDK ($sdk/board/$board/$config)" \
			"build_sdk.py ... --boards $board --configs $config"
	fi
	v=$(cat "$sdk/VERSION" 2>/dev/null)
	[ "$v" = 2.3.0 ] || warn "MICROKIT_SDK is version '$v'; this project is built and tested with 2.3.0"
fi

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
	need "the Rust toolchain $toolchain (the nightly rust-sel4 v5.0.0 pins)" \
		"rustup toolchain install $toolchain --profile minimal --component rust-src,clippy"
else
	sysroot=$(rustup run "$toolchain" rustc --print sysroot)
	[ -d "$sysroot/lib/rustlib/src/rust/library" ] ||
		need "rust-src for $toolchain (-Z build-std)" "rustup component add rust-src --toolchain $toolchain"
	rustup run "$toolchain" cargo clippy --version >/dev/null 2>&1 ||
		need "clippy for $toolchain (make lint-sel4)" "rustup component add clippy --toolchain $toolchain"
fi

# bindgen in rust-sel4's sel4-sys loads libclang.
if ! ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/*/libclang*.so* >/dev/null 2>&1 &&
	[ -z "$LIBCLANG_PATH" ]; then
	need "libclang (bindgen in sel4-sys)" "apt-get install libclang-dev"
fi

if [ -n "$reset_cli" ] && [ -x "$reset_cli" ]; then
	:
elif [ -n "$reset_src" ]; then
	[ -f "$reset_src/crates/sel4-reset/cli/Cargo.toml" ] && [ -f "$reset_src/Cargo.lock" ] ||
		need "a rust-sel4 clone in SEL4_RESET_CLI_SRC=$reset_src (crates/sel4-reset/cli and Cargo.lock)" \
			"git clone <rust-sel4> && git -C <clone> checkout v5.0.0"
elif [ -n "$reset_cli" ]; then
	need "sel4-reset-cli at SEL4_RESET_CLI=$reset_cli" \
		"give a rust-sel4 v5.0.0 clone instead: make SEL4_RESET_CLI_SRC=<clone>"
elif [ ! -x "$built_reset_cli" ]; then
	warn "no sel4-reset-cli: make will install it from GitHub by git (needs the network);" \
		"offline, give a local rust-sel4 v5.0.0 clone: SEL4_RESET_CLI_SRC=<clone>"
fi

if [ -n "$qemu" ] && ! command -v "$qemu" >/dev/null 2>&1; then
	warn "$qemu is not installed: images build, but nothing boots them" \
		"(Debian bookworm: apt-get install -t bookworm-backports qemu-system-arm qemu-system-x86)"
fi

if [ $missing -ne 0 ]; then
	echo "The seL4 targets stop here; README.md, section \"seL4\", has the whole recipe."
	exit 2
fi
exit 0
