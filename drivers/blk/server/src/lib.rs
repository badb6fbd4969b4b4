//! The block server: the adapter between a client's sDDF queues (request
//! and response rings plus a data region, `blk-queue`) and a block chip
//! driver (`blk-device`), with every request it holds recorded in the
//! persistent region (`blk-inflight`).
//!
//! A restarted driver builds a new [`Server`] with a freshly reset device:
//! [`Server::start`] finishes the step the dead incarnation was in and
//! hands every request still held to the device again (whole-block reads
//! and writes are idempotent), oldest first. Requests stay on the ring
//! until the device has room, so neither the table nor the device's queue
//! ever overflows, whatever the client posts.
//!
//! What must never happen: a request answered twice or never, a transfer
//! outside the client's data region or the disk, or a write to a
//! read-only disk handed to the device.
#![no_std]

use blk_device::{BlockDevice, Op, Outcome, SubmitError, Transfer, BLOCK};
use blk_inflight::{Error as RecordError, InFlight, Resync};
use blk_queue::{BlkReq, BlkResp, Full, ReqCode, RespStatus, Ring};

/// The persistent record: the table, and its commit (the persistence
/// layer's checksummed commit on a PD).
pub trait Record<const N: usize> {
    /// The table (in the persistent region).
    fn table(&mut self) -> &mut InFlight<N>;
    /// Make the table's current contents what a restart finds.
    fn commit(&mut self);
}

/// The client's data region, as this PD maps it.
#[derive(Copy, Clone, Debug)]
pub struct DataRegion {
    /// Our address of its start.
    pub base: *mut u8,
    /// Bytes.
    pub len: usize,
}

/// Why the server cannot go on.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// The record and the rings disagree, or a ring is corrupt.
    Record(RecordError),
    /// The device stopped serving (needs a reset: restart the driver).
    DeviceBroken,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Record(e) => write!(f, "in-flight record: {e}"),
            Self::DeviceBroken => f.write_str("block device needs a reset"),
        }
    }
}

/// What one [`Server::serve`] did.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Served {
    /// Responses published (notify the client if not 0).
    pub answered: u32,
    /// Requests taken from the ring.
    pub taken: u32,
    /// Transfers handed to the device (notify nothing: the device was kicked).
    pub submitted: u32,
}

/// A slot's place in the server's (volatile) bookkeeping.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Local {
    /// Not held.
    Idle,
    /// Held, not yet handed to the device.
    Waiting,
    /// With the device.
    Submitted,
    /// Finished, its answer not yet published (the response ring was full).
    Done(RespStatus, u16),
}

/// A stopped driver's whole service: answer every request on `req` with
/// `status` (no data moved), as far as `resp` has room; whether any was.
/// Nothing is recorded: the answer is the same whenever it is repeated.
pub fn answer_all(req: &Ring<'_, BlkReq>, resp: &Ring<'_, BlkResp>, status: RespStatus) -> bool {
    let mut answered = false;
    while let Ok(Some(r)) = req.peek() {
        if resp.push(BlkResp::new(status, 0, r.id)).is_err() {
            break; // the client has not consumed: the next notification
        }
        req.advance();
        answered = true;
    }
    answered
}

/// The server.
pub struct Server<'a, D: BlockDevice, const N: usize> {
    req: Ring<'a, BlkReq>,
    resp: Ring<'a, BlkResp>,
    data: DataRegion,
    dev: D,
    local: [Local; N],
}

impl<'a, D: BlockDevice, const N: usize> Server<'a, D, N> {
    /// Resume serving after a start or a restart, on a device just reset
    /// and set up: resynchronise the record with the rings, then treat every
    /// request still held as not yet submitted.
    pub fn start(
        req: Ring<'a, BlkReq>,
        resp: Ring<'a, BlkResp>,
        data: DataRegion,
        record: &mut impl Record<N>,
        dev: D,
    ) -> Result<(Self, Resync), Error> {
        let r = record.table().resync(&req, &resp).map_err(Error::Record)?;
        record.commit();
        let mut local = [Local::Idle; N];
        for (k, _) in record.table().held() {
            local[k] = Local::Waiting;
        }
        Ok((
            Self {
                req,
                resp,
                data,
                dev,
                local,
            },
            r,
        ))
    }

    /// The request ring's `head`: requests before it have been taken.
    pub fn request_head(&self) -> u32 {
        self.req.head()
    }

    /// The device (e.g. to acknowledge its interrupt).
    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Requests held (taken and not yet answered).
    pub fn held(&self) -> usize {
        self.local.iter().filter(|l| **l != Local::Idle).count()
    }

    /// Serve until nothing more can be done now: collect completions,
    /// publish answers, hand waiting and new requests to the device.
    pub fn serve(&mut self, record: &mut impl Record<N>) -> Result<Served, Error> {
        let mut s = Served::default();
        loop {
            let before = s;
            while let Some((tag, outcome)) = self.dev.complete() {
                self.finished(record, usize::from(tag), outcome);
            }
            self.publish(record, &mut s)?;
            self.submit_waiting(record, &mut s)?;
            self.take_new(record, &mut s)?;
            self.dev.kick();
            if self.dev.broken() {
                return Err(Error::DeviceBroken);
            }
            if s == before {
                return Ok(s);
            }
        }
    }

    fn finished(&mut self, record: &mut impl Record<N>, k: usize, outcome: Outcome) {
        let Some(l) = self.local.get_mut(k) else {
            return;
        };
        if *l != Local::Submitted {
            return; // a tag not with the device: ignore (the device is broken)
        }
        let count = record.table().slots[k].req.count;
        *l = match outcome {
            Outcome::Ok => Local::Done(RespStatus::Ok, count),
            Outcome::IoError => Local::Done(RespStatus::ErrIo, 0),
            Outcome::Unsupported => Local::Done(RespStatus::ErrInvalidParam, 0),
        };
    }

    /// Publish every finished answer the response ring has room for.
    fn publish(&mut self, record: &mut impl Record<N>, s: &mut Served) -> Result<(), Error> {
        for k in 0..N {
            let Local::Done(status, count) = self.local[k] else {
                continue;
            };
            // One producer (us): room seen now is room at the push.
            let used = self
                .resp
                .len()
                .map_err(|c| Error::Record(RecordError::Corrupt(c)))?;
            if used + 1 >= self.resp.capacity() {
                return Ok(()); // the client has not consumed; it stays Done
            }
            let tail = self.resp.tail();
            record.table().answering(k, status as u32, count, tail);
            record.commit();
            let response = record.table().slots[k].response();
            self.resp.push(response).map_err(|e| match e {
                Full::Full => Error::Record(RecordError::ResponsesFull),
                Full::Corrupt(c) => Error::Record(RecordError::Corrupt(c)),
            })?;
            record.table().release(k);
            record.commit();
            self.local[k] = Local::Idle;
            s.answered += 1;
        }
        Ok(())
    }

    /// Hand held requests to the device, oldest (by ring index) first.
    fn submit_waiting(&mut self, record: &mut impl Record<N>, s: &mut Served) -> Result<(), Error> {
        let head = self.req.head();
        while self.dev.has_room() {
            let oldest = (0..N)
                .filter(|&k| self.local[k] == Local::Waiting)
                .max_by_key(|&k| head.wrapping_sub(record.table().slots[k].taken_at));
            let Some(k) = oldest else { return Ok(()) };
            let req = record.table().slots[k].req;
            self.submit(k, &req, s)?;
        }
        Ok(())
    }

    /// Take requests off the ring while the device and the table have room.
    fn take_new(&mut self, record: &mut impl Record<N>, s: &mut Served) -> Result<(), Error> {
        while self.dev.has_room() && self.local.contains(&Local::Idle) {
            let Some(req) = self
                .req
                .peek()
                .map_err(|c| Error::Record(RecordError::Corrupt(c)))?
            else {
                return Ok(());
            };
            let k = record
                .table()
                .take(req, self.req.head())
                .map_err(Error::Record)?;
            record.commit();
            self.req.advance();
            s.taken += 1;
            self.submit(k, &req, s)?;
        }
        Ok(())
    }

    /// Check `req` and hand it to the device under tag `k`, or answer it
    /// at once if it is invalid.
    fn submit(&mut self, k: usize, req: &BlkReq, s: &mut Served) -> Result<(), Error> {
        let t = match self.transfer(req) {
            Ok(t) => t,
            Err(status) => {
                self.local[k] = Local::Done(status, 0);
                return Ok(());
            }
        };
        let Ok(tag) = u16::try_from(k) else {
            self.local[k] = Local::Done(RespStatus::ErrInvalidParam, 0);
            return Ok(());
        };
        // SAFETY: `transfer` checked that the memory lies in the client's
        // data region, which the client leaves alone while the request is
        // outstanding (the queue protocol), and which the device can reach.
        match unsafe { self.dev.submit(tag, t) } {
            Ok(()) => {
                self.local[k] = Local::Submitted;
                s.submitted += 1;
                Ok(())
            }
            Err(SubmitError::Busy) => {
                self.local[k] = Local::Waiting;
                Ok(())
            }
            Err(SubmitError::Invalid) => {
                self.local[k] = Local::Done(RespStatus::ErrInvalidParam, 0);
                Ok(())
            }
            Err(SubmitError::Broken) => {
                self.local[k] = Local::Waiting;
                Err(Error::DeviceBroken)
            }
        }
    }

    /// The transfer `req` asks for, or the status that refuses it.
    fn transfer(&self, req: &BlkReq) -> Result<Transfer, RespStatus> {
        let op = match ReqCode::from_raw(req.code) {
            Some(ReqCode::Read) => Op::Read,
            Some(ReqCode::Write) => Op::Write,
            Some(ReqCode::Flush | ReqCode::Barrier) => Op::Flush,
            None => return Err(RespStatus::ErrInvalidParam),
        };
        if op == Op::Flush {
            return Ok(Transfer {
                op,
                block: 0,
                count: 0,
                data: self.data.base,
            });
        }
        if op == Op::Write && self.dev.read_only() {
            return Err(RespStatus::ErrIo);
        }
        let bytes = usize::from(req.count) * BLOCK;
        let start = usize::try_from(req.io_or_offset).map_err(|_| RespStatus::ErrInvalidParam)?;
        let in_region = req.count > 0
            && start
                .checked_add(bytes)
                .is_some_and(|end| end <= self.data.len);
        let on_disk = u64::from(req.block_number) + u64::from(req.count) <= self.dev.capacity();
        if !in_region || !on_disk {
            return Err(RespStatus::ErrInvalidParam);
        }
        Ok(Transfer {
            op,
            block: u64::from(req.block_number),
            count: req.count,
            // SAFETY: start + bytes <= len (checked above).
            data: unsafe { self.data.base.add(start) },
        })
    }
}
