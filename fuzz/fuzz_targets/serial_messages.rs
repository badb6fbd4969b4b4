//! The serial driver's message decoders: the hand-written API
//! (`serial_api::Request::decode`, `decode_reply`) and the message types
//! generated from `serial.tingu` (`serial_api::spec`). Requests come from a
//! client PD, replies from the driver PD: any label and words are possible.
//!
//! Beyond "never panics": whatever decodes re-encodes to the same value, and
//! the generated decoders agree with the hand-written ones on every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pd_core::{Message, MSG_WORDS};
use selfheal_fuzz::Reader;
use serial_api::spec::serial_stream::{self as ss, label as sl, msg};
use serial_api::{decode_reply, Reply, Request, SerialError};
use tingu_runtime::channel::{Dir, Kind};
use tingu_runtime::Protocol;

const LABELS: &[u64] = &[
    sl::OPEN,
    sl::WRITE,
    sl::CLOSE,
    sl::OPENED,
    sl::WRITTEN,
    sl::CLOSED,
    sl::RESTARTED,
    sl::STOPPED,
    sl::INVALID,
    tingu_runtime::channel::LABEL_PROTOCOL_REFUSED,
    pd_core::message::LABEL_UNSUPPORTED,
    0,
];

/// A server that answers every request with its label, for `dispatch`.
struct Echo;

impl ss::Server for Echo {
    fn open(&mut self, _m: msg::Open) -> Message {
        Message::new(sl::OPEN)
    }
    fn write(&mut self, m: msg::Write) -> Message {
        Message::with_words(sl::WRITE, &[m.seq, m.offset, m.len]).unwrap_or_default()
    }
    fn close(&mut self, _m: msg::Close) -> Message {
        Message::new(sl::CLOSE)
    }
}

fn message(r: &mut Reader) -> Message {
    let label = r.label(LABELS);
    let mut words = [0u64; MSG_WORDS];
    let n = usize::from(r.u8() % 10);
    for w in words.iter_mut().take(n) {
        *w = r.word();
    }
    // A claimed length from shared memory: clamped by `from_raw`.
    Message::from_raw(label, n, words)
}

/// Messages per input: a few cover every decoder; more only slow it down.
const MAX_MESSAGES: usize = 8;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    for _ in 0..MAX_MESSAGES {
        if r.is_empty() {
            break;
        }
        let m = message(&mut r);
        check(&m);
    }
});

fn check(m: &Message) {
    // Requests (the driver decodes what a client sent).
    let req = Request::decode(m);
    if let Ok(q) = req {
        assert_eq!(Request::decode(&q.encode()), Ok(q));
    }
    // The generated decoders accept exactly what the API accepts.
    let gen_write = msg::Write::decode(m).map(|w| (w.seq, w.offset, w.len));
    let api_write = match req {
        Ok(Request::Write { seq, offset, len }) => Some((seq, u64::from(offset), u64::from(len))),
        _ => None,
    };
    assert_eq!(gen_write, api_write, "{m:?}");
    assert_eq!(msg::Open::decode(m).is_some(), req == Ok(Request::Open));
    assert_eq!(msg::Close::decode(m).is_some(), req == Ok(Request::Close));
    if let Some(w) = msg::Write::decode(m) {
        assert_eq!(msg::Write::decode(&w.encode()), Some(w));
    }
    let dispatched = ss::dispatch(&mut Echo, m);
    assert_eq!(dispatched.is_some(), req.is_ok());

    // Replies (a client decodes what the driver sent).
    let rep = decode_reply(m);
    match rep {
        Ok(p) => assert_eq!(decode_reply(&p.encode()), Ok(p)),
        Err(SerialError::Unexpected { .. }) => {}
        Err(e) => assert_eq!(decode_reply(&e.encode()), Err(e)),
    }
    if let Err(e) = rep {
        let _ = e.to_string();
    }
    // What the generated reply decoders accept, the API decodes the same way.
    if let Some(x) = msg::Opened::decode(m) {
        assert_eq!(msg::Opened::decode(&x.encode()), Some(x));
        assert_eq!(rep, Ok(Reply::Opened { epoch: x.epoch }));
    }
    if let Some(x) = msg::Written::decode(m) {
        assert_eq!(msg::Written::decode(&x.encode()), Some(x));
        let count = u32::try_from(x.count).expect("the spec bounds count to u32");
        assert_eq!(rep, Ok(Reply::Written { seq: x.seq, count }));
    }
    if let Some(x) = msg::Closed::decode(m) {
        assert_eq!(msg::Closed::decode(&x.encode()), Some(x));
        assert_eq!(rep, Ok(Reply::Closed));
    }
    if let Some(x) = msg::Restarted::decode(m) {
        assert_eq!(msg::Restarted::decode(&x.encode()), Some(x));
        assert_eq!(rep, Err(SerialError::Restarted { epoch: x.epoch }));
    }
    if let Some(x) = msg::Stopped::decode(m) {
        assert_eq!(msg::Stopped::decode(&x.encode()), Some(x));
        assert_eq!(rep, Err(SerialError::Stopped { epoch: x.epoch }));
    }
    if let Some(x) = msg::Invalid::decode(m) {
        assert_eq!(msg::Invalid::decode(&x.encode()), Some(x));
        assert!(matches!(
            rep,
            Err(SerialError::Invalid(_) | SerialError::Unexpected { .. })
        ));
    }
    // Message classification, every direction and transport.
    for dir in [Dir::In, Dir::Out] {
        for kind in [Kind::Call, Kind::Reply, Kind::Notify] {
            if let Some(i) = ss::Proto::classify(dir, kind, m.label) {
                assert!(usize::from(i) < ss::MESSAGES.len());
            }
        }
    }
}
