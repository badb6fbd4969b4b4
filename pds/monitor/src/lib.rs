//! The monitor PD: the `monitor` crate's supervisor, configured with the child
//! table generated at build time from `system.xml` (`<restart_policy>`), and
//! wrapped in the channel layer like every PD.
//!
//! What must never happen: a policy here that differs from the one declared in
//! the system description.
#![no_std]

use channel::{Checked, CheckedHandler, NoObserver, ObserverCell};
use monitor::{ChildConfig, Monitor, Policy};
use pd_core::Platform;

include!(concat!(env!("OUT_DIR"), "/children.rs"));

static OBSERVER: ObserverCell<NoObserver> = ObserverCell::new();

/// The monitor, inside the channel layer.
pub type MonitorPd<P> = CheckedHandler<P, NoObserver, Monitor<Checked<P, NoObserver>>>;

/// Entry point.
pub fn init<P: Platform>(platform: P) -> MonitorPd<P> {
    let p = Checked::new(platform, OBSERVER.init(NoObserver));
    CheckedHandler::new(p.clone(), Monitor::new(p, CHILDREN))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_is_the_system_descriptions() {
        assert_eq!(super::CHILDREN.len(), 1);
        let c = &super::CHILDREN[0];
        assert_eq!(
            (c.name, c.id, c.region_setvar),
            ("serial", 0, "serial_persistent")
        );
        assert_eq!((c.ready_channel, c.notify_channels), (1, &[2u8][..]));
        assert_eq!(c.policy.hang_ns, 100_000_000);
    }
}
