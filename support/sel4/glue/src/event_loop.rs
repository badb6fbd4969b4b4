//! The Microkit event loop for a [`pd_core::Handler`].
//!
//! One kernel operation per iteration on Microkit's fixed slots (input
//! endpoint or notification in slot 1, reply object in slot 4); the badge says
//! what arrived: bit 63 a protected call (channel in the low bits), bit 62 a
//! child's fault (child id in the low bits), otherwise notification bits.
//!
//! **A reply is sent, then the next message received: two kernel calls,
//! with [`Handler::reply_sent`] between them.** A server that faults at any
//! instant must be able to tell an answered request whose reply may not have
//! gone out (its caller still waits: send it again) from one whose reply has
//! (whoever the reply object names now is a *new* caller, never to be given
//! the old reply). With `ReplyRecv`, the reply and the next receive happen in
//! one kernel call, and nothing in between can record that the reply went
//! out. (`Send` on the reply object is the reply, on an MCS kernel; on a
//! reply object without a caller it does nothing.)
//!
//! **The first operation is a `Send` on the reply object.** A PD restarted
//! while a caller was blocked on it still holds that caller in its reply
//! object (a restart rewrites registers only). A plain `Recv` on a reply
//! object that still has a caller makes the kernel cancel the caller (it
//! stays blocked forever, silently). So whatever
//! [`pd_core::Platform::reply_pending`] stored during `init` (the
//! personality's answer to the caller it may have left waiting) is sent
//! first; if nothing was stored, the first `Send` carries
//! [`pd_core::message::LABEL_UNSUPPORTED`]: a no-op when nobody waits (the
//! usual case), and an explicit answer instead of a silent hang if somebody
//! does.
//!
//! Afterwards: the reply of `protected` goes out with the next `Send`; a
//! fault answered with [`FaultAction::Resume`] is replied to (the child runs
//! the faulting instruction again), one answered with
//! [`FaultAction::Handled`] is not (the handler restarted or stopped the
//! child, which cancelled the fault IPC). A reply stored with `reply_pending`
//! later, outside a protected call, goes out with the next `Send` too.
//!
//! Child faults are decoded with [`pd_core::Fault::decode`] from the raw label
//! and message registers; rust-sel4's own decoder panics on labels it does not
//! know (e.g. aarch64's DebugException, which is how a Rust panic arrives).

use core::cell::UnsafeCell;

use pd_core::message::LABEL_UNSUPPORTED;
use pd_core::{Channel, ChannelSet, ChildId, Fault, FaultAction, Handler, Message, Platform};

use crate::{get_msg, put_msg, Sel4Platform, INPUT_CAP, REPLY_CAP};

const BADGE_PPC: u64 = 1 << 63;
const BADGE_FAULT: u64 = 1 << 62;
/// Most message registers read from a fault message.
const FAULT_MRS: usize = 24;

struct Pending(UnsafeCell<Option<Message>>);
// SAFETY: a PD is single-threaded and handlers never re-enter.
unsafe impl Sync for Pending {}

/// The reply `reply_pending` stored (in `.bss`: a restart clears it).
static PENDING: Pending = Pending(UnsafeCell::new(None));

/// Keep `msg` for the next `Send` on the reply object. The first one stored
/// wins, as on the hosted runtime.
pub(crate) fn store_pending_reply(msg: &Message) {
    // SAFETY: see `Pending`.
    let p = unsafe { &mut *PENDING.0.get() };
    if p.is_none() {
        *p = Some(*msg);
    }
}

fn take_pending_reply() -> Option<Message> {
    // SAFETY: see `Pending`.
    unsafe { (*PENDING.0.get()).take() }
}

/// Run `handler` for ever.
pub fn run<H: Handler>(p: Sel4Platform, mut handler: H) -> ! {
    let input: sel4::cap::Endpoint = sel4::Cap::from_bits(INPUT_CAP);
    let reply_cap: sel4::cap::Reply = sel4::Cap::from_bits(REPLY_CAP);
    let timer = p.timer_channel();
    crate::time::warn_once();
    let mut reply: Option<Message> =
        Some(take_pending_reply().unwrap_or(Message::new(LABEL_UNSUPPORTED)));
    crate::trace::first_reply_recv();
    let mut first = true;
    loop {
        // Deferred log text (feature `deferred-log`) is written outside the
        // handlers: by a PD with a timer (the monitor) on its ticks, so that it
        // does not delay the handling of a fault, which the monitor times; by
        // any other PD before it blocks.
        if timer.is_none() {
            crate::console::flush();
        }
        if let Some(m) = reply.take() {
            reply_cap.send(put_msg(&m));
            handler.reply_sent();
        }
        let (info, badge) = input.recv(reply_cap);
        crate::trace::received();
        if crate::console::mostly_full() {
            crate::console::flush();
        }
        if core::mem::take(&mut first) {
            crate::trace::report_start();
        }
        if badge & BADGE_PPC != 0 {
            let ch = Channel::new((badge & 0x3f) as u8).unwrap_or(Channel::of(0));
            let msg = get_msg(&info);
            let r = handler.protected(ch, &msg);
            // Nobody else can be waiting on our reply object now: a reply
            // stored meanwhile has no caller of its own.
            let _ = take_pending_reply();
            reply = Some(r);
        } else if badge & BADGE_FAULT != 0 {
            let child = ChildId((badge & 0xff) as u8);
            let fault = decode_fault(p, &info);
            reply = match handler.fault(child, &fault) {
                FaultAction::Resume => Some(Message::new(0)),
                FaultAction::Handled => take_pending_reply(),
            };
            crate::trace::report_restart("fault");
        } else {
            let mut set = ChannelSet::from_bits(badge);
            if let Some(t) = timer {
                if set.contains(t) {
                    crate::console::flush();
                    if !crate::time::on_timer_irq(t) {
                        set = ChannelSet::from_bits(set.bits() & !(1 << t.index()));
                    }
                }
            }
            if !set.is_empty() {
                handler.notified(set);
                crate::trace::report_restart("notification");
            }
            reply = take_pending_reply();
        }
    }
}

fn decode_fault(p: Sel4Platform, info: &sel4::MessageInfo) -> Fault {
    let n = info.length().min(FAULT_MRS);
    let mut mrs = [0u64; FAULT_MRS];
    sel4::with_ipc_buffer(|ib| mrs[..n].copy_from_slice(&ib.msg_regs()[..n]));
    Fault::decode(p.arch(), info.label(), &mrs[..n])
}

/// The whole of a quarantined PD (`ChildOp::Quarantine`): the monitor points
/// the PD's thread here when even its stopped mode failed. None of the PD's
/// own code runs, nor anything that needs its memory (no statics, no IPC
/// buffer: an empty message travels in registers): whoever the reply object
/// names, and every later caller, is answered `LABEL_GONE`; notifications
/// are taken and ignored (interrupts are never acknowledged again).
#[unsafe(no_mangle)]
pub extern "C" fn selfheal_sel4_quarantine() -> ! {
    loop {
        let info = sel4::sys::seL4_MessageInfo::new(pd_core::message::LABEL_GONE, 0, 0, 0);
        sel4::sys::seL4_SendWithMRsWithoutIPCBuffer(REPLY_CAP, info, None, None, None, None);
        let _ = sel4::sys::seL4_RecvWithMRsWithoutIPCBuffer(
            INPUT_CAP, None, None, None, None, REPLY_CAP,
        );
    }
}
