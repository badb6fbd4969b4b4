//! The device side: serving descriptor chains from the split virtqueue
//! (§2.7) as block requests (§5.2.6).

use crate::{blk, interrupt, Backing, GuestMemory, VirtioBlk, SECTOR};

/// Descriptor flags (§2.7.5).
const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;
/// Available-ring flag: the driver wants no interrupt (§2.7.7).
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// What one [`VirtioBlk::process`] did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// Requests completed (used-ring entries published).
    pub served: u32,
    /// Requests still available to serve.
    pub pending: u32,
    /// The interrupt line went up.
    pub irq: bool,
}

/// One buffer of a chain.
#[derive(Copy, Clone)]
struct Seg {
    addr: u64,
    len: u32,
}

/// A chain split into its device-readable then device-writable buffers.
struct Chain {
    readable: Vec<Seg>,
    writable: Vec<Seg>,
}

fn total(segs: &[Seg]) -> u64 {
    segs.iter().map(|s| u64::from(s.len)).sum()
}

/// Copy `buf.len()` bytes of the stream `segs`, from byte `skip`.
fn gather(mem: &impl GuestMemory, segs: &[Seg], mut skip: u64, buf: &mut [u8]) -> bool {
    let mut done = 0;
    for s in segs {
        if done == buf.len() {
            break;
        }
        let len = u64::from(s.len);
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = ((len - skip) as usize).min(buf.len() - done);
        if !mem.read(s.addr + skip, &mut buf[done..done + n]) {
            return false;
        }
        done += n;
        skip = 0;
    }
    done == buf.len()
}

/// Store `data` into the stream `segs`, from byte `skip`.
fn scatter(mem: &impl GuestMemory, segs: &[Seg], mut skip: u64, data: &[u8]) -> bool {
    let mut done = 0;
    for s in segs {
        if done == data.len() {
            break;
        }
        let len = u64::from(s.len);
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = ((len - skip) as usize).min(data.len() - done);
        if !mem.write(s.addr + skip, &data[done..done + n]) {
            return false;
        }
        done += n;
        skip = 0;
    }
    done == data.len()
}

fn read_u16(mem: &impl GuestMemory, at: u64) -> Option<u16> {
    let mut b = [0; 2];
    mem.read(at, &mut b).then_some(u16::from_le_bytes(b))
}

impl VirtioBlk {
    /// Serve up to `max` available requests. Does nothing unless the
    /// device is live; a malformed queue sets `DEVICE_NEEDS_RESET`.
    pub fn process(
        &mut self,
        mem: &impl GuestMemory,
        disk: &mut impl Backing,
        max: u32,
    ) -> Processed {
        let mut out = Processed::default();
        if !self.live() {
            return out;
        }
        self.queue.kicked = 0;
        let num = self.queue.num;
        while self.live() {
            mem.fence();
            let Some(avail_idx) = read_u16(mem, self.queue.driver + 2) else {
                self.needs_reset();
                break;
            };
            let last = self.queue.last_avail as u16;
            let waiting = avail_idx.wrapping_sub(last);
            if waiting == 0 {
                break;
            }
            if u32::from(waiting) > num {
                self.needs_reset();
                break;
            }
            if out.served == max {
                out.pending = u32::from(waiting);
                break;
            }
            mem.fence();
            let slot = u64::from(u32::from(last) % num);
            let Some(head) = read_u16(mem, self.queue.driver + 4 + 2 * slot) else {
                self.needs_reset();
                break;
            };
            let Some(chain) = self.walk(mem, head) else {
                self.needs_reset();
                break;
            };
            let Some(written) = self.serve(mem, disk, &chain) else {
                self.needs_reset();
                break;
            };
            // The used element, then (release) its index (§2.7.8).
            let used_slot = u64::from(self.queue.used_idx % num);
            let mut elem = [0u8; 8];
            elem[..4].copy_from_slice(&u32::from(head).to_le_bytes());
            elem[4..].copy_from_slice(&written.to_le_bytes());
            mem.fence();
            if !mem.write(self.queue.device + 4 + 8 * used_slot, &elem) {
                self.needs_reset();
                break;
            }
            mem.fence();
            let next = (self.queue.used_idx as u16).wrapping_add(1);
            if !mem.write(self.queue.device + 2, &next.to_le_bytes()) {
                self.needs_reset();
                break;
            }
            self.queue.used_idx = u32::from(next);
            self.queue.last_avail = u32::from(last.wrapping_add(1));
            self.served += 1;
            out.served += 1;
            let flags = read_u16(mem, self.queue.driver).unwrap_or(0);
            if flags & AVAIL_F_NO_INTERRUPT == 0 {
                self.interrupt_status |= interrupt::USED_BUFFER;
            }
        }
        out.irq = self.irq_line();
        out
    }

    /// Follow the chain from `head`; `None` if it is malformed.
    fn walk(&self, mem: &impl GuestMemory, head: u16) -> Option<Chain> {
        let num = self.queue.num;
        let mut chain = Chain {
            readable: Vec::new(),
            writable: Vec::new(),
        };
        let mut i = u32::from(head);
        for _ in 0..num {
            if i >= num {
                return None;
            }
            let mut d = [0u8; 16];
            if !mem.read(self.queue.desc + 16 * u64::from(i), &mut d) {
                return None;
            }
            let addr = u64::from_le_bytes(d[0..8].try_into().ok()?);
            let len = u32::from_le_bytes(d[8..12].try_into().ok()?);
            let flags = u16::from_le_bytes(d[12..14].try_into().ok()?);
            let next = u16::from_le_bytes(d[14..16].try_into().ok()?);
            if flags & F_INDIRECT != 0 {
                return None; // not offered
            }
            let seg = Seg { addr, len };
            if flags & F_WRITE != 0 {
                chain.writable.push(seg);
            } else if chain.writable.is_empty() {
                chain.readable.push(seg);
            } else {
                return None; // readable after writable (§2.7.4.2)
            }
            if flags & F_NEXT == 0 {
                return Some(chain);
            }
            i = u32::from(next);
        }
        None // a loop
    }

    /// Do the request; the bytes written into the chain, or `None` for a
    /// malformed request.
    fn serve(&mut self, mem: &impl GuestMemory, disk: &mut impl Backing, c: &Chain) -> Option<u32> {
        let mut hdr = [0u8; 16];
        if !gather(mem, &c.readable, 0, &mut hdr) {
            return None;
        }
        let wtotal = total(&c.writable);
        if wtotal == 0 {
            return None; // nowhere to put the status
        }
        let kind = u32::from_le_bytes(hdr[0..4].try_into().ok()?);
        let sector = u64::from_le_bytes(hdr[8..16].try_into().ok()?);
        let in_bounds = |len: u64| {
            len.is_multiple_of(SECTOR)
                && sector
                    .checked_mul(SECTOR)
                    .and_then(|b| b.checked_add(len))
                    .is_some_and(|end| end <= self.capacity * SECTOR && end <= disk.len())
        };
        let (status, data_written) = match kind {
            blk::T_IN => {
                let len = wtotal - 1;
                if !in_bounds(len) {
                    (blk::S_IOERR, 0)
                } else {
                    let mut buf = vec![0u8; usize::try_from(len).ok()?];
                    match disk.read_at(sector * SECTOR, &mut buf) {
                        Ok(()) => {
                            if !scatter(mem, &c.writable, 0, &buf) {
                                return None;
                            }
                            (blk::S_OK, len)
                        }
                        Err(_) => (blk::S_IOERR, 0),
                    }
                }
            }
            blk::T_OUT => {
                let len = total(&c.readable).saturating_sub(16);
                if !in_bounds(len) || self.device_features & crate::feature::BLK_RO != 0 {
                    (blk::S_IOERR, 0)
                } else {
                    let mut buf = vec![0u8; usize::try_from(len).ok()?];
                    if !gather(mem, &c.readable, 16, &mut buf) {
                        return None;
                    }
                    match disk.write_at(sector * SECTOR, &buf) {
                        Ok(()) => (blk::S_OK, 0),
                        Err(_) => (blk::S_IOERR, 0),
                    }
                }
            }
            blk::T_FLUSH => match disk.flush() {
                Ok(()) => (blk::S_OK, 0),
                Err(_) => (blk::S_IOERR, 0),
            },
            blk::T_GET_ID => {
                let id = b"hosted-virtio-blk\0\0\0";
                let n = (wtotal - 1).min(id.len() as u64);
                if !scatter(mem, &c.writable, 0, &id[..n as usize]) {
                    return None;
                }
                (blk::S_OK, n)
            }
            _ => (blk::S_UNSUPP, 0),
        };
        if !scatter(mem, &c.writable, wtotal - 1, &[status]) {
            return None;
        }
        u32::try_from(data_written + 1).ok()
    }
}
