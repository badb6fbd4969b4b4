//! An in-memory [`Platform`] for unit tests of PD code: regions are heap
//! pages, time is a settable clock, and every notification, reply, call and
//! child operation is recorded for assertions.
//!
//! It models Microkit semantics only as far as unit tests need; end-to-end
//! behaviour (processes, faults, restarts) is tested on the hosted runtime.
//! What must never happen: PD code that passes here only because the mock is
//! more forgiving than Microkit (e.g. calls on undeclared channels succeed).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pd_core::{
    Arch, Channel, ChildId, ChildOp, DeviceIo, Message, Platform, PlatformError, Region, Width,
};

/// A device whose registers are a map; reads of unwritten registers return the
/// value from `defaults`, and every access is logged.
#[derive(Clone, Default)]
pub struct MockDevice {
    inner: Rc<RefCell<DeviceState>>,
}

/// What a [`MockDevice`] holds.
#[derive(Default)]
pub struct DeviceState {
    /// Current register values.
    pub regs: HashMap<usize, u32>,
    /// Writes, in order: (offset, value).
    pub writes: Vec<(usize, u32)>,
    /// Reads, in order: offset.
    pub reads: Vec<usize>,
}

impl MockDevice {
    /// Set a register's value.
    pub fn set(&self, offset: usize, value: u32) {
        self.inner.borrow_mut().regs.insert(offset, value);
    }
    /// Writes so far.
    pub fn writes(&self) -> Vec<(usize, u32)> {
        self.inner.borrow().writes.clone()
    }
    /// Values written to `offset`, in order.
    pub fn writes_to(&self, offset: usize) -> Vec<u32> {
        self.inner
            .borrow()
            .writes
            .iter()
            .filter(|w| w.0 == offset)
            .map(|w| w.1)
            .collect()
    }
}

impl DeviceIo for MockDevice {
    fn read(&self, offset: usize, _width: Width) -> u32 {
        let mut s = self.inner.borrow_mut();
        s.reads.push(offset);
        s.regs.get(&offset).copied().unwrap_or(0)
    }
    fn write(&self, offset: usize, _width: Width, value: u32) {
        let mut s = self.inner.borrow_mut();
        s.writes.push((offset, value));
        s.regs.insert(offset, value);
    }
}

type Responder = Box<dyn FnMut(Channel, &Message) -> Message>;

/// Everything the mock records.
#[derive(Default)]
pub struct Record {
    /// Notifications sent.
    pub notified: Vec<Channel>,
    /// IRQ acknowledgements.
    pub irq_acks: Vec<Channel>,
    /// Replies to pending callers: (channel if known, message).
    pub pending_replies: Vec<(Option<Channel>, Message)>,
    /// Outgoing calls.
    pub calls: Vec<(Channel, Message)>,
    /// Child operations.
    pub child_ops: Vec<(ChildId, ChildOp)>,
    /// Debug console output.
    pub console: String,
    /// Armed timeouts (ns from the time they were armed).
    pub timeouts: Vec<u64>,
}

struct State {
    name: &'static str,
    arch: Arch,
    now: u64,
    regions: HashMap<String, (Region, Rc<Vec<Page>>)>,
    devices: HashMap<String, MockDevice>,
    responder: Option<Responder>,
    timer: Option<Channel>,
    children: Vec<ChildId>,
    pp_channels: Vec<Channel>,
    record: Record,
}

#[repr(C, align(4096))]
#[derive(Clone)]
struct Page([u8; 4096]);

/// The mock platform (a cheap handle; clones share state).
#[derive(Clone)]
pub struct MockPlatform {
    s: Rc<RefCell<State>>,
}

impl MockPlatform {
    /// A platform for a PD called `name` on `arch`.
    pub fn new(name: &str, arch: Arch) -> Self {
        Self {
            s: Rc::new(RefCell::new(State {
                name: Box::leak(name.to_string().into_boxed_str()),
                arch,
                now: 0,
                regions: HashMap::new(),
                devices: HashMap::new(),
                responder: None,
                timer: None,
                children: Vec::new(),
                pp_channels: Vec::new(),
                record: Record::default(),
            })),
        }
    }

    /// Map a zeroed region of `size` bytes (rounded up to pages) under `setvar`.
    pub fn add_region(&self, setvar: &str, size: usize) -> Region {
        let pages = size.div_ceil(4096).max(1);
        let mem = Rc::new(vec![Page([0; 4096]); pages]);
        let region = Region {
            vaddr: mem.as_ptr() as usize,
            size: pages * 4096,
        };
        self.s
            .borrow_mut()
            .regions
            .insert(setvar.to_string(), (region, mem));
        region
    }

    /// Share an existing region of another mock platform (same memory).
    pub fn share_region(&self, setvar: &str, from: &MockPlatform, from_setvar: &str) {
        let entry = from.s.borrow().regions.get(from_setvar).cloned();
        if let Some(e) = entry {
            self.s.borrow_mut().regions.insert(setvar.to_string(), e);
        }
    }

    /// Bytes of a region.
    pub fn region_bytes(&self, setvar: &str) -> Vec<u8> {
        let s = self.s.borrow();
        match s.regions.get(setvar) {
            // SAFETY: the pages are owned by the map entry and live as long as it.
            Some((r, _)) => {
                unsafe { std::slice::from_raw_parts(r.vaddr as *const u8, r.size) }.to_vec()
            }
            None => Vec::new(),
        }
    }

    /// Attach a device under `name`.
    pub fn add_device(&self, name: &str) -> MockDevice {
        let d = MockDevice::default();
        self.s
            .borrow_mut()
            .devices
            .insert(name.to_string(), d.clone());
        d
    }

    /// Answer outgoing calls with `f`, and allow calls on `channels`.
    pub fn respond_with(
        &self,
        channels: &[Channel],
        f: impl FnMut(Channel, &Message) -> Message + 'static,
    ) {
        let mut s = self.s.borrow_mut();
        s.responder = Some(Box::new(f));
        s.pp_channels = channels.to_vec();
    }

    /// Give this PD a timer on `ch`.
    pub fn with_timer(&self, ch: Channel) {
        self.s.borrow_mut().timer = Some(ch);
    }

    /// Declare children this PD may act on.
    pub fn with_children(&self, ids: &[u8]) {
        self.s.borrow_mut().children = ids.iter().map(|&i| ChildId(i)).collect();
    }

    /// Set the clock.
    pub fn set_now(&self, ns: u64) {
        self.s.borrow_mut().now = ns;
    }

    /// Advance the clock.
    pub fn advance(&self, ns: u64) {
        self.s.borrow_mut().now += ns;
    }

    /// Inspect what was recorded.
    pub fn record<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&self.s.borrow().record)
    }

    /// Forget what was recorded.
    pub fn clear_record(&self) {
        self.s.borrow_mut().record = Record::default();
    }
}

impl Platform for MockPlatform {
    type Device = MockDevice;

    fn arch(&self) -> Arch {
        self.s.borrow().arch
    }
    fn pd_name(&self) -> &str {
        self.s.borrow().name
    }
    fn notify(&self, ch: Channel) {
        self.s.borrow_mut().record.notified.push(ch);
    }
    fn irq_ack(&self, ch: Channel) {
        self.s.borrow_mut().record.irq_acks.push(ch);
    }
    fn ppcall(&self, ch: Channel, msg: &Message) -> Message {
        let allowed = self.s.borrow().pp_channels.contains(&ch);
        assert!(
            allowed,
            "ppcall on {ch} which has no pp permission (a cap fault on seL4)"
        );
        self.s.borrow_mut().record.calls.push((ch, *msg));
        let responder = self.s.borrow_mut().responder.take();
        match responder {
            Some(mut f) => {
                let r = f(ch, msg);
                self.s.borrow_mut().responder = Some(f);
                r
            }
            None => Message::new(pd_core::message::LABEL_UNSUPPORTED),
        }
    }
    fn reply_pending(&self, ch: Option<Channel>, msg: &Message) {
        self.s.borrow_mut().record.pending_replies.push((ch, *msg));
    }
    fn debug_puts(&self, s: &str) {
        self.s.borrow_mut().record.console.push_str(s);
    }
    fn now_ns(&self) -> u64 {
        self.s.borrow().now
    }
    fn set_timeout(&self, after_ns: u64) -> Result<(), PlatformError> {
        let mut s = self.s.borrow_mut();
        if s.timer.is_none() {
            return Err(PlatformError::NotDeclared);
        }
        s.record.timeouts.push(after_ns);
        Ok(())
    }
    fn timer_channel(&self) -> Option<Channel> {
        self.s.borrow().timer
    }
    fn region(&self, setvar: &str) -> Option<Region> {
        self.s.borrow().regions.get(setvar).map(|e| e.0)
    }
    fn device(&self, name: &str) -> Option<MockDevice> {
        self.s.borrow().devices.get(name).cloned()
    }
    fn child(&self, child: ChildId, op: ChildOp) -> Result<(), PlatformError> {
        let mut s = self.s.borrow_mut();
        if !s.children.contains(&child) {
            return Err(PlatformError::NotDeclared);
        }
        s.record.child_ops.push((child, op));
        Ok(())
    }
}
