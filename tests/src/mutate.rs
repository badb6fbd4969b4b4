//! Code mutations in a driver's binary, after Arc's fault injector (seed 003
//! §5.2, Table 5.1), applied to a copy of the image at an instruction of the
//! driver's own code:
//!
//! | class | what |
//! |---|---|
//! | assignment | change the source register of a register-to-register move |
//! | conditional | replace a conditional branch with no-ops |
//! | initialization | delete a move of an immediate |
//! | off-by-one | change a branch condition (< to <=, > to >=, ...) |
//! | flip | invert a branch condition |
//! | skip | delete any instruction |
//! | constant | change an immediate operand |
//! | pointer | change a memory operand's displacement |
//!
//! x86_64 code is decoded with `iced-x86`; AArch64 (fixed 32-bit
//! instructions) by its encoding classes. The instruction is picked at random
//! (from a seed) among those of the functions whose demangled names belong to
//! the driver's crates.
//!
//! What must never happen: a mutation outside the chosen function, or one
//! that changes an instruction's length (x86: it would shift everything after
//! it); a mutation request that cannot be met is an error, not a silent
//! substitute.

use fault_inject::Rng;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// The mutation classes.
pub const CLASSES: [&str; 8] = [
    "assignment",
    "conditional",
    "initialization",
    "off-by-one",
    "flip",
    "skip",
    "constant",
    "pointer",
];

/// One mutation applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// Its class.
    pub class: &'static str,
    /// The function it is in (demangled).
    pub function: String,
    /// Virtual address of the instruction.
    pub address: u64,
    /// File offset of the instruction.
    pub offset: usize,
    /// The bytes before.
    pub before: Vec<u8>,
    /// The bytes after.
    pub after: Vec<u8>,
}

struct Func {
    name: String,
    addr: u64,
    size: u64,
    file_off: usize,
}

/// The functions of `elf` whose demangled names contain one of `crates`
/// (e.g. `"serial_stream::"`), with their file offsets.
fn functions(elf: &[u8], crates: &[&str]) -> Result<(Vec<Func>, object::Architecture), String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF: {e}"))?;
    let arch = file.architecture();
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() < 4 {
            continue;
        }
        let Ok(raw) = sym.name() else { continue };
        let name = format!("{:#}", rustc_demangle::demangle(raw));
        if !crates.iter().any(|c| name.contains(c)) {
            continue;
        }
        let Some(idx) = sym.section_index() else {
            continue;
        };
        let Ok(sec) = file.section_by_index(idx) else {
            continue;
        };
        let Some((sec_off, sec_size)) = sec.file_range() else {
            continue;
        };
        let rel = sym.address().wrapping_sub(sec.address());
        if rel + sym.size() > sec_size {
            continue;
        }
        out.push(Func {
            name,
            addr: sym.address(),
            size: sym.size(),
            file_off: (sec_off + rel) as usize,
        });
    }
    if out.is_empty() {
        return Err(format!("no function of {crates:?} in the image"));
    }
    Ok((out, arch))
}

/// Apply one mutation of `class` at a random instruction of the driver's
/// functions in `elf` (in place). Tries other functions until one has an
/// instruction of that class.
pub fn mutate(
    elf: &mut [u8],
    crates: &[&str],
    class: &'static str,
    rng: &mut Rng,
) -> Result<Mutation, String> {
    let (funcs, arch) = functions(elf, crates)?;
    let total: u64 = funcs.iter().map(|f| f.size).sum();
    for _ in 0..200 {
        // A function, weighted by size.
        let mut pick = rng.below(total);
        let f = funcs
            .iter()
            .find(|f| {
                if pick < f.size {
                    true
                } else {
                    pick -= f.size;
                    false
                }
            })
            .unwrap_or(&funcs[0]);
        let code = &elf[f.file_off..f.file_off + f.size as usize];
        let found = match arch {
            object::Architecture::X86_64 => x86::candidates(code, f.addr, class),
            object::Architecture::Aarch64 => a64::candidates(code, class),
            other => return Err(format!("no mutator for {other:?}")),
        };
        if found.is_empty() {
            continue;
        }
        let (at, len, new) = found[rng.below(found.len() as u64) as usize];
        let off = f.file_off + at;
        let before = elf[off..off + len].to_vec();
        let after = new(&before, rng);
        if after.len() != len || after == before {
            continue;
        }
        elf[off..off + len].copy_from_slice(&after);
        return Ok(Mutation {
            class,
            function: f.name.clone(),
            address: f.addr + at as u64,
            offset: off,
            before,
            after,
        });
    }
    Err(format!(
        "no instruction for a {class} mutation in the driver's code"
    ))
}

type Rewrite = fn(&[u8], &mut Rng) -> Vec<u8>;

mod x86 {
    use super::{Rewrite, Rng};
    use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};

    fn nops(b: &[u8], _: &mut Rng) -> Vec<u8> {
        vec![0x90; b.len()]
    }

    /// Jcc short (0x7X) or near (0x0F 0x8X): the condition nibble.
    fn cc_index(b: &[u8]) -> Option<usize> {
        match b {
            [op, ..] if (0x70..=0x7f).contains(op) => Some(0),
            [0x0f, op, ..] if (0x80..=0x8f).contains(op) => Some(1),
            _ => None,
        }
    }

    fn flip(b: &[u8], _: &mut Rng) -> Vec<u8> {
        let mut v = b.to_vec();
        if let Some(i) = cc_index(b) {
            v[i] ^= 1;
        }
        v
    }

    fn off_by_one(b: &[u8], _: &mut Rng) -> Vec<u8> {
        let mut v = b.to_vec();
        if let Some(i) = cc_index(b) {
            // < <-> <=, > <-> >= (signed: L/LE, G/GE; unsigned: B/BE, A/AE).
            let cc = v[i] & 0xf;
            let to = match cc {
                0xc => 0xe,
                0xe => 0xc,
                0xf => 0xd,
                0xd => 0xf,
                0x2 => 0x6,
                0x6 => 0x2,
                0x7 => 0x3,
                0x3 => 0x7,
                other => other,
            };
            v[i] = (v[i] & 0xf0) | to;
        }
        v
    }

    /// The ModR/M byte of a one-byte-opcode instruction with optional REX.
    fn modrm_index(b: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < b.len() && (0x40..=0x4f).contains(&b[i]) || b.get(i) == Some(&0x66) {
            i += 1;
        }
        (i + 1 < b.len()).then_some(i + 1)
    }

    fn other_source(b: &[u8], rng: &mut Rng) -> Vec<u8> {
        let mut v = b.to_vec();
        if let Some(m) = modrm_index(b) {
            let reg = (v[m] >> 3) & 7;
            let to = (reg + 1 + rng.below(7) as u8) & 7;
            v[m] = (v[m] & !0x38) | (to << 3);
        }
        v
    }

    fn constant(b: &[u8], rng: &mut Rng) -> Vec<u8> {
        let mut v = b.to_vec();
        // The immediate is at the end of the instruction; flip a bit of its
        // last byte's low part (a changed constant, same length).
        if let Some(last) = v.last_mut() {
            *last ^= 1 << rng.below(4);
        }
        v
    }

    fn pointer(b: &[u8], _: &mut Rng) -> Vec<u8> {
        let mut v = b.to_vec();
        // disp8 after ModR/M (mod = 01, no SIB): add 8.
        if let Some(m) = modrm_index(b) {
            if v[m] >> 6 == 1 && v[m] & 7 != 4 {
                if let Some(d) = v.get_mut(m + 1) {
                    *d = d.wrapping_add(8);
                }
            }
        }
        v
    }

    fn is_jcc(i: &Instruction) -> bool {
        i.is_jcc_short_or_near()
    }

    pub fn candidates(code: &[u8], ip: u64, class: &str) -> Vec<(usize, usize, Rewrite)> {
        let mut d = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
        let mut out: Vec<(usize, usize, Rewrite)> = Vec::new();
        let mut i = Instruction::default();
        while d.can_decode() {
            let pos = d.position();
            d.decode_out(&mut i);
            if i.is_invalid() {
                break;
            }
            let len = i.len();
            let b = &code[pos..pos + len];
            let reg_reg_mov = i.mnemonic() == Mnemonic::Mov
                && i.op_count() == 2
                && i.op0_kind() == OpKind::Register
                && i.op1_kind() == OpKind::Register
                && matches!(
                    b.iter().find(|x| !(0x40..=0x4f).contains(*x)),
                    Some(0x89) | Some(0x8b)
                );
            let imm_mov = i.mnemonic() == Mnemonic::Mov
                && matches!(
                    i.op1_kind(),
                    OpKind::Immediate8
                        | OpKind::Immediate16
                        | OpKind::Immediate32
                        | OpKind::Immediate64
                        | OpKind::Immediate32to64
                );
            let has_imm = (0..i.op_count()).any(|k| {
                matches!(
                    i.op_kind(k),
                    OpKind::Immediate8
                        | OpKind::Immediate16
                        | OpKind::Immediate32
                        | OpKind::Immediate8to32
                        | OpKind::Immediate8to64
                        | OpKind::Immediate32to64
                )
            });
            let mem_disp8 = (0..i.op_count()).any(|k| i.op_kind(k) == OpKind::Memory)
                && i.memory_displ_size() == 1
                && i.memory_index() == iced_x86::Register::None;
            let pick: Option<Rewrite> = match class {
                "assignment" if reg_reg_mov => Some(other_source),
                "conditional" if is_jcc(&i) => Some(nops),
                "initialization" if imm_mov => Some(nops),
                "off-by-one"
                    if is_jcc(&i)
                        && matches!(
                            b.get(cc_index(b).unwrap_or(99)).map(|x| x & 0xf),
                            Some(0x2 | 0x3 | 0x6 | 0x7 | 0xc | 0xd | 0xe | 0xf)
                        ) =>
                {
                    Some(off_by_one)
                }
                "flip" if is_jcc(&i) => Some(flip),
                "skip" if !i.is_invalid() => Some(nops),
                "constant" if has_imm && !is_jcc(&i) => Some(constant),
                "pointer"
                    if mem_disp8
                        && modrm_index(b).is_some_and(|m| b[m] >> 6 == 1 && b[m] & 7 != 4) =>
                {
                    Some(pointer)
                }
                _ => None,
            };
            if let Some(f) = pick {
                out.push((pos, len, f));
            }
        }
        out
    }
}

mod a64 {
    use super::{Rewrite, Rng};

    const NOP: u32 = 0xd503_201f;

    fn word(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn set(w: u32) -> Vec<u8> {
        w.to_le_bytes().to_vec()
    }

    fn nop(_: &[u8], _: &mut Rng) -> Vec<u8> {
        set(NOP)
    }

    fn is_bcond(w: u32) -> bool {
        w & 0xff00_0010 == 0x5400_0000
    }

    fn is_cbz_tbz(w: u32) -> bool {
        w & 0x7e00_0000 == 0x3400_0000 || w & 0x7e00_0000 == 0x3600_0000
    }

    fn flip(b: &[u8], _: &mut Rng) -> Vec<u8> {
        let w = word(b);
        if is_bcond(w) {
            set(w ^ 1)
        } else {
            // CBZ <-> CBNZ, TBZ <-> TBNZ.
            set(w ^ (1 << 24))
        }
    }

    fn off_by_one(b: &[u8], _: &mut Rng) -> Vec<u8> {
        let w = word(b);
        let to = match w & 0xf {
            0xb => 0xd, // LT -> LE
            0xd => 0xb,
            0xc => 0xa, // GT -> GE
            0xa => 0xc,
            0x3 => 0x9, // LO -> LS
            0x9 => 0x3,
            0x8 => 0x2, // HI -> HS
            0x2 => 0x8,
            c => c,
        };
        set((w & !0xf) | to)
    }

    fn other_source(b: &[u8], rng: &mut Rng) -> Vec<u8> {
        // ORR Rd, ZR, Rm: Rm in bits 16..21.
        let w = word(b);
        let rm = (w >> 16) & 31;
        let to = (rm + 1 + rng.below(30) as u32) % 31;
        set((w & !(31 << 16)) | (to << 16))
    }

    fn constant(b: &[u8], rng: &mut Rng) -> Vec<u8> {
        let w = word(b);
        if w & 0x1f80_0000 == 0x1280_0000 {
            // MOVZ/MOVN/MOVK: flip a low bit of imm16 (bits 5..21).
            set(w ^ (1 << (5 + rng.below(4))))
        } else {
            // ADD/SUB immediate: imm12 (bits 10..22) +1.
            let imm = ((w >> 10) & 0xfff).wrapping_add(1) & 0xfff;
            set((w & !(0xfff << 10)) | (imm << 10))
        }
    }

    fn pointer(b: &[u8], _: &mut Rng) -> Vec<u8> {
        // LDR/STR (unsigned offset): imm12 (bits 10..22) +1 (one element on).
        let w = word(b);
        let imm = ((w >> 10) & 0xfff).wrapping_add(1) & 0xfff;
        set((w & !(0xfff << 10)) | (imm << 10))
    }

    pub fn candidates(code: &[u8], class: &str) -> Vec<(usize, usize, Rewrite)> {
        let mut out: Vec<(usize, usize, Rewrite)> = Vec::new();
        for (k, c) in code.chunks_exact(4).enumerate() {
            let w = word(c);
            let branch = is_bcond(w) || is_cbz_tbz(w);
            let mov_reg = w & 0x7fe0_ffe0 == 0x2a00_03e0;
            let mov_imm = w & 0x1f80_0000 == 0x1280_0000;
            let add_imm = w & 0x1f00_0000 == 0x1100_0000;
            let ldst = w & 0x3b00_0000 == 0x3900_0000;
            let pick: Option<Rewrite> = match class {
                "assignment" if mov_reg => Some(other_source),
                "conditional" if branch => Some(nop),
                "initialization" if mov_imm => Some(nop),
                "off-by-one"
                    if is_bcond(w)
                        && matches!(w & 0xf, 0x2 | 0x3 | 0x8 | 0x9 | 0xa | 0xb | 0xc | 0xd) =>
                {
                    Some(off_by_one)
                }
                "flip" if branch => Some(flip),
                "skip" if w != 0 && w != NOP => Some(nop),
                "constant" if mov_imm || add_imm => Some(constant),
                "pointer" if ldst => Some(pointer),
                _ => None,
            };
            if let Some(f) = pick {
                out.push((k * 4, 4, f));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_rewrites_keep_the_length_and_change_the_bytes() {
        // jl +5; mov eax, ecx; mov eax, 7; mov [rbp+0x10], eax
        let code = [
            0x7c, 0x05, 0x89, 0xc8, 0xb8, 0x07, 0x00, 0x00, 0x00, 0x89, 0x45, 0x10,
        ];
        let mut rng = Rng::new(1);
        for class in CLASSES {
            for (at, len, f) in x86::candidates(&code, 0x1000, class) {
                let b = &code[at..at + len];
                let a = f(b, &mut rng);
                assert_eq!(a.len(), len, "{class}");
                assert_ne!(a, b, "{class} at {at}");
            }
        }
        assert!(!x86::candidates(&code, 0, "off-by-one").is_empty());
        assert!(!x86::candidates(&code, 0, "assignment").is_empty());
        assert!(!x86::candidates(&code, 0, "initialization").is_empty());
        assert!(!x86::candidates(&code, 0, "pointer").is_empty());
    }

    #[test]
    fn a64_rewrites_are_the_documented_ones() {
        let mut rng = Rng::new(2);
        // b.lt; cbz x0; mov x1, x2; movz x0, #5; ldr x1, [x2, #8]
        let words: [u32; 5] = [
            0x5400_004b,
            0xb400_0040,
            0xaa02_03e1,
            0xd280_00a0,
            0xf940_0441,
        ];
        let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let f = |class| a64::candidates(&code, class);
        let lt = &f("off-by-one")[0];
        assert_eq!(word4(&(lt.2)(&code[0..4], &mut rng)) & 0xf, 0xd, "lt -> le");
        let cb = f("flip");
        assert!(cb.iter().any(|c| c.0 == 4));
        assert_eq!(f("assignment").len(), 1);
        assert_eq!(f("initialization")[0].0, 12);
        assert_eq!(f("pointer")[0].0, 16);
        let p = &f("pointer")[0];
        assert_eq!(
            word4(&(p.2)(&code[16..20], &mut rng)),
            0xf940_0841,
            "+1 element"
        );
    }

    fn word4(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}
