use super::*;
use std::cell::RefCell;

/// Guest memory: `bytes` at physical address `BASE`.
struct Mem(RefCell<Vec<u8>>);
const BASE: u64 = 0x4000_0000;

impl GuestMemory for Mem {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let m = self.0.borrow();
        let Some(a) = paddr.checked_sub(BASE).map(|a| a as usize) else {
            return false;
        };
        match m.get(a..a + buf.len()) {
            Some(s) => {
                buf.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
    fn write(&self, paddr: u64, data: &[u8]) -> bool {
        let mut m = self.0.borrow_mut();
        let Some(a) = paddr.checked_sub(BASE).map(|a| a as usize) else {
            return false;
        };
        match m.get_mut(a..a + data.len()) {
            Some(s) => {
                s.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

const DESC: u64 = BASE;
const AVAIL: u64 = BASE + 0x1000;
const USED: u64 = BASE + 0x2000;
const BUFS: u64 = BASE + 0x3000;

/// A device taken through initialisation with an 8-entry queue.
fn ready_device(disk_bytes: u64) -> VirtioBlk {
    let mut d = VirtioBlk::new(disk_bytes, false);
    let w = |d: &mut VirtioBlk, r, v| assert_eq!(d.write(r, 4, v), Effect::None);
    assert_eq!(d.write(reg::STATUS, 4, 0), Effect::Reset);
    w(&mut d, reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    w(&mut d, reg::DRIVER_FEATURES_SEL, 1);
    w(&mut d, reg::DRIVER_FEATURES, 1); // VERSION_1
    w(
        &mut d,
        reg::STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
    );
    assert_ne!(d.read(reg::STATUS, 4) & status::FEATURES_OK, 0);
    w(&mut d, reg::QUEUE_SEL, 0);
    w(&mut d, reg::QUEUE_NUM, 8);
    w(&mut d, reg::QUEUE_DESC_LOW, DESC as u32);
    w(&mut d, reg::QUEUE_DRIVER_LOW, AVAIL as u32);
    w(&mut d, reg::QUEUE_DEVICE_LOW, USED as u32);
    w(&mut d, reg::QUEUE_READY, 1);
    w(&mut d, reg::STATUS, 0xf);
    assert!(d.live());
    d
}

fn put(mem: &Mem, at: u64, bytes: &[u8]) {
    assert!(mem.write(at, bytes));
}

fn desc(mem: &Mem, i: u64, addr: u64, len: u32, flags: u16, next: u16) {
    let mut d = Vec::new();
    d.extend_from_slice(&addr.to_le_bytes());
    d.extend_from_slice(&len.to_le_bytes());
    d.extend_from_slice(&flags.to_le_bytes());
    d.extend_from_slice(&next.to_le_bytes());
    put(mem, DESC + 16 * i, &d);
}

/// Post request `kind` at `sector` with a data buffer of `len` bytes as
/// chain 0..3, avail entry `n`.
fn post(mem: &Mem, n: u16, kind: u32, sector: u64, len: u32, data_writable: bool) {
    let mut hdr = kind.to_le_bytes().to_vec();
    hdr.extend_from_slice(&[0; 4]);
    hdr.extend_from_slice(&sector.to_le_bytes());
    put(mem, BUFS, &hdr);
    desc(mem, 0, BUFS, 16, 1, 1);
    desc(
        mem,
        1,
        BUFS + 0x100,
        len,
        1 | if data_writable { 2 } else { 0 },
        2,
    );
    desc(mem, 2, BUFS + 0x80, 1, 2, 0);
    put(mem, AVAIL + 4 + 2 * u64::from(n % 8), &0u16.to_le_bytes());
    put(mem, AVAIL + 2, &(n + 1).to_le_bytes());
}

fn used(mem: &Mem) -> (u16, u32, u32, u8) {
    let mut b = [0u8; 2];
    assert!(mem.read(USED + 2, &mut b));
    let idx = u16::from_le_bytes(b);
    let mut e = [0u8; 8];
    assert!(mem.read(USED + 4 + 8 * u64::from((idx.wrapping_sub(1)) % 8), &mut e));
    let mut s = [0u8; 1];
    assert!(mem.read(BUFS + 0x80, &mut s));
    (
        idx,
        u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
        u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
        s[0],
    )
}

#[test]
fn identification_and_configuration_read_as_the_specification_says() {
    let d = VirtioBlk::new(1 << 20, false);
    assert_eq!(d.read(reg::MAGIC, 4), 0x7472_6976);
    assert_eq!(d.read(reg::VERSION, 4), 2);
    assert_eq!(d.read(reg::DEVICE_ID, 4), 2);
    assert_eq!(d.read(reg::QUEUE_NUM_MAX, 4), QUEUE_NUM_MAX);
    // capacity = 2048 sectors, read as two words or as bytes.
    assert_eq!(d.read(reg::CONFIG, 4), 2048);
    assert_eq!(d.read(reg::CONFIG + 4, 4), 0);
    assert_eq!(d.read(reg::CONFIG + 1, 1), 8);
    assert_eq!(d.read(reg::CONFIG + 20, 4), 512);
    // Sub-word reads of a common register are not allowed.
    assert_eq!(d.read(reg::MAGIC, 1), 0);
}

#[test]
fn features_not_offered_are_refused_at_features_ok() {
    let mut d = VirtioBlk::new(4096, false);
    d.write(reg::STATUS, 4, 3);
    d.write(reg::DRIVER_FEATURES_SEL, 4, 1);
    d.write(reg::DRIVER_FEATURES, 4, 1 | 2); // VERSION_1 and bit 33, not offered
    d.write(reg::STATUS, 4, 0xb);
    assert_eq!(d.read(reg::STATUS, 4) & status::FEATURES_OK, 0);
    // Without VERSION_1 too.
    let mut d = VirtioBlk::new(4096, false);
    d.write(reg::STATUS, 4, 3);
    d.write(reg::STATUS, 4, 0xb);
    assert_eq!(d.read(reg::STATUS, 4) & status::FEATURES_OK, 0);
}

#[test]
fn a_write_then_a_read_go_through_the_disk_and_the_used_ring() {
    let mem = Mem(RefCell::new(vec![0; 0x8000]));
    let mut disk = MemBacking(vec![0; 1 << 16]);
    let mut d = ready_device(1 << 16);
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
    put(&mem, BUFS + 0x100, &data);
    post(&mem, 0, blk::T_OUT, 3, 1024, false);
    assert_eq!(d.process(&mem, &mut disk, 8).served, 1);
    // The model serves what is available whether or not it was kicked.
    assert_eq!(used(&mem).0, 1);
    assert_eq!(&disk.0[3 * 512..3 * 512 + 1024], &data[..]);
    put(&mem, BUFS + 0x100, &[0; 1024]);
    post(&mem, 1, blk::T_IN, 3, 1024, true);
    assert_eq!(d.write(reg::QUEUE_NOTIFY, 4, 0), Effect::Notify);
    let p = d.process(&mem, &mut disk, 8);
    assert_eq!(p.served, 1);
    assert!(p.irq && d.irq_line());
    let (idx, id, len, st) = used(&mem);
    assert_eq!((idx, id, len, st), (2, 0, 1025, blk::S_OK));
    let mut back = vec![0; 1024];
    assert!(mem.read(BUFS + 0x100, &mut back));
    assert_eq!(back, data);
    d.write(reg::INTERRUPT_ACK, 4, interrupt::USED_BUFFER);
    assert!(!d.irq_line());
}

#[test]
fn out_of_range_requests_fail_and_malformed_chains_need_a_reset() {
    let mem = Mem(RefCell::new(vec![0; 0x8000]));
    let mut disk = MemBacking(vec![0; 4096]);
    let mut d = ready_device(4096);
    post(&mem, 0, blk::T_IN, 7, 1024, true); // sectors 7..9 of 8
    assert_eq!(d.process(&mem, &mut disk, 8).served, 1);
    assert_eq!(used(&mem).3, blk::S_IOERR);
    post(&mem, 1, 99, 0, 512, true);
    d.process(&mem, &mut disk, 8);
    assert_eq!(used(&mem).3, blk::S_UNSUPP);
    // A chain whose data points outside guest memory.
    post(&mem, 2, blk::T_IN, 0, 512, true);
    desc(&mem, 1, 0x10, 512, 3, 2);
    assert_eq!(d.process(&mem, &mut disk, 8).served, 0);
    assert_ne!(d.read(reg::STATUS, 4) & status::DEVICE_NEEDS_RESET, 0);
    assert!(d.irq_line());
    // Nothing more is served until a reset.
    post(&mem, 3, blk::T_IN, 0, 512, true);
    assert_eq!(d.process(&mem, &mut disk, 8).served, 0);
    assert_eq!(d.write(reg::STATUS, 4, 0), Effect::Reset);
    assert_eq!(d.read(reg::STATUS, 4), 0);
    assert_eq!(d.read(reg::QUEUE_READY, 4), 0);
    assert_eq!(d.resets, 2);
}

#[test]
fn a_loop_in_a_chain_is_caught() {
    let mem = Mem(RefCell::new(vec![0; 0x8000]));
    let mut disk = MemBacking(vec![0; 4096]);
    let mut d = ready_device(4096);
    post(&mem, 0, blk::T_IN, 0, 512, true);
    desc(&mem, 2, BUFS + 0x80, 1, 2 | 1, 1); // 2 -> 1 -> 2 ...
    desc(&mem, 1, BUFS + 0x100, 512, 2 | 1, 2);
    assert_eq!(d.process(&mem, &mut disk, 8).served, 0);
    assert_ne!(d.status & status::DEVICE_NEEDS_RESET, 0);
}
