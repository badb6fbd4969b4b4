//! Checksums: crc32 (IEEE 802.3, reflected) for data the clients and the
//! console checker share, FNV-1a for layout ids, and [`check64`], the fast
//! word-wise check that seals the persistent region's records and marks.

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// crc32 of `data` (the same as zlib's `crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// Continue a crc32 over more data.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// FNV-1a (64-bit) over `data`, continuing from `h`.
pub const fn fnv1a64(mut h: u64, data: &[u8]) -> u64 {
    let mut i = 0;
    while i < data.len() {
        h ^= data[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xbf58_476d_1ce4_e5b9;

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    let h = (h ^ w).wrapping_mul(K1);
    h ^ (h >> 29)
}

#[inline]
fn finish(h: u64) -> u64 {
    let h = (h ^ (h >> 32)).wrapping_mul(K2);
    h ^ (h >> 29)
}

/// A 64-bit check over `data` (little-endian words, a short tail padded with
/// zeros), keyed by `seed`. Not cryptographic: it detects stray writes and
/// torn copies (any change of one word always changes it), at about four
/// instructions per word, which is what lets a record be sealed on every
/// commit.
pub fn check64(seed: u64, data: &[u8]) -> u64 {
    let mut h = seed ^ (data.len() as u64).wrapping_mul(K2);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(w));
    }
    finish(h)
}

/// A 16-bit check over a few words, for self-checked single-word values
/// (the region's `done` word and its marks).
#[inline]
pub fn check16(seed: u64, a: u64, b: u64) -> u64 {
    finish(mix(mix(seed, a), b)) & 0xffff
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        let split = super::crc32_update(super::crc32(b"1234"), b"56789");
        assert_eq!(split, 0xCBF4_3926);
    }

    #[test]
    fn check64_changes_with_every_word_and_with_the_length() {
        let base = [7u8; 64];
        let c = super::check64(1, &base);
        for i in 0..64 {
            let mut b = base;
            b[i] ^= 1;
            assert_ne!(super::check64(1, &b), c, "byte {i}");
        }
        assert_ne!(super::check64(1, &base[..63]), c);
        assert_ne!(super::check64(2, &base), c, "keyed");
        assert_eq!(super::check64(1, &base), c, "deterministic");
    }
}
