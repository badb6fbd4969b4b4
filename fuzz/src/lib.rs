//! What the fuzz targets share: a reader that turns libFuzzer's bytes into
//! the values a decoder sees (words, labels, lengths), and a bounded text
//! sink for `Display`/report output.
//!
//! The reader never fails: past the end of the input it yields zeroes, so
//! every input is a valid (if short) test case.

use core::fmt;

/// Consumes the fuzzer's input front to back.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Read `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The bytes not consumed yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// One bit of choice.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// Up to `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A little-endian u64 from up to 8 bytes.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let src = self.bytes(8);
        b[..src.len()].copy_from_slice(src);
        u64::from_le_bytes(b)
    }

    /// A message word, compactly: a tag byte below 0xc0 is the value itself,
    /// 0xc0..0xe0 a value near `u64::MAX` / `u32::MAX` boundaries, anything
    /// above a raw 8-byte word. Most interesting values cost one byte.
    pub fn word(&mut self) -> u64 {
        match self.u8() {
            t @ 0..=0xbf => u64::from(t),
            t @ 0xc0..=0xcf => u64::from(u32::MAX) - 7 + u64::from(t - 0xc0),
            t @ 0xd0..=0xdf => u64::MAX - u64::from(t - 0xd0),
            _ => self.u64(),
        }
    }

    /// A label: usually one of `known` (index by a byte), else a word.
    pub fn label(&mut self, known: &[u64]) -> u64 {
        let t = self.u8();
        match known.get(usize::from(t)) {
            Some(&l) if t < 0xf0 => l,
            _ => self.word(),
        }
    }
}

/// A `fmt::Write` that keeps at most `cap` bytes and then reports an error,
/// like a fixed report buffer would (exercises the error paths of writers).
pub struct Sink {
    /// The text so far.
    pub text: String,
    /// Capacity.
    pub cap: usize,
}

impl Sink {
    /// A sink of `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            text: String::new(),
            cap,
        }
    }
}

impl fmt::Write for Sink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.text.len() + s.len() > self.cap {
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}
