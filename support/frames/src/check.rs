//! The exact stream checker (host only).

use super::*;
use std::fmt;
use std::string::String;
use std::vec::Vec;

/// A console split into the data stream and the diagnostic lines.
#[derive(Debug, Default)]
pub struct Split {
    /// Bytes outside SO..SI spans, with their console offsets.
    pub data: Vec<u8>,
    /// Console offset of each data byte.
    pub offsets: Vec<usize>,
    /// Diagnostic lines (SO..SI spans), trimmed.
    pub diags: Vec<String>,
}

/// Cut the diagnostic spans out of a captured console.
pub fn split(console: &[u8]) -> Split {
    let mut s = Split::default();
    let mut i = 0;
    while i < console.len() {
        if console[i] == 0x0e {
            let end = console[i..]
                .iter()
                .position(|&b| b == 0x0f)
                .map_or(console.len(), |p| i + p);
            let text = String::from_utf8_lossy(&console[i + 1..end]);
            for line in text.lines() {
                let line = line.trim();
                if !line.is_empty() {
                    s.diags.push(line.to_string());
                }
            }
            i = end + 1;
        } else {
            s.data.push(console[i]);
            s.offsets.push(i);
            i += 1;
        }
    }
    s
}

/// What the checker found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// Seed of the stream.
    pub seed: u64,
    /// Frames verified.
    pub frames: u64,
    /// Stream bytes verified (markers included).
    pub bytes: usize,
}

/// Why the stream is not exact.
#[derive(Debug, PartialEq, Eq)]
pub struct StreamError {
    /// Console offset where the deviation was found.
    pub offset: usize,
    /// What was wrong.
    pub what: String,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "console offset {}: {}", self.offset, self.what)
    }
}

fn parse_hex(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    u64::from_str_radix(s, 16).ok()
}

/// Verify that the console holds the whole stream exactly once, in order.
/// Data before BEGIN and after END (boot messages, the kernel) is ignored;
/// between them nothing but the stream may appear.
pub fn verify(console: &[u8]) -> Result<Verified, StreamError> {
    let s = split(console);
    let d = &s.data;
    let at = |i: usize| s.offsets.get(i).copied().unwrap_or(console.len());
    let start = find(d, b"BEGIN ").ok_or(StreamError {
        offset: 0,
        what: "no BEGIN marker".into(),
    })?;
    let m = d.get(start..start + MARKER).ok_or(StreamError {
        offset: at(start),
        what: "BEGIN marker truncated".into(),
    })?;
    let frames = parse_hex(&m[6..14]);
    let seed = parse_hex(&m[15..31]);
    let (Some(frames), Some(seed)) = (frames, seed) else {
        return Err(StreamError {
            offset: at(start),
            what: format!("malformed BEGIN marker {:?}", String::from_utf8_lossy(m)),
        });
    };
    if m != begin(seed, frames) {
        return Err(StreamError {
            offset: at(start),
            what: "malformed BEGIN marker".into(),
        });
    }
    let mut pos = start + MARKER;
    for n in 0..frames {
        let want = frame(seed, n);
        let got = d.get(pos..pos + FRAME).unwrap_or(&d[pos.min(d.len())..]);
        if got != want {
            let first = got
                .iter()
                .zip(want.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(got.len());
            let context_end = (pos + first + 40).min(d.len());
            return Err(StreamError {
                offset: at(pos + first),
                what: format!(
                    "frame {n} differs at byte {first}: expected {:?}, got {:?}",
                    String::from_utf8_lossy(&want[first..]),
                    String::from_utf8_lossy(&d[(pos + first).min(d.len())..context_end])
                ),
            });
        }
        pos += FRAME;
    }
    let e = end(seed, frames);
    if d.get(pos..pos + MARKER) != Some(&e[..]) {
        return Err(StreamError {
            offset: at(pos),
            what: format!(
                "expected END marker {:?}, got {:?}",
                String::from_utf8_lossy(&e),
                String::from_utf8_lossy(&d[pos.min(d.len())..(pos + MARKER).min(d.len())])
            ),
        });
    }
    Ok(Verified {
        seed,
        frames,
        bytes: pos + MARKER - start,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(seed: u64, frames: u64) -> Vec<u8> {
        let mut buf = [0u8; 1024];
        let mut out = b"seL4 boot noise\n".to_vec();
        for_each_chunk::<()>(seed, frames, &mut buf, |c, _| {
            out.extend_from_slice(c);
            Ok(())
        })
        .unwrap_or(());
        out.extend_from_slice(b"trailing kernel noise\n");
        out
    }

    #[test]
    fn an_exact_stream_with_diagnostics_inside_passes() {
        let mut s = stream(5, 40);
        let diag = b"\x0e\nmonitor: serial fault #1 [panic] ...\n\x0f";
        s.splice(1000..1000, diag.iter().copied());
        let v = verify(&s).expect("exact");
        assert_eq!(
            v,
            Verified {
                seed: 5,
                frames: 40,
                bytes: 32 + 40 * 64 + 32
            }
        );
        assert_eq!(split(&s).diags, ["monitor: serial fault #1 [panic] ..."]);
    }

    #[test]
    fn a_duplicated_byte_is_caught() {
        let mut s = stream(5, 40);
        let b = s[700];
        s.insert(700, b);
        let e = verify(&s).expect_err("duplicate");
        assert!(e.what.contains("differs"), "{e}");
    }

    #[test]
    fn a_lost_byte_is_caught() {
        let mut s = stream(5, 40);
        s.remove(2000);
        assert!(verify(&s).is_err());
    }

    #[test]
    fn a_repeated_frame_is_caught() {
        let mut s = stream(5, 40);
        let start = s.windows(9).position(|w| w == b"S00000003").unwrap_or(0);
        let f: Vec<u8> = s[start..start + 64].to_vec();
        s.splice(start..start, f);
        let e = verify(&s).expect_err("repeat");
        assert!(e.what.contains("frame 4"), "{e}");
    }

    #[test]
    fn foreign_text_inside_the_stream_is_caught() {
        let mut s = stream(5, 40);
        s.splice(900..900, b"Caught cap fault".iter().copied());
        assert!(verify(&s).is_err());
    }

    #[test]
    fn a_missing_end_is_caught() {
        let mut s = stream(5, 40);
        let n = s.len();
        s.truncate(n - 40);
        let e = verify(&s).expect_err("no end");
        assert!(e.what.contains("END"), "{e}");
    }
}
