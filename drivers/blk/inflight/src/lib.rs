//! The requests a block driver holds, recorded in its persistent region so
//! that a restart neither loses nor doubles one (after sDDF's block
//! virtualiser's table of in-flight requests, made crash-consistent).
//!
//! The driver moves each request through three steps, each ending in a
//! commit of this table (the persistence layer's checksummed commit):
//!
//! 1. *take*: record the request at the ring's `head`, with that index
//!    ([`InFlight::take`]); then advance `head`;
//! 2. *answer*: record the status and the response ring's `tail` it will
//!    occupy ([`InFlight::answering`]); then push the response;
//! 3. *release*: free the slot ([`InFlight::release`]).
//!
//! A restart may land between any two stores. [`InFlight::resync`] reads
//! the rings' indices, which live in shared memory and survive the driver,
//! and finishes what the dead incarnation left half done: a request recorded
//! at the current `head` was not yet taken from the ring (advance it now); an
//! answer recorded at a `tail` the ring has passed was published (free its
//! slot), otherwise it is pushed again. Every other held request is handed
//! back to be submitted to the device again: whole-block reads and writes
//! are idempotent. So each request is answered exactly once, whatever the
//! instant of the fault.
//!
//! What must never happen: a request taken from the ring that no slot
//! holds, a response pushed twice, or a slot freed before its response is
//! published.
#![cfg_attr(not(test), no_std)]

use blk_queue::{BlkReq, BlkResp, Corrupt, Full, Ring};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Slot states.
pub mod state {
    /// Unused.
    pub const FREE: u32 = 0;
    /// Taken from the request ring, not answered.
    pub const HELD: u32 = 1;
    /// Its response is being pushed at `answer_at`.
    pub const ANSWERING: u32 = 2;
}

/// One held request.
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Copy, Clone, PartialEq, Eq, Debug, Default,
)]
pub struct Slot {
    /// The request as taken.
    pub req: BlkReq,
    /// A [`state`] value.
    pub state: u32,
    /// The request ring's `head` when it was taken.
    pub taken_at: u32,
    /// The response ring's `tail` its response occupies (ANSWERING).
    pub answer_at: u32,
    /// The response's status (ANSWERING).
    pub status: u32,
    /// The response's success count (ANSWERING).
    pub success_count: u32,
    _pad: u32,
}

/// The table: `N` slots, at least the ring depth the driver serves.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Copy, Clone, Debug)]
pub struct InFlight<const N: usize> {
    /// The slots.
    pub slots: [Slot; N],
}

impl<const N: usize> Default for InFlight<N> {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); N],
        }
    }
}

/// What [`InFlight::resync`] found and did.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Resync {
    /// A request recorded but not yet taken from the ring: taken now.
    pub finished_take: bool,
    /// An answer already published: its slot freed.
    pub answer_was_published: bool,
    /// An answer not yet published: pushed now.
    pub answer_pushed: bool,
    /// Requests still held, to submit to the device again.
    pub held: usize,
}

/// Why the table and the rings disagree, or a step cannot be done.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// A ring's indices are impossible.
    Corrupt(Corrupt),
    /// The response ring is full (the client has not consumed): retry.
    ResponsesFull,
    /// No free slot (the driver took more than `N`).
    NoSlot,
    /// A slot holds a state no step writes.
    BadSlot(usize),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Corrupt(c) => write!(f, "{c}"),
            Error::ResponsesFull => f.write_str("response ring full"),
            Error::NoSlot => f.write_str("in-flight table full"),
            Error::BadSlot(i) => write!(f, "in-flight slot {i}: unknown state"),
        }
    }
}

impl<const N: usize> InFlight<N> {
    /// Step 1: record `req`, seen at the request ring's `head`; returns its
    /// slot. The caller commits the table, then advances the ring.
    pub fn take(&mut self, req: BlkReq, head: u32) -> Result<usize, Error> {
        let k = self
            .slots
            .iter()
            .position(|s| s.state == state::FREE)
            .ok_or(Error::NoSlot)?;
        self.slots[k] = Slot {
            req,
            state: state::HELD,
            taken_at: head,
            ..Slot::default()
        };
        Ok(k)
    }

    /// Step 2: the answer to slot `k`, to be pushed at the response ring's
    /// `tail`. The caller commits the table, then pushes [`Slot::response`].
    pub fn answering(&mut self, k: usize, status: u32, success_count: u16, tail: u32) {
        if let Some(s) = self.slots.get_mut(k) {
            s.state = state::ANSWERING;
            s.answer_at = tail;
            s.status = status;
            s.success_count = u32::from(success_count);
        }
    }

    /// Step 3: slot `k`'s response is published. The caller commits.
    pub fn release(&mut self, k: usize) {
        if let Some(s) = self.slots.get_mut(k) {
            *s = Slot::default();
        }
    }

    /// Requests held (taken, not answered), by slot.
    pub fn held(&self) -> impl Iterator<Item = (usize, &BlkReq)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == state::HELD)
            .map(|(k, s)| (k, &s.req))
    }

    /// After a restart: finish the step the previous incarnation was in,
    /// against the rings' surviving indices. The caller commits the table
    /// afterwards, then submits every [`InFlight::held`] request again.
    pub fn resync(
        &mut self,
        req: &Ring<'_, BlkReq>,
        resp: &Ring<'_, BlkResp>,
    ) -> Result<Resync, Error> {
        let mut r = Resync::default();
        req.len().map_err(Error::Corrupt)?;
        resp.len().map_err(Error::Corrupt)?;
        let head = req.head();
        for k in 0..N {
            let s = self.slots[k];
            match s.state {
                state::FREE => {}
                state::HELD | state::ANSWERING if s.taken_at == head => {
                    // Recorded, and the ring still offers it: the advance
                    // did not happen. Only the newest take can be here.
                    if req.len().map_err(Error::Corrupt)? > 0 {
                        req.advance();
                        r.finished_take = true;
                    }
                    if s.state == state::ANSWERING {
                        self.finish_answer(k, resp, &mut r)?;
                    }
                }
                state::HELD => {}
                state::ANSWERING => self.finish_answer(k, resp, &mut r)?,
                _ => return Err(Error::BadSlot(k)),
            }
        }
        r.held = self.held().count();
        Ok(r)
    }

    fn finish_answer(
        &mut self,
        k: usize,
        resp: &Ring<'_, BlkResp>,
        r: &mut Resync,
    ) -> Result<(), Error> {
        let s = self.slots[k];
        // The producer's tail moves only past published entries: a tail
        // beyond `answer_at` means this one is out.
        if resp.tail().wrapping_sub(s.answer_at) as i32 > 0 {
            r.answer_was_published = true;
        } else {
            resp.push(s.response()).map_err(|e| match e {
                Full::Full => Error::ResponsesFull,
                Full::Corrupt(c) => Error::Corrupt(c),
            })?;
            r.answer_pushed = true;
        }
        self.release(k);
        Ok(())
    }
}

impl Slot {
    /// The response this slot's answer pushes.
    pub fn response(&self) -> BlkResp {
        let mut r = BlkResp::default();
        r.status = self.status;
        r.success_count = self.success_count as u16;
        r.id = self.req.id;
        r
    }
}

#[cfg(test)]
mod tests;
