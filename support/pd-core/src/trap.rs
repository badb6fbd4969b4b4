//! Deliberate faults that carry a meaning to the parent.
//!
//! A PD that finds itself broken (its protocol observer refused a message it
//! tried to send) must stop and be handled by its monitor like any faulted PD.
//! It does so by reading from a reserved, never-mapped address range that
//! encodes the reason; the kernel (or the hosted runtime) delivers an ordinary
//! VM fault, and [`crate::Fault::refine`] turns it back into a meaningful fault.
//! This needs no extra channel, works when the PD's state is unreliable, and is
//! identical on both backends.

/// Start of the reserved range (896 GiB: never mapped by Microkit or by Linux
/// for our processes).
pub const TRAP_BASE: u64 = 0xE0_0000_0000;
/// Size of the reserved range.
pub const TRAP_SIZE: u64 = 1 << 32;

/// Trap code for a protocol violation.
pub const CODE_PROTOCOL: u64 = 1;

/// Address encoding `code`, channel and low 16 bits of a label.
pub const fn address(code: u64, ch: u8, label: u64) -> u64 {
    TRAP_BASE | ((code & 0xff) << 24) | ((ch as u64) << 16) | (label & 0xffff)
}

/// Decode a trap address into (code, channel, label).
pub const fn decode(addr: u64) -> Option<(u64, u8, u64)> {
    if addr < TRAP_BASE || addr >= TRAP_BASE + TRAP_SIZE {
        return None;
    }
    let off = addr - TRAP_BASE;
    Some(((off >> 24) & 0xff, ((off >> 16) & 0xff) as u8, off & 0xffff))
}

/// Fault this PD with a protocol-violation trap. Never returns: if the fault
/// is answered with "resume", the access is simply retried.
pub fn protocol_violation(ch: u8, label: u64) -> ! {
    let addr = address(CODE_PROTOCOL, ch, label) as *const u8;
    loop {
        // SAFETY: the address is reserved and never mapped: the read faults,
        // which is the purpose. Volatile keeps it from being elided.
        unsafe { core::ptr::read_volatile(addr) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        let a = address(CODE_PROTOCOL, 61, 0x1_2345);
        assert_eq!(decode(a), Some((CODE_PROTOCOL, 61, 0x2345)));
        assert_eq!(decode(0xdead_0000), None);
        assert_eq!(decode(TRAP_BASE + TRAP_SIZE), None);
    }
}
