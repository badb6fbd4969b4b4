//! The serial driver's client-facing API: request and reply encoding, the
//! error type clients handle, and a client stub.
//!
//! A client owns a shared buffer (`tx_buf`), fills it, and makes a protected
//! call `write(seq, offset, len)`; the driver replies `written(seq, count)`
//! once every byte is in the UART. `seq` makes writes idempotent: a write whose
//! `seq` the driver has already completed is acknowledged without output.
//!
//! Errors are explicit, after Hubris: [`SerialError::Restarted`] says the driver
//! was cold-started while the request was in flight (its state was discarded,
//! some of the bytes may have been sent), carrying the new epoch;
//! [`SerialError::Stopped`] says the driver was stopped for good. A warm
//! restart is invisible: the request is replayed and answered normally.
//!
//! What must never happen: a reply that does not say which of these happened.
#![no_std]

use core::fmt;

use pd_core::{Channel, Message, Platform, Region};

/// Generated from `serial.tingu` (and the lifecycle and control protocols it
/// imports): message types, labels, and the protocol observers of the
/// `serial`, `serial_client` and `monitor` components.
pub mod spec {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/serial_protocol.rs"));
}

/// Message labels (the protocol is specified in `serial.tingu`).
pub mod label {
    /// `open()`: start a session.
    pub const OPEN: u64 = 1;
    /// `write(seq, offset, len)`: send `len` bytes at `offset` of the shared buffer.
    pub const WRITE: u64 = 2;
    /// `close()`: end the session.
    pub const CLOSE: u64 = 3;
    /// Reply to `open`: `opened(epoch)`.
    pub const OPENED: u64 = 0x101;
    /// Reply to `write`: `written(seq, count)`.
    pub const WRITTEN: u64 = 0x102;
    /// Reply to `close`: `closed()`.
    pub const CLOSED: u64 = 0x103;
    /// Error reply: the driver was cold-started during the request: `restarted(epoch)`.
    pub const RESTARTED: u64 = 0x1f0;
    /// Error reply: the driver is stopped: `stopped(epoch)`.
    pub const STOPPED: u64 = 0x1f1;
    /// Error reply: malformed request: `invalid(reason)`.
    pub const INVALID: u64 = 0x1f2;
}

/// Why a request was malformed.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u64)]
pub enum InvalidReason {
    /// Unknown label.
    UnknownRequest = 1,
    /// Wrong number of words.
    BadLength = 2,
    /// `offset + len` outside the shared buffer.
    OutOfBuffer = 3,
    /// A write with a `seq` older than the last completed one but not equal to it.
    StaleSeq = 4,
    /// A write outside an open session.
    NotOpen = 5,
}

impl InvalidReason {
    fn from_raw(v: u64) -> Option<Self> {
        Some(match v {
            1 => Self::UnknownRequest,
            2 => Self::BadLength,
            3 => Self::OutOfBuffer,
            4 => Self::StaleSeq,
            5 => Self::NotOpen,
            _ => return None,
        })
    }
}

/// A request, decoded.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Request {
    /// Start a session.
    Open,
    /// Send bytes from the shared buffer.
    Write {
        /// Client's sequence number for this write (strictly increasing).
        seq: u64,
        /// Offset in the shared buffer.
        offset: u32,
        /// Number of bytes.
        len: u32,
    },
    /// End the session.
    Close,
}

impl Request {
    /// Encode as a message.
    pub fn encode(&self) -> Message {
        let m = match *self {
            Self::Open => Message::with_words(label::OPEN, &[]),
            Self::Write { seq, offset, len } => {
                Message::with_words(label::WRITE, &[seq, offset as u64, len as u64])
            }
            Self::Close => Message::with_words(label::CLOSE, &[]),
        };
        m.unwrap_or_default()
    }

    /// Decode a message; the error is the reason to reply `invalid`.
    pub fn decode(m: &Message) -> Result<Self, InvalidReason> {
        let w = m.words();
        match (m.label, w.len()) {
            (label::OPEN, 0) => Ok(Self::Open),
            (label::CLOSE, 0) => Ok(Self::Close),
            (label::WRITE, 3) => {
                let offset = u32::try_from(w[1]).map_err(|_| InvalidReason::OutOfBuffer)?;
                let len = u32::try_from(w[2]).map_err(|_| InvalidReason::OutOfBuffer)?;
                Ok(Self::Write {
                    seq: w[0],
                    offset,
                    len,
                })
            }
            (label::OPEN | label::CLOSE | label::WRITE, _) => Err(InvalidReason::BadLength),
            _ => Err(InvalidReason::UnknownRequest),
        }
    }
}

/// A successful reply, decoded.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Reply {
    /// Session open; the driver's current epoch.
    Opened {
        /// Driver epoch.
        epoch: u64,
    },
    /// All bytes of write `seq` are in the UART.
    Written {
        /// The write's sequence number.
        seq: u64,
        /// Bytes written.
        count: u32,
    },
    /// Session closed.
    Closed,
}

impl Reply {
    /// Encode as a message.
    pub fn encode(&self) -> Message {
        let m = match *self {
            Self::Opened { epoch } => Message::with_words(label::OPENED, &[epoch]),
            Self::Written { seq, count } => {
                Message::with_words(label::WRITTEN, &[seq, count as u64])
            }
            Self::Closed => Message::with_words(label::CLOSED, &[]),
        };
        m.unwrap_or_default()
    }
}

/// What a client can be told instead of a [`Reply`].
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SerialError {
    /// The driver was cold-started while this request was in flight; its
    /// state was discarded. Some bytes of a write may have been sent.
    Restarted {
        /// The driver's new epoch.
        epoch: u64,
    },
    /// The driver has been stopped by its monitor and will serve no more.
    Stopped {
        /// Epoch at which it stopped.
        epoch: u64,
    },
    /// The request was malformed.
    Invalid(InvalidReason),
    /// The protocol observer refused the request in the current state.
    ProtocolRefused,
    /// The driver is gone for good: even its stopped mode failed, and its
    /// monitor quarantined it (every call is answered with this).
    Gone,
    /// A reply this API does not know.
    Unexpected {
        /// Its label.
        label: u64,
    },
}

impl SerialError {
    /// Encode as an error reply.
    pub fn encode(&self) -> Message {
        let m = match *self {
            Self::Restarted { epoch } => Message::with_words(label::RESTARTED, &[epoch]),
            Self::Stopped { epoch } => Message::with_words(label::STOPPED, &[epoch]),
            Self::Invalid(r) => Message::with_words(label::INVALID, &[r as u64]),
            Self::ProtocolRefused => Some(Message::new(PROTOCOL_REFUSED)),
            Self::Gone => Some(Message::new(pd_core::message::LABEL_GONE)),
            Self::Unexpected { label } => Some(Message::new(label)),
        };
        m.unwrap_or_default()
    }
}

impl fmt::Display for SerialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Restarted { epoch } => write!(f, "driver restarted (epoch {epoch})"),
            Self::Stopped { epoch } => write!(f, "driver stopped (epoch {epoch})"),
            Self::Invalid(r) => write!(f, "invalid request ({r:?})"),
            Self::ProtocolRefused => f.write_str("refused by the protocol observer"),
            Self::Gone => f.write_str("driver gone (quarantined: even its stopped mode failed)"),
            Self::Unexpected { label } => write!(f, "unexpected reply label {label:#x}"),
        }
    }
}

/// Label the channel layer replies with when it refuses a call.
const PROTOCOL_REFUSED: u64 = 0xfffe;

/// Whether a reply label is an error: it completes a call but is no progress
/// (the client's call ledger does not count it as a success).
pub fn is_error_label(label: u64) -> bool {
    !matches!(label, label::OPENED | label::WRITTEN | label::CLOSED)
}

/// Decode any reply.
pub fn decode_reply(m: &Message) -> Result<Reply, SerialError> {
    let w = |i| m.word(i).unwrap_or(0);
    match (m.label, m.len()) {
        (label::OPENED, 1) => Ok(Reply::Opened { epoch: w(0) }),
        (label::WRITTEN, 2) => Ok(Reply::Written {
            seq: w(0),
            count: u32::try_from(w(1)).unwrap_or(u32::MAX),
        }),
        (label::CLOSED, 0) => Ok(Reply::Closed),
        (label::RESTARTED, 1) => Err(SerialError::Restarted { epoch: w(0) }),
        (label::STOPPED, 1) => Err(SerialError::Stopped { epoch: w(0) }),
        (label::INVALID, 1) => Err(match InvalidReason::from_raw(w(0)) {
            Some(r) => SerialError::Invalid(r),
            None => SerialError::Unexpected { label: m.label },
        }),
        (PROTOCOL_REFUSED, _) => Err(SerialError::ProtocolRefused),
        (pd_core::message::LABEL_GONE, _) => Err(SerialError::Gone),
        (label, _) => Err(SerialError::Unexpected { label }),
    }
}

/// Client stub: owns the shared buffer and the sequence numbers.
pub struct SerialClient<P: Platform> {
    platform: P,
    ch: Channel,
    buf: Region,
    next_seq: u64,
}

impl<P: Platform> SerialClient<P> {
    /// A client calling the driver on `ch`, sharing `buf` with it.
    pub fn new(platform: P, ch: Channel, buf: Region) -> Self {
        Self {
            platform,
            ch,
            buf,
            next_seq: 1,
        }
    }

    /// Largest single write.
    pub fn max_write(&self) -> usize {
        self.buf.size
    }

    /// Open a session; returns the driver's epoch.
    pub fn open(&mut self) -> Result<u64, SerialError> {
        match decode_reply(&self.platform.ppcall(self.ch, &Request::Open.encode()))? {
            Reply::Opened { epoch } => Ok(epoch),
            _ => Err(SerialError::Unexpected { label: 0 }),
        }
    }

    /// Close the session.
    pub fn close(&mut self) -> Result<(), SerialError> {
        match decode_reply(&self.platform.ppcall(self.ch, &Request::Close.encode()))? {
            Reply::Closed => Ok(()),
            _ => Err(SerialError::Unexpected { label: 0 }),
        }
    }

    /// The sequence number the next write will use.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Write `data` (at most [`Self::max_write`] bytes) as one request.
    /// On success every byte is in the UART exactly once.
    pub fn write(&mut self, data: &[u8]) -> Result<u32, SerialError> {
        if data.len() > self.buf.size {
            return Err(SerialError::Invalid(InvalidReason::OutOfBuffer));
        }
        // SAFETY: `buf` is this PD's mapping of the shared buffer, `data.len()`
        // bytes fit; the driver only reads it while this client is blocked in
        // the call below.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), self.buf.as_mut_ptr(), data.len());
        }
        let seq = self.next_seq;
        let req = Request::Write {
            seq,
            offset: 0,
            len: data.len() as u32,
        };
        let reply = decode_reply(&self.platform.ppcall(self.ch, &req.encode()));
        // A sequence number is spent whatever the outcome: after a cold
        // restart the caller decides what to resend, under a new number.
        self.next_seq += 1;
        match reply? {
            Reply::Written { seq: s, count } if s == seq => Ok(count),
            _ => Err(SerialError::Unexpected { label: 0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Open,
            Request::Close,
            Request::Write {
                seq: 9,
                offset: 16,
                len: 100,
            },
        ] {
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn malformed_requests_have_reasons() {
        assert_eq!(
            Request::decode(&Message::new(77)),
            Err(InvalidReason::UnknownRequest)
        );
        assert_eq!(
            Request::decode(&Message::new(label::WRITE)),
            Err(InvalidReason::BadLength)
        );
        let huge = Message::with_words(label::WRITE, &[1, u64::MAX, 1]).unwrap_or_default();
        assert_eq!(Request::decode(&huge), Err(InvalidReason::OutOfBuffer));
    }

    #[test]
    fn replies_and_errors_round_trip() {
        for r in [
            Reply::Opened { epoch: 3 },
            Reply::Written { seq: 4, count: 5 },
            Reply::Closed,
        ] {
            assert_eq!(decode_reply(&r.encode()), Ok(r));
        }
        for e in [
            SerialError::Restarted { epoch: 2 },
            SerialError::Stopped { epoch: 8 },
            SerialError::Invalid(InvalidReason::StaleSeq),
            SerialError::ProtocolRefused,
        ] {
            assert_eq!(decode_reply(&e.encode()), Err(e));
        }
        assert_eq!(
            decode_reply(&Message::new(0x999)),
            Err(SerialError::Unexpected { label: 0x999 })
        );
    }
}
