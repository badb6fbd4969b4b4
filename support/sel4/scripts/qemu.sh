#!/usr/bin/env bash
# Boot a Microkit image under QEMU (the command lines of the seL4 section of
# README.md).
#
#   qemu.sh BOARD CONFIG IMAGE                      interactive (serial on stdio; C-a x quits)
#   qemu.sh BOARD CONFIG IMAGE LOG TIMEOUT [REGEX]  serial to LOG; stop when a line
#                                                   matches REGEX (grep -E), or after
#                                                   TIMEOUT seconds; status 124 on timeout
# Environment: MICROKIT_SDK (x86: the kernel ELF), QEMU_ICOUNT=1 (deterministic
# instruction counting: -icount shift=0,align=off,sleep=off, 1 instruction = 1 ns
# of virtual time), QEMU_EXTRA (more options), QEMU_RX_FILE (with LOG: bytes
# fed to the serial port's receiver, as fast as the UART takes them).
set -u
board=${1:?board} config=${2:?config} image=${3:?image}
log=${4:-} timeout=${5:-300} until=${6:-}

case "$board" in
  qemu_virt_aarch64)
    cmd=(qemu-system-aarch64 -machine virt,virtualization=on -cpu cortex-a53 -m size=2G
         -device "loader,file=$image,addr=0x70000000,cpu-num=0") ;;
  x86_64_generic)
    : "${MICROKIT_SDK:?MICROKIT_SDK must point at the Microkit SDK (x86 boots its 32-bit kernel ELF)}"
    cmd=(qemu-system-x86_64 -cpu qemu64,+fsgsbase,+pdpe1gb,+xsaveopt,+xsave -m 1G
         -kernel "$MICROKIT_SDK/board/$board/$config/elf/sel4_32.elf" -initrd "$image") ;;
  *) echo "qemu.sh: unsupported board $board" >&2; exit 2 ;;
esac
if [ "${QEMU_ICOUNT:-}" = 1 ]; then
  cmd+=(-icount shift=0,align=off,sleep=off)
fi
# shellcheck disable=SC2206
cmd+=(${QEMU_EXTRA:-})

# One console: the serial port, plus on x86 the QEMU debug console ports that
# the PDs without the UART write to (system.xml: recovery_monitor 0xe9,
# client 0xea), multiplexed into the same output. A mux gives its input to
# the frontend attached last, so on x86 COM1 is created after the debug
# ports (-serial none, then isa-serial): with -serial first, every byte of
# input went to a debug port and the driver never had a receive interrupt.
if [ "$board" = x86_64_generic ]; then
  console=(-serial none
           -device isa-debugcon,iobase=0xe9,chardev=con -device isa-debugcon,iobase=0xea,chardev=con
           -device isa-serial,chardev=con,iobase=0x3f8,irq=4)
else
  console=(-serial chardev:con)
fi

if [ -z "$log" ]; then
  exec "${cmd[@]}" -display none -chardev stdio,id=con,mux=on -mon chardev=con "${console[@]}"
fi

: > "$log"
input=${QEMU_RX_FILE:+,input-path=$QEMU_RX_FILE}
"${cmd[@]}" -display none -monitor none -chardev "file,id=con,path=$log$input,mux=on" "${console[@]}" < /dev/null &
qemu=$!
start=$SECONDS
status=124
while kill -0 "$qemu" 2> /dev/null; do
  if [ -n "$until" ] && grep -aqE "$until" "$log"; then
    sleep 1   # let the last lines out
    status=0
    break
  fi
  if [ $((SECONDS - start)) -ge "$timeout" ]; then
    echo "qemu.sh: stopped after ${timeout}s" >&2
    break
  fi
  sleep 1
done
if kill -0 "$qemu" 2> /dev/null; then
  kill "$qemu" 2> /dev/null
  wait "$qemu" 2> /dev/null
else
  wait "$qemu"; rc=$?
  echo "qemu.sh: QEMU exited with status $rc" >&2
  [ $status = 124 ] && status=$rc
fi
exit $status
