//! seL4 fault messages (`pd_core::Fault::decode`): the label and message
//! registers come from the kernel on behalf of a faulting child, so every
//! value is possible. Decoding, refining, classifying and printing must
//! never panic, on either architecture.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pd_core::fault::label;
use pd_core::{trap, Arch, Fault};
use selfheal_fuzz::Reader;

const LABELS: &[u64] = &[
    label::NULL,
    label::CAP_FAULT,
    label::UNKNOWN_SYSCALL,
    label::USER_EXCEPTION,
    label::DEBUG_EXCEPTION,
    label::TIMEOUT,
    label::VM_FAULT,
    7,
    label::VCPU_FAULT,
    9,
];

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let arch = if r.bool() {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    let label = r.label(LABELS);
    // More registers than any fault message has, and fewer.
    let n = usize::from(r.u8() % 24);
    let mut mrs: Vec<u64> = (0..n).map(|_| r.word()).collect();
    // A VM fault address in the trap range half of the time.
    if mrs.len() > 1 && r.bool() {
        mrs[1] = trap::TRAP_BASE.wrapping_add(mrs[1] % (trap::TRAP_SIZE + 16));
    }

    let f = Fault::decode(arch, label, &mrs);
    // Refining is idempotent, and decoding is a function of its input.
    assert_eq!(f.refine(), f);
    assert_eq!(Fault::decode(arch, label, &mrs), f);
    for a in [Arch::Aarch64, Arch::X86_64] {
        let _ = f.kind(a).name();
        let _ = a.name();
    }
    let _ = f.ip();
    let text = f.to_string();
    assert!(!text.is_empty());

    // Trap addresses round-trip for every code, channel and label.
    let (code, ch, lab) = (r.word(), r.u8(), r.word());
    let addr = trap::address(code, ch, lab);
    assert_eq!(trap::decode(addr), Some((code & 0xff, ch, lab & 0xffff)));
    let _ = trap::decode(r.u64());
});
