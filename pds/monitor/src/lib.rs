//! The monitor PD: the `monitor` crate's supervisor, configured with the child
//! table generated at build time from `system.xml` (`<restart_policy>`), and
//! wrapped in the channel layer like every PD.
//!
//! What must never happen: a policy here that differs from the one declared in
//! the system description.
#![no_std]

use channel::{Checked, CheckedHandler, NoObserver, ObserverCell};
use monitor::{ChildConfig, Monitor, Policy};
use pd_core::{Channel, Platform};
use serial_api::spec::{MonitorChannels, MonitorObserver};

include!(concat!(env!("OUT_DIR"), "/children.rs"));

static OBSERVER: ObserverCell<MonitorObserver> = ObserverCell::new();
static NO_OBSERVER: ObserverCell<NoObserver> = ObserverCell::new();

/// Entry point without protocol checking: only for measuring what the
/// observers cost.
pub fn init_unchecked<P: Platform>(
    platform: P,
) -> CheckedHandler<P, NoObserver, Monitor<Checked<P, NoObserver>>> {
    let p = Checked::new(platform, NO_OBSERVER.init(NoObserver));
    CheckedHandler::new(p.clone(), Monitor::new(p, CHILDREN))
}

/// The monitor, inside the channel layer.
pub type MonitorPd<P> = CheckedHandler<P, MonitorObserver, Monitor<Checked<P, MonitorObserver>>>;

/// The monitor's channel to the serial driver (its `ready` notifications).
pub const SERIAL_LC: Channel = Channel::of(1);
/// The monitor's channel to the serial driver's client.
pub const SERIAL_CLIENT: Channel = Channel::of(2);

/// Entry point.
pub fn init<P: Platform>(platform: P) -> MonitorPd<P> {
    let channels = MonitorChannels {
        serial_lc: SERIAL_LC,
        serial_client: SERIAL_CLIENT,
    };
    let observer = match MonitorObserver::new(channels, platform.now_ns()) {
        Ok(o) => o,
        Err((a, b)) => panic!("monitor: ports {a} and {b} share a channel"),
    };
    let p = Checked::new(platform, OBSERVER.init(observer));
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
