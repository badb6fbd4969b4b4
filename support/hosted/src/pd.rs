//! The PD side: booting an image process as a PD, the [`HostedPlatform`]
//! handed to PD code, the event loop, and faults from signals.
//!
//! A PD process is single-threaded, like a Microkit PD: while it is blocked
//! in a protected call or on an unanswered fault, it runs no handler.

use crate::irq;
use crate::models::{self, UartKind};
use crate::shm::{self, call, fault, op, run, Control, PdBlock};
use crate::sys::{self, futex_wait, futex_wake};
use crate::world::{IrqSource, World};
use pd_core::{
    Arch, Channel, ChannelSet, ChildId, ChildOp, DeviceIo, Fault, FaultAction, Handler, Message,
    Platform, PlatformError, Region, Width,
};
use sdf::Board;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, Ordering::SeqCst};

/// Environment variable that marks an image process as a PD.
pub const BOOT_ENV: &str = "HOSTED_PD";
/// File name of the system description (for diagnostics).
pub const FILE_ENV: &str = "HOSTED_PD_FILE";
/// Directory for relative `prefill_path`s.
pub const BASE_ENV: &str = "HOSTED_PD_BASE";
/// Set for a quarantined PD: it runs the runtime's "gone" server, none of
/// its own code.
pub const QUARANTINE_ENV: &str = "HOSTED_PD_QUARANTINE";

/// Exit status of an image process that could not boot as a PD.
pub const BOOT_FAILED_EXIT: i32 = 3;

/// libmicrokit's cap layout, for the `cptr` of a capability fault.
const BASE_ENDPOINT_CAP: u64 = 74;

/// One program an image binary can run as a PD.
#[derive(Copy, Clone)]
pub struct PdImage {
    /// The `program_image path` it answers to (matched exactly, then by file name).
    pub program: &'static str,
    /// Entry point; see [`crate::pd_entry!`].
    pub entry: fn(HostedPlatform) -> !,
}

/// Call early in an image binary's `main`. When the process was started by
/// the hosted runtime as a PD, this maps the PD's regions at their declared
/// addresses and runs the matching entry; it never returns. Otherwise it
/// returns at once and `main` goes on.
pub fn image_main(images: &[PdImage]) {
    let Ok(boot) = std::env::var(BOOT_ENV) else {
        return;
    };
    match boot_pd(&boot, images) {
        Ok(never) => match never {},
        Err(msg) => {
            let line = format!("\x0ehosted: cannot start PD: {msg}\n\x0f");
            sys::write_all_raw(2, line.as_bytes());
            std::process::exit(BOOT_FAILED_EXIT);
        }
    }
}

enum Never {}

struct Boot {
    ctl: RawFd,
    xml: RawFd,
    console: RawFd,
    kernel: RawFd,
    board: Board,
    pd: usize,
    mrs: Vec<(usize, RawFd)>,
}

fn parse_boot(s: &str) -> Result<Boot, String> {
    let mut b = Boot {
        ctl: -1,
        xml: -1,
        console: -1,
        kernel: -1,
        board: Board::QemuVirtAarch64,
        pd: usize::MAX,
        mrs: Vec::new(),
    };
    let num = |k: &str, v: &str| -> Result<i64, String> {
        v.parse::<i64>()
            .map_err(|_| format!("bad {k}={v} in {BOOT_ENV}"))
    };
    for item in s.split_whitespace() {
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        match k {
            "ctl" => b.ctl = num(k, v)? as RawFd,
            "xml" => b.xml = num(k, v)? as RawFd,
            "console" => b.console = num(k, v)? as RawFd,
            "kernel" => b.kernel = num(k, v)? as RawFd,
            "pd" => b.pd = num(k, v)? as usize,
            "board" => b.board = Board::from_name(v).ok_or_else(|| format!("unknown board {v}"))?,
            "mrs" => {
                for pair in v.split(',').filter(|p| !p.is_empty()) {
                    let (i, fd) = pair
                        .split_once(':')
                        .ok_or_else(|| format!("bad mrs entry {pair}"))?;
                    b.mrs.push((num(k, i)? as usize, num(k, fd)? as RawFd));
                }
            }
            _ => {}
        }
    }
    if b.ctl < 0 || b.xml < 0 || b.console < 0 || b.kernel < 0 || b.pd == usize::MAX {
        return Err(format!("incomplete {BOOT_ENV}: {s}"));
    }
    Ok(b)
}

/// The runtime state of this PD process (leaked: lives as long as it).
struct Runtime {
    index: usize,
    name: String,
    board: Board,
    ctl: &'static Control,
    world: World,
    console: RawFd,
    kernel: RawFd,
    regions: Vec<(String, Region)>,
}

static RUNTIME: AtomicPtr<Runtime> = AtomicPtr::new(std::ptr::null_mut());

fn runtime() -> Option<&'static Runtime> {
    let p = RUNTIME.load(SeqCst);
    // SAFETY: RUNTIME only ever holds null or a leaked Box<Runtime>.
    unsafe { p.as_ref() }
}

impl Runtime {
    fn me(&self) -> &'static PdBlock {
        &self.ctl.pds[self.index]
    }

    fn diag(&self, msg: &str) {
        let line = format!("\x0e{}: {msg}\n\x0f", self.name);
        sys::write_all_raw(self.console, line.as_bytes());
    }
}

fn boot_pd(boot: &str, images: &[PdImage]) -> Result<Never, String> {
    let b = parse_boot(boot)?;
    let map =
        sys::Mapping::shared(b.ctl, Control::SIZE).map_err(|e| format!("control block: {e}"))?;
    // SAFETY: the control memfd is Control::SIZE bytes, page aligned, and
    // Control is all atomics, valid for any content; leaked: 'static.
    let ctl: &'static Control = unsafe { &*(map.leak() as *const Control) };
    if ctl.magic.load(SeqCst) != shm::MAGIC {
        return Err("control block has no magic".into());
    }
    let me = ctl
        .pd(b.pd)
        .ok_or_else(|| format!("PD index {} out of range", b.pd))?;
    let fail = |msg: String| {
        me.set_boot_error(&msg);
        msg
    };
    let text = sys::read_all_at(b.xml, 0).map_err(|e| fail(format!("system text: {e}")))?;
    let text = String::from_utf8(text).map_err(|_| fail("system text is not UTF-8".into()))?;
    let file = std::env::var(FILE_ENV).unwrap_or_else(|_| "system.xml".into());
    let base = std::env::var(BASE_ENV).ok().map(std::path::PathBuf::from);
    let sys = sdf::parse_str_for_boards(&file, &text, base.as_deref(), &[b.board])
        .map_err(|e| fail(e.to_string()))?;
    let view = sys.for_board(b.board);
    let world = World::new(&view, b.board).map_err(|e| fail(e.to_string()))?;
    let wpd = world
        .pds
        .get(b.pd)
        .cloned()
        .ok_or_else(|| fail(format!("PD index {} not in the system", b.pd)))?;
    let entry = images
        .iter()
        .find(|i| i.program == wpd.program)
        .or_else(|| {
            let base = std::path::Path::new(&wpd.program).file_name();
            images
                .iter()
                .find(|i| std::path::Path::new(i.program).file_name() == base)
        })
        .map(|i| i.entry)
        .ok_or_else(|| {
            let known: Vec<&str> = images.iter().map(|i| i.program).collect();
            fail(format!(
                "this image has no entry for program {} of PD {} (it has: {})",
                wpd.program,
                wpd.name,
                known.join(", ")
            ))
        })?;
    install_fault_handlers().map_err(|e| fail(format!("signal handlers: {e}")))?;
    // Map the regions at their declared addresses.
    let mut regions = Vec::new();
    for m in &wpd.maps {
        let prot = if m.device.is_some() {
            // Registers are reached through `device()`; a direct access faults.
            libc::PROT_NONE
        } else {
            (if m.perms.read { libc::PROT_READ } else { 0 })
                | (if m.perms.write { libc::PROT_WRITE } else { 0 })
                | (if m.perms.execute { libc::PROT_EXEC } else { 0 })
        };
        let fd = if m.device.is_some() {
            None
        } else {
            Some(
                b.mrs
                    .iter()
                    .find(|(i, _)| *i == m.mr)
                    .map(|(_, fd)| *fd)
                    .ok_or_else(|| fail(format!("no descriptor for region {}", m.mr)))?,
            )
        };
        match sys::map_fixed(m.vaddr, m.size, prot, fd) {
            sys::FixedMap::Ok => {}
            sys::FixedMap::Taken => {
                return Err(fail(format!(
                    "vaddr {:#x} in PD {} is already mapped in this process (region {})",
                    m.vaddr,
                    wpd.name,
                    world.mrs.get(m.mr).map_or("?", |r| r.0.as_str())
                )))
            }
            sys::FixedMap::Err(e) => {
                return Err(fail(format!(
                    "cannot map region at {:#x} in PD {}: {e}",
                    m.vaddr, wpd.name
                )))
            }
        }
        if let (Some(name), None) = (&m.setvar, m.device) {
            regions.push((
                name.clone(),
                Region {
                    vaddr: m.vaddr as usize,
                    size: m.size as usize,
                },
            ));
        }
    }
    for (_, fd) in &b.mrs {
        // SAFETY: closing a descriptor handed to us; the mappings stay.
        unsafe { libc::close(*fd) };
    }
    let rt: &'static Runtime = Box::leak(Box::new(Runtime {
        index: b.pd,
        name: wpd.name.clone(),
        board: b.board,
        ctl,
        world,
        console: b.console,
        kernel: b.kernel,
        regions,
    }));
    RUNTIME.store((rt as *const Runtime).cast_mut(), SeqCst);
    install_panic_hook();
    models::set_single_threaded(sys::getpid());
    me.run_state.store(run::RUNNING, SeqCst);
    me.boot_status.store(shm::boot::OK, SeqCst);
    sys::eventfd_signal(rt.kernel);
    let platform = HostedPlatform { _private: () };
    if std::env::var_os(QUARANTINE_ENV).is_some() {
        // Whoever waits on us, and every later caller, hears "gone".
        platform.reply_pending(None, &Message::new(pd_core::message::LABEL_GONE));
        run_handler(platform, Gone)
    }
    entry(platform)
}

/// The quarantined PD's whole behaviour (runtime code, not the PD's).
struct Gone;

impl Handler for Gone {
    fn notified(&mut self, _channels: ChannelSet) {}
    fn protected(&mut self, _ch: Channel, _msg: &Message) -> Message {
        Message::new(pd_core::message::LABEL_GONE)
    }
    fn fault(&mut self, _child: ChildId, _fault: &Fault) -> FaultAction {
        FaultAction::Handled
    }
}

/// The platform handed to PD code on the hosted runtime. Zero-sized, like
/// the seL4 one: the PD's runtime state is process-global.
#[derive(Clone, Copy)]
pub struct HostedPlatform {
    _private: (),
}

impl HostedPlatform {
    fn rt(&self) -> &'static Runtime {
        // The platform only exists after boot stored the runtime.
        match runtime() {
            Some(r) => r,
            None => {
                sys::write_all_raw(2, b"hosted: platform used outside a PD process\n");
                std::process::abort()
            }
        }
    }

    /// The emulated board.
    pub fn board(&self) -> Board {
        self.rt().board
    }
}

/// A device model as seen by its driver.
#[derive(Copy, Clone)]
pub struct HostedDevice {
    kind: UartKind,
    ctl: &'static Control,
}

impl DeviceIo for HostedDevice {
    fn read(&self, offset: usize, width: Width) -> u32 {
        models::read(self.kind, self.ctl, offset, width)
    }
    fn write(&self, offset: usize, width: Width, value: u32) {
        models::write(self.kind, self.ctl, offset, width, value)
    }
}

fn wpd(rt: &Runtime) -> &crate::world::WPd {
    &rt.world.pds[rt.index]
}

impl Platform for HostedPlatform {
    type Device = HostedDevice;

    fn arch(&self) -> Arch {
        match self.rt().board.arch() {
            sdf::Arch::Aarch64 => Arch::Aarch64,
            sdf::Arch::X86_64 => Arch::X86_64,
        }
    }

    fn pd_name(&self) -> &str {
        &self.rt().name
    }

    fn notify(&self, ch: Channel) {
        let rt = self.rt();
        match wpd(rt)
            .channels
            .get(usize::from(ch.index()))
            .cloned()
            .flatten()
        {
            Some(c) if c.notify => {
                if let Some(peer) = rt.ctl.pd(c.peer) {
                    peer.signal(1 << c.peer_ch);
                }
            }
            _ => rt.diag(&format!("notify: invalid channel given '{}'", ch.index())),
        }
    }

    fn irq_ack(&self, ch: Channel) {
        let rt = self.rt();
        match wpd(rt).irqs.get(usize::from(ch.index())).copied().flatten() {
            Some((source, _)) => {
                irq::ack(rt.me(), 1 << ch.index());
                if let IrqSource::Uart(kind) = source {
                    models::reevaluate(kind, rt.ctl);
                }
            }
            None => rt.diag(&format!("irq_ack: invalid channel given '{}'", ch.index())),
        }
    }

    fn ppcall(&self, ch: Channel, msg: &Message) -> Message {
        let rt = self.rt();
        let me = rt.me();
        let chan = wpd(rt)
            .channels
            .get(usize::from(ch.index()))
            .cloned()
            .flatten();
        let Some(c) = chan.filter(|c| c.pp) else {
            // seL4_Call on a slot without an endpoint capability.
            loop {
                raise_fault(
                    rt,
                    &Fault::CapFault {
                        ip: (raise_fault as fn(&Runtime, &Fault)) as usize as u64,
                        cptr: BASE_ENDPOINT_CAP + u64::from(ch.index()),
                    },
                );
                // Resumed: the call is retried, and faults again (as on seL4).
            }
        };
        let Some(callee) = rt.ctl.pd(c.peer) else {
            return Message::new(pd_core::message::LABEL_UNSUPPORTED);
        };
        let seq = ((me.call_state.load(SeqCst) >> 8) + 1) & 0x00ff_ffff;
        me.call_msg.put(msg);
        me.call_callee.store(c.peer as u32, SeqCst);
        me.call_channel.store(u32::from(c.peer_ch), SeqCst);
        me.call_state.store((seq << 8) | call::CALLING, SeqCst);
        callee.call_pending.fetch_or(1 << rt.index, SeqCst);
        callee.wake();
        let replied = (seq << 8) | call::REPLIED;
        loop {
            let s = me.call_state.load(SeqCst);
            if s == replied {
                let r = me.reply_msg.get();
                me.call_state.store((seq << 8) | call::IDLE, SeqCst);
                return r;
            }
            futex_wait(&me.call_state, s, None);
        }
    }

    fn reply_pending(&self, _ch: Option<Channel>, msg: &Message) {
        // Kept for the event loop, which sends it before it receives anything
        // (as the seL4 backend does): the first one stored wins.
        let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            *p = Some(*msg);
        }
    }

    fn debug_puts(&self, s: &str) {
        sys::write_all_raw(self.rt().console, s.as_bytes());
    }

    fn now_ns(&self) -> u64 {
        sys::now_ns()
    }

    fn set_timeout(&self, after_ns: u64) -> Result<(), PlatformError> {
        let rt = self.rt();
        if wpd(rt).timer.is_none() {
            return Err(PlatformError::NotDeclared);
        }
        let deadline = sys::now_ns().saturating_add(after_ns).max(1);
        rt.me().timer_deadline.store(deadline, SeqCst);
        sys::eventfd_signal(rt.kernel);
        Ok(())
    }

    fn timer_channel(&self) -> Option<Channel> {
        wpd(self.rt()).timer.and_then(Channel::new)
    }

    fn region(&self, setvar: &str) -> Option<Region> {
        self.rt()
            .regions
            .iter()
            .find(|(n, _)| n == setvar)
            .map(|(_, r)| *r)
    }

    fn device(&self, name: &str) -> Option<HostedDevice> {
        let rt = self.rt();
        wpd(rt)
            .devices
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, kind)| HostedDevice {
                kind: *kind,
                ctl: rt.ctl,
            })
    }

    fn child(&self, child: ChildId, op: ChildOp) -> Result<(), PlatformError> {
        let rt = self.rt();
        if !wpd(rt).children.iter().any(|(id, _)| *id == child.0) {
            return Err(PlatformError::NotDeclared);
        }
        let me = rt.me();
        me.op_child.store(u32::from(child.0), SeqCst);
        me.op_kind.store(
            match op {
                ChildOp::Restart => op::RESTART,
                ChildOp::Stop => op::STOP,
                ChildOp::Quarantine => op::QUARANTINE,
            },
            SeqCst,
        );
        me.op_state.store(op::REQUESTED, SeqCst);
        sys::eventfd_signal(rt.kernel);
        loop {
            let s = me.op_state.load(SeqCst);
            if s == op::DONE {
                break;
            }
            futex_wait(&me.op_state, s, None);
        }
        let result = me.op_result.load(SeqCst);
        me.op_state.store(op::IDLE, SeqCst);
        match result {
            0 => Ok(()),
            1 => Err(PlatformError::NotDeclared),
            _ => Err(PlatformError::Refused),
        }
    }
}

/// The reply stored by `reply_pending`, for the event loop.
static PENDING: std::sync::Mutex<Option<Message>> = std::sync::Mutex::new(None);

fn take_pending() -> Option<Message> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Answer whoever the reply object names with `msg` (nobody: nothing
/// happens), then forget it. Delivered before the object is cleared: a death
/// in between leaves an object whose call was answered, which a later
/// delivery finds no longer outstanding.
fn reply_to_object(rt: &Runtime, msg: &Message) {
    let me = rt.me();
    let r = me.reply_to.load(SeqCst);
    if let Some((caller, seq)) = shm::decode_reply_object(r) {
        shm::deliver_reply(rt.ctl, caller, seq, msg);
    }
    let _ = me.reply_to.compare_exchange(r, 0, SeqCst, SeqCst);
}

/// Send a reply stored with `reply_pending`, if any, and tell the handler.
fn send_pending<H: Handler>(rt: &Runtime, handler: &mut H) {
    if let Some(m) = take_pending() {
        reply_to_object(rt, &m);
        handler.reply_sent();
    }
}

/// Run the Microkit event loop for `handler`: coalesced notifications,
/// child faults, protected calls; one handler at a time. Never returns.
///
/// A reply is sent, then [`Handler::reply_sent`] runs, then the next event
/// is taken: two steps, as on seL4, so that a server knows across any fault
/// whether its reply went out.
pub fn run_handler<H: Handler>(platform: HostedPlatform, mut handler: H) -> ! {
    let rt = platform.rt();
    let me = rt.me();
    send_pending(rt, &mut handler);
    loop {
        let seq = me.wake_seq.load(SeqCst);
        if dispatch(rt, me, &mut handler) {
            continue;
        }
        me.waiting.store(1, SeqCst);
        if has_work(me) {
            me.waiting.store(0, SeqCst);
            continue;
        }
        me.sleep(seq, None);
        me.waiting.store(0, SeqCst);
    }
}

fn has_work(me: &PdBlock) -> bool {
    me.notify_bits.load(SeqCst) != 0
        || me.fault_pending.load(SeqCst) != 0
        || me.call_pending.load(SeqCst) != 0
}

/// Handle one event; false if there was none.
fn dispatch<H: Handler>(rt: &'static Runtime, me: &PdBlock, handler: &mut H) -> bool {
    let bits = me.notify_bits.swap(0, SeqCst);
    let set = ChannelSet::from_bits(bits);
    if !set.is_empty() {
        handler.notified(set);
        send_pending(rt, handler);
        return true;
    }
    let fp = me.fault_pending.load(SeqCst);
    if fp != 0 {
        let id = fp.trailing_zeros() as u8;
        me.fault_pending.fetch_and(!(1u64 << id), SeqCst);
        child_fault(rt, id, handler);
        return true;
    }
    let cp = me.call_pending.load(SeqCst);
    if cp != 0 {
        // Highest-priority caller first, then lowest index.
        let caller = (0..64usize)
            .filter(|i| cp & (1u64 << i) != 0)
            .max_by_key(|&i| {
                let prio = rt.world.pds.get(i).map_or(0, |p| p.priority);
                (prio, std::cmp::Reverse(i))
            })
            .unwrap_or(0);
        serve_call(rt, me, caller, handler);
        return true;
    }
    false
}

fn child_fault<H: Handler>(rt: &'static Runtime, id: u8, handler: &mut H) {
    let Some(&(_, child)) = wpd(rt).children.iter().find(|(cid, _)| *cid == id) else {
        return;
    };
    let Some(cb) = rt.ctl.pd(child) else { return };
    if cb.fault_state.load(SeqCst) != fault::PENDING {
        return; // Stale: the child was restarted or stopped meanwhile.
    }
    let f = cb.fault.get();
    if handler.fault(ChildId(id), &f) == FaultAction::Resume
        && cb
            .fault_state
            .compare_exchange(fault::PENDING, fault::RESUME, SeqCst, SeqCst)
            .is_ok()
    {
        futex_wake(&cb.fault_state, 1);
    }
}

fn serve_call<H: Handler>(rt: &'static Runtime, me: &PdBlock, caller: usize, handler: &mut H) {
    let bit = 1u64 << caller;
    let calling_me = |cb: &PdBlock| {
        let st = cb.call_state.load(SeqCst);
        (st & 0xff == call::CALLING && cb.call_callee.load(SeqCst) as usize == rt.index)
            .then_some(st >> 8)
    };
    let Some(cb) = rt.ctl.pd(caller) else {
        me.call_pending.fetch_and(!bit, SeqCst);
        return;
    };
    let stale = |me: &PdBlock| {
        // Cancelled by a restart of the caller; a new call it made meanwhile
        // keeps its bit.
        me.call_pending.fetch_and(!bit, SeqCst);
        if calling_me(cb).is_some() {
            me.call_pending.fetch_or(bit, SeqCst);
        }
    };
    let Some(seq) = calling_me(cb) else {
        return stale(me);
    };
    let Some(ch) = u8::try_from(cb.call_channel.load(SeqCst))
        .ok()
        .and_then(Channel::new)
    else {
        return stale(me);
    };
    let msg = cb.call_msg.get();
    let obj = shm::reply_object(caller, seq);
    // The call moves from the queue to the reply object with no instant in
    // between where a death of this PD loses it (seL4's receive is one
    // kernel operation): the object names it first, then the bit goes. A
    // death between the two leaves both; the restart's reply answers the
    // object, and the bit is then stale.
    let old = me.reply_to.swap(obj, SeqCst);
    me.call_pending.fetch_and(!bit, SeqCst);
    if let Some((orphan, _)) = shm::decode_reply_object(old) {
        let name = rt.world.pds.get(orphan).map_or("?", |p| p.name.as_str());
        rt.diag(&format!(
            "reply object reused: caller {name} was never answered and stays blocked (as on seL4)"
        ));
    }
    let reply = handler.protected(ch, &msg);
    // Nobody else can be waiting on our reply object now: a reply stored
    // meanwhile has no caller of its own.
    let _ = take_pending();
    if me.reply_to.load(SeqCst) == obj {
        shm::deliver_reply(rt.ctl, caller, seq, &reply);
        let _ = me.reply_to.compare_exchange(obj, 0, SeqCst, SeqCst);
    }
    handler.reply_sent();
}

/// Post `f` for this PD's parent (or the kernel) and block until resumed.
/// Async-signal-safe.
fn raise_fault(rt: &Runtime, f: &Fault) {
    let me = rt.me();
    me.fault.put(f);
    me.faults.fetch_add(1, SeqCst);
    me.run_state.store(run::FAULTED, SeqCst);
    me.fault_state.store(fault::PENDING, SeqCst);
    match wpd(rt)
        .parent
        .and_then(|(p, id)| rt.ctl.pd(p).map(|pb| (pb, id)))
    {
        Some((parent, id)) => {
            parent.fault_pending.fetch_or(1u64 << id, SeqCst);
            parent.wake();
        }
        None => sys::eventfd_signal(rt.kernel),
    }
    loop {
        let s = me.fault_state.load(SeqCst);
        if s == fault::RESUME {
            me.fault_state.store(fault::NONE, SeqCst);
            me.run_state.store(run::RUNNING, SeqCst);
            return;
        }
        futex_wait(&me.fault_state, s, None);
    }
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if let Some(rt) = runtime() {
            rt.diag(&format!("panic: {info}"));
        }
        // Ends in SIGABRT, which the fault handler turns into the board's
        // panic fault (brk on aarch64, ud2 on x86_64).
        std::process::abort();
    }));
}

/// Translate a Linux signal into the fault seL4 would have delivered.
fn fault_from_signal(board: Board, sig: i32, addr: u64, ip: u64, err: u64) -> Fault {
    let x86 = board.arch() == sdf::Arch::X86_64;
    match sig {
        libc::SIGSEGV | libc::SIGBUS => {
            let fetch = err & 0x10 != 0 || addr == ip;
            let fsr = if x86 {
                err
            } else {
                // An ESR for a lower-EL abort: EC data (0x24) or instruction
                // (0x20) abort, IL, WnR, and translation vs permission fault
                // at level 3.
                let ec: u64 = if fetch { 0x20 } else { 0x24 };
                let wnr = (err >> 1) & 1;
                let fsc = if err & 1 != 0 { 0x0f } else { 0x07 };
                (ec << 26) | (1 << 25) | (wnr << 6) | fsc
            };
            Fault::VmFault {
                ip,
                addr,
                instruction: fetch,
                fsr,
            }
        }
        libc::SIGILL if x86 => Fault::UserException {
            ip,
            number: 6,
            code: 0,
        },
        libc::SIGILL => Fault::UserException {
            ip,
            number: 0,
            code: 0x0200_0000,
        },
        libc::SIGFPE => Fault::UserException {
            ip,
            number: 0,
            code: 0,
        },
        // SIGABRT (a panic) and SIGTRAP.
        _ if x86 => Fault::UserException {
            ip,
            number: 6,
            code: 0,
        },
        _ => Fault::DebugException { ip, reason: 3 },
    }
}

extern "C" fn on_fault_signal(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let Some(rt) = runtime() else {
        // Not booted yet: die with the signal's default action.
        // SAFETY: resetting a handler and re-raising are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    };
    // SAFETY: the kernel passes valid siginfo/ucontext pointers to an
    // SA_SIGINFO handler; we only read them.
    let (addr, ip, err) = unsafe {
        let addr = if info.is_null() {
            0
        } else {
            (*info).si_addr() as u64
        };
        let uc = ctx as *const libc::ucontext_t;
        if uc.is_null() {
            (addr, 0, 0)
        } else {
            let g = &(*uc).uc_mcontext.gregs;
            (
                addr,
                g[libc::REG_RIP as usize] as u64,
                g[libc::REG_ERR as usize] as u64,
            )
        }
    };
    let f = fault_from_signal(rt.board, sig, addr, ip, err);
    let retry_in_place = matches!(sig, libc::SIGABRT | libc::SIGTRAP);
    loop {
        raise_fault(rt, &f);
        if !retry_in_place {
            // Return: the faulting instruction runs again, as after a seL4
            // fault reply.
            return;
        }
        // A resumed panic re-executes its brk/ud2 and faults again.
    }
}

fn install_fault_handlers() -> std::io::Result<()> {
    const STACK: usize = 256 * 1024;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; STACK].into_boxed_slice());
    // SAFETY: registering an alternate stack we leaked (valid forever) and
    // handlers with the SA_SIGINFO signature.
    unsafe {
        let ss = libc::stack_t {
            ss_sp: stack.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: STACK,
        };
        if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGABRT,
            libc::SIGTRAP,
        ] {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fault_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_strings_parse_and_garbage_is_refused() {
        let b = parse_boot("ctl=3 xml=4 console=5 kernel=6 board=x86_64_generic pd=2 mrs=0:7,3:9")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.ctl, b.xml, b.console, b.kernel, b.pd), (3, 4, 5, 6, 2));
        assert_eq!(b.board, Board::X86_64Generic);
        assert_eq!(b.mrs, vec![(0, 7), (3, 9)]);
        assert!(parse_boot("ctl=3").is_err());
        assert!(parse_boot("ctl=x xml=4 console=5 kernel=6 pd=0").is_err());
        assert!(parse_boot("ctl=3 xml=4 console=5 kernel=6 pd=0 board=riscv").is_err());
    }

    #[test]
    fn signals_map_to_the_boards_faults() {
        let arm = Board::QemuVirtAarch64;
        let x86 = Board::X86_64Generic;
        // Write to an unmapped page: x86 error code 0b110 (user, write, not present).
        let f = fault_from_signal(x86, libc::SIGSEGV, 0xdead_0000, 0x5555_0000, 0b110);
        assert_eq!(
            f,
            Fault::VmFault {
                ip: 0x5555_0000,
                addr: 0xdead_0000,
                instruction: false,
                fsr: 0b110
            }
        );
        let Fault::VmFault { fsr, .. } = fault_from_signal(arm, libc::SIGSEGV, 8, 0x1000, 0b110)
        else {
            panic!("not a vm fault");
        };
        assert_eq!(fsr >> 26, 0x24, "data abort");
        assert_eq!((fsr >> 6) & 1, 1, "write");
        assert_eq!(fsr & 0x3f, 0x07, "translation fault");
        assert_eq!(
            fault_from_signal(x86, libc::SIGABRT, 0, 7, 0).kind(Arch::X86_64),
            pd_core::FaultKind::Panic
        );
        assert_eq!(
            fault_from_signal(arm, libc::SIGABRT, 0, 7, 0).kind(Arch::Aarch64),
            pd_core::FaultKind::Panic
        );
        assert!(matches!(
            fault_from_signal(arm, libc::SIGILL, 0, 7, 0),
            Fault::UserException { number: 0, .. }
        ));
        assert!(matches!(
            fault_from_signal(x86, libc::SIGILL, 0, 7, 0),
            Fault::UserException { number: 6, .. }
        ));
    }
}
