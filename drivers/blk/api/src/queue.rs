//! Many requests in flight: [`BlkQueue`] posts up to `N` requests, each
//! with its own area of the data region, and hands back their answers as
//! they come, in any order. [`crate::BlkClient`] is this with `N = 1`.
//!
//! A cold start of the driver (it lost its record of held requests) shows
//! in the storage-info page as a new `cold_epoch` with the request ring's
//! head at that start. Every outstanding request the ring had passed to an
//! earlier incarnation (its index is before that head) and that was not
//! answered is gone with the record: it is posted again. One still on the
//! ring is left to the new incarnation. Either way it exists once.

use crate::{BlkError, Link};
use blk_queue::{BlkReq, BlkResp, Full, ReqCode, RespStatus, Ring, BLK_TRANSFER_SIZE};

/// A request the driver owes an answer to.
#[derive(Copy, Clone)]
struct Outstanding {
    req: BlkReq,
    /// Its index on the request ring.
    at: u32,
    /// The driver's cold epoch when it was posted.
    cold: u32,
}

impl Outstanding {
    /// The bytes of the data region it lends the driver.
    fn area(&self) -> (usize, usize) {
        (
            self.req.io_or_offset as usize,
            usize::from(self.req.count) * BLK_TRANSFER_SIZE,
        )
    }
}

/// An answer: the request's id and how it ended.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Completion {
    /// The id [`BlkQueue::submit`] returned.
    pub id: u32,
    /// Its outcome.
    pub result: Result<(), BlkError>,
}

/// The client's side of the queues with up to `N` requests outstanding.
pub struct BlkQueue<'a, L: Link, const N: usize> {
    req: Ring<'a, BlkReq>,
    resp: Ring<'a, BlkResp>,
    data: *mut u8,
    data_len: usize,
    link: L,
    next_id: u32,
    reposts: u64,
    out: [Option<Outstanding>; N],
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

impl<'a, L: Link, const N: usize> BlkQueue<'a, L, N> {
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
            out: [None; N],
        }
    }

    /// The link (e.g. to reach the platform).
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Requests posted again after a cold start of the driver.
    pub fn reposts(&self) -> u64 {
        self.reposts
    }

    /// Requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.out.iter().flatten().count()
    }

    /// The data region's size.
    pub fn data_len(&self) -> usize {
        self.data_len
    }

    /// Check that `len` bytes at `offset` are in the data region and lent
    /// to no outstanding request.
    fn free_area(&self, offset: usize, len: usize) -> Result<(), BlkError> {
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.data_len)
        {
            return Err(BlkError::TooLarge);
        }
        if self
            .out
            .iter()
            .flatten()
            .any(|o| overlaps(o.area(), (offset, len)))
        {
            return Err(BlkError::AreaBusy);
        }
        Ok(())
    }

    /// Copy `src` into the data region at `offset` (no request may own it).
    pub fn put(&mut self, offset: usize, src: &[u8]) -> Result<(), BlkError> {
        self.free_area(offset, src.len())?;
        // SAFETY: inside the region and lent to no request (checked), so
        // neither the driver nor the device touches it now.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), self.data.add(offset), src.len()) };
        Ok(())
    }

    /// Copy the data region at `offset` into `dst` (no request may own it:
    /// a read's data is taken after its answer).
    pub fn get(&self, offset: usize, dst: &mut [u8]) -> Result<(), BlkError> {
        self.free_area(offset, dst.len())?;
        // SAFETY: as in `put`.
        unsafe {
            core::ptr::copy_nonoverlapping(self.data.add(offset), dst.as_mut_ptr(), dst.len())
        };
        Ok(())
    }

    /// Run `f` on `len` bytes of the data region at `offset` (no request
    /// may own them: a read's data is looked at after its answer).
    pub fn with_area<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, BlkError> {
        self.free_area(offset, len)?;
        // SAFETY: as in `put`; the slice lives only for `f`, while `&self`
        // keeps `submit` from lending the area.
        Ok(f(unsafe {
            core::slice::from_raw_parts(self.data.add(offset), len)
        }))
    }

    /// Run `f` on `len` bytes of the data region at `offset` to fill them
    /// (no request may own them).
    pub fn with_area_mut<R>(
        &mut self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, BlkError> {
        self.free_area(offset, len)?;
        // SAFETY: as in `with_area`.
        Ok(f(unsafe {
            core::slice::from_raw_parts_mut(self.data.add(offset), len)
        }))
    }

    /// Post a request for `count` blocks at `block`, its data at `offset`
    /// in the data region: its id. [`BlkError::Busy`] if `N` are
    /// outstanding, [`BlkError::AreaBusy`] if another outstanding request
    /// owns part of its area.
    pub fn submit(
        &mut self,
        code: ReqCode,
        offset: usize,
        block: u32,
        count: u16,
    ) -> Result<u32, BlkError> {
        let slot = self
            .out
            .iter()
            .position(Option::is_none)
            .ok_or(BlkError::Busy)?;
        self.free_area(offset, usize::from(count) * BLK_TRANSFER_SIZE)?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let req = BlkReq::new(code, offset as u64, block, count, id);
        if self.outstanding() == 0 {
            self.link.begin();
        }
        let (at, cold) = self.post(req)?;
        self.out[slot] = Some(Outstanding { req, at, cold });
        Ok(id)
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

    /// One answer if there is one now, without waiting. Errors here are
    /// the queue's (a corrupt ring, a stray answer), not a request's.
    pub fn poll(&mut self) -> Result<Option<Completion>, BlkError> {
        if let Some(c) = self.take_answer()? {
            return Ok(Some(c));
        }
        let (epoch, head) = self.link.cold_start();
        if self.out.iter().flatten().all(|o| o.cold == epoch) {
            return Ok(None);
        }
        // The driver started without its record. An incarnation dead by
        // now published whatever it answered: look first.
        if let Some(c) = self.take_answer()? {
            return Ok(Some(c));
        }
        for i in 0..N {
            let Some(mut o) = self.out[i] else { continue };
            if o.cold == epoch {
                continue;
            }
            if head.wrapping_sub(o.at) as i32 > 0 {
                // Taken before that start and never answered: gone with
                // the record. Post it again (whole-block transfers are
                // idempotent); the request exists once.
                self.reposts += 1;
                (o.at, o.cold) = self.post(o.req)?;
            } else {
                // Still on the ring: the new incarnation answers it.
                o.cold = epoch;
            }
            self.out[i] = Some(o);
        }
        Ok(None)
    }

    /// Wait for the next answer.
    pub fn wait_any(&mut self) -> Result<Completion, BlkError> {
        if self.outstanding() == 0 {
            return Err(BlkError::Idle);
        }
        loop {
            if let Some(c) = self.poll()? {
                return Ok(c);
            }
            self.link.wait();
        }
    }

    fn take_answer(&mut self) -> Result<Option<Completion>, BlkError> {
        let Some(r) = self.resp.pop().map_err(BlkError::Corrupt)? else {
            return Ok(None);
        };
        let slot = self
            .out
            .iter()
            .position(|o| o.is_some_and(|o| o.req.id == r.id))
            .ok_or(BlkError::Unexpected { id: r.id })?;
        let o = self.out[slot]
            .take()
            .ok_or(BlkError::Unexpected { id: r.id })?;
        let result = self.outcome(&r, o.req.count);
        // The ledger holds one call: "an answer is owed since then".
        self.link.end(result.is_ok());
        if self.outstanding() > 0 {
            self.link.begin();
        }
        Ok(Some(Completion { id: r.id, result }))
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
