//! Faults of a child PD, decoded from the kernel's fault message without ever
//! trusting its shape.
//!
//! The decoder takes the raw label and message registers of an seL4 fault IPC
//! (MCS kernel numbering, as Microkit builds it) and never panics: an unknown
//! label or a short message decodes to [`Fault::Unknown`]. This matters because
//! `sel4::MessageInfo::fault()` panics on the aarch64 DebugException label, and a
//! monitor that dies on a child's fault takes the whole system with it.
//!
//! The hosted runtime produces the same [`Fault`] values from Linux signals, so
//! the monitor sees one vocabulary on both backends.

use core::fmt;

/// CPU architecture of the faulting PD.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Arch {
    /// AArch64 (qemu_virt_aarch64).
    Aarch64,
    /// x86_64 (x86_64_generic).
    X86_64,
}

impl Arch {
    /// Name as used in board and target names.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aarch64 => "aarch64",
            Self::X86_64 => "x86_64",
        }
    }
}

/// seL4 fault labels (`seL4_Fault_*` tags) on an MCS kernel, as Microkit builds it.
pub mod label {
    /// Not a fault.
    pub const NULL: u64 = 0;
    /// Capability lookup failure on a syscall.
    pub const CAP_FAULT: u64 = 1;
    /// A syscall number the kernel does not know.
    pub const UNKNOWN_SYSCALL: u64 = 2;
    /// A CPU exception not otherwise classified (x86 `ud2`, divide error, ...).
    pub const USER_EXCEPTION: u64 = 3;
    /// Breakpoint or watchpoint (aarch64 `brk`, emitted by a Rust panic/abort).
    pub const DEBUG_EXCEPTION: u64 = 4;
    /// Scheduling-context budget exhausted (MCS timeout fault).
    pub const TIMEOUT: u64 = 5;
    /// Virtual-memory fault (translation or permission).
    pub const VM_FAULT: u64 = 6;
    /// aarch64 kernels with hypervisor support (qemu_virt_aarch64): a trap
    /// from a lower exception level that the kernel does not otherwise
    /// handle, MR0 = ESR. Without the hardware debug API (Microkit
    /// `release`), this is how a `brk` (a Rust panic) arrives.
    pub const VCPU_FAULT: u64 = 8;
}

/// A coarse class of fault, for policy and statistics.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// Wild write, null read, execute of a bad address.
    Memory,
    /// Illegal instruction or other CPU exception.
    Exception,
    /// Panic or abort that ended in a breakpoint.
    Panic,
    /// Capability fault or unknown syscall.
    Capability,
    /// Stuck in a loop, found by a watchdog or a budget timeout.
    Hang,
    /// A protocol observer caught an illegal message.
    Protocol,
    /// The process died without a decodable fault (hosted runtime only).
    Died,
    /// Stopped from outside at an instant of nobody's choosing (fault
    /// injection: the monitor suspended the child).
    Stopped,
    /// Anything the decoder did not recognise.
    Unknown,
}

impl FaultKind {
    /// Short lower-case name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Exception => "exception",
            Self::Panic => "panic",
            Self::Capability => "capability",
            Self::Hang => "hang",
            Self::Protocol => "protocol",
            Self::Died => "died",
            Self::Stopped => "stopped",
            Self::Unknown => "unknown",
        }
    }
}

/// A decoded fault.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Fault {
    /// VM fault: `addr` is the faulting data (or instruction) address.
    VmFault {
        /// Instruction pointer.
        ip: u64,
        /// Faulting address.
        addr: u64,
        /// True for an instruction fetch (prefetch abort).
        instruction: bool,
        /// Architecture fault status (ESR on aarch64, error code on x86).
        fsr: u64,
    },
    /// CPU exception; `number` is the exception vector (x86: 6 = `ud2`).
    UserException {
        /// Instruction pointer.
        ip: u64,
        /// Exception number.
        number: u64,
        /// Exception code.
        code: u64,
    },
    /// Breakpoint exception (aarch64 `brk`, how a Rust panic ends there).
    DebugException {
        /// Instruction pointer.
        ip: u64,
        /// Kernel's exception reason.
        reason: u64,
    },
    /// Capability fault.
    CapFault {
        /// Instruction pointer.
        ip: u64,
        /// Capability address that failed to resolve.
        cptr: u64,
    },
    /// Unknown syscall.
    UnknownSyscall {
        /// Instruction pointer.
        ip: u64,
        /// Syscall number.
        syscall: u64,
    },
    /// No progress within the watchdog interval (detected by the parent, not the kernel).
    Hang {
        /// How long the child made no progress, in milliseconds.
        stalled_ms: u64,
    },
    /// A protocol observer refused a message sent by the child.
    ProtocolViolation {
        /// Channel of the offending message (as the child names it).
        channel: u8,
        /// Label of the offending message.
        label: u64,
    },
    /// The child is about to stay in a protocol timeout state past its
    /// deadline (found by the parent's watchdog from the deadline the child's
    /// observer publishes, early enough that the error reply a restart sends
    /// is itself still on time).
    ProtocolTimeout {
        /// Time left before the deadline when it was found (0 if already past).
        left_ms: u64,
    },
    /// The child process ended without a decodable fault (hosted runtime).
    Died {
        /// Signal number, or 0 for a plain exit.
        signal: u64,
    },
    /// The parent stopped the child asynchronously, wherever it was (fault
    /// injection), and handles that like a fault.
    Stopped {
        /// Where the child was stopped, if the platform can tell (0: unknown).
        ip: u64,
    },
    /// A fault the decoder does not know; carries the raw label.
    Unknown {
        /// Raw fault label.
        label: u64,
    },
}

impl Fault {
    /// Decode an seL4 fault message. Never panics: missing registers read as 0
    /// and unknown labels give [`Fault::Unknown`].
    pub fn decode(arch: Arch, label: u64, mrs: &[u64]) -> Self {
        let mr = |i: usize| mrs.get(i).copied().unwrap_or(0);
        match label {
            label::VM_FAULT => Self::VmFault {
                ip: mr(0),
                addr: mr(1),
                instruction: mr(2) != 0,
                fsr: mr(3),
            },
            label::USER_EXCEPTION => Self::UserException {
                ip: mr(0),
                number: mr(3),
                code: mr(4),
            },
            label::DEBUG_EXCEPTION => Self::DebugException {
                ip: mr(0),
                reason: mr(1),
            },
            label::CAP_FAULT => Self::CapFault {
                ip: mr(0),
                cptr: mr(1),
            },
            label::UNKNOWN_SYSCALL => {
                // The general registers come first; their count differs per arch.
                let (ip, sc) = match arch {
                    Arch::Aarch64 => (8, 12),
                    Arch::X86_64 => (15, 18),
                };
                Self::UnknownSyscall {
                    ip: mr(ip),
                    syscall: mr(sc),
                }
            }
            label::TIMEOUT => Self::Hang { stalled_ms: 0 },
            label::VCPU_FAULT if arch == Arch::Aarch64 => {
                // The message has the ESR only, no instruction pointer.
                let esr = mr(0);
                match esr >> 26 {
                    // EC 0x3c: BRK from AArch64, as a DebugException's
                    // "software break request" would report it.
                    0x3c => Self::DebugException { ip: 0, reason: 3 },
                    ec => Self::UserException {
                        ip: 0,
                        number: ec,
                        code: esr,
                    },
                }
            }
            other => Self::Unknown { label: other },
        }
        .refine()
    }

    /// Turn a VM fault on a reserved trap address ([`crate::trap`]) into the
    /// fault it stands for; anything else is returned unchanged.
    pub fn refine(self) -> Self {
        if let Self::VmFault { addr, .. } = self {
            if let Some((crate::trap::CODE_PROTOCOL, channel, label)) = crate::trap::decode(addr) {
                return Self::ProtocolViolation { channel, label };
            }
        }
        self
    }

    /// The coarse class of this fault on `arch`.
    pub fn kind(&self, arch: Arch) -> FaultKind {
        match *self {
            Self::VmFault { .. } => FaultKind::Memory,
            // x86: a Rust panic with panic=abort executes `ud2` (#UD, vector 6).
            Self::UserException { number: 6, .. } if arch == Arch::X86_64 => FaultKind::Panic,
            Self::UserException { .. } => FaultKind::Exception,
            Self::DebugException { .. } => FaultKind::Panic,
            Self::CapFault { .. } | Self::UnknownSyscall { .. } => FaultKind::Capability,
            Self::Hang { .. } => FaultKind::Hang,
            Self::ProtocolViolation { .. } | Self::ProtocolTimeout { .. } => FaultKind::Protocol,
            Self::Died { .. } => FaultKind::Died,
            Self::Stopped { .. } => FaultKind::Stopped,
            Self::Unknown { .. } => FaultKind::Unknown,
        }
    }

    /// Instruction pointer, where the fault carries one.
    pub fn ip(&self) -> Option<u64> {
        match *self {
            Self::VmFault { ip, .. }
            | Self::UserException { ip, .. }
            | Self::DebugException { ip, .. }
            | Self::CapFault { ip, .. }
            | Self::UnknownSyscall { ip, .. } => Some(ip),
            _ => None,
        }
    }
}

/// An instruction pointer as logged: 0 is what a fault message that carries
/// none decodes to (an aarch64 VCPU fault has the ESR only; a stop from
/// outside may find no registers), never a PD's real instruction (page 0 is
/// never mapped), so it reads "unknown", not a made-up address.
struct Ip(u64);

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("unknown"),
            ip => write!(f, "{ip:#x}"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::VmFault {
                ip,
                addr,
                instruction,
                fsr,
            } => write!(
                f,
                "vm-fault {} addr={addr:#x} ip={} fsr={fsr:#x}",
                if instruction { "fetch" } else { "data" },
                Ip(ip)
            ),
            Self::UserException { ip, number, code } => {
                write!(
                    f,
                    "user-exception number={number} code={code} ip={}",
                    Ip(ip)
                )
            }
            Self::DebugException { ip, reason } => {
                write!(f, "debug-exception reason={reason} ip={}", Ip(ip))
            }
            Self::CapFault { ip, cptr } => write!(f, "cap-fault cptr={cptr:#x} ip={}", Ip(ip)),
            Self::UnknownSyscall { ip, syscall } => {
                write!(f, "unknown-syscall {syscall} ip={}", Ip(ip))
            }
            Self::Hang { stalled_ms } => write!(f, "hang stalled={stalled_ms}ms"),
            Self::ProtocolViolation { channel, label } => {
                write!(f, "protocol-violation ch{channel} label={label}")
            }
            Self::ProtocolTimeout { left_ms } => {
                write!(f, "protocol-timeout deadline-in={left_ms}ms")
            }
            Self::Died { signal } => write!(f, "died signal={signal}"),
            Self::Stopped { ip } => write!(f, "stopped-async ip={}", Ip(ip)),
            Self::Unknown { label } => write!(f, "unknown-fault label={label}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_without_an_instruction_pointer_says_so() {
        // aarch64 release/benchmark kernels report a panic's `brk` as a VCPU
        // fault: the message has the ESR only.
        let f = Fault::decode(Arch::Aarch64, label::VCPU_FAULT, &[0xf200_0001]);
        let text = alloc_free_format(&f);
        assert!(text.as_str().ends_with("ip=unknown"), "{}", text.as_str());
        let g = Fault::UserException {
            ip: 0x20_1000,
            number: 6,
            code: 0,
        };
        assert!(alloc_free_format(&g).as_str().ends_with("ip=0x201000"));
    }

    /// Format into a fixed buffer (the crate is no_std).
    fn alloc_free_format(f: &Fault) -> Buf {
        use core::fmt::Write;
        let mut s = Buf([0; 96], 0);
        let _ = write!(s, "{f}");
        s
    }

    struct Buf([u8; 96], usize);

    impl Buf {
        fn as_str(&self) -> &str {
            core::str::from_utf8(&self.0[..self.1]).unwrap_or("?")
        }
    }

    impl core::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(core::fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    #[test]
    fn vm_fault_decodes_on_both_arches() {
        for arch in [Arch::Aarch64, Arch::X86_64] {
            let f = Fault::decode(arch, label::VM_FAULT, &[0x20_1000, 0xdead_0000, 0, 0x92]);
            assert_eq!(
                f,
                Fault::VmFault {
                    ip: 0x20_1000,
                    addr: 0xdead_0000,
                    instruction: false,
                    fsr: 0x92
                }
            );
            assert_eq!(f.kind(arch), FaultKind::Memory);
        }
    }

    #[test]
    fn panic_is_recognised_per_arch() {
        let brk = Fault::decode(Arch::Aarch64, label::DEBUG_EXCEPTION, &[0x20_2000, 0, 0, 0]);
        assert_eq!(brk.kind(Arch::Aarch64), FaultKind::Panic);
        let ud2 = Fault::decode(
            Arch::X86_64,
            label::USER_EXCEPTION,
            &[0x20_3000, 0, 0, 6, 0],
        );
        assert_eq!(ud2.kind(Arch::X86_64), FaultKind::Panic);
        let div = Fault::decode(
            Arch::X86_64,
            label::USER_EXCEPTION,
            &[0x20_3000, 0, 0, 0, 0],
        );
        assert_eq!(div.kind(Arch::X86_64), FaultKind::Exception);
    }

    #[test]
    fn a_brk_without_the_debug_api_is_a_panic_on_aarch64() {
        // ESR 0xf2000001: EC 0x3c (BRK64), IL, comment 1.
        let f = Fault::decode(Arch::Aarch64, label::VCPU_FAULT, &[0xf200_0001]);
        assert_eq!(f.kind(Arch::Aarch64), FaultKind::Panic);
        let other = Fault::decode(Arch::Aarch64, label::VCPU_FAULT, &[0x6230_e51b]);
        assert_eq!(other.kind(Arch::Aarch64), FaultKind::Exception);
        assert_eq!(
            Fault::decode(Arch::X86_64, 8, &[0]),
            Fault::Unknown { label: 8 }
        );
    }

    #[test]
    fn protocol_traps_refine_to_violations() {
        let addr = crate::trap::address(crate::trap::CODE_PROTOCOL, 4, 17);
        let f = Fault::decode(Arch::Aarch64, label::VM_FAULT, &[0x1000, addr, 0, 0]);
        assert_eq!(
            f,
            Fault::ProtocolViolation {
                channel: 4,
                label: 17
            }
        );
        assert_eq!(f.kind(Arch::Aarch64), FaultKind::Protocol);
    }

    #[test]
    fn short_or_unknown_messages_never_panic() {
        assert_eq!(
            Fault::decode(Arch::Aarch64, label::VM_FAULT, &[]),
            Fault::VmFault {
                ip: 0,
                addr: 0,
                instruction: false,
                fsr: 0
            }
        );
        assert_eq!(
            Fault::decode(Arch::Aarch64, 9, &[1, 2]),
            Fault::Unknown { label: 9 }
        );
        let us = Fault::decode(Arch::X86_64, label::UNKNOWN_SYSCALL, &[0; 19]);
        assert_eq!(us.kind(Arch::X86_64), FaultKind::Capability);
    }
}
