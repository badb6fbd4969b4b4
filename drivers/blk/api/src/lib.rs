//! The client's side of the block queues: [`BlkQueue`] posts up to `N`
//! requests on the request ring, each with its own area of the data
//! region, notifies the driver, and hands back the answers by id as they
//! come; [`BlkClient`] is the one-at-a-time stub on it. [`BlkError`] is everything a request can end in. A driver
//! restart is invisible here unless the restarted driver could not redo a
//! request: then the answer says so, with the new incarnation's epoch. A
//! cold start (the driver lost its record of held requests) shows in the
//! storage-info page: a request outstanding across it that an earlier
//! incarnation had taken and not answered is posted again; one still on
//! the ring is left to the new incarnation. Either way it exists once.
//!
//! What must never happen: an answer taken for another request's, a second
//! answer to one request accepted, or data copied out of the data region
//! before its request was answered.
#![no_std]

use blk_queue::{BlkReq, BlkResp, Corrupt, ReqCode, Ring, BLK_TRANSFER_SIZE};

mod queue;
pub use queue::{BlkQueue, Completion};

/// Why a request failed.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum BlkError {
    /// The device failed the transfer.
    Io,
    /// The driver refused the request (outside the disk or the data region).
    Invalid,
    /// The driver is stopped for good; `epoch` is its last incarnation.
    Stopped {
        /// The incarnation that answered.
        epoch: u32,
    },
    /// The driver was restarted and could not redo the request; `epoch` is
    /// its new incarnation.
    Restarted {
        /// The incarnation that answered.
        epoch: u32,
    },
    /// A ring's indices are impossible.
    Corrupt(Corrupt),
    /// An answer to a request not outstanding (a doubled or stray answer).
    Unexpected {
        /// The id it carried.
        id: u32,
    },
    /// The answer's status is not one of the protocol's.
    BadStatus(u32),
    /// The transfer does not fit the data region.
    TooLarge,
    /// As many requests are outstanding as the client holds.
    Busy,
    /// The data area is lent to an outstanding request.
    AreaBusy,
    /// Waiting for an answer with nothing outstanding.
    Idle,
}

impl core::fmt::Display for BlkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io => f.write_str("I/O error"),
            Self::Invalid => f.write_str("request refused as invalid"),
            Self::Stopped { epoch } => write!(f, "driver stopped (epoch {epoch})"),
            Self::Restarted { epoch } => write!(f, "driver restarted (epoch {epoch})"),
            Self::Corrupt(c) => write!(f, "{c}"),
            Self::Unexpected { id } => {
                write!(f, "answer to request {id}, which is not outstanding")
            }
            Self::BadStatus(s) => write!(f, "unknown response status {s}"),
            Self::TooLarge => f.write_str("transfer larger than the data region"),
            Self::Busy => f.write_str("every request slot is outstanding"),
            Self::AreaBusy => f.write_str("data area lent to an outstanding request"),
            Self::Idle => f.write_str("no request outstanding"),
        }
    }
}

/// How the client reaches the driver: a notification, and a way to wait
/// for one (on a PD: let the higher-priority driver run).
pub trait Link {
    /// Signal the driver.
    fn notify(&self);
    /// Wait until the driver may have answered.
    fn wait(&self);
    /// The driver's current epoch (from the storage-info page).
    fn epoch(&self) -> u32 {
        0
    }
    /// The driver's last start without its record: its epoch and the
    /// request ring's head then (the storage-info page's `cold_epoch`,
    /// `cold_head`, read epoch first, with acquire).
    fn cold_start(&self) -> (u32, u32) {
        (0, 0)
    }
    /// The driver owes an answer from now (nothing was outstanding, or an
    /// answer came and more are owed): the caller's call ledger, the
    /// monitor's evidence of progress and of a hang.
    fn begin(&self) {}
    /// An answer arrived; `ok` if it is not an error.
    fn end(&self, ok: bool) {
        let _ = ok;
    }
}

/// The client stub: one request at a time, through the start of the data
/// region.
pub struct BlkClient<'a, L: Link> {
    q: BlkQueue<'a, L, 1>,
}

impl<'a, L: Link> BlkClient<'a, L> {
    /// A client on these rings and the data region of `data_len` bytes at
    /// `data`.
    ///
    /// # Safety
    /// As [`BlkQueue::new`].
    pub unsafe fn new(
        req: Ring<'a, BlkReq>,
        resp: Ring<'a, BlkResp>,
        data: *mut u8,
        data_len: usize,
        link: L,
    ) -> Self {
        Self {
            // SAFETY: the caller's promise, passed on.
            q: unsafe { BlkQueue::new(req, resp, data, data_len, link) },
        }
    }

    /// The link (e.g. to reach the platform).
    pub fn link(&self) -> &L {
        self.q.link()
    }

    /// Read `buf.len() / BLK_TRANSFER_SIZE` blocks from `block` into `buf`.
    pub fn read(&mut self, block: u32, buf: &mut [u8]) -> Result<(), BlkError> {
        let n = self.blocks(buf.len())?;
        self.request(ReqCode::Read, block, n)?;
        self.q.get(0, buf)
    }

    /// Write `buf` (whole blocks) at `block`.
    pub fn write(&mut self, block: u32, buf: &[u8]) -> Result<(), BlkError> {
        let n = self.blocks(buf.len())?;
        self.q.put(0, buf)?;
        self.request(ReqCode::Write, block, n)
    }

    /// Make earlier writes durable.
    pub fn flush(&mut self) -> Result<(), BlkError> {
        self.request(ReqCode::Flush, 0, 0)
    }

    fn blocks(&self, len: usize) -> Result<u16, BlkError> {
        if !len.is_multiple_of(BLK_TRANSFER_SIZE) || len > self.q.data_len() {
            return Err(BlkError::TooLarge);
        }
        u16::try_from(len / BLK_TRANSFER_SIZE).map_err(|_| BlkError::TooLarge)
    }

    /// Post one request and wait for its answer.
    fn request(&mut self, code: ReqCode, block: u32, count: u16) -> Result<(), BlkError> {
        let id = self.q.submit(code, 0, block, count)?;
        match self.q.wait_any()? {
            c if c.id == id => c.result,
            c => Err(BlkError::Unexpected { id: c.id }),
        }
    }

    /// Requests posted again after a cold start of the driver.
    pub fn reposts(&self) -> u64 {
        self.q.reposts()
    }
}
