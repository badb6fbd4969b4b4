//! The client's stream configuration (`pd_client::StreamConfig`): prefilled
//! into a region by the build or the test harness, read by the client PD.
//! Any bytes give a configuration (the default unless the magic is right),
//! and any configuration with any buffer sizes gives a write size that fits
//! both buffers, or none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pd_client::{StreamConfig, CONFIG_MAGIC};

fuzz_target!(|data: &[u8]| {
    let (sizes, bytes) = data.split_at(data.len().min(4));
    let mut s = [0u8; 4];
    s[..sizes.len()].copy_from_slice(sizes);
    let buf_size = usize::from(u16::from_le_bytes([s[0], s[1]]));
    let scratch = usize::from(u16::from_le_bytes([s[2], s[3]]));

    let mut bytes = bytes.to_vec();
    if bytes.len() >= 4 && bytes[0] & 1 != 0 {
        bytes[..4].copy_from_slice(&CONFIG_MAGIC.to_le_bytes());
    }
    let c = StreamConfig::from_bytes(&bytes);
    assert_eq!(c.magic, CONFIG_MAGIC);
    match c.write_limit(buf_size, scratch) {
        Some(n) => {
            assert!(n >= frames::FRAME && n <= buf_size.min(scratch));
            // The frame generator fills a buffer of that size without
            // trouble (a few frames: the count is the config's business).
            let mut buf = vec![0u8; n];
            let mut sent = 0usize;
            let r: Result<(), ()> =
                frames::for_each_chunk(c.seed, u64::from(c.frames % 5), &mut buf, |d, _| {
                    assert!(d.len() <= n);
                    sent += d.len();
                    Ok(())
                });
            assert!(r.is_ok() && sent > 0);
        }
        None => assert!(buf_size.min(scratch) < frames::FRAME),
    }
});
