//! The cost of one protocol check, measured where the driver runs.
//!
//! The same work as the host benchmark (`support/tingu-runtime/benches/
//! check.rs`): the serial driver's observer checks a `write` request and its
//! `written` reply, after `open`/`opened`; the same loop with
//! [`NoObserver`] is the baseline measured in the same run. On seL4 the
//! glue calls this before `init` when built for `make bench-qemu-observers`
//! and reads its clock around it: under QEMU `-icount shift=0` virtual time
//! is the instruction count, so the figures are guest instructions.
//!
//! What must never happen: a failed check counted as a cost (the
//! measurement is refused instead).

use crate::{CLIENT, MONITOR};
use channel::{Dir, Event, Kind, NoObserver, Observer};
use core::hint::black_box;
use serial_api::spec::serial_stream::msg;
use serial_api::spec::{SerialChannels, SerialObserver};

/// Clock readings around the two loops (in the caller's clock unit).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CheckCost {
    /// Request/reply pairs checked by each loop.
    pub pairs: u32,
    /// The serial driver's generated observer.
    pub observed: u64,
    /// The same loop with the observer that allows everything.
    pub baseline: u64,
}

impl CheckCost {
    /// Net cost of one check (half a pair), in the clock's unit, as a
    /// fraction: `(observed - baseline) / (2 * pairs)`.
    pub fn net_per_check(&self) -> f64 {
        self.observed.saturating_sub(self.baseline) as f64 / (2.0 * f64::from(self.pairs.max(1)))
    }

    /// Gross cost of one check, the call into the observer included.
    pub fn gross_per_check(&self) -> f64 {
        self.observed as f64 / (2.0 * f64::from(self.pairs.max(1)))
    }
}

fn ev(dir: Dir, kind: Kind, msg: pd_core::Message) -> Event {
    Event {
        ch: CLIENT,
        dir,
        kind,
        msg,
    }
}

fn pairs<O: Observer>(obs: &mut O, pairs: u32, write: &Event, written: &Event) -> bool {
    let mut ok = true;
    for i in 0..pairs {
        let now = u64::from(i);
        ok &= obs.check(black_box(write), black_box(now)).is_ok();
        ok &= obs.check(black_box(written), black_box(now)).is_ok();
    }
    ok
}

/// Check `pairs` write/written pairs with the serial observer and with
/// [`NoObserver`], reading `clock` around each loop. `None` if the observer
/// cannot be built or refuses a message (then there is nothing to measure).
pub fn measure(pairs_n: u32, clock: impl Fn() -> u64) -> Option<CheckCost> {
    let channels = SerialChannels {
        client: CLIENT,
        monitor: MONITOR,
    };
    let mut obs = SerialObserver::<16>::new(channels, 0).ok()?;
    let open = ev(Dir::In, Kind::Call, msg::Open::new().encode());
    let opened = ev(Dir::Out, Kind::Reply, msg::Opened::new(1).encode());
    obs.check(&open, 0).ok()?;
    obs.check(&opened, 0).ok()?;
    let write = ev(Dir::In, Kind::Call, msg::Write::new(1, 0, 64).encode());
    let written = ev(Dir::Out, Kind::Reply, msg::Written::new(1, 64).encode());

    let mut none = NoObserver;
    let t0 = clock();
    let base_ok = pairs(&mut none, pairs_n, &write, &written);
    let t1 = clock();
    let obs_ok = pairs(&mut obs, pairs_n, &write, &written);
    let t2 = clock();
    (base_ok && obs_ok).then_some(CheckCost {
        pairs: pairs_n,
        observed: t2.wrapping_sub(t1),
        baseline: t1.wrapping_sub(t0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn every_check_passes_and_the_clock_is_read_around_each_loop() {
        let t = Cell::new(0u64);
        let clock = || {
            t.set(t.get() + 100);
            t.get()
        };
        let c = measure(1000, clock).expect("the observer allows every pair");
        assert_eq!(c.pairs, 1000);
        // Three readings, 100 apart: each loop spans one step.
        assert_eq!((c.baseline, c.observed), (100, 100));
        assert_eq!(c.gross_per_check(), 0.05);
        assert_eq!(c.net_per_check(), 0.0);
    }
}
