//! The client's side of the block queues: [`BlkClient`] posts requests on
//! the request ring, notifies the driver, and waits for the answer with the
//! same id; [`BlkError`] is everything a request can end in. A driver
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

use blk_queue::{BlkReq, BlkResp, Corrupt, Full, ReqCode, RespStatus, Ring, BLK_TRANSFER_SIZE};

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
    /// A request is about to be posted (the caller's call ledger, the
    /// monitor's evidence that the driver owes an answer).
    fn begin(&self) {}
    /// Its answer arrived; `ok` if it is not an error.
    fn end(&self, ok: bool) {
        let _ = ok;
    }
}

/// The client stub: one request at a time, through the start of the data
/// region.
pub struct BlkClient<'a, L: Link> {
    req: Ring<'a, BlkReq>,
    resp: Ring<'a, BlkResp>,
    data: *mut u8,
    data_len: usize,
    link: L,
    next_id: u32,
    reposts: u64,
}

impl<'a, L: Link> BlkClient<'a, L> {
    /// A client on these rings and the data region of `data_len` bytes at
    /// `data`.
    ///
    /// # Safety
    /// The data region is mapped for `'a`, and besides this client only the
    /// driver and its device touch it, and only the part a request names
    /// while that request is outstanding.
    pub unsafe fn new(
        req: Ring<'a, BlkReq>,
        resp: Ring<'a, BlkResp>,
        data: *mut u8,
        data_len: usize,
        link: L,
    ) -> Self {
        Self {
            req,
            resp,
            data,
            data_len,
            link,
            next_id: 1,
            reposts: 0,
        }
    }

    /// The link (e.g. to reach the platform).
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Read `buf.len() / BLK_TRANSFER_SIZE` blocks from `block` into `buf`.
    pub fn read(&mut self, block: u32, buf: &mut [u8]) -> Result<(), BlkError> {
        let n = self.blocks(buf.len())?;
        self.request(ReqCode::Read, block, n)?;
        // SAFETY: within the region (checked by `blocks`), answered, so
        // nobody else touches it now.
        unsafe { core::ptr::copy_nonoverlapping(self.data, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Write `buf` (whole blocks) at `block`.
    pub fn write(&mut self, block: u32, buf: &[u8]) -> Result<(), BlkError> {
        let n = self.blocks(buf.len())?;
        // SAFETY: as in `read`; no request is outstanding.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), self.data, buf.len()) };
        self.request(ReqCode::Write, block, n)
    }

    /// Make earlier writes durable.
    pub fn flush(&mut self) -> Result<(), BlkError> {
        self.request(ReqCode::Flush, 0, 0)
    }

    fn blocks(&self, len: usize) -> Result<u16, BlkError> {
        if !len.is_multiple_of(BLK_TRANSFER_SIZE) || len > self.data_len {
            return Err(BlkError::TooLarge);
        }
        u16::try_from(len / BLK_TRANSFER_SIZE).map_err(|_| BlkError::TooLarge)
    }

    /// Post one request and wait for its answer.
    fn request(&mut self, code: ReqCode, block: u32, count: u16) -> Result<(), BlkError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let req = BlkReq::new(code, 0, block, count, id);
        self.link.begin();
        let r = self.post_and_wait(req, count);
        self.link.end(r.is_ok());
        r
    }

    fn post_and_wait(&mut self, req: BlkReq, count: u16) -> Result<(), BlkError> {
        let id = req.id;
        let (mut at, mut cold) = self.post(req)?;
        loop {
            match self.resp.pop().map_err(BlkError::Corrupt)? {
                Some(r) if r.id == id => return self.outcome(&r, count),
                Some(r) => return Err(BlkError::Unexpected { id: r.id }),
                None => {}
            }
            self.link.wait();
            let (epoch, head) = self.link.cold_start();
            if epoch == cold {
                continue;
            }
            // The driver started without its record. An incarnation dead by
            // now published whatever it answered: look first.
            match self.resp.pop().map_err(BlkError::Corrupt)? {
                Some(r) if r.id == id => return self.outcome(&r, count),
                Some(r) => return Err(BlkError::Unexpected { id: r.id }),
                None => {}
            }
            if head.wrapping_sub(at) as i32 > 0 {
                // Taken before that start and never answered: gone with
                // the record. Post it again (whole-block transfers are
                // idempotent); the request exists once.
                self.reposts += 1;
                (at, cold) = self.post(req)?;
            } else {
                // Still on the ring: the new incarnation answers it.
                cold = epoch;
            }
        }
    }

    /// Push `req` and notify: its ring index, and the driver's cold epoch
    /// when it was pushed.
    fn post(&mut self, req: BlkReq) -> Result<(u32, u32), BlkError> {
        loop {
            let (cold, _) = self.link.cold_start();
            let at = self.req.tail();
            match self.req.push(req) {
                Ok(()) => {
                    self.link.notify();
                    return Ok((at, cold));
                }
                Err(Full::Full) => self.link.wait(),
                Err(Full::Corrupt(c)) => return Err(BlkError::Corrupt(c)),
            }
        }
    }

    /// Requests posted again after a cold start of the driver.
    pub fn reposts(&self) -> u64 {
        self.reposts
    }

    fn outcome(&self, r: &BlkResp, count: u16) -> Result<(), BlkError> {
        match RespStatus::from_raw(r.status) {
            Some(RespStatus::Ok) if r.success_count == count => Ok(()),
            Some(RespStatus::Ok) => Err(BlkError::Io),
            Some(RespStatus::ErrIo | RespStatus::ErrUnspec) => Err(BlkError::Io),
            Some(RespStatus::ErrInvalidParam) => Err(BlkError::Invalid),
            Some(RespStatus::ErrNoDevice) => Err(BlkError::Stopped {
                epoch: self.link.epoch(),
            }),
            Some(RespStatus::ErrRestarted) => Err(BlkError::Restarted {
                epoch: self.link.epoch(),
            }),
            None => Err(BlkError::BadStatus(r.status)),
        }
    }
}
