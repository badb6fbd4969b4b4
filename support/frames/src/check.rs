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
///
/// Spans can nest: on seL4 a PD prints a line one character at a time, and a
/// higher-priority PD that preempts it mid-line prints its own line inside
/// the first (SO ... SO ... SI ... SI). Each span is its own diagnostic text;
/// only bytes outside every span are data.
///
/// A PD stopped mid-line never closes its span; its next incarnation's lines
/// begin with the same `<pd>:` prefix, and a PD cannot preempt itself: an
/// open span of the same PD below a new one is therefore dead, and is cut
/// there (emitted as it is). A PD stopped before the colon of its prefix
/// left a span whose name is a start of the new one's (`se` below
/// `serial:`): dead too; its part after that start is what the console
/// received while the dead span was open, and goes back to the data.
pub fn split(console: &[u8]) -> Split {
    struct Open {
        text: Vec<u8>,
        /// Console offset of each byte of `text`.
        offsets: Vec<usize>,
        /// The `<pd>` of its `<pd>: ` prefix, once seen.
        name: Option<Vec<u8>>,
    }
    let mut s = Split::default();
    let mut open: Vec<Open> = Vec::new();
    let emit = |s: &mut Split, text: &[u8]| {
        for line in String::from_utf8_lossy(text).lines() {
            let line = line.trim();
            if !line.is_empty() {
                s.diags.push(line.to_string());
            }
        }
    };
    for (i, &b) in console.iter().enumerate() {
        match b {
            0x0e => open.push(Open {
                text: Vec::new(),
                offsets: Vec::new(),
                name: None,
            }),
            0x0f => {
                if let Some(o) = open.pop() {
                    // A PD that announces its start ("<pd>: starting", before
                    // any other output of that start) may have died right
                    // after opening a span the last time: an empty span just
                    // below is that one (another PD's line would have a
                    // character by now unless it was preempted at that very
                    // instant).
                    if let Some(n) = o.name.as_deref().filter(|n| !n.is_empty()) {
                        let announce = [n, b": starting".as_slice()].concat();
                        if o.text.starts_with(&announce) {
                            while open.last().is_some_and(|t| t.text.is_empty()) {
                                open.pop();
                            }
                        }
                    }
                    emit(&mut s, &o.text);
                }
            }
            _ => match open.last_mut() {
                Some(top) => {
                    top.text.push(b);
                    top.offsets.push(i);
                    if top.name.is_none() && b == b':' {
                        let name = top.text[..top.text.len() - 1].to_vec();
                        let is_name = !name.is_empty()
                            && name
                                .iter()
                                .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
                        top.name = Some(if is_name { name } else { Vec::new() });
                        let n = open.len();
                        let me = open[n - 1].name.clone().unwrap_or_default();
                        if !me.is_empty() {
                            if let Some(k) = open[..n - 1]
                                .iter()
                                .position(|o| o.name.as_deref() == Some(me.as_slice()))
                            {
                                let dead = open.remove(k);
                                emit(&mut s, &dead.text);
                            } else if let Some((k, q)) =
                                open[..n - 1].iter().enumerate().find_map(|(k, o)| {
                                    let q =
                                        o.text.iter().zip(&me).take_while(|(a, b)| a == b).count();
                                    (o.name.is_none() && q > 0).then_some((k, q))
                                })
                            {
                                let dead = open.remove(k);
                                emit(&mut s, &dead.text[..q]);
                                s.data.extend_from_slice(&dead.text[q..]);
                                s.offsets.extend_from_slice(&dead.offsets[q..]);
                            }
                        }
                    }
                }
                None => {
                    s.data.push(b);
                    s.offsets.push(i);
                }
            },
        }
    }
    // Spans the console ends inside.
    while let Some(o) = open.pop() {
        emit(&mut s, &o.text);
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

/// How the client said its stream ended (its own log lines; the client is the
/// workload, not the code under test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `client: stream done`.
    Done,
    /// The client gave up after an explicit error, the frames from `at` on
    /// unsent (`... stream abandoned`).
    Abandoned {
        /// First frame the client did not get acknowledged.
        at: u64,
    },
    /// The client said neither (it is still blocked, or the log is cut).
    Unfinished,
}

/// One byte that came out twice in a row: what a fault between the byte
/// reaching the UART and its progress mark produces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Repeat {
    /// Position in the expected stream (BEGIN marker at 0).
    pub stream_offset: usize,
    /// Console offset of the second copy.
    pub console_offset: usize,
}

/// Byte accounting of a console against the stream the client meant to
/// send, by an alignment that never trusts the driver: every difference is
/// counted and classified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Seed of the stream (from its BEGIN marker).
    pub seed: u64,
    /// Frames the client meant to send.
    pub frames: u64,
    /// How the client said the stream ended.
    pub ending: Option<Ending>,
    /// Stream bytes the client had acknowledged, or sent at all, that never
    /// appeared.
    pub lost: u64,
    /// Bytes that appeared more often than sent and no explicit error covers.
    pub duplicated: u64,
    /// Bytes output again after the client was told `restarted` and resent
    /// the chunk (the explicit path: partial output of a request whose reply
    /// said it may have been partly carried out).
    pub resent: u64,
    /// Single bytes repeated in a row (a fault in the one-store window
    /// between a byte handed to the UART and its mark).
    pub repeats: Vec<Repeat>,
    /// Bytes that are not part of the stream at all.
    pub corrupt: u64,
    /// Bytes of the expected stream found in place.
    pub matched: u64,
    /// Where each loss, duplication and corruption was found (for reports):
    /// (what, stream offset, console offset, bytes).
    pub anomalies: Vec<(&'static str, usize, usize, u64)>,
}

impl Account {
    /// Nothing lost, duplicated (beyond explicit resends and window
    /// repeats) or corrupted.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.corrupt == 0
    }
}

/// The client's resend points (`write of frames from N interrupted by a cold
/// restart ... resending`) and how its stream ended, from diagnostic lines.
pub fn client_story(diags: &[String]) -> (Vec<u64>, Ending) {
    let mut resends = Vec::new();
    let mut ending = Ending::Unfinished;
    for d in diags {
        let Some(rest) = d.strip_prefix("client: ") else {
            continue;
        };
        let from = |r: &str| -> Option<u64> {
            r.strip_prefix("write of frames from ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        if rest.contains("interrupted by a cold restart") && rest.ends_with("resending") {
            if let Some(n) = from(rest) {
                resends.push(n);
            }
        } else if rest.starts_with("stream done") {
            ending = Ending::Done;
        } else if rest.ends_with("stream abandoned") {
            ending = Ending::Abandoned {
                at: from(rest).unwrap_or(0),
            };
        }
    }
    (resends, ending)
}

/// Account for every byte of the stream in `console` (see [`Account`]).
pub fn account(console: &[u8]) -> Result<Account, StreamError> {
    let s = split(console);
    let (resends, ending) = client_story(&s.diags);
    let d = &s.data;
    let at = |i: usize| s.offsets.get(i).copied().unwrap_or(console.len());
    let Some(start) = find(d, b"BEGIN ") else {
        // A stream abandoned before its first write was acknowledged (the
        // session never opened, or its first write failed: the driver
        // stopped first, the client told) holds nothing the client was
        // promised: nothing can be lost. Anything else without a marker is
        // an error. (Boot text may precede it on seL4; a frame header may
        // not.)
        let frame_header = d
            .windows(10)
            .any(|w| w[0] == b'S' && w[1..9].iter().all(u8::is_ascii_hexdigit) && w[9] == b' ');
        if ending == (Ending::Abandoned { at: 0 }) && !frame_header {
            return Ok(Account {
                ending: Some(ending),
                ..Account::default()
            });
        }
        return Err(StreamError {
            offset: 0,
            what: "no BEGIN marker".into(),
        });
    };
    let m = d.get(start..start + MARKER).ok_or(StreamError {
        offset: at(start),
        what: "BEGIN marker truncated".into(),
    })?;
    // The marker itself may hold a repeated byte: the one reading of it
    // (as is, or without one byte) that is a well-formed marker.
    let readings = core::iter::once(m.to_vec()).chain((0..=MARKER).filter_map(|k| {
        let w = d.get(start..start + MARKER + 1)?;
        let mut v = w.to_vec();
        v.remove(k.min(MARKER));
        Some(v)
    }));
    let well_formed: Vec<(u64, u64)> = readings
        .filter_map(|r| Some((parse_hex(&r[6..14])?, parse_hex(&r[15..31])?, r)))
        .filter(|(f, s, r)| begin(*s, *f)[..] == r[..])
        .map(|(f, s, _)| (f, s))
        .collect();
    // Several readings can be well formed (a repeated zero in a run of
    // zeros): the seed whose first frame follows is the one.
    let near = &d[start..(start + MARKER + 8 * FRAME).min(d.len())];
    let seeded: Vec<(u64, u64)> = well_formed
        .iter()
        .filter(|(f, s)| *f == 0 || find(near, &frame(*s, 0)).is_some())
        .copied()
        .collect();
    // Readings with the same seed can differ in the frame count (a repeated
    // digit: "000001100" reads as 0x100 or 0x1100): the count the client
    // announced on its diagnostic line, else the one whose END marker is
    // there, decides.
    let announced = s.diags.iter().find_map(|l| {
        let rest = l.strip_prefix("client: session open")?;
        rest.strip_suffix(" frames")?
            .rsplit(' ')
            .next()?
            .parse::<u64>()
            .ok()
    });
    let chosen = seeded
        .iter()
        .find(|(f, _)| Some(*f) == announced)
        .or_else(|| {
            seeded
                .iter()
                .find(|(f, s)| find(&d[start..], &end(*s, *f)[..14]).is_some())
        })
        .or(seeded.first())
        .or(well_formed.first())
        .copied();
    let Some((frames, seed)) = chosen else {
        return Err(StreamError {
            offset: at(start),
            what: format!("malformed BEGIN marker {:?}", String::from_utf8_lossy(m)),
        });
    };
    // The stream the client meant: all of it, or up to where it gave up.
    let sent = match ending {
        Ending::Abandoned { at } => at.min(frames),
        _ => frames,
    };
    let mut want = Vec::with_capacity(MARKER * 2 + sent as usize * FRAME);
    want.extend_from_slice(&begin(seed, frames));
    for n in 0..sent {
        want.extend_from_slice(&frame(seed, n));
    }
    // The END marker is a write of its own: a client that gave up at frame
    // `frames` gave up on it (what it printed of it is trailing output).
    if !matches!(ending, Ending::Abandoned { .. }) {
        want.extend_from_slice(&end(seed, frames));
    }
    // Chunk starts the client resent after an explicit error ("from 0" may
    // be the BEGIN marker's write or the first frames').
    let mut explicit: Vec<usize> = Vec::new();
    for &n in &resends {
        explicit.push(MARKER + n.min(frames) as usize * FRAME);
        if n == 0 {
            explicit.push(0);
        }
    }
    let mut acc = Account {
        seed,
        frames,
        ending: Some(ending.clone()),
        ..Account::default()
    };
    let a = &d[start..];
    let (mut i, mut j) = (0usize, 0usize);
    const K: usize = 24;
    // `k` bytes of the stream from `i` come out from `j`, allowing single
    // repeated bytes among them (further faults in the window: two repeats
    // can lie closer together than the look-ahead).
    let exact = |i: usize, j: usize, k: usize| -> bool {
        k > 0 && i + k <= want.len() && j + k <= a.len() && want[i..i + k] == a[j..j + k]
    };
    // `k` bytes of the stream from `i` come out from `j`, allowing single
    // repeated bytes among them (further faults in the window: two repeats
    // can lie closer together than the look-ahead): the number of repeats
    // it took, if they agree.
    let tolerant = |i: usize, j: usize, k: usize| -> Option<usize> {
        if k == 0 || i + k > want.len() || j >= a.len() {
            return None;
        }
        let (mut x, mut y, mut skipped, mut skips) = (i, j, false, 0);
        while x < i + k {
            match a.get(y) {
                Some(&b) if b == want[x] => {
                    x += 1;
                    y += 1;
                    skipped = false;
                }
                // One repeat per byte: a fault repeats the byte before it.
                Some(&b) if x > i && !skipped && b == want[x - 1] => {
                    y += 1;
                    skipped = true;
                    skips += 1;
                }
                _ => return None,
            }
        }
        Some(skips)
    };
    let agrees = |i: usize, j: usize, k: usize| tolerant(i, j, k).is_some();
    while i < want.len() && j < a.len() {
        if want[i] == a[j] {
            i += 1;
            j += 1;
            acc.matched += 1;
            continue;
        }
        // The previous byte again (once per fault that hit between it and
        // its mark), then the stream goes on.
        if i > 0 && a[j] == want[i - 1] {
            let run = a[j..].iter().take_while(|&&b| b == want[i - 1]).count();
            let fits = (1..=run).find(|&r| {
                let tail = (want.len() - i).min(a.len() - j - r).min(K);
                tail == 0 || agrees(i, j + r, tail)
            });
            if let Some(r) = fits {
                for k in 0..r {
                    acc.repeats.push(Repeat {
                        stream_offset: i - 1,
                        console_offset: at(start + j + k),
                    });
                }
                j += r;
                continue;
            }
        }
        // The output went back to a chunk start (a resend), or forward
        // (bytes lost): the nearest place the next bytes match.
        // Exact agreement first (a tolerant one could take a byte of a run
        // for a repeat and land a byte off); allowing repeats only if no
        // place agrees exactly.
        let k = (a.len() - j).min(K);
        let (back, forward) = {
            let back = (0..i)
                .rev()
                .take(8192)
                .find(|&c| exact(c, j, k.min(want.len() - c)));
            let forward = (i + 1..want.len())
                .take(1 << 20)
                .find(|&c| exact(c, j, k.min(want.len() - c)));
            if back.is_some() || forward.is_some() {
                (back, forward)
            } else {
                // The fewest repeats, then the nearest.
                let best = |it: &mut dyn Iterator<Item = usize>| {
                    it.filter_map(|c| tolerant(c, j, k.min(want.len() - c)).map(|r| (r, c)))
                        .min_by_key(|&(r, c)| (r, c.abs_diff(i)))
                        .map(|(_, c)| c)
                };
                (
                    best(&mut (0..i).rev().take(8192)),
                    best(&mut (i + 1..want.len()).take(1 << 20)),
                )
            }
        };
        match (back, forward) {
            (Some(c), f) if f.is_none_or(|f| i - c <= f - i) => {
                let n = (i - c) as u64;
                // The jump may have begun a few bytes before it was seen
                // (a resent chunk's first frame header can match the bytes
                // it interrupted): a resend point just before `c` whose
                // bytes up to `c` came out again counts.
                // (Those bytes may hold a window repeat or two of their own.)
                let resent_from = |e: usize| {
                    e <= c
                        && c - e <= FRAME
                        && (0..=2).any(|r| {
                            c - e + r <= j
                                && with_repeats(
                                    &want[e..c],
                                    &a[j - (c - e) - r..j],
                                    want[..e].last().copied(),
                                    false,
                                )
                        })
                };
                if explicit.iter().any(|&e| resent_from(e)) {
                    acc.resent += n;
                } else {
                    acc.duplicated += n;
                    acc.anomalies.push(("duplicated", c, at(start + j), n));
                }
                i = c;
            }
            (_, Some(f)) => {
                acc.lost += (f - i) as u64;
                acc.anomalies
                    .push(("lost", i, at(start + j), (f - i) as u64));
                i = f;
            }
            _ => {
                acc.corrupt += 1;
                acc.anomalies.push(("corrupt", i, at(start + j), 1));
                j += 1;
            }
        }
    }
    // The stream ran out: what was meant but never came is lost; a chunk the
    // client gave up on may have come out partly.
    if i < want.len() {
        acc.lost += (want.len() - i) as u64;
    }
    if j < a.len() {
        let rest = &a[j..];
        match ending {
            // A partial chunk before the client gave up on an explicit error.
            Ending::Abandoned { .. } => acc.resent += rest.len() as u64,
            // After the END marker: stream content again is duplication;
            // anything else is not the stream's (a kernel's goodbye).
            _ => {
                let tail = &want[want.len().saturating_sub(8192)..];
                let longest = (0..tail.len())
                    .map(|p| {
                        tail[p..]
                            .iter()
                            .zip(rest)
                            .take_while(|(x, y)| x == y)
                            .count()
                    })
                    .max()
                    .unwrap_or(0);
                if longest >= 8 {
                    acc.duplicated += longest as u64;
                }
            }
        }
    }
    Ok(acc)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether `got` is `want` with single repeated bytes among it (every byte
/// of `got` consumed; `prev` is the stream byte before `want`, which a
/// repeat at the start would copy).
fn with_repeats(want: &[u8], got: &[u8], prev: Option<u8>, skipped: bool) -> bool {
    if got.len() < want.len() {
        return false;
    }
    let Some((&g, rest)) = got.split_first() else {
        return want.is_empty();
    };
    if want.first() == Some(&g) && with_repeats(&want[1..], rest, Some(g), false) {
        return true;
    }
    !skipped && prev == Some(g) && with_repeats(want, rest, prev, true)
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
    fn a_stream_abandoned_before_its_first_write_sent_nothing_and_lost_nothing() {
        let told = b"Boot config: debug_port = 0x3f8\r\n\x0emonitor: serial stopped for good; clients told\n\x0f\x0eclient: open failed: driver stopped (epoch 3); stream abandoned\n\x0f";
        let a = account(told).expect("an account");
        assert!(a.clean(), "{a:?}");
        assert_eq!((a.frames, a.matched), (0, 0));
        assert_eq!(a.ending, Some(Ending::Abandoned { at: 0 }));
        // Frames without their marker are not "nothing sent".
        let mut framed = stream(5, 4);
        let begin = find(&framed, b"BEGIN ").expect("marker");
        framed.drain(begin..begin + MARKER);
        framed.extend_from_slice(&told[32..]);
        assert!(account(&framed).is_err());
        // A first write that failed: the same.
        let first = b"\x0eclient: session open (driver epoch 0), 4 frames\n\x0f\x0eclient: write of frames from 0 failed: driver stopped (epoch 10); stream abandoned\n\x0f";
        assert!(account(first).is_ok_and(|a| a.clean()));
        // A stream that ended any other way needs its marker.
        let later = b"\x0eclient: write of frames from 8 failed: driver stopped (epoch 10); stream abandoned\n\x0f";
        assert!(account(later).is_err());
        assert!(account(b"\x0eclient: stream done: 4 frames\n\x0f").is_err());
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
    fn a_line_preempted_by_another_pds_line_is_two_lines_and_no_data() {
        let mut s = stream(5, 4);
        let at = s.len() - 40;
        let nested =
            b"\x0eserial: panic: panicked at sup\x0emonitor: injected #1 panic\n\x0fport/x.rs:1\n\x0f";
        s.splice(at..at, nested.iter().copied());
        assert!(verify(&s).is_ok());
        let d = split(&s).diags;
        assert!(
            d.contains(&"monitor: injected #1 panic".to_string()),
            "{d:?}"
        );
        assert!(
            d.contains(&"serial: panic: panicked at support/x.rs:1".to_string())
                || d.iter()
                    .any(|l| l.starts_with("serial: panic: panicked at sup")),
            "{d:?}"
        );
    }

    #[test]
    fn a_line_cut_by_its_pds_restart_does_not_swallow_the_stream() {
        let mut s = stream(5, 4);
        let at = s.len() - 100;
        let cut = b"\x0eserial: start epoch 3: init-st\x0emonitor: serial -> warm restart, epoch 4\n\x0f\x0eserial: start epoch 4: init-static 0x5eedcafe\n\x0f";
        s.splice(at..at, cut.iter().copied());
        assert!(verify(&s).is_ok(), "{:?}", verify(&s));
        let d = split(&s).diags;
        assert!(
            d.iter().any(|l| l == "serial: start epoch 3: init-st"),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|l| l == "serial: start epoch 4: init-static 0x5eedcafe"),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|l| l == "monitor: serial -> warm restart, epoch 4"),
            "{d:?}"
        );
    }

    #[test]
    fn a_span_cut_before_its_colon_gives_back_the_stream_it_swallowed() {
        // Stopped after "se" (of "serial:"); the restarted driver's bytes
        // land in that span until its next line begins.
        let mut s = stream(5, 40);
        let at = 1200;
        s.splice(at..at, b"\x0ese".iter().copied());
        let later = at + 3 + 700;
        let line =
            b"\x0emonitor: serial -> warm restart, epoch 2\n\x0f\x0eserial: start epoch 2\n\x0f";
        s.splice(later..later, line.iter().copied());
        assert!(verify(&s).is_ok(), "{:?}", verify(&s));
        let d = split(&s).diags;
        assert!(d.iter().any(|l| l == "se"), "{d:?}");
        assert!(d.iter().any(|l| l == "serial: start epoch 2"), "{d:?}");
        let a = account(&s).expect("account");
        assert_eq!((a.lost, a.duplicated, a.corrupt), (0, 0, 0), "{a:?}");
    }

    #[test]
    fn a_span_cut_right_after_it_opened_ends_at_its_pds_next_start() {
        let mut s = stream(5, 40);
        let at = 1200;
        let cut =
            b"\x0e\x0emonitor: serial fault #2 [stopped]\n\x0f\x0eserial: starting (restart)\n\x0f";
        s.splice(at..at, cut.iter().copied());
        assert!(verify(&s).is_ok(), "{:?}", verify(&s));
        let a = account(&s).expect("account");
        assert_eq!((a.lost, a.duplicated, a.corrupt), (0, 0, 0), "{a:?}");
    }

    #[test]
    fn another_pds_unfinished_prefix_below_a_line_is_not_cut() {
        // "cl" of "client:", preempted by the monitor: the client goes on.
        let mut s = stream(5, 4);
        let at = s.len() - 40;
        let nested = b"\x0ecl\x0emonitor: tick\n\x0fient: done\n\x0f";
        s.splice(at..at, nested.iter().copied());
        assert!(verify(&s).is_ok());
        let d = split(&s).diags;
        assert!(d.iter().any(|l| l == "client: done"), "{d:?}");
        assert!(d.iter().any(|l| l == "monitor: tick"), "{d:?}");
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
    fn accounting_an_exact_stream_finds_nothing() {
        let mut s = stream(5, 40);
        s.extend_from_slice(b"\x0e\nclient: stream done: 40 frames\n\x0f");
        let a = account(&s).expect("a stream");
        assert!(a.clean(), "{a:?}");
        assert!(a.repeats.is_empty());
        assert_eq!(a.matched as usize, 32 + 40 * 64 + 32);
        assert_eq!(a.ending, Some(Ending::Done));
    }

    #[test]
    fn accounting_counts_a_lost_run_a_duplicated_run_and_a_repeat_apart() {
        let mut s = stream(5, 40);
        s.extend_from_slice(b"\x0e\nclient: stream done\n\x0f");
        let begin = find(&s, b"BEGIN ").unwrap_or(0);
        // Frame 30 repeated whole (a replay from an old position), bytes of
        // frame 20 lost, one byte of frame 10 repeated.
        let f30 = begin + 32 + 30 * 64;
        let dup: Vec<u8> = s[f30..f30 + 64].to_vec();
        s.splice(f30 + 64..f30 + 64, dup);
        let f20 = begin + 32 + 20 * 64 + 7;
        s.drain(f20..f20 + 5);
        let f10 = begin + 32 + 10 * 64 + 12;
        let b = s[f10];
        s.insert(f10, b);
        let a = account(&s).expect("a stream");
        assert_eq!(a.duplicated, 64, "{a:?}");
        assert_eq!(a.lost, 5, "{a:?}");
        assert_eq!(a.repeats.len(), 1, "{a:?}");
        assert_eq!(a.repeats[0].stream_offset, 32 + 10 * 64 + 12);
        assert_eq!(a.corrupt, 0);
    }

    #[test]
    fn repeats_closer_together_than_the_look_ahead_are_each_a_repeat() {
        // Seen on seL4 (x86_64, async stops 10 ms apart): two faults in the
        // window of one frame, 12 bytes apart, were counted as corruption.
        for gap in [1usize, 2, 5, 12, 23, 30] {
            let mut s = stream(5, 40);
            s.extend_from_slice(b"\x0e\nclient: stream done\n\x0f");
            let begin = find(&s, b"BEGIN ").unwrap_or(0);
            let at = begin + 32 + 7 * 64 + 14;
            // The later one first, so the first offset stays put.
            let b2 = s[at + gap];
            s.insert(at + gap, b2);
            let b1 = s[at];
            s.insert(at, b1);
            let a = account(&s).expect("a stream");
            assert!(a.clean(), "gap {gap}: {a:?}");
            assert_eq!(a.repeats.len(), 2, "gap {gap}: {a:?}");
            assert_eq!(a.repeats[0].stream_offset, 32 + 7 * 64 + 14, "gap {gap}");
            // In a run of equal bytes, any of them may be the one repeated.
            let (want, got) = (32 + 7 * 64 + 14 + gap, a.repeats[1].stream_offset);
            let orig = stream(5, 40);
            let base = find(&orig, b"BEGIN ").unwrap_or(0);
            assert!(
                got >= want && orig[base + want..=base + got].iter().all(|&c| c == b2),
                "gap {gap}: repeat at {got}, inserted at {want}"
            );
        }
    }

    #[test]
    fn a_repeat_inside_the_begin_marker_or_a_run_of_equal_bytes_is_one_repeat() {
        // Seed 0x10010200004: its marker holds runs of zeros.
        let mut s = stream(0x100_1020_0004, 10);
        s.extend_from_slice(b"\x0e\nclient: stream done\n\x0f");
        let begin = find(&s, b"BEGIN ").unwrap_or(0);
        s.insert(begin + 17, b'0');
        let a = account(&s).expect("a stream");
        assert!(a.clean(), "{a:?}");
        assert_eq!(a.repeats.len(), 1);
        assert_eq!(a.seed, 0x100_1020_0004);
    }

    #[test]
    fn a_partial_chunk_resent_after_restarted_is_explicit() {
        // Chunks of 16 frames; the second chunk came out 5 frames and 9
        // bytes in, then the client was told `restarted` and resent it.
        let mut out = b"noise\n".to_vec();
        let mut buf = [0u8; 1024];
        let mut sent = 0;
        for_each_chunk::<()>(3, 40, &mut buf, |c, at| {
            if at == 16 && sent == 0 {
                out.extend_from_slice(&c[..5 * 64 + 9]);
                out.extend_from_slice(
                    b"\x0e\nclient: write of frames from 16 interrupted by a cold restart (epoch 9); resending\n\x0f",
                );
                sent = 1;
            }
            out.extend_from_slice(c);
            Ok(())
        })
        .unwrap_or(());
        out.extend_from_slice(b"\x0e\nclient: stream done\n\x0f");
        let a = account(&out).expect("a stream");
        assert_eq!(
            (a.resent, a.duplicated, a.lost),
            (5 * 64 + 9, 0, 0),
            "{a:?}"
        );
        // The same bytes without the client's word: duplicates.
        let quiet: Vec<u8> = String::from_utf8_lossy(&out)
            .replace("client: write of frames from 16 interrupted by a cold restart (epoch 9); resending", "")
            .into_bytes();
        let a = account(&quiet).expect("a stream");
        assert_eq!((a.resent, a.duplicated), (0, 5 * 64 + 9), "{a:?}");
    }

    #[test]
    fn a_resend_with_a_repeat_in_its_first_bytes_is_still_a_resend() {
        // Seen on seL4 (x86_64, contamination): the chunk before ended at a
        // frame boundary, the resent chunk's header shared its first bytes
        // with the frame expected next, and a window repeat lay 19 bytes
        // into the resend: the account took the resend for a duplicate.
        for (from, cut, rep) in [
            (16u64, 0usize, 19usize),
            (16, 64, 3),
            (32, 0, 19),
            (16, 9, 30),
        ] {
            let mut out = b"noise\n".to_vec();
            let mut buf = [0u8; 1024];
            let mut sent = 0;
            for_each_chunk::<()>(3, 40, &mut buf, |c, at| {
                if at == from && sent == 0 {
                    out.extend_from_slice(&c[..5 * 64 + cut]);
                    out.extend_from_slice(
                        format!("\x0e\nclient: write of frames from {from} interrupted by a cold restart (epoch 9); resending\n\x0f").as_bytes(),
                    );
                    out.extend_from_slice(&c[..=rep]);
                    out.extend_from_slice(&c[rep..]);
                    sent = 1;
                } else {
                    out.extend_from_slice(c);
                }
                Ok(())
            })
            .unwrap_or(());
            out.extend_from_slice(b"\x0e\nclient: stream done\n\x0f");
            let a = account(&out).expect("a stream");
            assert!(a.clean(), "{from} {cut} {rep}: {a:?}");
            // The repeat is counted once: apart, or inside the resent bytes
            // when it lies in the part that matched the interrupted chunk.
            let partial = 5 * 64 + cut as u64;
            assert!(
                (a.resent == partial && a.repeats.len() == 1)
                    || (a.resent == partial + 1 && a.repeats.is_empty()),
                "{from} {cut} {rep}: {a:?}"
            );
        }
    }

    #[test]
    fn an_abandoned_stream_is_accounted_up_to_where_the_client_gave_up() {
        let out = abandoned_at(32, 100);
        let a = account(&out).expect("a stream");
        assert!(a.clean(), "{a:?}");
        assert_eq!(a.resent, 100);
        assert_eq!(a.ending, Some(Ending::Abandoned { at: 32 }));
        // Frames the client had sent but that are missing are lost.
        let cut = out.len() - 300;
        let mut short = out[..cut - 200].to_vec();
        short.extend_from_slice(&out[cut..]);
        assert!(account(&short).expect("a stream").lost > 0);
    }

    /// A stream of 40 frames (seed 3) whose client gave up at the chunk
    /// starting at frame `at` (40: the END marker), after `partial` of its
    /// bytes went out, with the client's report.
    fn abandoned_at(at: u64, partial: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        let _ = for_each_chunk::<()>(3, 40, &mut buf, |c, from| {
            if from == at {
                out.extend_from_slice(&c[..partial]);
                return Err(());
            }
            out.extend_from_slice(c);
            Ok(())
        });
        out.extend_from_slice(b"\x0e\nclient: write of frames from ");
        out.extend_from_slice(at.to_string().as_bytes());
        out.extend_from_slice(b" failed: driver stopped (epoch 4); stream abandoned\n\x0f");
        out
    }

    #[test]
    fn a_repeated_digit_in_the_begin_marker_does_not_change_the_frame_count() {
        // Found by the campaign: a crash right after the '1' of "00000100"
        // went out made "000001100", also well formed as 0x1100 frames.
        let noise = b"seL4 boot noise\n".len();
        for (frames, at) in [(256u64, 11usize), (256, 6), (0x1100, 10)] {
            let mut s = stream(9, frames);
            let b = s[noise + at];
            s.insert(noise + at, b);
            let a = account(&s).expect("a stream");
            assert_eq!(a.frames, frames, "{frames:#x} at {at}: {a:?}");
            assert!(a.clean(), "{a:?}");
            assert_eq!(a.repeats.len(), 1, "{a:?}");
        }
    }

    #[test]
    fn a_stream_abandoned_at_its_end_marker_lost_nothing() {
        // Found by the campaign: a driver stopped while the client wrote the
        // END marker; the client gave up on frame `frames` (the marker).
        let out = abandoned_at(40, 0);
        let a = account(&out).expect("a stream");
        assert!(a.clean(), "{a:?}");
        assert_eq!((a.lost, a.resent), (0, 0));
        assert_eq!(a.ending, Some(Ending::Abandoned { at: 40 }));
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
