//! The image binary of the hosted runtime's own tests: a handful of small
//! PDs (see `tests/systems/*.xml`), plus a launcher mode used to check that
//! PD processes die with their kernel.
//!
//! Every PD here is ordinary `pd_core` code, generic over the platform.

use pd_core::{
    pd_log, Channel, ChannelSet, ChildId, ChildOp, Fault, FaultAction, Handler, Message, Platform,
};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

fn main() {
    if let Ok(addr) = std::env::var("HOSTED_TEST_OCCUPY") {
        occupy(&addr);
    }
    hosted::image_main(&[
        hosted::PdImage {
            program: "supervisor.elf",
            entry: hosted::pd_entry!(supervisor::init),
        },
        hosted::PdImage {
            program: "worker.elf",
            entry: hosted::pd_entry!(worker::init),
        },
        hosted::PdImage {
            program: "client.elf",
            entry: hosted::pd_entry!(ipc::client),
        },
        hosted::PdImage {
            program: "server.elf",
            entry: hosted::pd_entry!(ipc::server),
        },
        hosted::PdImage {
            program: "sink.elf",
            entry: hosted::pd_entry!(ipc::sink),
        },
        hosted::PdImage {
            program: "driver.elf",
            entry: hosted::pd_entry!(blocked::driver),
        },
        hosted::PdImage {
            program: "caller.elf",
            entry: hosted::pd_entry!(blocked::caller),
        },
        hosted::PdImage {
            program: "uart.elf",
            entry: hosted::pd_entry!(uart::init),
        },
        hosted::PdImage {
            program: "hello.elf",
            entry: hosted::pd_entry!(hello::init),
        },
    ]);
    // Not a PD: launcher mode for the orphan test.
    let args: Vec<String> = std::env::args().collect();
    const USAGE: &str =
        "usage: hosted-test-image launch SYSTEM.xml BOARD (or run it through hosted::System::launch)";
    if args.iter().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        std::process::exit(0);
    }
    if args.get(1).map(String::as_str) == Some("launch") && args.len() == 4 {
        let board = hosted::Board::from_name(&args[3]).unwrap_or(hosted::Board::X86_64Generic);
        let image = std::env::current_exe().unwrap_or_default();
        match hosted::System::launch(hosted::LaunchConfig::new(&args[2], board, image)) {
            Ok(sys) => {
                let pids: Vec<String> = sys.pids().iter().map(i32::to_string).collect();
                println!("pids: {}", pids.join(" "));
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
    eprintln!("hosted-test-image: {USAGE}");
    std::process::exit(2);
}

fn occupy(addr: &str) {
    let Ok(a) = u64::from_str_radix(addr.trim_start_matches("0x"), 16) else {
        return;
    };
    // SAFETY: an anonymous mapping that refuses to replace anything.
    unsafe {
        libc::mmap(
            a as *mut libc::c_void,
            0x1000,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
    }
}

/// A region as 64-bit words.
fn words<P: Platform>(p: &P, setvar: &str) -> &'static [AtomicU64] {
    let Some(r) = p.region(setvar) else {
        panic!("{}: no region {setvar}", p.pd_name());
    };
    // SAFETY: the runtime mapped the region for the life of the process,
    // page aligned; AtomicU64 is valid for any bits.
    unsafe { std::slice::from_raw_parts(r.vaddr as *const AtomicU64, r.size / 8) }
}

/// Spin until `cond` or about 10 s.
fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

const READY: Channel = Channel::of(1);

mod supervisor {
    use super::*;

    const TICK_NS: u64 = 10_000_000;
    const HANG_NS: u64 = 150_000_000;

    pub struct Supervisor<P: Platform> {
        p: P,
        started: u64,
        ready: bool,
        stopped: bool,
        restarts: u32,
        resumes: u64,
        plan: Option<&'static [AtomicU64]>,
    }

    pub fn init<P: Platform>(p: P) -> Supervisor<P> {
        let plan = p.region("plan").map(|_| words(&p, "plan"));
        pd_log!(&p, "supervisor: up, timer {:?}", p.timer_channel());
        if p.timer_channel().is_some() {
            let _ = p.set_timeout(TICK_NS);
        }
        Supervisor {
            started: p.now_ns(),
            p,
            ready: false,
            stopped: false,
            restarts: 0,
            resumes: 0,
            plan,
        }
    }

    impl<P: Platform> Supervisor<P> {
        fn plan(&self, i: usize) -> u64 {
            self.plan
                .and_then(|w| w.get(i))
                .map_or(0, |w| w.load(SeqCst))
        }

        fn restart(&mut self, id: ChildId) {
            if self.restarts >= 3 {
                let _ = self.p.child(id, ChildOp::Stop);
                self.stopped = true;
                pd_log!(&self.p, "supervisor: stopped child {} for good", id.0);
                return;
            }
            let t0 = self.p.now_ns();
            let r = self.p.child(id, ChildOp::Restart);
            self.restarts += 1;
            self.ready = false;
            self.started = self.p.now_ns();
            pd_log!(
                &self.p,
                "supervisor: restarted child {} ({:?}) in {} us",
                id.0,
                r,
                (self.started - t0) / 1000
            );
        }
    }

    impl<P: Platform> Handler for Supervisor<P> {
        fn notified(&mut self, set: ChannelSet) {
            if set.contains(READY) {
                self.ready = true;
                pd_log!(&self.p, "supervisor: child ready");
            }
            if let Some(t) = self.p.timer_channel() {
                if set.contains(t) {
                    let now = self.p.now_ns();
                    if !self.ready && !self.stopped && now - self.started > HANG_NS {
                        pd_log!(
                            &self.p,
                            "supervisor: child 0 hung for {} ms",
                            (now - self.started) / 1_000_000
                        );
                        if self.plan(1) == 1 {
                            let r = self.p.child(ChildId(0), ChildOp::Stop);
                            self.stopped = true;
                            pd_log!(&self.p, "supervisor: stopped child 0 ({r:?})");
                        } else {
                            self.restart(ChildId(0));
                        }
                    }
                    let _ = self.p.set_timeout(TICK_NS);
                }
            }
        }

        fn fault(&mut self, child: ChildId, fault: &Fault) -> FaultAction {
            pd_log!(
                &self.p,
                "supervisor: child {} fault: {} [{}]",
                child.0,
                fault,
                fault.kind(self.p.arch()).name()
            );
            if matches!(fault, Fault::CapFault { .. }) {
                let r = self.p.child(child, ChildOp::Stop);
                pd_log!(&self.p, "supervisor: stopped child {} ({r:?})", child.0);
                return FaultAction::Handled;
            }
            if self.resumes < self.plan(2) {
                self.resumes += 1;
                pd_log!(&self.p, "supervisor: resuming child {}", child.0);
                return FaultAction::Resume;
            }
            self.restart(child);
            FaultAction::Handled
        }
    }
}

mod worker {
    use super::*;

    /// Back to 0 in every fresh image, unlike the region.
    static STARTS: AtomicU64 = AtomicU64::new(0);

    pub struct Worker;

    impl Handler for Worker {
        fn notified(&mut self, _: ChannelSet) {}
    }

    pub fn init<P: Platform>(p: P) -> Worker {
        let state = words(&p, "state");
        let plan = words(&p, "plan");
        let region_starts = state[0].fetch_add(1, SeqCst) + 1;
        let static_starts = STARTS.fetch_add(1, SeqCst) + 1;
        pd_log!(
            &p,
            "worker: start region={region_starts} static={static_starts}"
        );
        if region_starts == 1 {
            match plan[0].load(SeqCst) {
                1 => {
                    pd_log!(&p, "worker: writing to 0x10");
                    // SAFETY: deliberately invalid: this faults.
                    unsafe { std::ptr::write_volatile(0x10 as *mut u64, 1) };
                }
                2 => panic!("planned panic"),
                3 => {
                    pd_log!(&p, "worker: executing ud2");
                    // SAFETY: deliberately an illegal instruction.
                    unsafe { std::arch::asm!("ud2") };
                }
                4 => {
                    pd_log!(&p, "worker: spinning");
                    loop {
                        std::hint::spin_loop();
                    }
                }
                5 => {
                    let addr = plan.as_ptr() as *mut u64;
                    pd_log!(&p, "worker: writing to the read-only plan at {addr:p}");
                    // SAFETY: deliberately a write to a read-only mapping.
                    unsafe { std::ptr::write_volatile(addr, 7) };
                }
                _ => {}
            }
        }
        p.notify(READY);
        pd_log!(&p, "worker: ready");
        Worker
    }
}

mod ipc {
    use super::*;

    const SERVER: Channel = Channel::of(0);
    const SINK_A: Channel = Channel::of(3);
    const SINK_B: Channel = Channel::of(4);

    pub struct Idle;
    impl Handler for Idle {
        fn notified(&mut self, _: ChannelSet) {}
    }

    pub fn client<P: Platform>(p: P) -> Idle {
        let flags = words(&p, "flags");
        for _ in 0..5 {
            p.notify(SINK_A);
        }
        for _ in 0..3 {
            p.notify(SINK_B);
        }
        flags[0].store(1, SeqCst);
        let req = Message::with_words(7, &[1, 2, 3]).unwrap_or_default();
        let t0 = p.now_ns();
        let r = p.ppcall(SERVER, &req);
        let t1 = p.now_ns();
        pd_log!(&p, "client: reply label={} words={:?}", r.label, r.words());
        // Round-trip time over many calls (reported by the tests, not asserted).
        let n = 2000;
        let t2 = p.now_ns();
        for i in 0..n {
            let _ = p.ppcall(SERVER, &Message::with_words(1, &[i]).unwrap_or_default());
        }
        let per = (p.now_ns() - t2) / n;
        pd_log!(
            &p,
            "client: first call {} ns, {n} calls {} ns each",
            t1 - t0,
            per
        );
        wait_for(|| flags[1].load(SeqCst) >= 1);
        p.notify(SINK_A);
        wait_for(|| flags[1].load(SeqCst) >= 2);
        pd_log!(&p, "client: calling on a channel without pp");
        let _ = p.ppcall(SINK_A, &req);
        pd_log!(&p, "client: UNREACHABLE after a call without pp");
        Idle
    }

    pub struct Server<P: Platform> {
        p: P,
        calls: u64,
    }

    pub fn server<P: Platform>(p: P) -> Server<P> {
        Server { p, calls: 0 }
    }

    impl<P: Platform> Handler for Server<P> {
        fn notified(&mut self, _: ChannelSet) {}
        fn protected(&mut self, ch: Channel, msg: &Message) -> Message {
            self.calls += 1;
            if self.calls == 1 {
                pd_log!(&self.p, "server: call on {ch} label={}", msg.label);
            }
            let sum: u64 = msg.words().iter().sum();
            Message::with_words(msg.label + 1, &[sum]).unwrap_or_default()
        }
    }

    pub struct Sink<P: Platform> {
        p: P,
        calls: u64,
        flags: &'static [AtomicU64],
    }

    pub fn sink<P: Platform>(p: P) -> Sink<P> {
        let flags = words(&p, "flags");
        // Stay out of the event loop until the client sent everything.
        wait_for(|| flags[0].load(SeqCst) == 1);
        Sink { p, calls: 0, flags }
    }

    impl<P: Platform> Handler for Sink<P> {
        fn notified(&mut self, set: ChannelSet) {
            self.calls += 1;
            let ids: Vec<u8> = set.iter().map(Channel::index).collect();
            pd_log!(&self.p, "sink: notified #{} channels={:?}", self.calls, ids);
            self.flags[1].store(self.calls, SeqCst);
        }
    }
}

mod blocked {
    use super::*;

    const IN: Channel = Channel::of(0);

    pub struct Driver<P: Platform> {
        p: P,
        state: &'static [AtomicU64],
    }

    pub fn driver<P: Platform>(p: P) -> Driver<P> {
        let state = words(&p, "state");
        let n = state[0].fetch_add(1, SeqCst) + 1;
        pd_log!(&p, "driver: start #{n}");
        let inflight = state[1].swap(0, SeqCst);
        if inflight != 0 {
            p.reply_pending(Some(IN), &Message::new(inflight + 100));
            pd_log!(
                &p,
                "driver: answered the call left by the previous incarnation"
            );
        }
        Driver { p, state }
    }

    impl<P: Platform> Handler for Driver<P> {
        fn notified(&mut self, _: ChannelSet) {}
        fn protected(&mut self, _: Channel, msg: &Message) -> Message {
            self.state[1].store(msg.label, SeqCst);
            if self.state[0].load(SeqCst) == 1 {
                pd_log!(
                    &self.p,
                    "driver: faulting while serving label {}",
                    msg.label
                );
                // SAFETY: deliberately invalid: this faults.
                unsafe { std::ptr::write_volatile(0x10 as *mut u64, 1) };
            }
            self.state[1].store(0, SeqCst);
            Message::new(msg.label + 1)
        }
    }

    pub struct Idle;
    impl Handler for Idle {
        fn notified(&mut self, _: ChannelSet) {}
    }

    pub fn caller<P: Platform>(p: P) -> Idle {
        pd_log!(&p, "caller: calling");
        let r = p.ppcall(IN, &Message::new(5));
        pd_log!(&p, "caller: answered with label {}", r.label);
        Idle
    }
}

mod uart {
    use super::*;
    use pd_core::{Arch, DeviceIo};

    const IRQ: Channel = Channel::of(2);

    // PL011 (TRM r1p5).
    const DR: usize = 0x00;
    const FR: usize = 0x18;
    const IBRD: usize = 0x24;
    const FBRD: usize = 0x28;
    const LCR_H: usize = 0x2c;
    const CR: usize = 0x30;
    const IMSC: usize = 0x38;
    const MIS: usize = 0x40;
    const ICR: usize = 0x44;
    const FR_BUSY: u32 = 1 << 3;
    const FR_RXFE: u32 = 1 << 4;
    const FR_TXFF: u32 = 1 << 5;
    const INT_RX: u32 = 1 << 4;
    const INT_RT: u32 = 1 << 6;

    // 16550 (PC16550D).
    const THR: usize = 0;
    const IER: usize = 1;
    const FCR: usize = 2;
    const LCR: usize = 3;
    const MCR: usize = 4;
    const LSR: usize = 5;
    const LSR_DR: u8 = 1;
    const LSR_THRE: u8 = 1 << 5;
    const LSR_TEMT: u8 = 1 << 6;

    pub struct Uart<P: Platform> {
        p: P,
        dev: P::Device,
        arm: bool,
    }

    impl<P: Platform> Uart<P> {
        fn put_all(&self, bytes: &[u8]) {
            if self.arm {
                for &b in bytes {
                    while self.dev.read32(FR) & FR_TXFF != 0 {
                        std::hint::spin_loop();
                    }
                    self.dev.write32(DR, u32::from(b));
                }
            } else {
                for chunk in bytes.chunks(16) {
                    while self.dev.read8(LSR) & LSR_THRE == 0 {
                        std::hint::spin_loop();
                    }
                    for &b in chunk {
                        self.dev.write8(THR, b);
                    }
                }
            }
        }

        fn flush(&self) {
            if self.arm {
                while self.dev.read32(FR) & FR_BUSY != 0 {
                    std::hint::spin_loop();
                }
            } else {
                while self.dev.read8(LSR) & LSR_TEMT == 0 {
                    std::hint::spin_loop();
                }
            }
        }
    }

    pub fn init<P: Platform>(p: P) -> Uart<P> {
        let Some(dev) = p.device("uart_regs") else {
            panic!("uart: no device uart_regs");
        };
        let arm = p.arch() == Arch::Aarch64;
        if arm {
            dev.write32(CR, 0);
            while dev.read32(FR) & FR_BUSY != 0 {
                std::hint::spin_loop();
            }
            dev.write32(IBRD, 13);
            dev.write32(FBRD, 1);
            dev.write32(LCR_H, (1 << 4) | (3 << 5));
            dev.write32(ICR, 0x7ff);
            dev.write32(IMSC, INT_RX | INT_RT);
            dev.write32(CR, 1 | (1 << 8) | (1 << 9));
        } else {
            dev.write8(IER, 0);
            dev.write8(LCR, 0x80);
            dev.write8(THR, 1);
            dev.write8(IER, 0);
            dev.write8(LCR, 0x03);
            dev.write8(FCR, 0xc7);
            dev.write8(MCR, 0x0b);
            dev.write8(IER, 0x01);
        }
        let u = Uart { p, dev, arm };
        let board = if arm { "pl011" } else { "16550" };
        u.put_all(format!("hello through the {board}\n").as_bytes());
        let plan = words(&u.p, "plan");
        let bulk = plan[0].load(SeqCst) as usize;
        if bulk > 0 {
            let t0 = u.p.now_ns();
            let data: Vec<u8> = (0..bulk).map(|i| b'a' + (i % 26) as u8).collect();
            u.put_all(&data);
            u.put_all(b"\nbulk done\n");
            u.flush();
            pd_log!(
                &u.p,
                "uart: wrote {bulk} bytes in {} ms",
                (u.p.now_ns() - t0) / 1_000_000
            );
        }
        u.flush();
        pd_log!(&u.p, "uart: ready");
        u
    }

    impl<P: Platform> Handler for Uart<P> {
        fn notified(&mut self, set: ChannelSet) {
            if !set.contains(IRQ) {
                return;
            }
            let mut got = Vec::new();
            if self.arm {
                // Clear first, then drain: data arriving after the drain
                // raises the interrupt again (clearing after the drain
                // could drop a receive timeout for bytes left in the FIFO).
                let mis = self.dev.read32(MIS);
                self.dev.write32(ICR, mis);
                while self.dev.read32(FR) & FR_RXFE == 0 {
                    got.push(self.dev.read32(DR) as u8);
                }
            } else {
                let _iir = self.dev.read8(FCR);
                while self.dev.read8(LSR) & LSR_DR != 0 {
                    got.push(self.dev.read8(THR));
                }
            }
            self.p.irq_ack(IRQ);
            if !got.is_empty() {
                let mut line = b"rx:".to_vec();
                line.extend(got.iter().map(u8::to_ascii_uppercase));
                line.push(b'\n');
                self.put_all(&line);
            }
        }
    }
}

mod hello {
    use super::*;

    pub struct Idle;
    impl Handler for Idle {
        fn notified(&mut self, _: ChannelSet) {}
    }

    pub fn init<P: Platform>(p: P) -> Idle {
        pd_log!(&p, "hello from {}", p.pd_name());
        if let Some(r) = p.region("buf") {
            // SAFETY: mapped by the runtime for the life of the process.
            let bytes = unsafe { std::slice::from_raw_parts(r.vaddr as *const u8, 25) };
            pd_log!(&p, "hello: buf says '{}'", String::from_utf8_lossy(bytes));
        }
        Idle
    }
}
