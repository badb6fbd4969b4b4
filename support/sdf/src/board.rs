//! Boards the system description may target.

use core::fmt;

/// CPU architecture of a board.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Arch {
    /// AArch64.
    Aarch64,
    /// x86_64.
    X86_64,
}

/// A Microkit board this project builds for.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Board {
    /// QEMU `virt` machine, AArch64.
    QemuVirtAarch64,
    /// Generic x86_64 PC.
    X86_64Generic,
}

impl Board {
    /// Every known board, in a fixed order.
    pub const ALL: [Board; 2] = [Board::QemuVirtAarch64, Board::X86_64Generic];

    /// Name as Microkit spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::QemuVirtAarch64 => "qemu_virt_aarch64",
            Self::X86_64Generic => "x86_64_generic",
        }
    }

    /// The board with this Microkit name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The board's architecture.
    pub const fn arch(self) -> Arch {
        match self {
            Self::QemuVirtAarch64 => Arch::Aarch64,
            Self::X86_64Generic => Arch::X86_64,
        }
    }

    /// First virtual address a PD mapping may not reach: the bottom of the
    /// stack Microkit places under the IPC buffer and a guard page
    /// (`Config::pd_map_max_vaddr` in the tool).
    pub const fn map_limit(self, stack_size: u64) -> u64 {
        let user_top = match self {
            // address_space_constants.json of the 2.3.0 SDK.
            Self::QemuVirtAarch64 => 0xff_ffff_ffff,
            Self::X86_64Generic => 0x7fff_ffff_efff,
        };
        let ipc_buffer = user_top & !(crate::PAGE_SIZE - 1);
        let stack_top = ipc_buffer - crate::PAGE_SIZE;
        stack_top.saturating_sub(stack_size)
    }

    /// Names of all boards, space separated (for messages).
    pub fn known_names() -> String {
        Self::ALL.map(Board::name).join(", ")
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The boards an element is kept for.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct BoardSet(u8);

impl BoardSet {
    /// Every board (an element without a `board` attribute).
    pub const ALL: Self = Self((1 << Board::ALL.len()) - 1);
    /// No board.
    pub const NONE: Self = Self(0);

    const fn bit(b: Board) -> u8 {
        match b {
            Board::QemuVirtAarch64 => 1,
            Board::X86_64Generic => 2,
        }
    }

    /// Whether `b` is in the set.
    pub const fn contains(self, b: Board) -> bool {
        self.0 & Self::bit(b) != 0
    }

    /// The set plus `b`.
    pub const fn with(self, b: Board) -> Self {
        Self(self.0 | Self::bit(b))
    }

    /// Whether this is every board.
    pub const fn is_all(self) -> bool {
        self.0 == Self::ALL.0
    }
}

impl Default for BoardSet {
    fn default() -> Self {
        Self::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in Board::ALL {
            assert_eq!(Board::from_name(b.name()), Some(b));
        }
        assert_eq!(Board::from_name("qemu_virt_riscv64"), None);
    }

    #[test]
    fn map_limit_is_stack_bottom() {
        // aarch64: IPC buffer at 0xff_ffff_f000, guard page, then the stack.
        assert_eq!(Board::QemuVirtAarch64.map_limit(0x2000), 0xff_ffff_c000);
        assert_eq!(Board::X86_64Generic.map_limit(0x1000), 0x7fff_ffff_c000);
    }

    #[test]
    fn board_sets() {
        let s = BoardSet::NONE.with(Board::X86_64Generic);
        assert!(s.contains(Board::X86_64Generic));
        assert!(!s.contains(Board::QemuVirtAarch64));
        assert!(!s.is_all());
        assert!(s.with(Board::QemuVirtAarch64).is_all());
    }
}
