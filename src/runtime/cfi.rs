//! Async-signal-safe. Our own stack walk for the collector (x86_64): the
//! DWARF call frame information of `.eh_frame`, read through each module's
//! `.eh_frame_hdr` search table, stepped from the registers of the
//! interrupted context, with no allocation, no lock and no system call.
//!
//! Why not libgcc's `_Unwind_Backtrace`, which [`super::unwind`] calls:
//! in a dump of many threads, each thread walks its own stack, and libgcc
//! spends most of that time finding and decoding the same unwind
//! information again for every frame (`_Unwind_Find_FDE`, the CIE's
//! augmentation, the CFA program), after first walking through the
//! handler's own frames and the signal trampoline. Here the walk starts at
//! the interrupted instruction, and a frame costs a binary search and the
//! CFA program up to its address.
//!
//! It gives exactly libgcc's frames, or nothing: whatever this reader does
//! not handle makes [`walk_context`] return `None`, and the caller walks
//! with libgcc instead. That is:
//! - an address outside the module snapshot (JIT code, a library loaded
//!   later): libgcc may know frames registered at run time;
//! - a module without `.eh_frame_hdr`, or a search table not in the
//!   usual encoding;
//! - DWARF expressions (in the CFA or a register rule that is then
//!   needed), a signal frame (a trampoline's `S` augmentation, or the
//!   `rt_sigreturn` code itself), 64-bit DWARF lengths, unknown CFA
//!   instructions or augmentations.
//!
//! libgcc's rules that the frames follow: a frame's unwind row is the
//! one for its return address minus one (for the interrupted frame, the
//! instruction itself); the walk ends after a frame whose return address
//! is undefined (the thread's entry), or after a frame that no FDE covers;
//! registers without a rule keep their value; the caller's stack pointer
//! is the CFA.
//!
//! # Safety
//!
//! The unwind tables are read in the modules' mapped memory and the saved
//! registers on the thread's stack, with plain loads: the walk runs under
//! `guard::catching_faults` (as the libgcc walk does), so a stack or a
//! module that is not what it should be faults into the guard, not into a
//! crash. Table reads are also kept inside the module's mapped range.
#![allow(unsafe_code)]

use super::modules::{self, Unwind as Module};
use super::unwind::{Start, Taker, Walk};
use core::ffi::c_void;

/// DWARF register numbers of x86_64 (the psABI's): 0 to 15 the general
/// registers, 16 the return address.
const REGS: usize = 17;
const RSP: usize = 7;
const RA: usize = 16;
/// How deep `DW_CFA_remember_state` may nest.
const STATE_STACK: usize = 4;
/// How many CFA instructions one row may take, at most.
const MAX_OPS: usize = 4096;

/// A register's rule in an unwind row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Keeps its value (no rule, `same_value`, and `undefined` for any
    /// register but the return address, as libgcc treats them).
    Same,
    /// Undefined (for the return address: the end of the stack).
    Undefined,
    /// Saved at CFA + n.
    Offset(i32),
    /// Is CFA + n.
    ValOffset(i32),
    /// Is the value of register n.
    Register(u8),
    /// A DWARF expression: not ours to evaluate.
    Expression,
}

/// An unwind row: the CFA and every register's rule.
#[derive(Clone, Copy)]
struct Row {
    /// CFA = register + offset; `None`: an expression.
    cfa: Option<(u8, i64)>,
    regs: [Rule; REGS],
}

impl Row {
    const EMPTY: Row = Row {
        cfa: Some((RSP as u8, 8)),
        regs: [Rule::Same; REGS],
    };
}

/// Why a walk gave up: the caller uses libgcc instead.
struct Unsupported;

/// Reads of module memory from `pos`, kept below `end` (and, from
/// [`cursor`], at or above the module's start).
#[derive(Clone, Copy)]
struct Cursor {
    pos: usize,
    end: usize,
}

impl Cursor {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Unsupported> {
        let at = self.pos;
        let next = at.checked_add(N).ok_or(Unsupported)?;
        if next > self.end {
            return Err(Unsupported);
        }
        // SAFETY: inside the module's mapped range (checked above); a
        // torn-down mapping faults into the walk's guard (module docs).
        let v = unsafe { core::ptr::read_unaligned(at as *const [u8; N]) };
        self.pos = next;
        Ok(v)
    }
    fn u8(&mut self) -> Result<u8, Unsupported> {
        Ok(self.bytes::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, Unsupported> {
        Ok(u16::from_le_bytes(self.bytes()?))
    }
    fn u32(&mut self) -> Result<u32, Unsupported> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, Unsupported> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn uleb(&mut self) -> Result<u64, Unsupported> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            if shift > 70 {
                return Err(Unsupported);
            }
        }
    }
    fn sleb(&mut self) -> Result<i64, Unsupported> {
        let mut v = 0i64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
            if shift > 70 {
                return Err(Unsupported);
            }
        }
    }
    /// A pointer in `DW_EH_PE_*` encoding `enc`; `datarel` is the base of
    /// data-relative values (the `.eh_frame_hdr`), 0 where none is.
    fn pointer(&mut self, enc: u8, datarel: usize) -> Result<usize, Unsupported> {
        if enc == 0xff {
            return Err(Unsupported);
        }
        let at = self.pos;
        let raw = match enc & 0x0f {
            0x00 => self.u64()?,
            0x01 => self.uleb()?,
            0x02 => u64::from(self.u16()?),
            0x03 => u64::from(self.u32()?),
            0x04 => self.u64()?,
            0x09 => self.sleb()? as u64,
            0x0a => i64::from(self.u16()? as i16) as u64,
            0x0b => i64::from(self.u32()? as i32) as u64,
            0x0c => self.u64()?,
            _ => return Err(Unsupported),
        };
        let base = match enc & 0x70 {
            0x00 => 0,
            0x10 => at as u64,
            0x30 if datarel != 0 => datarel as u64,
            _ => return Err(Unsupported),
        };
        if enc & 0x80 != 0 {
            // Indirect: not in unwind tables we read.
            return Err(Unsupported);
        }
        Ok(base.wrapping_add(raw) as usize)
    }
}

/// What a CIE says.
struct Cie {
    code_align: u64,
    data_align: i64,
    fde_enc: u8,
    has_aug_data: bool,
    instructions: Cursor,
}

/// An FDE found for an address: its CIE, where its code starts, and its
/// instructions.
struct Fde {
    cie: Cie,
    pc_begin: usize,
    instructions: Cursor,
}

/// The module's memory as a cursor at `at`.
fn cursor(m: &Module, at: usize) -> Cursor {
    Cursor {
        pos: at,
        end: m.end,
    }
    .clamp(m.start)
}

impl Cursor {
    fn clamp(self, lo: usize) -> Cursor {
        if self.pos < lo || self.pos > self.end {
            Cursor {
                pos: self.end,
                end: self.end,
            }
        } else {
            self
        }
    }
}

fn parse_cie(m: &Module, at: usize) -> Result<Cie, Unsupported> {
    let mut c = cursor(m, at);
    let len = c.u32()?;
    if len == 0 || len == u32::MAX {
        return Err(Unsupported);
    }
    let end = at + 4 + len as usize;
    if end > m.end {
        return Err(Unsupported);
    }
    c.end = end;
    if c.u32()? != 0 {
        return Err(Unsupported);
    }
    let version = c.u8()?;
    if version != 1 && version != 3 {
        return Err(Unsupported);
    }
    let mut aug = [0u8; 8];
    let mut n = 0;
    loop {
        let b = c.u8()?;
        if b == 0 {
            break;
        }
        *aug.get_mut(n).ok_or(Unsupported)? = b;
        n += 1;
    }
    let aug = aug.get(..n).unwrap_or(&[]);
    let code_align = c.uleb()?;
    let data_align = c.sleb()?;
    let ra = if version == 1 {
        u64::from(c.u8()?)
    } else {
        c.uleb()?
    };
    if ra != RA as u64 {
        return Err(Unsupported);
    }
    let mut fde_enc = 0u8;
    let has_aug_data = aug.first() == Some(&b'z');
    if has_aug_data {
        let len = c.uleb()? as usize;
        let data_end = c.pos.checked_add(len).ok_or(Unsupported)?;
        for &ch in aug.get(1..).unwrap_or(&[]) {
            match ch {
                b'R' => fde_enc = c.u8()?,
                b'L' => {
                    c.u8()?;
                }
                b'P' => {
                    let enc = c.u8()?;
                    // The personality routine's address: skipped (its
                    // encoding may be indirect, which is fine to skip).
                    c.pointer(enc & 0x7f, 0)?;
                }
                // A signal frame (a trampoline): libgcc's to step.
                _ => return Err(Unsupported),
            }
        }
        if data_end > c.end {
            return Err(Unsupported);
        }
        c.pos = data_end;
    } else if !aug.is_empty() {
        return Err(Unsupported);
    }
    Ok(Cie {
        code_align,
        data_align,
        fde_enc,
        has_aug_data,
        instructions: c,
    })
}

/// The FDE that covers `pc` in module `m`: `Ok(None)` when there is
/// none (libgcc ends the walk there).
fn find_fde(m: &Module, pc: usize) -> Result<Option<Fde>, Unsupported> {
    let hdr = m.eh_frame_hdr;
    if hdr == 0 {
        return Err(Unsupported);
    }
    let mut c = cursor(m, hdr);
    let version = c.u8()?;
    let frame_ptr_enc = c.u8()?;
    let count_enc = c.u8()?;
    let table_enc = c.u8()?;
    if version != 1 || table_enc != 0x3b {
        return Err(Unsupported);
    }
    c.pointer(frame_ptr_enc, hdr)?;
    let count = c.pointer(count_enc, hdr)?;
    let table = c.pos;
    let entry = |i: usize| -> Result<(usize, usize), Unsupported> {
        let mut e = cursor(m, table + i * 8);
        let loc = hdr.wrapping_add(e.u32()? as i32 as isize as usize);
        let fde = hdr.wrapping_add(e.u32()? as i32 as isize as usize);
        Ok((loc, fde))
    };
    // The last entry whose start is at most `pc`.
    let (mut lo, mut hi) = (0usize, count);
    if count == 0 || count > m.end.saturating_sub(table) / 8 {
        return Err(Unsupported);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if entry(mid)?.0 <= pc {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (loc, fde_at) = entry(lo)?;
    if loc > pc {
        return Ok(None);
    }
    let mut f = cursor(m, fde_at);
    let len = f.u32()?;
    if len == 0 || len == u32::MAX {
        return Err(Unsupported);
    }
    let end = fde_at + 4 + len as usize;
    if end > m.end {
        return Err(Unsupported);
    }
    f.end = end;
    let cie_field = f.pos;
    let cie_off = f.u32()? as usize;
    if cie_off == 0 || cie_off > cie_field {
        return Err(Unsupported);
    }
    let cie = parse_cie(m, cie_field - cie_off)?;
    let pc_begin = f.pointer(cie.fde_enc, 0)?;
    let pc_range = f.pointer(cie.fde_enc & 0x0f, 0)?;
    if pc < pc_begin || pc - pc_begin >= pc_range {
        return Ok(None);
    }
    if cie.has_aug_data {
        let n = f.uleb()? as usize;
        f.pos = f
            .pos
            .checked_add(n)
            .filter(|&p| p <= f.end)
            .ok_or(Unsupported)?;
    }
    Ok(Some(Fde {
        cie,
        pc_begin,
        instructions: f,
    }))
}

/// Run CFA instructions from `c` into `row` while the location is below
/// `target`; `initial` is the CIE's row (for `DW_CFA_restore`).
fn execute(
    mut c: Cursor,
    cie: &Cie,
    mut loc: usize,
    target: usize,
    row: &mut Row,
    initial: &Row,
) -> Result<(), Unsupported> {
    let mut stack = [Row::EMPTY; STATE_STACK];
    let mut depth = 0usize;
    let da = cie.data_align;
    let ca = cie.code_align;
    let set = |row: &mut Row, reg: u64, rule: Rule| {
        // Rules for registers past the return address (vector registers)
        // never matter to the walk.
        if let Some(r) = row.regs.get_mut(reg as usize) {
            *r = rule;
        }
    };
    let mut ops = 0usize;
    while c.pos < c.end && loc < target {
        ops += 1;
        if ops > MAX_OPS {
            return Err(Unsupported);
        }
        let op = c.u8()?;
        let low = u64::from(op & 0x3f);
        match op >> 6 {
            1 => {
                loc = loc.wrapping_add(low.wrapping_mul(ca) as usize);
                continue;
            }
            2 => {
                let off = (c.uleb()? as i64).wrapping_mul(da);
                set(row, low, Rule::Offset(narrow(off)?));
                continue;
            }
            3 => {
                let r = initial
                    .regs
                    .get(low as usize)
                    .copied()
                    .unwrap_or(Rule::Same);
                set(row, low, r);
                continue;
            }
            _ => {}
        }
        match op {
            0x00 => {}
            0x01 => loc = c.pointer(cie.fde_enc, 0)?,
            0x02 => loc = loc.wrapping_add(u64::from(c.u8()?).wrapping_mul(ca) as usize),
            0x03 => loc = loc.wrapping_add(u64::from(c.u16()?).wrapping_mul(ca) as usize),
            0x04 => loc = loc.wrapping_add(u64::from(c.u32()?).wrapping_mul(ca) as usize),
            0x05 => {
                let reg = c.uleb()?;
                let off = (c.uleb()? as i64).wrapping_mul(da);
                set(row, reg, Rule::Offset(narrow(off)?));
            }
            0x06 => {
                let reg = c.uleb()?;
                let r = initial
                    .regs
                    .get(reg as usize)
                    .copied()
                    .unwrap_or(Rule::Same);
                set(row, reg, r);
            }
            0x07 => {
                let reg = c.uleb()?;
                set(row, reg, Rule::Undefined);
            }
            0x08 => {
                let reg = c.uleb()?;
                set(row, reg, Rule::Same);
            }
            0x09 => {
                let reg = c.uleb()?;
                let from = c.uleb()?;
                let rule = if from < REGS as u64 {
                    Rule::Register(from as u8)
                } else {
                    Rule::Expression
                };
                set(row, reg, rule);
            }
            0x0a => {
                *stack.get_mut(depth).ok_or(Unsupported)? = *row;
                depth += 1;
            }
            0x0b => {
                depth = depth.checked_sub(1).ok_or(Unsupported)?;
                *row = *stack.get(depth).ok_or(Unsupported)?;
            }
            0x0c => {
                let reg = c.uleb()?;
                let off = c.uleb()? as i64;
                row.cfa = Some((reg_u8(reg)?, off));
            }
            0x0d => {
                let reg = reg_u8(c.uleb()?)?;
                let (_, off) = row.cfa.ok_or(Unsupported)?;
                row.cfa = Some((reg, off));
            }
            0x0e => {
                let off = c.uleb()? as i64;
                let (reg, _) = row.cfa.ok_or(Unsupported)?;
                row.cfa = Some((reg, off));
            }
            0x0f => {
                skip_block(&mut c)?;
                row.cfa = None;
            }
            0x10 | 0x16 => {
                let reg = c.uleb()?;
                skip_block(&mut c)?;
                set(row, reg, Rule::Expression);
            }
            0x11 => {
                let reg = c.uleb()?;
                let off = c.sleb()?.wrapping_mul(da);
                set(row, reg, Rule::Offset(narrow(off)?));
            }
            0x12 => {
                let reg = c.uleb()?;
                let off = c.sleb()?.wrapping_mul(da);
                row.cfa = Some((reg_u8(reg)?, off));
            }
            0x13 => {
                let off = c.sleb()?.wrapping_mul(da);
                let (reg, _) = row.cfa.ok_or(Unsupported)?;
                row.cfa = Some((reg, off));
            }
            0x14 => {
                let reg = c.uleb()?;
                let off = (c.uleb()? as i64).wrapping_mul(da);
                set(row, reg, Rule::ValOffset(narrow(off)?));
            }
            0x15 => {
                let reg = c.uleb()?;
                let off = c.sleb()?.wrapping_mul(da);
                set(row, reg, Rule::ValOffset(narrow(off)?));
            }
            0x2e => {
                c.uleb()?;
            }
            0x2f => {
                let reg = c.uleb()?;
                let off = (c.uleb()? as i64).wrapping_mul(da).wrapping_neg();
                set(row, reg, Rule::Offset(narrow(off)?));
            }
            _ => return Err(Unsupported),
        }
    }
    Ok(())
}

/// A register's offset from the CFA, as rows keep it (32 bits: any
/// other is not a real frame's).
fn narrow(off: i64) -> Result<i32, Unsupported> {
    i32::try_from(off).map_err(|_| Unsupported)
}

/// A CFA base register: one of the general registers.
fn reg_u8(reg: u64) -> Result<u8, Unsupported> {
    if reg < RA as u64 {
        Ok(reg as u8)
    } else {
        Err(Unsupported)
    }
}

fn skip_block(c: &mut Cursor) -> Result<(), Unsupported> {
    let n = c.uleb()? as usize;
    c.pos = c
        .pos
        .checked_add(n)
        .filter(|&p| p <= c.end)
        .ok_or(Unsupported)?;
    Ok(())
}

/// The registers of one frame; `known` has bit n set when register n's
/// value is known.
#[derive(Clone, Copy)]
struct Regs {
    v: [usize; REGS],
    known: u32,
}

impl Regs {
    fn get(&self, r: usize) -> Result<usize, Unsupported> {
        if self.known & (1 << r) == 0 {
            return Err(Unsupported);
        }
        self.v.get(r).copied().ok_or(Unsupported)
    }
}

/// Read a saved register at `addr` on the stack.
fn load(addr: usize) -> Result<usize, Unsupported> {
    if addr == 0 || !addr.is_multiple_of(8) {
        return Err(Unsupported);
    }
    // SAFETY: a stack slot the unwind row names; a stack that is not what
    // it says faults into the walk's guard (see the module's Safety).
    Ok(unsafe { core::ptr::read_volatile(addr as *const usize) })
}

/// Rows already decoded in this collection, shared by its threads (in a
/// dump of many threads, most stop at the same few addresses): a row
/// whose rules are all "same", "saved at CFA + 8n" or "undefined return
/// address" is kept, keyed by its lookup address and the collection's
/// number, so that a library unloaded and another loaded at its address
/// between two dumps never gets the old rows.
mod cache {
    use core::sync::atomic::{fence, AtomicU64, Ordering};

    /// Saved registers a cached row holds at most.
    pub(super) const SAVED: usize = 8;

    /// A decoded row: CFA = register + offset, then up to [`SAVED`]
    /// registers saved at CFA + 8n, and whether the return address is
    /// undefined.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(super) struct Compact {
        pub cfa_reg: u8,
        pub cfa_off: i32,
        pub ra_undefined: bool,
        /// (register, n): saved at CFA + 8n; register 0xff: none.
        pub saved: [(u8, i8); SAVED],
    }

    struct Entry {
        /// Even: stable; odd: being written.
        seq: AtomicU64,
        key: AtomicU64,
        gen: AtomicU64,
        head: AtomicU64,
        saved: AtomicU64,
        saved2: AtomicU64,
    }

    const SLOTS: usize = 1024;
    const PROBES: usize = 4;
    static TABLE: [Entry; SLOTS] = [const {
        Entry {
            seq: AtomicU64::new(0),
            key: AtomicU64::new(0),
            gen: AtomicU64::new(0),
            head: AtomicU64::new(0),
            saved: AtomicU64::new(0),
            saved2: AtomicU64::new(0),
        }
    }; SLOTS];

    /// Make the table's pages present and writable now (see
    /// `sys::populate_write`): a collection's first writes would otherwise
    /// each take a fault and a TLB flush on every CPU the process runs on.
    ///
    /// # Safety
    ///
    /// No collection runs meanwhile (the caller holds the reporter claim):
    /// nothing else writes the table.
    pub(super) unsafe fn prefault() {
        let at = core::ptr::addr_of!(TABLE) as usize;
        // SAFETY: our own static, which nothing else writes meanwhile (the
        // caller's contract).
        unsafe { crate::runtime::sys::populate_write(at, core::mem::size_of_val(&TABLE)) };
    }

    fn slot(key: usize, probe: usize) -> &'static Entry {
        let h = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52;
        let i = (h as usize + probe) % SLOTS;
        // `i` is below SLOTS.
        TABLE.get(i).unwrap_or(&TABLE[0])
    }

    fn pack(c: &Compact) -> (u64, u64, u64) {
        let head = u64::from(c.cfa_reg)
            | (u64::from(c.cfa_off as u32) << 8)
            | (u64::from(c.ra_undefined) << 40)
            | (1 << 41);
        let mut w = [0u64; 2];
        for (i, &(r, n)) in c.saved.iter().enumerate() {
            let pair = u64::from(r) | (u64::from(n as u8) << 8);
            if let Some(x) = w.get_mut(i / 4) {
                *x |= pair << ((i % 4) * 16);
            }
        }
        (head, w[0], w[1])
    }

    fn unpack(head: u64, w0: u64, w1: u64) -> Option<Compact> {
        if head & (1 << 41) == 0 {
            return None;
        }
        let mut saved = [(0xff, 0); SAVED];
        for (i, s) in saved.iter_mut().enumerate() {
            let w = if i < 4 { w0 } else { w1 };
            let pair = (w >> ((i % 4) * 16)) & 0xffff;
            *s = (pair as u8, (pair >> 8) as u8 as i8);
        }
        Some(Compact {
            cfa_reg: head as u8,
            cfa_off: (head >> 8) as u32 as i32,
            ra_undefined: head & (1 << 40) != 0,
            saved,
        })
    }

    /// The row cached for `key` in collection `gen`.
    pub(super) fn get(key: usize, gen: u64) -> Option<Compact> {
        for probe in 0..PROBES {
            let e = slot(key, probe);
            let s1 = e.seq.load(Ordering::Acquire);
            if s1 & 1 != 0 {
                continue;
            }
            let (k, g) = (e.key.load(Ordering::Relaxed), e.gen.load(Ordering::Relaxed));
            let (h, w0, w1) = (
                e.head.load(Ordering::Relaxed),
                e.saved.load(Ordering::Relaxed),
                e.saved2.load(Ordering::Relaxed),
            );
            fence(Ordering::Acquire);
            if e.seq.load(Ordering::Relaxed) != s1 {
                continue;
            }
            if k == key as u64 && g == gen {
                return unpack(h, w0, w1);
            }
        }
        None
    }

    /// Keep `row` for `key` in collection `gen`, in a slot that is free
    /// or holds an older collection's row (else not at all).
    pub(super) fn put(key: usize, gen: u64, row: &Compact) {
        let (h, w0, w1) = pack(row);
        for probe in 0..PROBES {
            let e = slot(key, probe);
            let s = e.seq.load(Ordering::Acquire);
            if s & 1 != 0 {
                continue;
            }
            let taken = e.gen.load(Ordering::Relaxed) == gen && e.head.load(Ordering::Relaxed) != 0;
            if taken {
                continue;
            }
            if e.seq
                .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            fence(Ordering::Release);
            e.key.store(key as u64, Ordering::Relaxed);
            e.gen.store(gen, Ordering::Relaxed);
            e.head.store(h, Ordering::Relaxed);
            e.saved.store(w0, Ordering::Relaxed);
            e.saved2.store(w1, Ordering::Relaxed);
            e.seq.store(s + 2, Ordering::Release);
            return;
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn packs_and_unpacks() {
            let mut saved = [(0xff, 0); SAVED];
            saved[0] = (16, -1);
            saved[1] = (6, -2);
            saved[7] = (15, 127);
            let c = Compact {
                cfa_reg: 6,
                cfa_off: -16,
                ra_undefined: true,
                saved,
            };
            let (h, a, b) = pack(&c);
            assert_eq!(unpack(h, a, b), Some(c));
            put(0x1234, 7, &c);
            assert_eq!(get(0x1234, 7), Some(c));
            assert_eq!(get(0x1234, 8), None, "another collection's row");
            assert_eq!(get(0x1235, 7), None);
        }
    }
}

/// Fault the row cache in, writable (the warm-up does, once).
///
/// # Safety
///
/// No collection runs meanwhile: the caller holds the reporter claim.
pub(crate) unsafe fn prefault_cache() {
    // SAFETY: the caller's contract is `prefault`'s.
    unsafe { cache::prefault() }
}

/// The row of `row` in cache form, when it has one.
fn compact(row: &Row) -> Option<cache::Compact> {
    let (cfa_reg, cfa_off) = row.cfa?;
    let mut c = cache::Compact {
        cfa_reg,
        cfa_off: i32::try_from(cfa_off).ok()?,
        ra_undefined: false,
        saved: [(0xff, 0); cache::SAVED],
    };
    let mut n = 0;
    for (r, rule) in row.regs.iter().enumerate() {
        match *rule {
            Rule::Same => {}
            Rule::Undefined if r == RA => c.ra_undefined = true,
            Rule::Undefined => {}
            Rule::Offset(o) if o % 8 == 0 => {
                let slot = c.saved.get_mut(n)?;
                *slot = (r as u8, i8::try_from(o / 8).ok()?);
                n += 1;
            }
            _ => return None,
        }
    }
    Some(c)
}

/// One step with a cached row (see [`step`]).
fn step_compact(regs: &mut Regs, c: &cache::Compact) -> Result<Step, Unsupported> {
    let cfa = (regs.get(c.cfa_reg as usize)? as i64).wrapping_add(i64::from(c.cfa_off)) as usize;
    regs.v[RSP] = cfa;
    regs.known |= 1 << RSP;
    for &(r, n) in c.saved.iter().take_while(|s| s.0 != 0xff) {
        let v = load((cfa as i64).wrapping_add(i64::from(n) * 8) as usize)?;
        let slot = regs.v.get_mut(r as usize).ok_or(Unsupported)?;
        *slot = v;
        regs.known |= 1 << r;
    }
    if c.ra_undefined {
        return Ok(Step::End);
    }
    Ok(Step::Caller(cfa))
}

/// What one step found.
enum Step {
    /// The registers are the caller's now (its IP is the return address);
    /// this is the frame's CFA.
    Caller(usize),
    /// This was the last frame.
    End,
}

/// One step from the frame with registers `regs`, whose row is looked up
/// at `lookup` (the instruction, or the return address minus one) and
/// covers locations up to `target` (exclusive): `regs` become the
/// caller's. (After an error they are half done; the walk is dropped.)
fn step(regs: &mut Regs, lookup: usize, target: usize, gen: u64) -> Result<Step, Unsupported> {
    if let Some(c) = cache::get(lookup, gen) {
        return step_compact(regs, &c);
    }
    let m = modules::unwind_info(lookup).ok_or(Unsupported)?;
    let Some(fde) = find_fde(m, lookup)? else {
        // libgcc looks for the trampoline at the frame's IP.
        if is_sigreturn(m, regs.v[RA]) {
            return Err(Unsupported);
        }
        return Ok(Step::End);
    };
    let mut initial = Row::EMPTY;
    execute(
        fde.cie.instructions,
        &fde.cie,
        fde.pc_begin,
        usize::MAX,
        &mut initial,
        &Row::EMPTY,
    )?;
    let mut row = initial;
    execute(
        fde.instructions,
        &fde.cie,
        fde.pc_begin,
        target,
        &mut row,
        &initial,
    )?;
    if let Some(c) = compact(&row) {
        cache::put(lookup, gen, &c);
        return step_compact(regs, &c);
    }
    let (cfa_reg, cfa_off) = row.cfa.ok_or(Unsupported)?;
    let cfa = (regs.get(cfa_reg as usize)? as i64).wrapping_add(cfa_off) as usize;
    // "Is register n" rules read the callee's values.
    let old = *regs;
    let next = regs;
    next.v[RSP] = cfa;
    next.known |= 1 << RSP;
    for (r, rule) in row.regs.iter().enumerate() {
        let bit = 1u32 << r;
        match *rule {
            Rule::Same => {}
            Rule::Undefined if r == RA => return Ok(Step::End),
            Rule::Undefined => {}
            Rule::Offset(o) => {
                next.v[r] = load((cfa as i64).wrapping_add(i64::from(o)) as usize)?;
                next.known |= bit;
            }
            Rule::ValOffset(o) => {
                next.v[r] = (cfa as i64).wrapping_add(i64::from(o)) as usize;
                next.known |= bit;
            }
            Rule::Register(from) => match old.get(from as usize) {
                Ok(v) => {
                    next.v[r] = v;
                    next.known |= bit;
                }
                Err(_) => next.known &= !bit,
            },
            // Not evaluated: the register's value is unknown from here
            // on (a later frame that needs it gives up).
            Rule::Expression => next.known &= !bit,
        }
    }
    Ok(Step::Caller(cfa))
}

/// Whether `pc` is at the kernel's `rt_sigreturn` code (`mov $15, %rax;
/// syscall`), which libgcc recognises as a signal frame.
fn is_sigreturn(m: &Module, pc: usize) -> bool {
    const CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
    let mut c = cursor(m, pc);
    c.bytes::<9>().is_ok_and(|b| b == CODE)
}

/// The registers of the interrupted context `uc`.
fn context_regs(uc: *mut c_void) -> Regs {
    // SAFETY: the kernel's ucontext for the signal being handled.
    let g = unsafe { &(*uc.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    // The psABI's DWARF order: rax, rdx, rcx, rbx, rsi, rdi, rbp, rsp,
    // r8-r15, then the return address column (the IP).
    let order = [
        libc::REG_RAX,
        libc::REG_RDX,
        libc::REG_RCX,
        libc::REG_RBX,
        libc::REG_RSI,
        libc::REG_RDI,
        libc::REG_RBP,
        libc::REG_RSP,
        libc::REG_R8,
        libc::REG_R9,
        libc::REG_R10,
        libc::REG_R11,
        libc::REG_R12,
        libc::REG_R13,
        libc::REG_R14,
        libc::REG_R15,
        libc::REG_RIP,
    ];
    let mut v = [0usize; REGS];
    for (slot, r) in v.iter_mut().zip(order) {
        *slot = g.get(r as usize).copied().unwrap_or(0) as usize;
    }
    Regs {
        v,
        known: (1 << REGS) - 1,
    }
}

/// Walk the stack of the context `uc` (this thread's, interrupted by the
/// signal being handled) into `out`, from its instruction on: the frames
/// libgcc's walk from inside the handler keeps, or `None` when this
/// reader cannot vouch for them (then walk with libgcc). `collection`
/// numbers the collection this walk is part of: rows decoded for one are
/// shared by its threads (see `cache`).
///
/// Run it under `guard::catching_faults`.
pub(crate) fn walk_context(uc: *mut c_void, out: &mut [usize], collection: u64) -> Option<Walk> {
    if uc.is_null() {
        return None;
    }
    let mut regs = context_regs(uc);
    let pc = regs.v[RA];
    let mut taker = Taker::new(Start::Pc(pc), out);
    // The interrupted frame: its own instruction's row; its CFA as libgcc
    // reports it is the stack pointer.
    let mut lookup = pc;
    let mut target = pc.wrapping_add(1);
    let mut cfa = regs.v[RSP];
    loop {
        if !taker.take(regs.v[RA], cfa) {
            break;
        }
        match step(&mut regs, lookup, target, collection).ok()? {
            Step::End => break,
            Step::Caller(frame_cfa) => {
                cfa = frame_cfa;
                let ra = regs.get(RA).ok()?;
                lookup = ra.wrapping_sub(1);
                target = ra;
            }
        }
    }
    Some(taker.finish())
}

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod tests {
    use super::*;
    use crate::runtime::unwind;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const N: usize = 128;
    static OURS: [AtomicUsize; N] = [const { AtomicUsize::new(0) }; N];
    static THEIRS: [AtomicUsize; N] = [const { AtomicUsize::new(0) }; N];
    /// Ours: stored, total, cut, bottom, 1 when it walked at all; then
    /// libgcc's stored, total, cut, bottom.
    static COUNTS: [AtomicUsize; 9] = [const { AtomicUsize::new(0) }; 9];
    static DONE: AtomicBool = AtomicBool::new(false);
    /// Walks so far: two walks share a collection number, so that the
    /// second one steps through the rows the first one cached.
    static ROUND: AtomicUsize = AtomicUsize::new(1 << 20);

    /// Both walks of the interrupted context, into the statics.
    extern "C" fn both(_: i32, _: *mut libc::siginfo_t, uc: *mut c_void) {
        let mut a = [0usize; N];
        let mut b = [0usize; N];
        let ours = walk_context(
            uc,
            &mut a,
            (ROUND.fetch_add(1, Ordering::Relaxed) / 2) as u64,
        );
        // SAFETY: the kernel's ucontext.
        let pc =
            unsafe { (*uc.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RIP as usize] }
                as usize;
        // SAFETY: walking this thread's own stack from its handler.
        let theirs = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, &mut b) };
        for i in 0..N {
            OURS[i].store(a[i], Ordering::Relaxed);
            THEIRS[i].store(b[i], Ordering::Relaxed);
        }
        let w = ours.unwrap_or_default();
        let vals = [
            w.stored,
            w.total,
            usize::from(w.cut),
            w.bottom,
            usize::from(ours.is_some()),
            theirs.stored,
            theirs.total,
            usize::from(theirs.cut),
            theirs.bottom,
        ];
        for (c, v) in COUNTS.iter().zip(vals) {
            c.store(v, Ordering::Relaxed);
        }
        DONE.store(true, Ordering::Release);
    }

    /// Signal `tid`, wait for its answer, and compare: `Some(true)` when
    /// both walks agree, `Some(false)` when ours gave up, and a panic
    /// when they differ.
    fn compare(sig: i32, tid: i32, what: &str) -> bool {
        DONE.store(false, Ordering::Release);
        // SAFETY: a signal to a thread of ours, whose handler is `both`.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) };
        assert_eq!(rc, 0);
        let t = Instant::now();
        while !DONE.load(Ordering::Acquire) {
            assert!(t.elapsed() < Duration::from_secs(10), "{what}: no answer");
            std::thread::yield_now();
        }
        let c: Vec<usize> = COUNTS.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        if c[4] == 0 {
            return false;
        }
        let ours: Vec<usize> = OURS[..c[0]]
            .iter()
            .map(|v| v.load(Ordering::Relaxed))
            .collect();
        let theirs: Vec<usize> = THEIRS[..c[5]]
            .iter()
            .map(|v| v.load(Ordering::Relaxed))
            .collect();
        assert_eq!(
            (&ours, &c[..4]),
            (&theirs, &c[5..]),
            "{what}: our walk (frames, then stored/total/cut/bottom) differs from libgcc's"
        );
        assert!(c[1] >= 3, "{what}: only {} frames", c[1]);
        true
    }

    #[inline(never)]
    fn busy(depth: u32, x: u64) -> u64 {
        let mut v = x;
        for i in 0..50u64 {
            v = v.rotate_left(5) ^ i.wrapping_mul(0x9e37_79b9);
        }
        let r = if depth == 0 {
            v
        } else if depth.is_multiple_of(3) {
            busy(depth - 1, v).wrapping_add(1)
        } else {
            std::hint::black_box(busy_other(depth - 1, v))
        };
        std::hint::black_box(r)
    }

    #[inline(never)]
    fn busy_other(depth: u32, x: u64) -> u64 {
        let buf = std::hint::black_box([x; 8]);
        busy(depth, buf[3] ^ buf[5]).wrapping_mul(3)
    }

    /// Our walk from a signal's context gives libgcc's frames exactly, for
    /// threads parked in a futex, sleeping, blocked in `read`, and
    /// computing (interrupted anywhere, prologues and epilogues included),
    /// and gives up rather than differ.
    #[test]
    fn walks_like_libgcc() {
        crate::indexer::modules::snapshot();
        let sig = libc::SIGRTMAX() - 2;
        // SAFETY: installing a handler for a real-time signal no other test
        // uses.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = both as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            assert_eq!(libc::sigaction(sig, &sa, core::ptr::null_mut()), 0);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tids = Vec::new();
        let mut handles = Vec::new();
        let (tx, rx) = std::sync::mpsc::channel::<(i32, &'static str)>();
        let mut pipe = [0i32; 2];
        // SAFETY: a fresh pipe.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        for kind in ["parked", "sleeping", "reading", "computing"] {
            let (tx, stop) = (tx.clone(), stop.clone());
            let rd = pipe[0];
            handles.push(std::thread::spawn(move || {
                // SAFETY: gettid takes nothing.
                let tid = unsafe { libc::gettid() };
                tx.send((tid, kind)).unwrap();
                while !stop.load(Ordering::Acquire) {
                    match kind {
                        "parked" => std::thread::park_timeout(Duration::from_millis(50)),
                        "sleeping" => std::thread::sleep(Duration::from_millis(50)),
                        "reading" => {
                            let mut b = [0u8; 1];
                            // SAFETY: reading into our buffer.
                            unsafe { libc::read(rd, b.as_mut_ptr().cast(), 1) };
                        }
                        _ => {
                            std::hint::black_box(busy(40, 7));
                        }
                    }
                }
            }));
        }
        for _ in 0..4 {
            tids.push(rx.recv().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
        for &(tid, kind) in &tids {
            let rounds = if kind == "computing" { 400 } else { 20 };
            let agreed = (0..rounds).filter(|_| compare(sig, tid, kind)).count();
            // Ours may give up now and then (a frame in a PLT stub, whose
            // CFA is an expression), never often.
            assert!(
                agreed * 10 >= rounds * 9,
                "{kind}: ours walked {agreed} of {rounds}"
            );
        }
        stop.store(true, Ordering::Release);
        // SAFETY: our pipe's write end: wakes the reader.
        unsafe { libc::write(pipe[1], b"x".as_ptr().cast(), 1) };
        for h in handles {
            h.thread().unpark();
            h.join().unwrap();
        }
        // SAFETY: our pipe's ends.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
    }
}
