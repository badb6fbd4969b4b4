//! What the device reaches: guest memory (by physical address) and its disk.

/// Guest physical memory as the device sees it (DMA). An access outside
/// memory the device may reach returns `false` and changes nothing.
pub trait GuestMemory {
    /// Read `buf.len()` bytes at physical address `paddr`.
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool;
    /// Write `data` at physical address `paddr`.
    fn write(&self, paddr: u64, data: &[u8]) -> bool;
    /// Order the device's earlier accesses before its later ones (the ring
    /// index loads and stores are acquire/release on real buses).
    fn fence(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// The disk behind the device.
pub trait Backing {
    /// Size in bytes.
    fn len(&self) -> u64;
    /// Whether the disk is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Read `buf.len()` bytes at byte offset `at`.
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// Write `data` at byte offset `at`.
    fn write_at(&mut self, at: u64, data: &[u8]) -> std::io::Result<()>;
    /// Make earlier writes durable.
    fn flush(&mut self) -> std::io::Result<()>;
}

/// A disk in memory.
#[derive(Clone, Debug)]
pub struct MemBacking(pub Vec<u8>);

impl Backing for MemBacking {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let s = range(at, buf.len(), self.0.len())?;
        buf.copy_from_slice(&self.0[s]);
        Ok(())
    }
    fn write_at(&mut self, at: u64, data: &[u8]) -> std::io::Result<()> {
        let s = range(at, data.len(), self.0.len())?;
        self.0[s].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn range(at: u64, n: usize, len: usize) -> std::io::Result<std::ops::Range<usize>> {
    usize::try_from(at)
        .ok()
        .and_then(|a| Some(a..a.checked_add(n)?))
        .filter(|r| r.end <= len)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "beyond the disk"))
}

impl Backing for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, at)
    }
    fn write_at(&mut self, at: u64, data: &[u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, data, at)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
}
