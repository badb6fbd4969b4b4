//! Cost of one observer check: a generated observer against
//! `channel::NoObserver`, in the same run.
//!
//! Each iteration checks a request and its reply (`write` in, `written` out on
//! the serial driver's observer), so the figure per check is half the
//! iteration time. The PowerManagement case adds a guard, an action and a
//! dependency (`lc.startComplete` checked by two protocols).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tingu_runtime::channel::{Dir, Event, Kind, NoObserver, Observer};
use tingu_runtime::pd_core::{Channel, Message};

#[allow(dead_code)]
mod system {
    include!("../tests/gen/system.rs");
}
#[allow(dead_code)]
mod asix {
    include!("../tests/gen/asix.rs");
}

fn ev(ch: u8, dir: Dir, kind: Kind, msg: Message) -> Event {
    Event {
        ch: Channel::of(ch),
        dir,
        kind,
        msg,
    }
}

fn bench(c: &mut Criterion) {
    use system::serial_stream::msg;
    let write = ev(1, Dir::In, Kind::Call, msg::Write::new(1, 0, 64).encode());
    let written = ev(1, Dir::Out, Kind::Reply, msg::Written::new(1, 64).encode());
    let mut g = c.benchmark_group("check (request + reply)");

    let mut none = NoObserver;
    g.bench_function("NoObserver", |b| {
        b.iter(|| {
            let a = none.check(black_box(&write), black_box(1));
            let r = none.check(black_box(&written), black_box(2));
            black_box((a, r))
        })
    });

    let mut obs = system::SerialObserver::<16>::new(
        system::SerialChannels {
            client: Channel::of(1),
            monitor: Channel::of(2),
        },
        0,
    )
    .expect("distinct channels");
    let open = ev(1, Dir::In, Kind::Call, msg::Open::new().encode());
    let opened = ev(1, Dir::Out, Kind::Reply, msg::Opened::new(1).encode());
    assert!(obs.check(&open, 0).is_ok() && obs.check(&opened, 0).is_ok());
    g.bench_function("SerialObserver write/written", |b| {
        b.iter(|| {
            let a = obs.check(black_box(&write), black_box(1));
            let r = obs.check(black_box(&written), black_box(2));
            assert!(a.is_ok() && r.is_ok());
            black_box((a, r))
        })
    });

    // PowerManagement: sleep (guard + action) and its completion, then wake.
    use asix::{lifecycle, power_management as pm};
    let mut a = asix::AsixObserver::<16>::new(
        asix::AsixChannels {
            lc: Channel::of(1),
            pm: Channel::of(2),
            usb: Channel::of(3),
        },
        0,
    )
    .expect("distinct channels");
    let start = ev(
        1,
        Dir::In,
        Kind::Call,
        Message::new(lifecycle::label::START),
    );
    let done = ev(
        1,
        Dir::Out,
        Kind::Reply,
        Message::new(lifecycle::label::START_COMPLETE),
    );
    assert!(a.check(&start, 0).is_ok() && a.check(&done, 0).is_ok());
    let sleep = ev(2, Dir::In, Kind::Call, pm::msg::Sleep::new(2).encode());
    let slept = ev(
        2,
        Dir::Out,
        Kind::Reply,
        pm::msg::SleepComplete::new().encode(),
    );
    let wake = ev(2, Dir::In, Kind::Call, pm::msg::Wake::new().encode());
    let woken = ev(
        2,
        Dir::Out,
        Kind::Reply,
        pm::msg::WakeComplete::new().encode(),
    );
    g.bench_function(
        "AsixObserver sleep/sleepComplete/wake/wakeComplete (x0.5)",
        |b| {
            b.iter(|| {
                let r = [
                    a.check(black_box(&sleep), 1),
                    a.check(black_box(&slept), 2),
                    a.check(black_box(&wake), 3),
                    a.check(black_box(&woken), 4),
                ];
                assert!(r.iter().all(Result::is_ok));
                black_box(r)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
