//! One ring in shared memory, either side of it.

use crate::layout::{BlkReq, BlkResp, ReqHeader, RespHeader};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use zerocopy::{FromBytes, IntoBytes};

/// The indices of a ring say it holds more than it can: the other side, or
/// a stray write, changed them.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Corrupt {
    /// Which ring (the name it was opened with).
    pub ring: &'static str,
    /// Its head.
    pub head: u32,
    /// Its tail.
    pub tail: u32,
    /// Its capacity.
    pub capacity: u32,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ring corrupt: head {} tail {} hold more than capacity {} - 1",
            self.ring, self.head, self.tail, self.capacity
        )
    }
}

/// A push found the ring full (or corrupt).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Full {
    /// `capacity - 1` entries wait for the consumer.
    Full,
    /// The indices are impossible.
    Corrupt(Corrupt),
}

/// Why a region cannot hold a ring.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct BadRegion {
    /// Which ring.
    pub ring: &'static str,
    /// Bytes needed for the header and `capacity` entries.
    pub needed: usize,
    /// Bytes given.
    pub given: usize,
}

impl fmt::Display for BadRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ring: needs {} bytes at 8-byte alignment (capacity 2..=65536), region has {}",
            self.ring, self.needed, self.given
        )
    }
}

/// A ring of `E` in shared memory: the header's `head`/`tail` and the
/// entries after it.
pub struct Ring<'a, E> {
    name: &'static str,
    head: &'a AtomicU32,
    tail: &'a AtomicU32,
    entries: NonNull<E>,
    capacity: u32,
    _life: PhantomData<&'a E>,
}

impl<'a> Ring<'a, BlkReq> {
    /// The request ring at `base`, `len` bytes, with `capacity` entries.
    ///
    /// # Safety
    /// `base..base+len` is memory mapped for `'a` that only the two sides
    /// of this ring access, each through a `Ring`.
    pub unsafe fn requests(base: *mut u8, len: usize, capacity: u32) -> Result<Self, BadRegion> {
        // SAFETY: the caller's promise, passed on.
        unsafe { Self::open("request", base, len, capacity, size_of::<ReqHeader>()) }
    }
}

impl<'a> Ring<'a, BlkResp> {
    /// The response ring at `base`, `len` bytes, with `capacity` entries.
    ///
    /// # Safety
    /// As for [`Ring::requests`].
    pub unsafe fn responses(base: *mut u8, len: usize, capacity: u32) -> Result<Self, BadRegion> {
        // SAFETY: the caller's promise, passed on.
        unsafe { Self::open("response", base, len, capacity, size_of::<RespHeader>()) }
    }
}

impl<'a, E: FromBytes + IntoBytes + Copy> Ring<'a, E> {
    /// Bytes a ring of `capacity` entries needs, header included.
    pub const fn bytes(header: usize, capacity: u32) -> usize {
        header + capacity as usize * size_of::<E>()
    }

    /// # Safety
    /// As for [`Ring::requests`]; `header` is the header's size, a multiple
    /// of `E`'s alignment, with `head` at offset 0 and `tail` at 4.
    unsafe fn open(
        name: &'static str,
        base: *mut u8,
        len: usize,
        capacity: u32,
        header: usize,
    ) -> Result<Self, BadRegion> {
        let needed = Self::bytes(header, capacity);
        let bad = BadRegion {
            ring: name,
            needed,
            given: len,
        };
        if len < needed
            || !(2..=65536).contains(&capacity)
            || !(base as usize).is_multiple_of(align_of::<u64>())
            || !header.is_multiple_of(align_of::<E>())
        {
            return Err(bad);
        }
        // SAFETY: in bounds (checked above) and aligned; the header words
        // are only ever accessed atomically.
        let (head, tail, entries) = unsafe {
            (
                &*(base as *const AtomicU32),
                &*(base.add(4) as *const AtomicU32),
                NonNull::new(base.add(header) as *mut E).ok_or(bad)?,
            )
        };
        Ok(Self {
            name,
            head,
            tail,
            entries,
            capacity,
            _life: PhantomData,
        })
    }

    /// Capacity (the ring holds at most `capacity - 1`).
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The head index as stored.
    pub fn head(&self) -> u32 {
        self.head.load(Ordering::Acquire)
    }

    /// The tail index as stored.
    pub fn tail(&self) -> u32 {
        self.tail.load(Ordering::Acquire)
    }

    fn corrupt(&self, head: u32, tail: u32) -> Corrupt {
        Corrupt {
            ring: self.name,
            head,
            tail,
            capacity: self.capacity,
        }
    }

    /// Entries waiting, checked against the capacity.
    pub fn len(&self) -> Result<u32, Corrupt> {
        let (h, t) = (self.head(), self.tail());
        let n = t.wrapping_sub(h);
        if n >= self.capacity {
            return Err(self.corrupt(h, t));
        }
        Ok(n)
    }

    /// Whether no entry waits.
    pub fn is_empty(&self) -> Result<bool, Corrupt> {
        self.len().map(|n| n == 0)
    }

    fn slot(&self, index: u32) -> *mut E {
        // SAFETY: `index % capacity < capacity`, inside the region `open`
        // checked.
        unsafe { self.entries.as_ptr().add((index % self.capacity) as usize) }
    }

    /// Producer: append `e`, published by the release store of `tail`.
    pub fn push(&self, e: E) -> Result<(), Full> {
        let n = self.len().map_err(Full::Corrupt)?;
        if n + 1 >= self.capacity {
            return Err(Full::Full);
        }
        let t = self.tail.load(Ordering::Relaxed);
        // SAFETY: a slot of this ring that the consumer does not read
        // (outside head..tail); volatile because the peer maps it too.
        unsafe { self.slot(t).write_volatile(e) };
        self.tail.store(t.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Consumer: the entry at `head`, without taking it.
    pub fn peek(&self) -> Result<Option<E>, Corrupt> {
        if self.len()? == 0 {
            return Ok(None);
        }
        let h = self.head.load(Ordering::Relaxed);
        // SAFETY: a published slot (inside head..tail, after the acquire
        // load of tail in `len`); any bit pattern is a valid `E`.
        Ok(Some(unsafe { self.slot(h).read_volatile() }))
    }

    /// Consumer: release the entry at `head` (after [`Ring::peek`]).
    pub fn advance(&self) {
        let h = self.head.load(Ordering::Relaxed);
        self.head.store(h.wrapping_add(1), Ordering::Release);
    }

    /// Consumer: take the entry at `head`.
    pub fn pop(&self) -> Result<Option<E>, Corrupt> {
        let e = self.peek()?;
        if e.is_some() {
            self.advance();
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests;
