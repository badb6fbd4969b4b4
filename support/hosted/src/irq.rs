//! Interrupt delivery with seL4 semantics: an IRQ is delivered as a
//! notification on its channel and then masked until the PD acknowledges it.
//! A level-triggered source that is still asserted at the acknowledge is
//! delivered again; an edge that arrives while masked is latched.

use crate::shm::PdBlock;
use std::sync::atomic::Ordering::SeqCst;

/// A level-triggered source is asserted: deliver unless masked.
pub fn raise_level(pd: &PdBlock, bit: u64) {
    if pd.irq_masked.fetch_or(bit, SeqCst) & bit == 0 {
        pd.signal(bit);
    }
}

/// A rising edge: deliver, or latch if masked.
pub fn raise_edge(pd: &PdBlock, bit: u64) {
    if pd.irq_masked.fetch_or(bit, SeqCst) & bit == 0 {
        pd.signal(bit);
    } else {
        pd.irq_latched.fetch_or(bit, SeqCst);
    }
}

/// Acknowledge: unmask, and deliver a latched edge. The caller re-evaluates
/// level sources afterwards.
pub fn ack(pd: &PdBlock, bit: u64) {
    pd.irq_masked.fetch_and(!bit, SeqCst);
    if pd.irq_latched.fetch_and(!bit, SeqCst) & bit != 0 {
        raise_edge(pd, bit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::Zeroable;

    #[test]
    fn an_irq_is_not_redelivered_until_acknowledged() {
        let pd = PdBlock::zeroed_box();
        raise_level(&pd, 1 << 2);
        assert_eq!(pd.notify_bits.swap(0, SeqCst), 1 << 2);
        raise_level(&pd, 1 << 2);
        raise_level(&pd, 1 << 2);
        assert_eq!(pd.notify_bits.load(SeqCst), 0, "masked until ack");
        ack(&pd, 1 << 2);
        assert_eq!(
            pd.notify_bits.load(SeqCst),
            0,
            "level sources are re-evaluated by the caller"
        );
        raise_level(&pd, 1 << 2);
        assert_eq!(pd.notify_bits.load(SeqCst), 1 << 2);
    }

    #[test]
    fn an_edge_while_masked_is_latched_and_delivered_at_ack() {
        let pd = PdBlock::zeroed_box();
        raise_edge(&pd, 1 << 5);
        assert_eq!(pd.notify_bits.swap(0, SeqCst), 1 << 5);
        raise_edge(&pd, 1 << 5);
        assert_eq!(pd.notify_bits.load(SeqCst), 0);
        ack(&pd, 1 << 5);
        assert_eq!(pd.notify_bits.swap(0, SeqCst), 1 << 5);
        // Delivered again, so masked again.
        assert_eq!(pd.irq_masked.load(SeqCst), 1 << 5);
    }
}
