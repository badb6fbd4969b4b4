//! The serial driver: an exactly-once byte stream over any UART, written for
//! restart (seed 000 §5.2, the parallel-port case, made general).
//!
//! Persistent state records the write in progress (`cur_seq`, `cur_pos`) and
//! the last completed write. A new write is committed when it begins; after
//! that, each byte handed to the UART is followed at once by a one-word
//! *mark* of the new position (computed before the byte is sent, stored
//! right after it: one store separates the two), so a warm restart resumes
//! the replayed write at the first byte not yet marked. A UART cannot tell
//! whether a byte left it, so a fault in that one-store window can repeat
//! exactly that byte; nowhere else is a byte repeated, and none is ever lost
//! (docs/recovery.md states the guarantee). A write whose `seq` is already
//! complete is acknowledged without output, which makes writes idempotent.
//!
//! Fault injection sites sit in every entry point (start, `init`, `recover`,
//! the IRQ path for TX and RX, `protected`, a replay), between bytes (keyed
//! by the byte counter) and, with the `fault-window` feature, inside the
//! window itself; they are driven by a plan in a separate region (see
//! `fault-inject`).
//!
//! What must never happen: a byte sent twice (outside the window) or skipped
//! across a warm restart; a UART reset on a warm restart.
#![no_std]

use core::sync::atomic::{compiler_fence, Ordering};

use fault_inject::{Kind, Plan, Site};
use pd_core::{Channel, ChannelSet, Message, Platform, Region};
use persist::Persistent;
use personality::{Driver, Env, ErrorReply, StartError};
use serial_api::{InvalidReason, Reply, Request, SerialError};
pub use uart::{AttachUart, IrqStatus, Misconfigured, Uart};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Channel of the UART's interrupt.
pub const UART_IRQ: Channel = Channel::of(2);
/// `setvar_vaddr` of the client's shared buffer.
pub const TX_BUF_SETVAR: &str = "tx_buf";
/// `setvar_vaddr` of the fault-injection plan.
pub const FAULT_PLAN_SETVAR: &str = "fault_plan";

/// Size of the received-bytes ring.
pub const RX_RING: usize = 256;
/// Bytes taken from the UART in one go (at a start, at one interrupt).
/// Bounded, because a line can refill the FIFO as fast as it is read (QEMU
/// pulls the next input byte at every read of the data register): "until
/// empty" may never end, and a driver stuck there at its start never
/// becomes ready (found by the seL4 campaign's entry class). What is left
/// keeps the receive interrupt asserted and is taken at the next one.
pub const RX_BURST: usize = 64;

/// The driver's persistent state.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug)]
pub struct SerialState {
    /// 1 while a client session is open.
    pub open: u64,
    /// Sequence number of the write in progress (0 when none).
    pub cur_seq: u64,
    /// Bytes of that write already in the UART.
    pub cur_pos: u64,
    /// Last completed write.
    pub done_seq: u64,
    /// Its byte count.
    pub done_count: u64,
    /// Bytes ever sent (fault-injection counter and statistics).
    pub total_tx: u64,
    /// Bytes ever received.
    pub total_rx: u64,
    /// 1 after a cold start until the next `open`: a client may still hold a
    /// session from before the restart; its `write`/`close` gets `restarted`.
    pub session_lost: u64,
    /// Received bytes, a ring indexed by `total_rx`.
    pub rx: [u8; RX_RING],
}

// SAFETY: plain integers and bytes, no pointers.
unsafe impl Persistent for SerialState {
    const NAME: &'static str = "serial-stream::SerialState";
    const VERSION: u32 = 3;
}

/// The longest write (the client's shared buffer is one page).
const MAX_WRITE: u64 = 1 << 16;

/// The serial stream driver over UART `U`.
pub struct SerialDriver<U> {
    uart: U,
    tx_buf: Region,
    plan: Option<Plan>,
    persistent: Option<Region>,
    /// A write finished since the last interrupt: its last bytes are still
    /// draining from the UART's FIFO (an interrupt now is "while TX drains").
    draining: bool,
}

impl<U> SerialDriver<U> {
    fn new<P: Platform>(env: &Env<P, SerialState>, uart: U) -> Result<Self, StartError> {
        let p = env.platform();
        let tx_buf = p.region(TX_BUF_SETVAR).ok_or(StartError::Device)?;
        let plan = p
            .region(FAULT_PLAN_SETVAR)
            // SAFETY: the plan region is mapped read-write for the PD's life.
            .map(|r| unsafe { Plan::new(r.as_mut_ptr(), r.size) });
        let persistent = p.region(personality::PERSISTENT_SETVAR);
        Ok(Self {
            uart,
            tx_buf,
            plan,
            persistent,
            draining: false,
        })
    }
}

impl<P: Platform, U: AttachUart<P>> Driver<P> for SerialDriver<U> {
    type State = SerialState;
    const NAME: &'static str = "serial";

    fn init(env: &mut Env<P, SerialState>) -> Result<Self, StartError> {
        let uart = U::attach(env.platform()).ok_or(StartError::Device)?;
        let driver = Self::new(env, uart)?;
        driver.inject(env, Site::Start, Some(env.epoch()));
        driver.inject(env, Site::Init, None);
        // Sessions held before a restart are gone; their owners must hear it.
        env.state().session_lost = u64::from(!env.first_boot());
        if let Err(m) = driver.uart.init() {
            pd_core::pd_log!(
                env.platform(),
                "serial: UART {} reads {:#x} after init, not {:#x}",
                m.register,
                m.found,
                m.expected
            );
            return Err(StartError::Device);
        }
        driver.take_rx(env);
        Ok(driver)
    }

    fn recover(env: &mut Env<P, SerialState>) -> Result<Self, StartError> {
        let mark = env.recovered_mark();
        let st = env.state();
        // Invariants a stray write inside a request could have broken (the
        // record's check catches one after the commit, not one before it).
        if st.cur_seq != 0 && st.cur_seq <= st.done_seq || st.open > 1 || st.cur_pos > MAX_WRITE {
            return Err(StartError::Inconsistent);
        }
        if let Some(m) = mark {
            // Bytes handed to the UART after the commit that began the write.
            let m = u64::from(m);
            if st.cur_seq == 0 || m < st.cur_pos || m > MAX_WRITE {
                return Err(StartError::Inconsistent);
            }
            st.total_tx += m - st.cur_pos;
            st.cur_pos = m;
        }
        let uart = U::attach(env.platform()).ok_or(StartError::Device)?;
        let driver = Self::new(env, uart)?;
        driver.inject(env, Site::Start, Some(env.epoch()));
        driver.inject(env, Site::Recover, None);
        driver.uart.resume();
        // The previous incarnation may have died in the IRQ path with bytes
        // waiting: take a burst now; the rest keep the receive interrupt
        // asserted (the UART drivers leave RX to the FIFO level), and the
        // personality acknowledges the IRQ at every start.
        driver.take_rx(env);
        Ok(driver)
    }

    fn received(&mut self, env: &mut Env<P, SerialState>) {
        self.inject(env, Site::Receive, None);
    }

    fn request(&mut self, env: &mut Env<P, SerialState>, _ch: Channel, req: &Message) -> Message {
        self.inject(env, Site::Protected, None);
        if env.recovered() {
            self.inject(env, Site::Replay, None);
        }
        let epoch = env.epoch();
        match Request::decode(req) {
            Err(reason) => SerialError::Invalid(reason).encode(),
            Ok(Request::Open) => {
                let st = env.state();
                st.open = 1;
                st.session_lost = 0;
                Reply::Opened { epoch }.encode()
            }
            Ok(Request::Close) => {
                let st = env.state();
                if st.open == 0 && st.session_lost != 0 {
                    return SerialError::Restarted { epoch }.encode();
                }
                st.open = 0;
                Reply::Closed.encode()
            }
            Ok(Request::Write { seq, offset, len }) => match self.write(env, seq, offset, len) {
                Ok(count) => Reply::Written { seq, count }.encode(),
                Err(WriteError::Invalid(reason)) => SerialError::Invalid(reason).encode(),
                Err(WriteError::SessionLost) => SerialError::Restarted { epoch }.encode(),
                // Injected protocol bug: a `closed` reply to a write.
                Err(WriteError::IllegalReply) => Reply::Closed.encode(),
            },
        }
    }

    fn notified(&mut self, env: &mut Env<P, SerialState>, channels: ChannelSet) {
        if channels.contains(UART_IRQ) {
            let status = self.uart.irq();
            if status.tx || core::mem::take(&mut self.draining) {
                self.inject(env, Site::NotifyTx, None);
            }
            if status.rx {
                self.inject(env, Site::NotifyRx, None);
                self.take_rx(env);
            }
            env.platform().irq_ack(UART_IRQ);
        }
    }

    fn error_reply(kind: ErrorReply, epoch: u64) -> Message {
        match kind {
            ErrorReply::Restarted => SerialError::Restarted { epoch }.encode(),
            ErrorReply::Stopped => SerialError::Stopped { epoch }.encode(),
        }
    }

    fn irq_channels() -> &'static [Channel] {
        &[UART_IRQ]
    }
}

/// Why a write ends without `written`.
enum WriteError {
    Invalid(InvalidReason),
    /// The client's session was lost in a cold start.
    SessionLost,
    /// Fault injection: answer with a reply the protocol forbids.
    IllegalReply,
}

impl From<InvalidReason> for WriteError {
    fn from(r: InvalidReason) -> Self {
        Self::Invalid(r)
    }
}

impl<U: Uart> SerialDriver<U> {
    fn write<P: Platform>(
        &mut self,
        env: &mut Env<P, SerialState>,
        seq: u64,
        offset: u32,
        len: u32,
    ) -> Result<u32, WriteError> {
        let (offset, len) = (offset as usize, len as usize);
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.tx_buf.size)
        {
            return Err(InvalidReason::OutOfBuffer.into());
        }
        {
            let st = env.state();
            if st.open == 0 {
                return Err(if st.session_lost != 0 {
                    WriteError::SessionLost
                } else {
                    InvalidReason::NotOpen.into()
                });
            }
            if seq == st.done_seq {
                // Already complete (a retry): acknowledge without output.
                return u32::try_from(st.done_count).map_err(|_| InvalidReason::BadLength.into());
            }
            if seq < st.done_seq {
                return Err(InvalidReason::StaleSeq.into());
            }
            if st.cur_seq != seq {
                st.cur_seq = seq;
                st.cur_pos = 0;
                // The marks that follow extend a record that knows this write.
                env.commit();
            }
            // Otherwise resume: the first `cur_pos` bytes are already out.
        }
        let src = self.tx_buf.vaddr as *const u8;
        loop {
            let (pos, total) = {
                let st = env.state();
                (st.cur_pos as usize, st.total_tx)
            };
            if pos >= len {
                break;
            }
            match self.inject(env, Site::Bytes, None) {
                Some(Kind::IllegalReply) => return Err(WriteError::IllegalReply),
                Some(Kind::Livelock) => loop {
                    // Busy and "progressing" forever: only the protocol's
                    // timeout state can tell this from real work.
                    env.progress();
                    core::hint::spin_loop();
                },
                _ => {}
            }
            while !self.uart.tx_ready() {
                core::hint::spin_loop();
            }
            // SAFETY: offset + len <= tx_buf.size, checked above; the client
            // does not touch the buffer while it is blocked in this call.
            let byte = unsafe { core::ptr::read_volatile(src.add(offset + pos)) };
            let mark = env.mark_word(pos as u32 + 1);
            self.uart.put(byte);
            // The byte is in the UART: mark it before anything else happens
            // (one store; the fences keep the compiler from moving it).
            compiler_fence(Ordering::SeqCst);
            #[cfg(feature = "fault-window")]
            self.inject(env, Site::AfterPut, None);
            env.store_mark(mark);
            compiler_fence(Ordering::SeqCst);
            let st = env.state();
            st.cur_pos = pos as u64 + 1;
            st.total_tx = total + 1;
            env.progress();
        }
        let st = env.state();
        st.done_seq = seq;
        st.done_count = len as u64;
        st.cur_seq = 0;
        st.cur_pos = 0;
        self.draining = true;
        Ok(len as u32)
    }

    /// Move what the UART has received, at most [`RX_BURST`] bytes, into
    /// the persistent ring.
    fn take_rx<P: Platform>(&self, env: &mut Env<P, SerialState>) {
        for _ in 0..RX_BURST {
            let Some(b) = self.uart.get() else {
                break;
            };
            let st = env.state();
            st.rx[(st.total_rx % RX_RING as u64) as usize] = b;
            st.total_rx += 1;
        }
    }

    /// Fire the plan's next fault at `site` if due (`counter` for the sites
    /// with a counter of their own, `None` for the counted ones). Crashes do
    /// not return; a scribble is done and the driver carries on; the kinds
    /// the driver must act out itself are returned.
    fn inject<P: Platform>(
        &self,
        env: &Env<P, SerialState>,
        site: Site,
        counter: Option<u64>,
    ) -> Option<Kind> {
        let plan = self.plan?;
        let now = env.platform().now_ns();
        let (kind, arg) = match counter {
            Some(c) => plan.due(site, c, now)?,
            None => plan.hit(site, now)?,
        };
        let region = self.persistent.map(|r| (r.as_mut_ptr(), r.size));
        // SAFETY: the persistent region is mapped read-write and page
        // aligned for the PD's life.
        Some(unsafe { fault_inject::act(kind, arg, region) })
    }
}

#[cfg(test)]
mod tests;
