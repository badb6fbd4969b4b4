//! The "kernel": the launching process. It owns the shared memory, spawns one
//! process per PD, performs child operations, fires timers, reaps processes,
//! runs the UART model thread and holds the console.

use crate::models::{self, UartKind};
use crate::pd::{BASE_ENV, BOOT_ENV, FILE_ENV, QUARANTINE_ENV};
use crate::shm::{self, call, fault, op, run, Control};
use crate::sys::{self, Exit};
use crate::world::World;
use crate::Error;
use pd_core::Fault;
use sdf::Board;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the console goes.
#[derive(Clone, Debug)]
pub enum Console {
    /// Kept in memory; read it with [`System::console`].
    Capture,
    /// Written to this file (truncated at launch); readable too.
    File(PathBuf),
    /// The launching process's standard output (not readable back).
    Stdout,
}

/// How to launch a system.
#[derive(Clone, Debug)]
pub struct LaunchConfig {
    /// The system description.
    pub system_xml: PathBuf,
    /// The board to emulate.
    pub board: Board,
    /// The image executable (calls [`crate::image_main`] early in `main`).
    pub image: PathBuf,
    /// Console sink.
    pub console: Console,
    /// Bytes to load into memory regions at launch, by region name (after
    /// any `prefill_path`).
    pub prefill: Vec<(String, Vec<u8>)>,
    /// Extra environment variables for the PD processes.
    pub env: Vec<(String, String)>,
    /// How long every PD gets to map its regions at launch.
    pub boot_timeout: Duration,
    /// Another image for some PDs, by PD name (e.g. a copy of the image with
    /// a code mutation, for one driver only).
    pub images: Vec<(String, PathBuf)>,
}

impl LaunchConfig {
    /// A configuration with a captured console and no prefill.
    pub fn new(system_xml: impl Into<PathBuf>, board: Board, image: impl Into<PathBuf>) -> Self {
        Self {
            system_xml: system_xml.into(),
            board,
            image: image.into(),
            console: Console::Capture,
            prefill: Vec::new(),
            env: Vec::new(),
            boot_timeout: Duration::from_secs(20),
            images: Vec::new(),
        }
    }
}

/// A PD's life-cycle state as the kernel sees it.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PdState {
    /// Starting.
    Booting,
    /// Running its code (possibly blocked in a call or waiting for events).
    Running,
    /// Blocked on a fault nobody answered yet.
    Faulted,
    /// Being restarted.
    Restarting,
    /// Stopped by its parent or by the kernel.
    Stopped,
    /// Its process ended without the kernel asking.
    Dead,
}

/// Counters of one PD.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct PdStats {
    /// Processes started for it (1 after launch, +1 per restart).
    pub starts: u64,
    /// Faults it raised (delivered to its parent, or logged by the kernel).
    pub faults: u64,
    /// Current state.
    pub state: PdState,
    /// Current process id.
    pub pid: Option<i32>,
}

struct Proc {
    pid: i32,
    pidfd: OwnedFd,
}

struct ConsoleSink {
    fd: OwnedFd,
    readable: bool,
}

struct Kernel {
    world: World,
    file_name: String,
    base_dir: Option<PathBuf>,
    image: PathBuf,
    images: Vec<(String, PathBuf)>,
    env: Vec<(String, String)>,
    ctl_map: sys::Mapping,
    ctl_fd: OwnedFd,
    xml_fd: OwnedFd,
    mr_fds: Vec<OwnedFd>,
    mr_maps: Vec<sys::Mapping>,
    console: ConsoleSink,
    kev: OwnedFd,
    procs: Mutex<Vec<Option<Proc>>>,
    wire: Mutex<VecDeque<u8>>,
    stop: AtomicBool,
    /// Why the system stopped by itself (a supervisor is down).
    failure: Mutex<Option<String>>,
    /// PDs restarted into the "gone" server.
    quarantined: Mutex<Vec<bool>>,
}

// SAFETY: Kernel's raw parts are shared-memory mappings accessed through
// atomics; everything else is Sync already.
unsafe impl Sync for Kernel {}
// SAFETY: as above.
unsafe impl Send for Kernel {}

impl Kernel {
    fn ctl(&self) -> &Control {
        // SAFETY: ctl_map maps Control::SIZE bytes of the control memfd for
        // the life of the Kernel; Control is all atomics.
        unsafe { &*(self.ctl_map.as_ptr() as *const Control) }
    }

    fn procs(&self) -> MutexGuard<'_, Vec<Option<Proc>>> {
        self.procs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, msg: &str) {
        let line = format!("\x0ehosted: {msg}\n\x0f");
        sys::write_all_raw(self.console.fd.as_raw_fd(), line.as_bytes());
    }

    fn name(&self, i: usize) -> &str {
        self.world.pds.get(i).map_or("?", |p| p.name.as_str())
    }

    /// Start a fresh process for PD `i`. Must run on the kernel thread (the
    /// children's parent-death signal is tied to it).
    fn spawn(&self, i: usize) -> Result<(), Error> {
        let Some(b) = self.ctl().pd(i) else {
            return Err(Error::Config(format!("no PD {i}")));
        };
        let Some(w) = self.world.pds.get(i) else {
            return Err(Error::Config(format!("no PD {i}")));
        };
        b.boot_status.store(shm::boot::PENDING, SeqCst);
        b.fault_state.store(fault::NONE, SeqCst);
        b.run_state.store(run::BOOTING, SeqCst);
        let mut keep: Vec<RawFd> = vec![
            self.ctl_fd.as_raw_fd(),
            self.xml_fd.as_raw_fd(),
            self.console.fd.as_raw_fd(),
            self.kev.as_raw_fd(),
        ];
        let mut mrs = String::new();
        for m in &w.maps {
            if let Some(fd) = self.mr_fds.get(m.mr) {
                keep.push(fd.as_raw_fd());
                mrs.push_str(&format!("{}:{},", m.mr, fd.as_raw_fd()));
            }
        }
        let boot = format!(
            "ctl={} xml={} console={} kernel={} board={} pd={i} mrs={mrs}",
            self.ctl_fd.as_raw_fd(),
            self.xml_fd.as_raw_fd(),
            self.console.fd.as_raw_fd(),
            self.kev.as_raw_fd(),
            self.world.board.name(),
        );
        let image = self
            .images
            .iter()
            .find(|(pd, _)| *pd == w.name)
            .map_or(&self.image, |(_, p)| p);
        let mut cmd = std::process::Command::new(image);
        cmd.arg0(format!("pd:{}", w.name))
            .env(BOOT_ENV, boot)
            .env(FILE_ENV, &self.file_name)
            .stdin(std::process::Stdio::null());
        if let Some(d) = &self.base_dir {
            cmd.env(BASE_ENV, d);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let quarantined = self
            .quarantined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(i)
            .copied()
            .unwrap_or(false);
        if quarantined {
            cmd.env(QUARANTINE_ENV, "1");
        }
        let parent = sys::getpid();
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe calls (prctl, getppid, fcntl) on captured plain data.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    // The kernel died between fork and prctl.
                    return Err(std::io::Error::other("parent gone"));
                }
                for fd in &keep {
                    if !sys::clear_cloexec(*fd) {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        // Counted before the process can run, so that anything it prints
        // is never seen before its start is counted.
        b.starts.fetch_add(1, SeqCst);
        let child = cmd.spawn().map_err(|e| {
            b.starts.fetch_sub(1, SeqCst);
            Error::Io {
                what: format!("starting {} for PD {}", self.image.display(), w.name),
                source: e,
            }
        })?;
        let pid = child.id() as i32;
        drop(child);
        let pidfd = sys::pidfd_open(pid).map_err(|e| Error::Io {
            what: format!("pidfd of PD {}", w.name),
            source: e,
        })?;
        b.pid.store(pid, SeqCst);
        if let Some(slot) = self.procs().get_mut(i) {
            *slot = Some(Proc { pid, pidfd });
        }
        Ok(())
    }

    /// Kill PD `i`'s process (if any) and leave it in `state`.
    fn kill(&self, i: usize, state: u32) {
        let Some(b) = self.ctl().pd(i) else { return };
        b.run_state.store(state, SeqCst);
        let proc = self.procs().get_mut(i).and_then(Option::take);
        if let Some(p) = proc {
            sys::kill9(p.pid);
            sys::wait_pid(p.pid, true);
            self.cleanup(i, p.pid);
        }
    }

    /// Kernel objects of a process that is gone: its locks, its outstanding
    /// call, its pending fault.
    fn cleanup(&self, i: usize, pid: i32) {
        let ctl = self.ctl();
        self.free_device_locks(pid);
        let Some(b) = ctl.pd(i) else { return };
        // Cancel its call (seL4 cancels the IPC of a restarted thread).
        let deadline = Instant::now() + Duration::from_millis(100);
        loop {
            let st = b.call_state.load(SeqCst);
            if st & 0xff == call::REPLYING && Instant::now() < deadline {
                std::thread::yield_now();
                continue;
            }
            let next = ((((st >> 8) + 1) & 0x00ff_ffff) << 8) | call::IDLE;
            if b.call_state
                .compare_exchange(st, next, SeqCst, SeqCst)
                .is_ok()
            {
                break;
            }
        }
        for other in &ctl.pds {
            // A reply this PD was delivering when it died: the caller never
            // saw it; it waits again (the reply object still names it, and
            // the restarted PD answers it).
            if other.call_callee.load(SeqCst) as usize == i {
                let st = other.call_state.load(SeqCst);
                if st & 0xff == call::REPLYING {
                    let _ = other.call_state.compare_exchange(
                        st,
                        (st & !0xff) | call::CALLING,
                        SeqCst,
                        SeqCst,
                    );
                }
            }
            other.call_pending.fetch_and(!(1u64 << i), SeqCst);
            let r = other.reply_to.load(SeqCst);
            if shm::decode_reply_object(r).is_some_and(|(c, _)| c == i) {
                let _ = other.reply_to.compare_exchange(r, 0, SeqCst, SeqCst);
            }
        }
        b.fault_state.store(fault::NONE, SeqCst);
        if let Some((p, id)) = self.world.pds.get(i).and_then(|w| w.parent) {
            if let Some(pb) = ctl.pd(p) {
                pb.fault_pending.fetch_and(!(1u64 << id), SeqCst);
            }
        }
    }

    fn child_ops(&self) {
        let ctl = self.ctl();
        for (p, b) in ctl.pds.iter().enumerate().take(self.world.pds.len()) {
            if b.op_state.load(SeqCst) != op::REQUESTED {
                continue;
            }
            let id = b.op_child.load(SeqCst);
            let child = self.world.pds[p]
                .children
                .iter()
                .find(|(cid, _)| u32::from(*cid) == id)
                .map(|(_, c)| *c);
            let result = match (child, b.op_kind.load(SeqCst)) {
                (None, _) => 1,
                (Some(c), op::RESTART) => {
                    self.kill(c, run::RESTARTING);
                    match self.spawn(c) {
                        Ok(()) => 0,
                        Err(e) => {
                            self.log(&format!("cannot restart {}: {e}", self.name(c)));
                            self.ctl().pds[c].run_state.store(run::DEAD, SeqCst);
                            2
                        }
                    }
                }
                (Some(c), op::STOP) => {
                    self.kill(c, run::STOPPED);
                    0
                }
                (Some(c), op::QUARANTINE) => {
                    if let Some(q) = self
                        .quarantined
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(c)
                    {
                        *q = true;
                    }
                    self.kill(c, run::RESTARTING);
                    match self.spawn(c) {
                        Ok(()) => 0,
                        Err(e) => {
                            self.log(&format!("cannot quarantine {}: {e}", self.name(c)));
                            self.ctl().pds[c].run_state.store(run::DEAD, SeqCst);
                            2
                        }
                    }
                }
                _ => 2,
            };
            b.op_result.store(result, SeqCst);
            b.op_state.store(op::DONE, SeqCst);
            sys::futex_wake(&b.op_state, 1);
        }
    }

    /// Faults of PDs without a parent: logged, and the PD stays stopped.
    fn orphan_faults(&self) {
        let ctl = self.ctl();
        for (i, w) in self.world.pds.iter().enumerate() {
            if w.parent.is_some() {
                continue;
            }
            let b = &ctl.pds[i];
            if b.fault_state.load(SeqCst) == fault::PENDING
                && b.run_state.load(SeqCst) == run::FAULTED
            {
                let f = b.fault.get();
                self.log(&format!(
                    "PD {} faulted and has no parent to handle it: {f}; it stays stopped",
                    w.name
                ));
                self.kill(i, run::STOPPED);
                self.if_supervisor_down(i, &format!("faulted: {f}"));
            }
        }
    }

    /// Fire expired timers; returns the next deadline.
    fn timers(&self) -> Option<u64> {
        let ctl = self.ctl();
        let now = sys::now_ns();
        let mut next: Option<u64> = None;
        for (i, w) in self.world.pds.iter().enumerate() {
            let Some(ch) = w.timer else { continue };
            let b = &ctl.pds[i];
            let d = b.timer_deadline.load(SeqCst);
            if d == 0 {
                continue;
            }
            if d <= now {
                if b.timer_deadline
                    .compare_exchange(d, 0, SeqCst, SeqCst)
                    .is_ok()
                {
                    // The backend owns the timer: expiry is a notification
                    // on the timer channel, re-armed by set_timeout.
                    b.signal(1u64 << ch);
                }
            } else {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    /// A process ended; deliver its death if nobody asked for it.
    fn reap(&self, i: usize, pid: i32, exit: Exit) {
        let b = &self.ctl().pds[i];
        self.cleanup(i, pid);
        let state = b.run_state.load(SeqCst);
        if state == run::RESTARTING || state == run::STOPPED {
            return;
        }
        b.run_state.store(run::DEAD, SeqCst);
        let name = self.name(i).to_string();
        if b.boot_status.load(SeqCst) != shm::boot::OK {
            let why = b.boot_error();
            self.log(&format!(
                "PD {name} failed to start ({exit:?}){}",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {why}")
                }
            ));
        }
        let signal = match exit {
            Exit::Signal(s) => s as u64,
            Exit::Code(_) => 0,
        };
        let f = Fault::Died { signal };
        b.fault.put(&f);
        b.faults.fetch_add(1, SeqCst);
        match self.world.pds.get(i).and_then(|w| w.parent) {
            Some((p, id)) => {
                b.fault_state.store(fault::PENDING, SeqCst);
                if let Some(pb) = self.ctl().pd(p) {
                    pb.fault_pending.fetch_or(1u64 << id, SeqCst);
                    pb.wake();
                }
            }
            None => {
                self.log(&format!(
                    "PD {name} died ({f}) and has no parent to handle it; it stays stopped"
                ));
                self.if_supervisor_down(i, &format!("died: {f}"));
            }
        }
    }

    /// PD `i` is gone for good: if it supervised others, nothing may go on
    /// unsupervised, so the system stops (Microkit's own fault handler would
    /// only print a message and leave the children without a monitor).
    fn if_supervisor_down(&self, i: usize, why: &str) {
        let Some(w) = self.world.pds.get(i) else {
            return;
        };
        if w.children.is_empty() {
            return;
        }
        let msg = format!(
            "supervisor {} is down ({why}): stopping the system, its children must not run unsupervised",
            w.name
        );
        self.log(&msg);
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
        self.stop.store(true, SeqCst);
        self.ctl().shutdown.store(1, SeqCst);
    }

    fn run(&self, started: mpsc::Sender<Result<(), Error>>) {
        let mut first_error = None;
        for i in 0..self.world.pds.len() {
            if let Err(e) = self.spawn(i) {
                first_error = Some(e);
                break;
            }
        }
        let failed = first_error.is_some();
        let _ = started.send(first_error.map_or(Ok(()), Err));
        if !failed {
            self.serve();
        }
        self.kill_all();
    }

    fn serve(&self) {
        while !self.stop.load(SeqCst) {
            let next = self.timers();
            let mut fds = vec![libc::pollfd {
                fd: self.kev.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let mut who = vec![usize::MAX];
            for (i, p) in self.procs().iter().enumerate() {
                if let Some(p) = p {
                    fds.push(libc::pollfd {
                        fd: p.pidfd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    who.push(i);
                }
            }
            let wait = next.map_or(Duration::from_millis(500), |d| {
                Duration::from_nanos(d.saturating_sub(sys::now_ns()))
                    .min(Duration::from_millis(500))
            });
            let ts = libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            };
            // SAFETY: fds is a valid array of pollfd; ts a valid timespec.
            unsafe {
                libc::ppoll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    &ts,
                    std::ptr::null(),
                )
            };
            if fds[0].revents != 0 {
                sys::eventfd_drain(self.kev.as_raw_fd());
            }
            for (k, f) in fds.iter().enumerate().skip(1) {
                if f.revents == 0 {
                    continue;
                }
                let i = who[k];
                let pid = self.procs().get(i).and_then(|p| p.as_ref().map(|p| p.pid));
                let Some(pid) = pid else { continue };
                if let Some(exit) = sys::wait_pid(pid, false) {
                    if let Some(slot) = self.procs().get_mut(i) {
                        *slot = None;
                    }
                    self.reap(i, pid, exit);
                }
            }
            self.child_ops();
            self.orphan_faults();
        }
    }

    fn kill_all(&self) {
        let procs: Vec<(usize, Proc)> = self
            .procs()
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| p.take().map(|p| (i, p)))
            .collect();
        for (i, p) in &procs {
            self.ctl().pds[*i].run_state.store(run::STOPPED, SeqCst);
            sys::kill9(p.pid);
        }
        for (_, p) in &procs {
            sys::wait_pid(p.pid, true);
            // The shutdown joins the model thread, which would wait for good
            // on a lock a killed driver held (a launcher that never exits).
            self.free_device_locks(p.pid);
        }
    }

    /// A process killed inside a register access holds its device's lock:
    /// finish its access from the journal and release the lock.
    fn free_device_locks(&self, pid: i32) {
        models::force_unlock(&self.ctl().pl011, pid);
        models::force_unlock(&self.ctl().uart16550, pid);
    }

    /// A real UART takes ~87 us per byte at 115200 baud, so a driver that
    /// writes in a loop fills its FIFO before much leaves. Mimic that
    /// batching (briefly, while the level keeps rising) instead of sending
    /// each byte as soon as it lands, which would cost a wake-up per byte.
    fn let_the_fifo_fill(&self, kind: UartKind) {
        let (mut level, depth) = models::tx_fill(kind, self.ctl());
        if level == 0 {
            return;
        }
        let start = Instant::now();
        let mut last_change = start;
        while level < depth
            && start.elapsed() < Duration::from_micros(200)
            && last_change.elapsed() < Duration::from_micros(20)
        {
            std::hint::spin_loop();
            let (now, _) = models::tx_fill(kind, self.ctl());
            if now != level {
                level = now;
                last_change = Instant::now();
            }
        }
    }

    fn model_thread(&self, kind: UartKind) {
        let st = models::state(kind, self.ctl());
        let mut active = Instant::now();
        while !self.stop.load(SeqCst) {
            let seq = st.model_seq.load(SeqCst);
            self.let_the_fifo_fill(kind);
            let step = {
                let mut wire = self.wire.lock().unwrap_or_else(|p| p.into_inner());
                models::step(kind, self.ctl(), &mut wire)
            };
            if !step.tx.is_empty() || step.rx_moved > 0 {
                active = Instant::now();
                continue;
            }
            if active.elapsed() < Duration::from_millis(2) {
                // The line was busy a moment ago: nap instead of sleeping
                // until woken, so that a driver writing byte after byte
                // needs no system call to get its bytes sent (one that finds
                // its FIFO full wakes us at once).
                models::model_nap(st, seq, Duration::from_micros(50));
                continue;
            }
            models::model_sleep(st, seq, Duration::from_millis(100));
        }
    }
}

/// A running system: the kernel's handle. Dropping it shuts the system down.
pub struct System {
    k: Arc<Kernel>,
    threads: Vec<JoinHandle<()>>,
    down: bool,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

fn open_console(c: &Console) -> Result<ConsoleSink, Error> {
    match c {
        Console::Capture => {
            let fd = sys::memfd("console", 0).map_err(io("console memfd"))?;
            // SAFETY: fcntl on a valid fd.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_APPEND) };
            Ok(ConsoleSink { fd, readable: true })
        }
        Console::File(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .truncate(false)
                .custom_flags(libc::O_CLOEXEC)
                .open(p)
                .map_err(io(format!("console file {}", p.display())))?;
            f.set_len(0)
                .map_err(io(format!("console file {}", p.display())))?;
            Ok(ConsoleSink {
                fd: f.into(),
                readable: true,
            })
        }
        Console::Stdout => {
            // SAFETY: F_DUPFD_CLOEXEC of stdout.
            let fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return Err(Error::Io {
                    what: "dup stdout".into(),
                    source: std::io::Error::last_os_error(),
                });
            }
            // SAFETY: fresh fd owned by us.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            Ok(ConsoleSink {
                fd,
                readable: false,
            })
        }
    }
}

fn write_region(map: &sys::Mapping, name: &str, bytes: &[u8], what: &str) -> Result<(), Error> {
    if bytes.len() > map.len() {
        return Err(Error::Config(format!(
            "{what} for region {name} is {} bytes, the region has {}",
            bytes.len(),
            map.len()
        )));
    }
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: i < len of the mapping (checked above).
        unsafe { std::ptr::write_volatile(map.as_ptr().add(i), *b) };
    }
    Ok(())
}

impl System {
    /// Parse the system for the board, set up shared memory and devices,
    /// start one process per PD and wait until each has mapped its regions.
    pub fn launch(cfg: LaunchConfig) -> Result<System, Error> {
        let text = std::fs::read_to_string(&cfg.system_xml)
            .map_err(io(format!("reading {}", cfg.system_xml.display())))?;
        let file_name = cfg.system_xml.display().to_string();
        let base_dir = cfg
            .system_xml
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .map(Path::to_path_buf);
        let sys = sdf::parse_str_for_boards(&file_name, &text, base_dir.as_deref(), &[cfg.board])
            .map_err(Error::Sdf)?;
        let view = sys.for_board(cfg.board);
        let world = World::new(&view, cfg.board)?;

        let ctl_fd =
            sys::memfd("hosted-control", Control::SIZE as u64).map_err(io("control memfd"))?;
        let ctl_map =
            sys::Mapping::shared(ctl_fd.as_raw_fd(), Control::SIZE).map_err(io("control map"))?;
        // SAFETY: see Kernel::ctl.
        let ctl = unsafe { &*(ctl_map.as_ptr() as *const Control) };
        ctl.magic.store(shm::MAGIC, SeqCst);
        let console = open_console(&cfg.console)?;
        if let Some((kind, route)) = world.uart {
            models::reset(kind, ctl, route, Some(console.fd.as_raw_fd()));
        }

        let mut mr_fds = Vec::new();
        let mut mr_maps = Vec::new();
        for mr in &view.memory_regions {
            let fd = sys::memfd(&format!("mr:{}", mr.name), mr.size)
                .map_err(io(format!("memory region {}", mr.name)))?;
            let map = sys::Mapping::shared(fd.as_raw_fd(), mr.size as usize)
                .map_err(io(format!("memory region {}", mr.name)))?;
            if let Some(p) = &mr.prefill_path {
                let path = match &base_dir {
                    Some(d) if Path::new(p).is_relative() => d.join(p),
                    _ => PathBuf::from(p),
                };
                let bytes = std::fs::read(&path).map_err(io(format!(
                    "prefill_path {} of region {}",
                    path.display(),
                    mr.name
                )))?;
                write_region(&map, &mr.name, &bytes, "prefill_path")?;
            }
            mr_fds.push(fd);
            mr_maps.push(map);
        }
        for (name, bytes) in &cfg.prefill {
            let Some(i) = view.memory_regions.iter().position(|m| &m.name == name) else {
                return Err(Error::Config(format!(
                    "prefill: no memory region named {name} for board {}",
                    cfg.board
                )));
            };
            write_region(&mr_maps[i], name, bytes, "prefill")?;
        }
        let xml_fd = sys::memfd("system.xml", 0).map_err(io("system text memfd"))?;
        sys::write_all_raw(xml_fd.as_raw_fd(), text.as_bytes());
        let kev = sys::eventfd().map_err(io("eventfd"))?;
        let n = world.pds.len();
        let uart = world.uart.map(|u| u.0);
        let k = Arc::new(Kernel {
            world,
            file_name,
            base_dir,
            image: cfg.image.clone(),
            images: cfg.images.clone(),
            env: cfg.env.clone(),
            ctl_map,
            ctl_fd,
            xml_fd,
            mr_fds,
            mr_maps,
            console,
            kev,
            procs: Mutex::new((0..n).map(|_| None).collect()),
            wire: Mutex::new(VecDeque::new()),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
            quarantined: Mutex::new(vec![false; n]),
        });
        let mut system = System {
            k: k.clone(),
            threads: Vec::new(),
            down: false,
        };
        let (tx, rx) = mpsc::channel();
        let kk = k.clone();
        let t = std::thread::Builder::new()
            .name("hosted-kernel".into())
            .spawn(move || kk.run(tx))
            .map_err(io("kernel thread"))?;
        system.threads.push(t);
        if let Some(kind) = uart {
            let kk = k.clone();
            let t = std::thread::Builder::new()
                .name("hosted-uart".into())
                .spawn(move || kk.model_thread(kind))
                .map_err(io("UART model thread"))?;
            system.threads.push(t);
        }
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(Error::Config("kernel thread ended during launch".into())),
        }
        system.wait_booted(cfg.boot_timeout)?;
        Ok(system)
    }

    fn wait_booted(&self, timeout: Duration) -> Result<(), Error> {
        let end = Instant::now() + timeout;
        let ctl = self.k.ctl();
        for (i, w) in self.k.world.pds.iter().enumerate() {
            let b = &ctl.pds[i];
            loop {
                match b.boot_status.load(SeqCst) {
                    shm::boot::OK => break,
                    shm::boot::FAILED => {
                        return Err(Error::Boot {
                            pd: w.name.clone(),
                            message: b.boot_error(),
                        })
                    }
                    _ => {}
                }
                let state = b.run_state.load(SeqCst);
                if state == run::DEAD {
                    let msg = b.boot_error();
                    return Err(Error::Boot {
                        pd: w.name.clone(),
                        message: if msg.is_empty() {
                            format!(
                                "the image process exited before booting (is {} calling hosted::image_main?)",
                                self.k.image.display()
                            )
                        } else {
                            msg
                        },
                    });
                }
                if Instant::now() > end {
                    return Err(Error::Timeout {
                        what: format!("PD {} to boot", w.name),
                        console_tail: self.console_tail(),
                    });
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// The emulated board.
    pub fn board(&self) -> Board {
        self.k.world.board
    }

    /// The console written so far (empty for [`Console::Stdout`]).
    pub fn console(&self) -> Vec<u8> {
        if !self.k.console.readable {
            return Vec::new();
        }
        sys::read_all_at(self.k.console.fd.as_raw_fd(), 0).unwrap_or_default()
    }

    /// The console as text (lossy).
    pub fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.console()).into_owned()
    }

    fn console_tail(&self) -> String {
        let t = self.console_text();
        let start = t.len().saturating_sub(2000);
        let start = (start..t.len())
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(t.len());
        t[start..].to_string()
    }

    /// Wait until `pred` holds for the console; returns the console then.
    pub fn wait_console(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, Error> {
        if !self.k.console.readable {
            return Err(Error::Config("the console is not captured".into()));
        }
        let end = Instant::now() + timeout;
        loop {
            let c = self.console();
            if pred(&c) {
                return Ok(c);
            }
            if Instant::now() > end {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    console_tail: self.console_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait until the console contains `needle`; returns the console text.
    pub fn wait_console_contains(&self, needle: &str, timeout: Duration) -> Result<String, Error> {
        let n = needle.as_bytes();
        self.wait_console(&format!("console to show {needle:?}"), timeout, |c| {
            c.windows(n.len().max(1)).any(|w| w == n)
        })
        .map(|c| String::from_utf8_lossy(&c).into_owned())
    }

    /// Read/write access to a memory region, by name.
    pub fn region(&self, name: &str) -> Option<RegionRef<'_>> {
        let i = self.k.world.mrs.iter().position(|m| m.0 == name)?;
        self.k.mr_maps.get(i).map(|map| RegionRef { map })
    }

    /// Put bytes on the board UART's receive line (flow controlled: they wait
    /// until the receiver is enabled and its FIFO has room).
    pub fn inject_rx(&self, bytes: &[u8]) -> Result<(), Error> {
        let Some((kind, _)) = self.k.world.uart else {
            return Err(Error::Config(
                "no UART model in this system (map the PL011 or declare the COM1 ioport)".into(),
            ));
        };
        self.k
            .wire
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(bytes);
        let st = models::state(kind, self.k.ctl());
        st.wire_pending.store(1, SeqCst);
        models::wake_model(st);
        Ok(())
    }

    /// Counters and state of PD `name`.
    pub fn stats(&self, name: &str) -> Option<PdStats> {
        let i = self.k.world.pds.iter().position(|p| p.name == name)?;
        let b = &self.k.ctl().pds[i];
        let state = match b.run_state.load(SeqCst) {
            run::RUNNING => PdState::Running,
            run::FAULTED => PdState::Faulted,
            run::RESTARTING => PdState::Restarting,
            run::STOPPED => PdState::Stopped,
            run::DEAD => PdState::Dead,
            _ => PdState::Booting,
        };
        let pid = self
            .k
            .procs()
            .get(i)
            .and_then(|p| p.as_ref().map(|p| p.pid));
        Some(PdStats {
            starts: b.starts.load(SeqCst),
            faults: b.faults.load(SeqCst),
            state,
            pid,
        })
    }

    /// Why the system stopped by itself, if it did (a supervisor is down:
    /// every PD has been killed).
    pub fn failure(&self) -> Option<String> {
        self.k
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the kernel still runs the system.
    pub fn running(&self) -> bool {
        !self.k.stop.load(SeqCst)
    }

    /// Send signal `sig` to PD `name`'s process, from outside (fault
    /// injection: SIGKILL kills it, SIGSTOP freezes it wherever it is).
    /// Returns the process id signalled.
    pub fn signal(&self, name: &str, sig: i32) -> Result<i32, Error> {
        let i = self
            .k
            .world
            .pds
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Error::Config(format!("no PD named {name}")))?;
        let pid = self
            .k
            .procs()
            .get(i)
            .and_then(|p| p.as_ref().map(|p| p.pid))
            .ok_or_else(|| Error::Config(format!("PD {name} has no process now")))?;
        // SAFETY: plain kill(2) on a process this kernel started and has not
        // reaped (the procs lock was held when the pid was read; a PD process
        // that died meanwhile is a zombie until reaped, so the pid is not
        // reused).
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(Error::Io {
                what: format!("signal {sig} to PD {name}"),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(pid)
    }

    /// The kernel's view of every PD and of the UART models, one line each:
    /// what a trial that hung prints, so that the stuck party can be named
    /// (a caller blocked on a callee, a notification pending, a timer
    /// disarmed, a device lock held, a process asleep in the kernel).
    pub fn debug_state(&self) -> String {
        use std::fmt::Write as _;
        let ctl = self.k.ctl();
        let now = sys::now_ns();
        let mut out = String::new();
        for (i, w) in self.k.world.pds.iter().enumerate() {
            let b = &ctl.pds[i];
            let pid = b.pid.load(SeqCst);
            let proc_state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(") ")
                        .map(|(_, r)| r.chars().take(1).collect::<String>())
                })
                .unwrap_or_else(|| "-".into());
            let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
            let syscall =
                std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            let td = b.timer_deadline.load(SeqCst);
            let _ = writeln!(
                out,
                "pd {i} {}: run={} pid={pid} ({proc_state} {wchan} syscall {}) starts={} faults={} \
                 call_state={:#x} callee={} call_pending={:#x} reply_to={:#x} notify_bits={:#x} \
                 waiting={} fault_state={} fault_pending={:#x} op_state={} timer={} irq_masked={:#x} irq_latched={:#x}",
                w.name,
                b.run_state.load(SeqCst),
                syscall.trim(),
                b.starts.load(SeqCst),
                b.faults.load(SeqCst),
                b.call_state.load(SeqCst),
                b.call_callee.load(SeqCst),
                b.call_pending.load(SeqCst),
                b.reply_to.load(SeqCst),
                b.notify_bits.load(SeqCst),
                b.waiting.load(SeqCst),
                b.fault_state.load(SeqCst),
                b.fault_pending.load(SeqCst),
                b.op_state.load(SeqCst),
                if td == 0 { "off".to_string() } else { format!("{:+} us", (td as i128 - now as i128) / 1000) },
                b.irq_masked.load(SeqCst),
                b.irq_latched.load(SeqCst),
            );
        }
        // This process's threads (the kernel's own among them): where each
        // one waits.
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for t in tasks.flatten() {
                let d = t.path();
                let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "thread {} {}: {} syscall {}",
                    t.file_name().to_string_lossy(),
                    read("comm").trim(),
                    read("wchan").trim(),
                    read("syscall").trim()
                );
            }
        }
        for (name, u) in [("pl011", &ctl.pl011), ("uart16550", &ctl.uart16550)] {
            let _ = writeln!(
                out,
                "{name}: lock={} tx_count={} rx_count={} line={} wire_pending={} journal_len={} irq_pd={} model_waiting={}",
                u.lock.load(SeqCst),
                u.tx_count.load(SeqCst),
                u.rx_count.load(SeqCst),
                u.line.load(SeqCst),
                u.wire_pending.load(SeqCst),
                u.journal_len.load(SeqCst),
                u.irq_pd.load(SeqCst),
                u.model_waiting.load(SeqCst),
            );
        }
        out
    }

    /// Process ids of every running PD process.
    pub fn pids(&self) -> Vec<i32> {
        self.k
            .procs()
            .iter()
            .filter_map(|p| p.as_ref().map(|p| p.pid))
            .collect()
    }

    /// Wait until `name`'s counters satisfy `pred`.
    pub fn wait_stats(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&PdStats) -> bool,
    ) -> Result<PdStats, Error> {
        let end = Instant::now() + timeout;
        loop {
            match self.stats(name) {
                Some(s) if pred(&s) => return Ok(s),
                None => return Err(Error::Config(format!("no PD named {name}"))),
                _ => {}
            }
            if Instant::now() > end {
                return Err(Error::Timeout {
                    what: format!(
                        "PD {name} to reach the expected state ({:?})",
                        self.stats(name)
                    ),
                    console_tail: self.console_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kill every PD process and stop the kernel's threads. Idempotent; also
    /// done on drop.
    pub fn shutdown(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        self.k.stop.store(true, SeqCst);
        self.k.ctl().shutdown.store(1, SeqCst);
        sys::eventfd_signal(self.k.kev.as_raw_fd());
        for kind in [UartKind::Pl011, UartKind::Ns16550] {
            models::wake_model(models::state(kind, self.k.ctl()));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // In case the kernel thread never ran its exit path.
        self.k.kill_all();
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Access to a memory region from the kernel side (tests).
pub struct RegionRef<'a> {
    map: &'a sys::Mapping,
}

impl RegionRef<'_> {
    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the region is empty (never, for a valid system).
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Copy `len` bytes from `offset` (clamped to the region).
    pub fn read(&self, offset: usize, len: usize) -> Vec<u8> {
        let end = offset.saturating_add(len).min(self.len());
        (offset.min(end)..end)
            // SAFETY: i < len of the mapping.
            .map(|i| unsafe { std::ptr::read_volatile(self.map.as_ptr().add(i)) })
            .collect()
    }

    /// A little-endian u64 at `offset` (0 if out of range).
    pub fn read_u64(&self, offset: usize) -> u64 {
        let b = self.read(offset, 8);
        <[u8; 8]>::try_from(b.as_slice()).map_or(0, u64::from_le_bytes)
    }

    /// One aligned 64-bit store of `v` at `offset` (a stray word write, as a
    /// driver's wild pointer would make); false if out of range or unaligned.
    pub fn write_u64(&self, offset: usize, v: u64) -> bool {
        if !offset.is_multiple_of(8) || offset.checked_add(8).is_none_or(|e| e > self.len()) {
            return false;
        }
        // SAFETY: in range and aligned (checked; the mapping is page aligned).
        unsafe { std::ptr::write_volatile(self.map.as_ptr().add(offset) as *mut u64, v) };
        true
    }

    /// Write `bytes` at `offset`; false (nothing written) if out of range.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|e| e > self.len())
        {
            return false;
        }
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: offset + i < len (checked).
            unsafe { std::ptr::write_volatile(self.map.as_ptr().add(offset + i), *b) };
        }
        true
    }
}
