//! The framed byte stream the test client writes, and its checker.
//!
//! The stream must be verifiable from a captured console that also carries
//! diagnostic lines of other PDs and of the kernel. So:
//! * every diagnostic line our PDs print is wrapped in SO (0x0e) .. SI (0x0f)
//!   ([`pd_core::log_line`]); the checker cuts those spans out first;
//! * the stream is `BEGIN`, then numbered, checksummed 64-byte frames whose
//!   payload is a pure function of the frame number, then `END` with a
//!   checksum over all frames.
//!
//! The checker accepts the stream only if every frame arrives exactly once, in
//! order, byte-identical: a lost, repeated, reordered or corrupted byte is an
//! error naming the frame and the console offset.
//!
//! What must never happen: a checker that passes a stream with a lost or
//! duplicated byte.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

use persist::crc::{crc32, crc32_update};

/// Bytes per frame.
pub const FRAME: usize = 64;
/// Payload characters per frame.
pub const PAYLOAD: usize = 44;
/// Length of the BEGIN and END lines.
pub const MARKER: usize = 32;

const HEX: &[u8; 16] = b"0123456789abcdef";
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn hex(out: &mut [u8], v: u64, digits: usize) {
    for i in 0..digits {
        out[i] = HEX[((v >> (4 * (digits - 1 - i))) & 0xf) as usize];
    }
}

fn payload_byte(seed: u64, n: u64, i: usize) -> u8 {
    let mut z = seed
        ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ALPHABET[((z ^ (z >> 29)) & 31) as usize]
}

/// Frame `n` of the stream with `seed`: `S<n:8 hex> <payload:44> <crc:8 hex>\n`.
pub fn frame(seed: u64, n: u64) -> [u8; FRAME] {
    let mut f = [b' '; FRAME];
    f[0] = b'S';
    hex(&mut f[1..9], n, 8);
    for i in 0..PAYLOAD {
        f[10 + i] = payload_byte(seed, n, i);
    }
    let c = crc32(&f[..54]);
    hex(&mut f[55..63], c as u64, 8);
    f[63] = b'\n';
    f
}

/// `BEGIN <frames:8 hex> <seed:16 hex>\n` (32 bytes).
pub fn begin(seed: u64, frames: u64) -> [u8; MARKER] {
    let mut m = [b' '; MARKER];
    m[..5].copy_from_slice(b"BEGIN");
    hex(&mut m[6..14], frames, 8);
    hex(&mut m[15..31], seed, 16);
    m[31] = b'\n';
    m
}

/// `END   <frames:8 hex> <crc:8 hex>  ...\n` (32 bytes); crc over all frames.
pub fn end(seed: u64, frames: u64) -> [u8; MARKER] {
    let mut c = 0;
    for n in 0..frames {
        c = crc32_update(c, &frame(seed, n));
    }
    end_with_crc(frames, c)
}

fn end_with_crc(frames: u64, crc: u32) -> [u8; MARKER] {
    let mut m = [b' '; MARKER];
    m[..3].copy_from_slice(b"END");
    hex(&mut m[6..14], frames, 8);
    hex(&mut m[15..23], crc as u64, 8);
    m[31] = b'\n';
    m
}

/// Writes the whole stream into `out` in chunks of at most `chunk` bytes,
/// calling `send` for each. Chunk boundaries fall on frame boundaries.
/// Stops at the first error and returns it.
pub fn for_each_chunk<E>(
    seed: u64,
    frames: u64,
    buf: &mut [u8],
    mut send: impl FnMut(&[u8], u64) -> Result<(), E>,
) -> Result<(), E> {
    let per = (buf.len() / FRAME).max(1) as u64;
    send(&begin(seed, frames), 0)?;
    let mut c = 0u32;
    let mut n = 0;
    while n < frames {
        let k = per.min(frames - n);
        for i in 0..k {
            let f = frame(seed, n + i);
            c = crc32_update(c, &f);
            let off = (i as usize) * FRAME;
            buf[off..off + FRAME].copy_from_slice(&f);
        }
        send(&buf[..(k as usize) * FRAME], n)?;
        n += k;
    }
    send(&end_with_crc(frames, c), frames)
}

#[cfg(feature = "std")]
pub mod check;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_64_bytes_and_self_describing() {
        let f = frame(7, 0x1234);
        assert_eq!(f.len(), 64);
        assert_eq!(&f[..9], b"S00001234");
        assert_eq!(f[63], b'\n');
        assert!(f.iter().all(|&b| b != 0x0e && b != 0x0f));
        assert_ne!(frame(7, 1)[10..54], frame(7, 2)[10..54]);
        assert_ne!(frame(7, 1)[10..54], frame(8, 1)[10..54]);
    }

    #[test]
    fn chunks_cover_the_stream_in_order() {
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        for_each_chunk::<()>(3, 100, &mut buf, |c, _| {
            all.extend_from_slice(c);
            Ok(())
        })
        .unwrap_or(());
        assert_eq!(all.len(), 32 + 100 * 64 + 32);
        assert_eq!(&all[32..96], &frame(3, 0));
        assert_eq!(&all[all.len() - 32..], &end(3, 100));
    }
}
