//! The block bench's workload on the host (4 × 2,048 requests of 4 KiB, 32
//! in flight, every read compared) through the client's queue, the block
//! server and the virtio-blk driver on the virtio model, in process:
//! fault-free, and with the driver killed about once per 1,000 requests
//! (some deaths a cold start), in the same run, so that the two times give
//! the throughput ratio. Each iteration's disk is judged like the test's.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};

/// Events between deaths, on average, for about one death per 1,000
/// requests (the kill-anywhere test's 400 gives ~21 per 1,000).
const GAP_PER_MILLE: u64 = 8_500;

fn run(c: &mut Criterion, name: &str, gap: u64, cold_every: u64) {
    let mut deaths = 0;
    let mut runs = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            let o = common::side::run_bench(1 + runs, gap, cold_every);
            assert!(
                blk_bench::first_wrong_block(&o.disk).is_none(),
                "{name}: disk wrong"
            );
            assert!(
                o.phases.iter().all(|p| p.mismatched == 0),
                "{name}: a read was wrong"
            );
            deaths += o.deaths;
            runs += 1;
        })
    });
    let requests = runs * u64::from(blk_bench::REQUESTS) * blk_bench::PHASES.len() as u64;
    eprintln!(
        "{name}: {deaths} driver deaths over {runs} runs, {:.2} per 1,000 requests",
        deaths as f64 * 1000.0 / requests.max(1) as f64
    );
}

fn bench(c: &mut Criterion) {
    common::quiet_crashes();
    run(c, "blk bench workload, fault-free", u64::MAX / 4, 0);
    run(
        c,
        "blk bench workload, one death per ~1,000 requests",
        GAP_PER_MILLE,
        4,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
