//! A malloc-free DWARF reader for the `fh-symbols` thread: compilation
//! units, their DIEs and attributes, address ranges, and line programs,
//! read in place from the sections' bytes. It gives what the line-table
//! builder needs, and what gimli's `Dwarf` would give it (the tests
//! compare the two), without gimli's allocations (abbreviation tables,
//! line program headers), which would give the thread a malloc arena.
//!
//! - Units: compile and partial units of `.debug_info`, DWARF 2 to 5,
//!   32- and 64-bit DWARF. Type, skeleton and split units are skipped;
//!   `.debug_types`, split DWARF and supplementary files are not read.
//! - Nothing here panics on any input: every read is checked, every loop
//!   consumes input or is bounded. What cannot be parsed gives `None` (a
//!   unit is skipped, an iteration ends).
//! - The only memory is the decoded abbreviation table ([`Abbrevs`]) and
//!   the line programs' file lists, in [`MapVec`]s the caller reuses.
//! - Speed: each unit's abbreviations are decoded once, with how each
//!   value is skipped; a DIE whose attributes all have fixed sizes is
//!   skipped with one addition (as gimli does).
//!
//! Not supported: `DW_LNE_define_file` (the file is not added; no
//! compiler emits it today), and duplicate checks among sparse
//! abbreviation codes (the first declaration wins).

use crate::indexer::mem::MapVec;

/// The DWARF constants this reader uses (the values of the standard, as
/// gimli's `constants` has them; a test checks they agree).
pub(crate) mod dw {
    /// Tags.
    // The tests build units of these.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const TAG_COMPILE_UNIT: u16 = 0x11;
    pub(crate) const TAG_INLINED_SUBROUTINE: u16 = 0x1d;
    pub(crate) const TAG_SUBPROGRAM: u16 = 0x2e;
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const TAG_PARTIAL_UNIT: u16 = 0x3c;

    /// Attributes.
    pub(crate) const AT_LOCATION: u16 = 0x02;
    pub(crate) const AT_NAME: u16 = 0x03;
    pub(crate) const AT_STMT_LIST: u16 = 0x10;
    pub(crate) const AT_LOW_PC: u16 = 0x11;
    pub(crate) const AT_HIGH_PC: u16 = 0x12;
    pub(crate) const AT_STRING_LENGTH: u16 = 0x19;
    pub(crate) const AT_COMP_DIR: u16 = 0x1b;
    pub(crate) const AT_RETURN_ADDR: u16 = 0x2a;
    pub(crate) const AT_START_SCOPE: u16 = 0x2c;
    pub(crate) const AT_ABSTRACT_ORIGIN: u16 = 0x31;
    pub(crate) const AT_DATA_MEMBER_LOCATION: u16 = 0x38;
    pub(crate) const AT_FRAME_BASE: u16 = 0x40;
    pub(crate) const AT_MACRO_INFO: u16 = 0x43;
    pub(crate) const AT_SEGMENT: u16 = 0x46;
    pub(crate) const AT_SPECIFICATION: u16 = 0x47;
    pub(crate) const AT_STATIC_LINK: u16 = 0x48;
    pub(crate) const AT_USE_LOCATION: u16 = 0x4a;
    pub(crate) const AT_VTABLE_ELEM_LOCATION: u16 = 0x4d;
    pub(crate) const AT_RANGES: u16 = 0x55;
    pub(crate) const AT_CALL_FILE: u16 = 0x58;
    pub(crate) const AT_CALL_LINE: u16 = 0x59;
    pub(crate) const AT_LINKAGE_NAME: u16 = 0x6e;
    pub(crate) const AT_STR_OFFSETS_BASE: u16 = 0x72;
    pub(crate) const AT_ADDR_BASE: u16 = 0x73;
    pub(crate) const AT_RNGLISTS_BASE: u16 = 0x74;
    pub(crate) const AT_MACROS: u16 = 0x79;
    pub(crate) const AT_MIPS_LINKAGE_NAME: u16 = 0x2007;
    pub(crate) const AT_GNU_RANGES_BASE: u16 = 0x2132;
    pub(crate) const AT_GNU_ADDR_BASE: u16 = 0x2133;

    /// Forms.
    pub(crate) const FORM_ADDR: u16 = 0x01;
    pub(crate) const FORM_BLOCK2: u16 = 0x03;
    pub(crate) const FORM_BLOCK4: u16 = 0x04;
    pub(crate) const FORM_DATA2: u16 = 0x05;
    pub(crate) const FORM_DATA4: u16 = 0x06;
    pub(crate) const FORM_DATA8: u16 = 0x07;
    pub(crate) const FORM_STRING: u16 = 0x08;
    pub(crate) const FORM_BLOCK: u16 = 0x09;
    pub(crate) const FORM_BLOCK1: u16 = 0x0a;
    pub(crate) const FORM_DATA1: u16 = 0x0b;
    pub(crate) const FORM_FLAG: u16 = 0x0c;
    pub(crate) const FORM_SDATA: u16 = 0x0d;
    pub(crate) const FORM_STRP: u16 = 0x0e;
    pub(crate) const FORM_UDATA: u16 = 0x0f;
    pub(crate) const FORM_REF_ADDR: u16 = 0x10;
    pub(crate) const FORM_REF1: u16 = 0x11;
    pub(crate) const FORM_REF2: u16 = 0x12;
    pub(crate) const FORM_REF4: u16 = 0x13;
    pub(crate) const FORM_REF8: u16 = 0x14;
    pub(crate) const FORM_REF_UDATA: u16 = 0x15;
    pub(crate) const FORM_INDIRECT: u16 = 0x16;
    pub(crate) const FORM_SEC_OFFSET: u16 = 0x17;
    pub(crate) const FORM_EXPRLOC: u16 = 0x18;
    pub(crate) const FORM_FLAG_PRESENT: u16 = 0x19;
    pub(crate) const FORM_STRX: u16 = 0x1a;
    pub(crate) const FORM_ADDRX: u16 = 0x1b;
    pub(crate) const FORM_REF_SUP4: u16 = 0x1c;
    pub(crate) const FORM_STRP_SUP: u16 = 0x1d;
    pub(crate) const FORM_DATA16: u16 = 0x1e;
    pub(crate) const FORM_LINE_STRP: u16 = 0x1f;
    pub(crate) const FORM_REF_SIG8: u16 = 0x20;
    pub(crate) const FORM_IMPLICIT_CONST: u16 = 0x21;
    pub(crate) const FORM_LOCLISTX: u16 = 0x22;
    pub(crate) const FORM_RNGLISTX: u16 = 0x23;
    pub(crate) const FORM_REF_SUP8: u16 = 0x24;
    pub(crate) const FORM_STRX1: u16 = 0x25;
    pub(crate) const FORM_STRX2: u16 = 0x26;
    pub(crate) const FORM_STRX3: u16 = 0x27;
    pub(crate) const FORM_STRX4: u16 = 0x28;
    pub(crate) const FORM_ADDRX1: u16 = 0x29;
    pub(crate) const FORM_ADDRX2: u16 = 0x2a;
    pub(crate) const FORM_ADDRX3: u16 = 0x2b;
    pub(crate) const FORM_ADDRX4: u16 = 0x2c;
    pub(crate) const FORM_GNU_ADDR_INDEX: u16 = 0x1f01;
    pub(crate) const FORM_GNU_STR_INDEX: u16 = 0x1f02;
    pub(crate) const FORM_GNU_REF_ALT: u16 = 0x1f20;
    pub(crate) const FORM_GNU_STRP_ALT: u16 = 0x1f21;

    /// Unit types (DWARF 5).
    pub(crate) const UT_COMPILE: u8 = 0x01;
    pub(crate) const UT_PARTIAL: u8 = 0x03;

    /// Standard line opcodes.
    pub(crate) const LNS_COPY: u8 = 0x01;
    pub(crate) const LNS_ADVANCE_PC: u8 = 0x02;
    pub(crate) const LNS_ADVANCE_LINE: u8 = 0x03;
    pub(crate) const LNS_SET_FILE: u8 = 0x04;
    pub(crate) const LNS_SET_COLUMN: u8 = 0x05;
    pub(crate) const LNS_NEGATE_STMT: u8 = 0x06;
    pub(crate) const LNS_SET_BASIC_BLOCK: u8 = 0x07;
    pub(crate) const LNS_CONST_ADD_PC: u8 = 0x08;
    pub(crate) const LNS_FIXED_ADVANCE_PC: u8 = 0x09;
    pub(crate) const LNS_SET_PROLOGUE_END: u8 = 0x0a;
    pub(crate) const LNS_SET_EPILOGUE_BEGIN: u8 = 0x0b;
    pub(crate) const LNS_SET_ISA: u8 = 0x0c;

    /// Extended line opcodes.
    pub(crate) const LNE_END_SEQUENCE: u8 = 0x01;
    pub(crate) const LNE_SET_ADDRESS: u8 = 0x02;
    pub(crate) const LNE_DEFINE_FILE: u8 = 0x03;
    pub(crate) const LNE_SET_DISCRIMINATOR: u8 = 0x04;

    /// Line header entry contents (DWARF 5).
    pub(crate) const LNCT_PATH: u16 = 0x1;
    pub(crate) const LNCT_DIRECTORY_INDEX: u16 = 0x2;

    /// Range list entries (DWARF 5).
    pub(crate) const RLE_END_OF_LIST: u8 = 0x00;
    pub(crate) const RLE_BASE_ADDRESSX: u8 = 0x01;
    pub(crate) const RLE_STARTX_ENDX: u8 = 0x02;
    pub(crate) const RLE_STARTX_LENGTH: u8 = 0x03;
    pub(crate) const RLE_OFFSET_PAIR: u8 = 0x04;
    pub(crate) const RLE_BASE_ADDRESS: u8 = 0x05;
    pub(crate) const RLE_START_END: u8 = 0x06;
    pub(crate) const RLE_START_LENGTH: u8 = 0x07;
}

/// A cursor over `buf[pos..]`; positions are offsets in the section the
/// buffer starts (buffers are cut at their end, never at their start).
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Reader<'a> {
    /// A cursor at `pos` of `buf` (`None` past its end).
    fn new(buf: &'a [u8], pos: usize, big: bool) -> Option<Reader<'a>> {
        (pos <= buf.len()).then_some(Reader { buf, pos, big })
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    /// The next `n` bytes as a cursor of their own; this one moves past
    /// them.
    fn split(&mut self, n: usize) -> Option<Reader<'a>> {
        let start = self.pos;
        self.bytes(n)?;
        let buf = self.buf.get(..self.pos)?;
        Reader::new(buf, start, self.big)
    }

    /// Move past `n` bytes.
    #[inline]
    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len())?;
        self.pos = end;
        Some(())
    }

    /// The next `N` bytes.
    #[inline]
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.bytes(N)?;
        <[u8; N]>::try_from(b).ok()
    }

    /// An unsigned integer of `n` (at most 8) bytes.
    #[inline]
    fn uint(&mut self, n: usize) -> Option<u64> {
        match n {
            1 => self.u8().map(u64::from),
            2 => self.u16().map(u64::from),
            4 => self.u32().map(u64::from),
            8 => self.u64(),
            _ => {
                let b = self.bytes(n)?;
                if n > 8 {
                    return None;
                }
                let fold = |v: u64, &x: &u8| (v << 8) | u64::from(x);
                Some(if self.big {
                    b.iter().fold(0, fold)
                } else {
                    b.iter().rev().fold(0, fold)
                })
            }
        }
    }

    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn u16(&mut self) -> Option<u16> {
        let b = self.array()?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    #[inline]
    fn u32(&mut self) -> Option<u32> {
        let b = self.array()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    #[inline]
    fn u64(&mut self) -> Option<u64> {
        let b = self.array()?;
        Some(if self.big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// An unsigned LEB128 number; `None` past 64 bits.
    #[inline]
    fn uleb(&mut self) -> Option<u64> {
        // Most numbers (codes, names, forms, small values) fit a byte.
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Some(u64::from(b))
            }
            _ => self.uleb_long(),
        }
    }

    /// [`Reader::uleb`], for any length.
    fn uleb_long(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            // The tenth byte may only hold the 64th bit.
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    }

    /// A signed LEB128 number; `None` past 64 bits.
    #[inline]
    fn sleb(&mut self) -> Option<i64> {
        let mut v = 0i64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b != 0 && b != 0x7f {
                return None;
            }
            v |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= !0i64 << shift;
                }
                return Some(v);
            }
        }
    }

    /// An unsigned LEB128 number that must fit 16 bits (names, forms,
    /// tags).
    #[inline]
    fn uleb16(&mut self) -> Option<u16> {
        u16::try_from(self.uleb()?).ok()
    }

    /// A NUL-terminated string, without its NUL.
    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let n = rest.iter().position(|&b| b == 0)?;
        let s = rest.get(..n)?;
        self.pos = self.pos.checked_add(n)?.checked_add(1)?;
        Some(s)
    }

    /// An offset of `size` (4 or 8) bytes.
    #[inline]
    fn offset(&mut self, size: u8) -> Option<u64> {
        match size {
            4 | 8 => self.uint(usize::from(size)),
            _ => None,
        }
    }

    /// An address of `size` (1, 2, 4 or 8) bytes.
    #[inline]
    fn address(&mut self, size: u8) -> Option<u64> {
        match size {
            1 | 2 | 4 | 8 => self.uint(usize::from(size)),
            _ => None,
        }
    }

    /// An initial length: (length, offset size). The 64-bit escape is
    /// followed; the other reserved values are refused.
    fn initial_length(&mut self) -> Option<(usize, u8)> {
        match self.u32()? {
            0xffff_ffff => Some((usize::try_from(self.u64()?).ok()?, 8)),
            n if n >= 0xffff_fff0 => None,
            n => Some((usize::try_from(n).ok()?, 4)),
        }
    }

    /// A cursor over the `len` bytes that follow an initial length, with
    /// its offset size: the header and contents of a unit or program.
    fn unit_contents(&mut self) -> Option<(Reader<'a>, u8)> {
        let (len, offset_size) = self.initial_length()?;
        Some((self.split(len)?, offset_size))
    }
}

/// All ones in an address of `size` bytes.
fn ones(size: u8) -> u64 {
    match u32::from(size).checked_mul(8) {
        Some(bits) if bits < 64 => (1u64 << bits).wrapping_sub(1),
        _ => u64::MAX,
    }
}

/// The lowest address taken for a tombstone (-2: DWARF's -1, and the -2
/// of DWARF 4's range lists and of some linkers).
fn min_tombstone(size: u8) -> u64 {
    ones(size).wrapping_sub(1)
}

/// `a + n` in an address of `size` bytes; `None` when it does not fit
/// (gimli's line programs stop there too).
fn add_sized(a: u64, n: u64, size: u8) -> Option<u64> {
    let r = a.checked_add(n)?;
    (r & !ones(size) == 0).then_some(r)
}

/// The sections this reader uses, whole (uncompressed), and their byte
/// order. Missing ones are empty.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sections<'a> {
    pub(crate) info: &'a [u8],
    pub(crate) abbrev: &'a [u8],
    pub(crate) line: &'a [u8],
    pub(crate) str: &'a [u8],
    pub(crate) line_str: &'a [u8],
    pub(crate) str_offsets: &'a [u8],
    pub(crate) addr: &'a [u8],
    pub(crate) ranges: &'a [u8],
    pub(crate) rnglists: &'a [u8],
    pub(crate) big_endian: bool,
}

/// How a unit encodes sizes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Encoding {
    version: u16,
    address_size: u8,
    offset_size: u8,
}

/// What resolving a unit's attribute values needs: its encoding, where it
/// is, and its bases.
#[derive(Clone, Copy)]
struct Base {
    enc: Encoding,
    offset: usize,
    str_offsets_base: u64,
    addr_base: u64,
}

/// A compile or partial unit, and what its root DIE says.
#[derive(Clone, Copy)]
pub(crate) struct Unit<'a> {
    pub(crate) version: u16,
    pub(crate) address_size: u8,
    /// 4 (32-bit DWARF) or 8 (64-bit DWARF).
    pub(crate) offset_size: u8,
    /// Of its header in `.debug_info`.
    pub(crate) offset: usize,
    /// `DW_AT_comp_dir` (empty when it has none).
    pub(crate) comp_dir: &'a [u8],
    /// `DW_AT_name`.
    pub(crate) name: Option<&'a [u8]>,
    /// `DW_AT_stmt_list`: its line program's offset in `.debug_line`.
    pub(crate) stmt_list: Option<usize>,
    /// `DW_AT_low_pc`: the base address of its range lists (0 if none).
    pub(crate) low_pc: u64,
    pub(crate) str_offsets_base: u64,
    pub(crate) addr_base: u64,
    /// `DW_AT_rnglists_base` (or `DW_AT_GNU_ranges_base`).
    pub(crate) rnglists_base: u64,
    /// Its DIEs: from the end of its header to the end of the unit.
    entries: usize,
    end: usize,
    abbrev_offset: usize,
}

/// An attribute specification of an abbreviation, decoded.
#[derive(Clone, Copy)]
struct Spec {
    name: u16,
    form: u16,
    /// How its value is skipped: its size in bytes (at most 16), or one
    /// of the `VAR_*` below (the size is in the data).
    size: u8,
    /// The value of a `DW_FORM_implicit_const`.
    implicit: i64,
}

/// A ULEB128 value.
const VAR_ULEB: u8 = 0xf0;
/// An SLEB128 value.
const VAR_SLEB: u8 = 0xf1;
/// A NUL-terminated string.
const VAR_CSTR: u8 = 0xf2;
/// Blocks with a 1-, 2-, 4-byte or ULEB128 length.
const VAR_BLOCK1: u8 = 0xf3;
const VAR_BLOCK2: u8 = 0xf4;
const VAR_BLOCK4: u8 = 0xf5;
const VAR_BLOCK: u8 = 0xf6;
/// Anything else (`DW_FORM_indirect`, unknown forms): [`read_form`]
/// decides.
const VAR_READ: u8 = 0xff;

/// The largest fixed size (`DW_FORM_data16`).
const MAX_FIXED: u8 = 16;

impl Spec {
    /// The constant [`read_form`] takes for this specification.
    #[inline]
    fn implicit(&self) -> Option<i64> {
        (self.form == dw::FORM_IMPLICIT_CONST).then_some(self.implicit)
    }
}

/// How a value of `form` is skipped in a unit of encoding `enc` (a
/// [`Spec`]'s `size`). As [`read_form`] reads them.
fn form_size(form: u16, enc: Encoding) -> u8 {
    match form {
        dw::FORM_ADDR => enc.address_size,
        dw::FORM_BLOCK1 => VAR_BLOCK1,
        dw::FORM_BLOCK2 => VAR_BLOCK2,
        dw::FORM_BLOCK4 => VAR_BLOCK4,
        dw::FORM_BLOCK | dw::FORM_EXPRLOC => VAR_BLOCK,
        dw::FORM_DATA1 | dw::FORM_FLAG | dw::FORM_REF1 | dw::FORM_STRX1 | dw::FORM_ADDRX1 => 1,
        dw::FORM_DATA2 | dw::FORM_REF2 | dw::FORM_STRX2 | dw::FORM_ADDRX2 => 2,
        dw::FORM_STRX3 | dw::FORM_ADDRX3 => 3,
        dw::FORM_DATA4 | dw::FORM_REF4 | dw::FORM_REF_SUP4 | dw::FORM_STRX4 | dw::FORM_ADDRX4 => 4,
        dw::FORM_DATA8 | dw::FORM_REF8 | dw::FORM_REF_SIG8 | dw::FORM_REF_SUP8 => 8,
        dw::FORM_DATA16 => 16,
        dw::FORM_IMPLICIT_CONST | dw::FORM_FLAG_PRESENT => 0,
        dw::FORM_SDATA => VAR_SLEB,
        dw::FORM_UDATA
        | dw::FORM_REF_UDATA
        | dw::FORM_STRX
        | dw::FORM_GNU_STR_INDEX
        | dw::FORM_ADDRX
        | dw::FORM_GNU_ADDR_INDEX
        | dw::FORM_LOCLISTX
        | dw::FORM_RNGLISTX => VAR_ULEB,
        dw::FORM_REF_ADDR if enc.version == 2 => enc.address_size,
        dw::FORM_REF_ADDR
        | dw::FORM_SEC_OFFSET
        | dw::FORM_GNU_REF_ALT
        | dw::FORM_STRP_SUP
        | dw::FORM_GNU_STRP_ALT
        | dw::FORM_STRP
        | dw::FORM_LINE_STRP => enc.offset_size,
        dw::FORM_STRING => VAR_CSTR,
        _ => VAR_READ,
    }
}

/// Move `r` past attribute values of `specs`; `None` when one cannot be
/// read (as [`read_form`] would fail on it).
#[inline]
fn skip_values(r: &mut Reader<'_>, specs: &[Spec], enc: Encoding) -> Option<()> {
    for spec in specs {
        match spec.size {
            n @ 0..=MAX_FIXED => r.skip(usize::from(n))?,
            VAR_ULEB => {
                r.uleb()?;
            }
            VAR_SLEB => {
                r.sleb()?;
            }
            VAR_CSTR => {
                r.cstr()?;
            }
            VAR_BLOCK1 => {
                let n = r.u8()?;
                r.skip(usize::from(n))?;
            }
            VAR_BLOCK2 => {
                let n = r.u16()?;
                r.skip(usize::from(n))?;
            }
            VAR_BLOCK4 => {
                let n = usize::try_from(r.u32()?).ok()?;
                r.skip(n)?;
            }
            VAR_BLOCK => {
                let n = usize::try_from(r.uleb()?).ok()?;
                r.skip(n)?;
            }
            _ => {
                read_form(r, spec.form, spec.implicit(), enc)?;
            }
        }
    }
    Some(())
}

/// An abbreviation, decoded.
#[derive(Clone, Copy)]
struct Abbrev {
    /// 0: no abbreviation (no declaration has tag 0).
    tag: u16,
    has_children: bool,
    /// Its attribute specifications: `Abbrevs::specs[start..start + len]`.
    start: u32,
    len: u32,
    /// The size of its attributes' data if every form's is fixed, else
    /// [`NOT_FIXED`].
    fixed: u32,
}

/// An [`Abbrev`]'s `fixed` when its attributes' size varies.
const NOT_FIXED: u32 = u32::MAX;

/// No declaration for this code.
const NO_ABBREV: Abbrev = Abbrev {
    tag: 0,
    has_children: false,
    start: 0,
    len: 0,
    fixed: NOT_FIXED,
};

/// A unit's abbreviation table, decoded: each code's tag, children flag
/// and attribute specifications, with how their values are skipped in a
/// unit of its encoding. Reused from unit to unit.
pub(crate) struct Abbrevs {
    /// By code, when codes are dense (they usually are: 1..n).
    dense: MapVec<Abbrev>,
    /// (code, abbreviation) of the others, searched in order.
    sparse: MapVec<(u64, Abbrev)>,
    /// The attribute specifications of all of them.
    specs: MapVec<Spec>,
    /// The offset of the table loaded, and the encoding its sizes are
    /// for, if one is.
    loaded: Option<(usize, Encoding)>,
}

impl Default for Abbrevs {
    fn default() -> Self {
        Abbrevs::new()
    }
}

impl Abbrevs {
    /// An empty table.
    pub(crate) const fn new() -> Abbrevs {
        Abbrevs {
            dense: MapVec::new(),
            sparse: MapVec::new(),
            specs: MapVec::new(),
            loaded: None,
        }
    }

    /// Decode the table at `at` in `.debug_abbrev` for a unit of encoding
    /// `enc` (nothing to do if it is the one loaded). `None` for a
    /// malformed table, or out of memory.
    fn load(&mut self, abbrev: &[u8], at: usize, big: bool, enc: Encoding) -> Option<()> {
        if self.loaded == Some((at, enc)) {
            return Some(());
        }
        self.loaded = None;
        self.dense.clear();
        self.sparse.clear();
        self.specs.clear();
        let mut r = Reader::new(abbrev, at, big)?;
        let mut count = 0usize;
        // Every declaration consumes bytes: the loop ends with the input.
        while !r.is_empty() {
            let code = r.uleb()?;
            if code == 0 {
                break;
            }
            let a = self.declaration(&mut r, enc)?;
            self.insert(code, a, count)?;
            count = count.saturating_add(1);
        }
        self.loaded = Some((at, enc));
        Some(())
    }

    /// Check and decode one declaration after its code: tag, children
    /// flag, attribute specifications up to the (0, 0) that ends them.
    fn declaration(&mut self, r: &mut Reader<'_>, enc: Encoding) -> Option<Abbrev> {
        let tag = r.uleb16()?;
        if tag == 0 {
            return None;
        }
        let children = r.u8()?;
        if children > 1 {
            return None;
        }
        let start = u32::try_from(self.specs.len()).ok()?;
        let mut fixed = Some(0u32);
        // Each specification consumes bytes: the loop ends.
        loop {
            let (name, form) = (r.uleb16()?, r.uleb16()?);
            let implicit = match (name, form) {
                (0, 0) => break,
                (0, _) | (_, 0) => return None,
                (_, dw::FORM_IMPLICIT_CONST) => r.sleb()?,
                _ => 0,
            };
            let size = form_size(form, enc);
            fixed = fixed
                .filter(|_| size <= MAX_FIXED)
                .and_then(|f| f.checked_add(u32::from(size)));
            self.specs.push(Spec {
                name,
                form,
                size,
                implicit,
            })?;
        }
        let len = u32::try_from(self.specs.len()).ok()?.checked_sub(start)?;
        Some(Abbrev {
            tag,
            has_children: children == 1,
            start,
            len,
            fixed: fixed.filter(|&f| f != NOT_FIXED).unwrap_or(NOT_FIXED),
        })
    }

    /// Record `code`'s abbreviation `a`, the `count`th declaration. Codes
    /// up to a few times the count go in the dense table (never a huge
    /// one).
    fn insert(&mut self, code: u64, a: Abbrev, count: usize) -> Option<()> {
        let limit = count.saturating_mul(4).saturating_add(256);
        match usize::try_from(code).ok().filter(|&c| c <= limit) {
            Some(c) => {
                if self.dense.len() <= c {
                    self.dense.resize(c.checked_add(1)?, NO_ABBREV)?;
                }
                let s = self.dense.get_mut(c)?;
                if s.tag != 0 {
                    // A code declared twice: gimli refuses the table.
                    return None;
                }
                *s = a;
                Some(())
            }
            None => self.sparse.push((code, a)),
        }
    }

    /// `code`'s abbreviation.
    #[inline]
    fn get(&self, code: u64) -> Option<Abbrev> {
        let dense = usize::try_from(code)
            .ok()
            .and_then(|c| self.dense.get(c))
            .filter(|a| a.tag != 0);
        match dense {
            Some(&a) => Some(a),
            None => self.sparse.iter().find(|s| s.0 == code).map(|s| s.1),
        }
    }

    /// The attribute specifications of `a`.
    #[inline]
    fn specs_of(&self, a: &Abbrev) -> Option<&[Spec]> {
        let start = usize::try_from(a.start).ok()?;
        let end = start.checked_add(usize::try_from(a.len).ok()?)?;
        self.specs.get(start..end)
    }
}

/// A value as its form encodes it, before resolution.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Udata(u64),
    Data4(u32),
    Data8(u64),
    Sdata(i64),
    Addr(u64),
    Addrx(u64),
    Str(&'a [u8]),
    Strp(u64),
    LineStrp(u64),
    Strx(u64),
    Ref(u64),
    RefAddr(u64),
    SecOffset(u64),
    Rnglistx(u64),
    Flag(bool),
    Other,
}

/// Read a value of `form` (`implicit`: the abbreviation's constant for
/// `DW_FORM_implicit_const`). This is also how attributes are skipped:
/// every form's size is here.
fn read_form<'a>(
    r: &mut Reader<'a>,
    form: u16,
    implicit: Option<i64>,
    enc: Encoding,
) -> Option<Raw<'a>> {
    let mut form = form;
    // `DW_FORM_indirect` names the form in the data; each step consumes
    // a byte, and a few steps are plenty.
    for _ in 0..8 {
        let leb = |r: &mut Reader<'a>| r.uleb();
        let len = |n: Option<u64>| n.and_then(|n| usize::try_from(n).ok());
        return Some(match form {
            dw::FORM_INDIRECT => {
                form = r.uleb16()?;
                continue;
            }
            dw::FORM_ADDR => Raw::Addr(r.address(enc.address_size)?),
            dw::FORM_BLOCK1 => {
                let n = usize::from(r.u8()?);
                r.bytes(n).map(|_| Raw::Other)?
            }
            dw::FORM_BLOCK2 => {
                let n = usize::from(r.u16()?);
                r.bytes(n).map(|_| Raw::Other)?
            }
            dw::FORM_BLOCK4 => {
                let n = usize::try_from(r.u32()?).ok()?;
                r.bytes(n).map(|_| Raw::Other)?
            }
            dw::FORM_BLOCK | dw::FORM_EXPRLOC => {
                let n = len(leb(r))?;
                r.bytes(n).map(|_| Raw::Other)?
            }
            dw::FORM_DATA1 => Raw::Udata(u64::from(r.u8()?)),
            dw::FORM_DATA2 => Raw::Udata(u64::from(r.u16()?)),
            dw::FORM_DATA4 => Raw::Data4(r.u32()?),
            dw::FORM_DATA8 => Raw::Data8(r.u64()?),
            dw::FORM_DATA16 => r.bytes(16).map(|_| Raw::Other)?,
            dw::FORM_UDATA => Raw::Udata(leb(r)?),
            dw::FORM_SDATA => Raw::Sdata(r.sleb()?),
            dw::FORM_IMPLICIT_CONST => Raw::Sdata(implicit?),
            dw::FORM_FLAG => Raw::Flag(r.u8()? != 0),
            dw::FORM_FLAG_PRESENT => Raw::Flag(true),
            dw::FORM_SEC_OFFSET => Raw::SecOffset(r.offset(enc.offset_size)?),
            dw::FORM_REF1 => Raw::Ref(u64::from(r.u8()?)),
            dw::FORM_REF2 => Raw::Ref(u64::from(r.u16()?)),
            dw::FORM_REF4 => Raw::Ref(u64::from(r.u32()?)),
            dw::FORM_REF8 => Raw::Ref(r.u64()?),
            dw::FORM_REF_UDATA => Raw::Ref(leb(r)?),
            // DWARF 2 sized it as an address, later versions as an offset.
            dw::FORM_REF_ADDR if enc.version == 2 => Raw::RefAddr(r.address(enc.address_size)?),
            dw::FORM_REF_ADDR => Raw::RefAddr(r.offset(enc.offset_size)?),
            dw::FORM_REF_SIG8 | dw::FORM_REF_SUP8 => r.u64().map(|_| Raw::Other)?,
            dw::FORM_REF_SUP4 => r.u32().map(|_| Raw::Other)?,
            dw::FORM_GNU_REF_ALT | dw::FORM_STRP_SUP | dw::FORM_GNU_STRP_ALT => {
                r.offset(enc.offset_size).map(|_| Raw::Other)?
            }
            dw::FORM_STRING => Raw::Str(r.cstr()?),
            dw::FORM_STRP => Raw::Strp(r.offset(enc.offset_size)?),
            dw::FORM_LINE_STRP => Raw::LineStrp(r.offset(enc.offset_size)?),
            dw::FORM_STRX | dw::FORM_GNU_STR_INDEX => Raw::Strx(leb(r)?),
            dw::FORM_STRX1 => Raw::Strx(r.uint(1)?),
            dw::FORM_STRX2 => Raw::Strx(r.uint(2)?),
            dw::FORM_STRX3 => Raw::Strx(r.uint(3)?),
            dw::FORM_STRX4 => Raw::Strx(r.uint(4)?),
            dw::FORM_ADDRX | dw::FORM_GNU_ADDR_INDEX => Raw::Addrx(leb(r)?),
            dw::FORM_ADDRX1 => Raw::Addrx(r.uint(1)?),
            dw::FORM_ADDRX2 => Raw::Addrx(r.uint(2)?),
            dw::FORM_ADDRX3 => Raw::Addrx(r.uint(3)?),
            dw::FORM_ADDRX4 => Raw::Addrx(r.uint(4)?),
            dw::FORM_LOCLISTX => leb(r).map(|_| Raw::Other)?,
            dw::FORM_RNGLISTX => Raw::Rnglistx(leb(r)?),
            // An unknown form has no known size: nothing after it can be
            // read.
            _ => return None,
        });
    }
    None
}

/// Whether `DW_FORM_data4`/`data8` of attribute `name` is a section
/// offset (DWARF 2 and 3 had no `DW_FORM_sec_offset`), as gimli reads it.
fn data_is_offset(name: u16, version: u16) -> bool {
    match name {
        dw::AT_LOCATION
        | dw::AT_STMT_LIST
        | dw::AT_STRING_LENGTH
        | dw::AT_RETURN_ADDR
        | dw::AT_START_SCOPE
        | dw::AT_FRAME_BASE
        | dw::AT_MACRO_INFO
        | dw::AT_MACROS
        | dw::AT_SEGMENT
        | dw::AT_STATIC_LINK
        | dw::AT_USE_LOCATION
        | dw::AT_VTABLE_ELEM_LOCATION
        | dw::AT_RANGES => true,
        dw::AT_DATA_MEMBER_LOCATION => version == 2 || version == 3,
        _ => false,
    }
}

/// An attribute's value, resolved: strings read from their sections,
/// indexed addresses from `.debug_addr`, unit references made global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// `DW_FORM_data1/2/4/8`, `udata`.
    Udata(u64),
    /// `DW_FORM_sdata`, `implicit_const`.
    Sdata(i64),
    /// `DW_FORM_addr`, and the `addrx` forms.
    Addr(u64),
    /// `DW_FORM_string`, `strp`, `line_strp`, the `strx` forms.
    Str(&'a [u8]),
    /// `DW_FORM_ref1/2/4/8`, `ref_udata`: the global offset in
    /// `.debug_info` of the DIE referred to.
    UnitRef(usize),
    /// `DW_FORM_ref_addr`: a global offset in `.debug_info`.
    RefAddr(usize),
    /// `DW_FORM_sec_offset` (and `data4`/`data8` where they are offsets).
    SecOffset(u64),
    /// `DW_FORM_rnglistx`.
    Rnglistx(u64),
    /// `DW_FORM_flag`, `flag_present`.
    Flag(bool),
    /// Anything else (blocks, expressions, signatures, references to
    /// supplementary files, values that could not be resolved).
    Other,
}

impl<'a> Sections<'a> {
    /// The compile and partial units of `.debug_info`.
    pub(crate) fn units(&'a self) -> Units<'a> {
        Units { s: self, next: 0 }
    }

    /// The string at `at` in `sec`.
    fn string_in(sec: &'a [u8], at: u64, big: bool) -> Option<&'a [u8]> {
        Reader::new(sec, usize::try_from(at).ok()?, big)?.cstr()
    }

    /// The `index`th entry of `size` bytes of a table at `base` in `sec`.
    fn indexed(sec: &'a [u8], base: u64, index: u64, size: u8, big: bool) -> Option<u64> {
        let at = index
            .checked_mul(u64::from(size))?
            .checked_add(base)
            .and_then(|a| usize::try_from(a).ok())?;
        let mut r = Reader::new(sec, at, big)?;
        match size {
            4 | 8 => r.offset(size),
            _ => r.address(size),
        }
    }

    /// The `index`th address of the unit's `.debug_addr` table.
    fn address_at(&self, b: &Base, index: u64) -> Option<u64> {
        let size = b.enc.address_size;
        Self::indexed(self.addr, b.addr_base, index, size, self.big_endian)
    }

    /// A string value (`None`: not a string, or not readable).
    fn string(&self, b: &Base, raw: Raw<'a>) -> Option<&'a [u8]> {
        let big = self.big_endian;
        match raw {
            Raw::Str(s) => Some(s),
            Raw::Strp(at) => Self::string_in(self.str, at, big),
            Raw::LineStrp(at) => Self::string_in(self.line_str, at, big),
            Raw::Strx(i) => {
                let size = b.enc.offset_size;
                let at = Self::indexed(self.str_offsets, b.str_offsets_base, i, size, big)?;
                Self::string_in(self.str, at, big)
            }
            _ => None,
        }
    }

    /// Resolve a value of attribute `name`.
    fn resolve(&self, b: &Base, name: u16, raw: Raw<'a>) -> Value<'a> {
        let offset = |v: u64| usize::try_from(v).ok();
        let data_offset =
            |size: u8| b.enc.offset_size == size && data_is_offset(name, b.enc.version);
        let v = match raw {
            Raw::Udata(v) => Some(Value::Udata(v)),
            Raw::Data4(v) if data_offset(4) => Some(Value::SecOffset(u64::from(v))),
            Raw::Data4(v) => Some(Value::Udata(u64::from(v))),
            Raw::Data8(v) if data_offset(8) => Some(Value::SecOffset(v)),
            Raw::Data8(v) => Some(Value::Udata(v)),
            Raw::Sdata(v) => Some(Value::Sdata(v)),
            Raw::Addr(a) => Some(Value::Addr(a)),
            Raw::Addrx(i) => self.address_at(b, i).map(Value::Addr),
            Raw::Str(_) | Raw::Strp(_) | Raw::LineStrp(_) | Raw::Strx(_) => {
                self.string(b, raw).map(Value::Str)
            }
            Raw::Ref(r) => offset(r)
                .and_then(|r| r.checked_add(b.offset))
                .map(Value::UnitRef),
            Raw::RefAddr(r) => offset(r).map(Value::RefAddr),
            Raw::SecOffset(o) => Some(Value::SecOffset(o)),
            Raw::Rnglistx(i) => Some(Value::Rnglistx(i)),
            Raw::Flag(f) => Some(Value::Flag(f)),
            Raw::Other => None,
        };
        v.unwrap_or(Value::Other)
    }
}

/// The units of `.debug_info`, in order ([`Sections::units`]).
pub(crate) struct Units<'a> {
    s: &'a Sections<'a>,
    next: usize,
}

impl<'a> Units<'a> {
    /// The next compile or partial unit, its abbreviations loaded into
    /// `abbrevs`. Units that cannot be parsed, and units of other types,
    /// are skipped; `None` at the end, or at a length that cannot be read.
    pub(crate) fn next(&mut self, abbrevs: &mut Abbrevs) -> Option<Unit<'a>> {
        // Each turn moves `next` past a whole unit: the loop ends.
        while self.next < self.s.info.len() {
            let at = self.next;
            let mut r = Reader::new(self.s.info, at, self.s.big_endian)?;
            let Some((contents, offset_size)) = r.unit_contents() else {
                self.next = self.s.info.len();
                return None;
            };
            self.next = r.pos;
            if let Some(u) = self.unit(at, contents, offset_size, abbrevs) {
                return Some(u);
            }
        }
        None
    }

    /// Parse the unit at `at` whose contents `r` holds.
    fn unit(
        &self,
        at: usize,
        mut r: Reader<'a>,
        offset_size: u8,
        abbrevs: &mut Abbrevs,
    ) -> Option<Unit<'a>> {
        let version = r.u16()?;
        let (address_size, abbrev_offset) = match version {
            2..=4 => {
                let abbrev = r.offset(offset_size)?;
                (r.u8()?, abbrev)
            }
            5 => {
                let kind = r.u8()?;
                if kind != dw::UT_COMPILE && kind != dw::UT_PARTIAL {
                    return None;
                }
                let size = r.u8()?;
                (size, r.offset(offset_size)?)
            }
            _ => return None,
        };
        if !matches!(address_size, 1 | 2 | 4 | 8) {
            return None;
        }
        let abbrev_offset = usize::try_from(abbrev_offset).ok()?;
        let enc = Encoding {
            version,
            address_size,
            offset_size,
        };
        abbrevs.load(self.s.abbrev, abbrev_offset, self.s.big_endian, enc)?;
        let mut unit = Unit {
            version,
            address_size,
            offset_size,
            offset: at,
            comp_dir: &[],
            name: None,
            stmt_list: None,
            low_pc: 0,
            str_offsets_base: 0,
            addr_base: 0,
            rnglists_base: 0,
            entries: r.pos,
            end: r.buf.len(),
            abbrev_offset,
        };
        unit.read_root(self.s, abbrevs)?;
        Some(unit)
    }
}

impl<'a> Unit<'a> {
    fn encoding(&self) -> Encoding {
        Encoding {
            version: self.version,
            address_size: self.address_size,
            offset_size: self.offset_size,
        }
    }

    fn base(&self) -> Base {
        Base {
            enc: self.encoding(),
            offset: self.offset,
            str_offsets_base: self.str_offsets_base,
            addr_base: self.addr_base,
        }
    }

    /// Read the root DIE's attributes. The bases come first: a string or
    /// address before them in the DIE may need them.
    fn read_root(&mut self, s: &'a Sections<'a>, abbrevs: &Abbrevs) -> Option<()> {
        let root = self.entries(s, abbrevs).next_dfs()?;
        for (name, v) in root.attrs() {
            let Value::SecOffset(o) = v else { continue };
            match name {
                dw::AT_STR_OFFSETS_BASE => self.str_offsets_base = o,
                dw::AT_ADDR_BASE | dw::AT_GNU_ADDR_BASE => self.addr_base = o,
                dw::AT_RNGLISTS_BASE | dw::AT_GNU_RANGES_BASE => self.rnglists_base = o,
                _ => {}
            }
        }
        let root = Die {
            base: self.base(),
            ..root
        };
        for (name, v) in root.attrs() {
            match (name, v) {
                (dw::AT_NAME, Value::Str(n)) => self.name = Some(n),
                (dw::AT_COMP_DIR, Value::Str(d)) => self.comp_dir = d,
                (dw::AT_LOW_PC, Value::Addr(a)) => self.low_pc = a,
                (dw::AT_STMT_LIST, Value::SecOffset(o)) => self.stmt_list = usize::try_from(o).ok(),
                _ => {}
            }
        }
        Some(())
    }

    /// The unit's DIEs, depth first. `abbrevs` must hold this unit's
    /// table (as [`Units::next`] left it); else there are none.
    pub(crate) fn entries<'b>(&self, s: &'a Sections<'a>, abbrevs: &'b Abbrevs) -> Entries<'a, 'b> {
        let ok = abbrevs.loaded == Some((self.abbrev_offset, self.encoding()));
        let end = if ok { self.end } else { self.entries };
        Entries {
            s,
            abbrevs,
            base: self.base(),
            info: s.info.get(..end).unwrap_or(&[]),
            pos: self.entries,
            end,
            depth: 0,
        }
    }

    /// The DIE at global offset `at` in `.debug_info`, if it lies in this
    /// unit (for `DW_AT_abstract_origin`, `DW_AT_specification`). Its
    /// depth is 0.
    pub(crate) fn entry_at<'b>(
        &self,
        s: &'a Sections<'a>,
        abbrevs: &'b Abbrevs,
        at: usize,
    ) -> Option<Die<'a, 'b>> {
        if at < self.entries || at >= self.end {
            return None;
        }
        let mut e = self.entries(s, abbrevs);
        e.pos = at;
        e.read_entry()?
    }
}

/// A cursor over a unit's DIEs ([`Unit::entries`]).
pub(crate) struct Entries<'a, 'b> {
    s: &'a Sections<'a>,
    abbrevs: &'b Abbrevs,
    base: Base,
    /// `.debug_info` up to the unit's end.
    info: &'a [u8],
    pos: usize,
    end: usize,
    depth: isize,
}

/// A DIE: its place in the tree, its tag, and where its attributes are.
#[derive(Clone, Copy)]
pub(crate) struct Die<'a, 'b> {
    /// 0 for the unit's root, 1 for its children, ...
    pub(crate) depth: isize,
    pub(crate) tag: u16,
    /// Global offset in `.debug_info` (the tests check it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) offset: usize,
    /// Whether children follow (no caller needs it today).
    #[allow(dead_code)]
    pub(crate) has_children: bool,
    s: &'a Sections<'a>,
    base: Base,
    /// The attribute specifications, and the attributes' data in
    /// `.debug_info` (cut at the unit's end).
    specs: &'b [Spec],
    info: &'a [u8],
    data: usize,
}

impl<'a, 'b> Entries<'a, 'b> {
    /// The next DIE in depth-first order; `None` at the unit's end, or at
    /// a DIE that cannot be parsed (the iteration ends there).
    #[inline]
    pub(crate) fn next_dfs(&mut self) -> Option<Die<'a, 'b>> {
        // Each turn consumes at least the byte of a code, or ends.
        while self.pos < self.end {
            match self.read_entry() {
                Some(Some(die)) => return Some(die),
                Some(None) => {}
                None => {
                    self.pos = self.end;
                    return None;
                }
            }
        }
        None
    }

    /// Read the entry at `pos` and move past it: `Some(None)` for a null
    /// entry (which ends a list of children).
    #[inline]
    fn read_entry(&mut self) -> Option<Option<Die<'a, 'b>>> {
        let mut r = Reader::new(self.info, self.pos, self.s.big_endian)?;
        let offset = self.pos;
        let code = r.uleb()?;
        if code == 0 {
            self.pos = r.pos;
            self.depth = self.depth.saturating_sub(1);
            return Some(None);
        }
        let a = self.abbrevs.get(code)?;
        let specs = self.abbrevs.specs_of(&a)?;
        let data = r.pos;
        if a.fixed != NOT_FIXED {
            r.skip(usize::try_from(a.fixed).ok()?)?;
        } else {
            skip_values(&mut r, specs, self.base.enc)?;
        }
        self.pos = r.pos;
        let die = Die {
            depth: self.depth,
            tag: a.tag,
            offset,
            has_children: a.has_children,
            s: self.s,
            base: self.base,
            specs,
            info: self.info,
            data,
        };
        if a.has_children {
            self.depth = self.depth.saturating_add(1);
        }
        Some(Some(die))
    }
}

impl<'a, 'b> Die<'a, 'b> {
    /// The attributes, in order: (name, value). The iteration ends early
    /// at one that cannot be read.
    #[inline]
    pub(crate) fn attrs(&self) -> Attrs<'a, 'b> {
        Attrs {
            s: self.s,
            base: self.base,
            specs: self.specs.iter(),
            data: Reader::new(self.info, self.data, self.s.big_endian),
        }
    }

    /// The first value of attribute `name` (the tests use it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn attr(&self, name: u16) -> Option<Value<'a>> {
        self.attrs().find(|a| a.0 == name).map(|a| a.1)
    }
}

/// A DIE's attributes ([`Die::attrs`]).
pub(crate) struct Attrs<'a, 'b> {
    s: &'a Sections<'a>,
    base: Base,
    specs: core::slice::Iter<'b, Spec>,
    /// `None` once the iteration has ended.
    data: Option<Reader<'a>>,
}

impl<'a> Attrs<'a, '_> {
    /// The next (name, raw value): `Some(None)` after the last one,
    /// `None` when one cannot be read.
    #[inline]
    fn next_raw(&mut self) -> Option<Option<(u16, Raw<'a>)>> {
        let data = self.data.as_mut()?;
        let Some(spec) = self.specs.next() else {
            return Some(None);
        };
        let raw = read_form(data, spec.form, spec.implicit(), self.base.enc)?;
        Some(Some((spec.name, raw)))
    }
}

impl<'a> Iterator for Attrs<'a, '_> {
    type Item = (u16, Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<(u16, Value<'a>)> {
        match self.next_raw() {
            Some(Some((name, raw))) => Some((name, self.s.resolve(&self.base, name, raw))),
            _ => {
                self.data = None;
                None
            }
        }
    }
}

impl<'a> Sections<'a> {
    /// Call `f(begin, end)` for each of `die`'s address ranges: its
    /// `DW_AT_low_pc` and `DW_AT_high_pc` (an address, or a size), or its
    /// `DW_AT_ranges` (`.debug_ranges` before DWARF 5, `.debug_rnglists`
    /// from 5, directly or by `DW_FORM_rnglistx`). As gimli's
    /// `Dwarf::die_ranges` gives them: a list's empty and tombstone
    /// entries are left out. `None` when the attributes or the list are
    /// malformed (after the ranges read before).
    pub(crate) fn die_ranges(
        &self,
        unit: &Unit<'_>,
        die: &Die<'_, '_>,
        f: &mut impl FnMut(u64, u64),
    ) -> Option<()> {
        let (mut low, mut high, mut size) = (None, None, None);
        for (name, v) in die.attrs() {
            match (name, v) {
                (dw::AT_LOW_PC, Value::Addr(a)) => low = Some(a),
                (dw::AT_LOW_PC, _) => return None,
                (dw::AT_HIGH_PC, Value::Udata(n)) => size = Some(n),
                (dw::AT_HIGH_PC, Value::Sdata(n)) => size = Some(u64::try_from(n).ok()?),
                (dw::AT_HIGH_PC, Value::Addr(a)) => high = Some(a),
                (dw::AT_HIGH_PC, _) => return None,
                (dw::AT_RANGES, Value::SecOffset(o)) => return self.range_list(unit, o, f),
                (dw::AT_RANGES, Value::Rnglistx(i)) => {
                    let o = self.rnglist_offset(unit, i)?;
                    return self.range_list(unit, o, f);
                }
                _ => {}
            }
        }
        if let Some(begin) = low {
            if let Some(end) = size.map(|n| begin.wrapping_add(n)).or(high) {
                f(begin, end);
            }
        }
        Some(())
    }

    /// The offset of the `index`th list in the unit's `.debug_rnglists`
    /// offset table.
    fn rnglist_offset(&self, unit: &Unit<'_>, index: u64) -> Option<u64> {
        let (base, size) = (unit.rnglists_base, unit.offset_size);
        let rel = Self::indexed(self.rnglists, base, index, size, self.big_endian)?;
        base.checked_add(rel)
    }

    /// Call `f` for each range of the list at `offset`.
    fn range_list(&self, unit: &Unit<'_>, offset: u64, f: &mut impl FnMut(u64, u64)) -> Option<()> {
        let size = unit.address_size;
        let at = usize::try_from(offset).ok()?;
        let mut emit = |begin: u64, end: u64| {
            // Tombstones, and empty or inverted ranges, are not ranges.
            if begin < min_tombstone(size) && begin < end {
                f(begin, end);
            }
        };
        if unit.version <= 4 {
            let r = Reader::new(self.ranges, at, self.big_endian)?;
            return bare_ranges(r, size, unit.low_pc, &mut emit);
        }
        let r = Reader::new(self.rnglists, at, self.big_endian)?;
        self.rle_ranges(r, unit, &mut emit)
    }

    /// A `.debug_rnglists` list (every `DW_RLE_*` kind).
    fn rle_ranges(
        &self,
        mut r: Reader<'_>,
        unit: &Unit<'_>,
        emit: &mut impl FnMut(u64, u64),
    ) -> Option<()> {
        let size = unit.address_size;
        let mask = ones(size);
        let b = unit.base();
        let mut base = unit.low_pc;
        // Each entry consumes its kind's byte at least.
        while !r.is_empty() {
            match r.u8()? {
                dw::RLE_END_OF_LIST => break,
                dw::RLE_BASE_ADDRESSX => base = self.address_at(&b, r.uleb()?)?,
                dw::RLE_STARTX_ENDX => {
                    let (i, j) = (r.uleb()?, r.uleb()?);
                    emit(self.address_at(&b, i)?, self.address_at(&b, j)?);
                }
                dw::RLE_STARTX_LENGTH => {
                    let (i, n) = (r.uleb()?, r.uleb()?);
                    let begin = self.address_at(&b, i)?;
                    emit(begin, begin.wrapping_add(n) & mask);
                }
                dw::RLE_OFFSET_PAIR => {
                    let (lo, hi) = (r.uleb()?, r.uleb()?);
                    // A tombstone base makes its offset pairs tombstones.
                    if base < min_tombstone(size) {
                        emit(base.wrapping_add(lo) & mask, base.wrapping_add(hi) & mask);
                    }
                }
                dw::RLE_BASE_ADDRESS => base = r.address(size)?,
                dw::RLE_START_END => {
                    let (begin, end) = (r.address(size)?, r.address(size)?);
                    emit(begin, end);
                }
                dw::RLE_START_LENGTH => {
                    let (begin, n) = (r.address(size)?, r.uleb()?);
                    emit(begin, begin.wrapping_add(n) & mask);
                }
                _ => return None,
            }
        }
        Some(())
    }
}

/// A `.debug_ranges` list: pairs of addresses, relative to a base that a
/// pair beginning with all ones sets, up to a (0, 0) pair.
fn bare_ranges(
    mut r: Reader<'_>,
    size: u8,
    low_pc: u64,
    emit: &mut impl FnMut(u64, u64),
) -> Option<()> {
    let mask = ones(size);
    let mut base = low_pc;
    // Each pair consumes 2 * size bytes.
    while !r.is_empty() {
        let (begin, end) = (r.address(size)?, r.address(size)?);
        if begin == 0 && end == 0 {
            break;
        }
        if begin == mask {
            base = end;
        } else if base < min_tombstone(size) {
            emit(
                base.wrapping_add(begin) & mask,
                base.wrapping_add(end) & mask,
            );
        }
    }
    Some(())
}

/// A directory or file of a line program's header: its path (`None` when
/// its string cannot be read) and, for a file, its directory's index.
#[derive(Clone, Copy)]
pub(crate) struct PathEntry<'a> {
    path: Option<&'a [u8]>,
    dir: u64,
}

/// A unit's line program: its header, parsed, and its instructions.
pub(crate) struct LineProgram<'a, 's> {
    version: u16,
    address_size: u8,
    min_inst_length: u8,
    max_ops: u8,
    line_base: i8,
    line_range: u8,
    opcode_base: u8,
    /// The number of operands of each standard opcode.
    opcode_lengths: &'a [u8],
    /// The instructions.
    program: Reader<'a>,
    /// The include directories, then the files.
    paths: &'s [PathEntry<'a>],
    dirs: usize,
    /// The unit's `DW_AT_comp_dir` and `DW_AT_name` (directory 0 and
    /// file 0 before DWARF 5).
    comp_dir: &'a [u8],
    comp_name: Option<&'a [u8]>,
}

/// A row of a line program's matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) address: u64,
    /// The file's index (see [`LineProgram::file`]).
    pub(crate) file: u64,
    /// 0: no line.
    pub(crate) line: u64,
    /// The first address past a sequence (the row's other fields mean
    /// nothing).
    pub(crate) end_sequence: bool,
}

impl<'a, 's> LineProgram<'a, 's> {
    /// Parse the header of `unit`'s line program (DWARF 2 to 5); its
    /// directories and files go in `scratch` (emptied first). `None`: no
    /// program, or a malformed header, or out of memory.
    pub(crate) fn parse(
        s: &Sections<'a>,
        unit: &Unit<'a>,
        scratch: &'s mut MapVec<PathEntry<'a>>,
    ) -> Option<LineProgram<'a, 's>> {
        let at = unit.stmt_list?;
        let mut r = Reader::new(s.line, at, s.big_endian)?;
        let (mut r, offset_size) = r.unit_contents()?;
        let version = r.u16()?;
        if !(2..=5).contains(&version) {
            return None;
        }
        let mut address_size = unit.address_size;
        if version >= 5 {
            address_size = r.u8()?;
            let segment_selector_size = r.u8()?;
            if !matches!(address_size, 1 | 2 | 4 | 8) || segment_selector_size != 0 {
                return None;
            }
        }
        let header_length = usize::try_from(r.offset(offset_size)?).ok()?;
        let mut h = r.split(header_length)?;
        let program = r;
        let min_inst_length = h.u8()?;
        let max_ops = if version >= 4 { h.u8()? } else { 1 };
        let _default_is_stmt = h.u8()?;
        let line_base = i8::from_ne_bytes([h.u8()?]);
        let line_range = h.u8()?;
        let opcode_base = h.u8()?;
        if min_inst_length == 0 || max_ops == 0 || line_range == 0 || opcode_base == 0 {
            return None;
        }
        let opcode_lengths = h.bytes(usize::from(opcode_base - 1))?;
        scratch.clear();
        let enc = Encoding {
            version,
            address_size,
            offset_size,
        };
        let dirs = if version <= 4 {
            paths_v4(&mut h, scratch)?
        } else {
            let b = unit.base();
            paths_v5(&mut h, s, &b, enc, scratch)?;
            let dirs = scratch.len();
            paths_v5(&mut h, s, &b, enc, scratch)?;
            dirs
        };
        let paths: &'s MapVec<PathEntry<'a>> = scratch;
        Some(LineProgram {
            version,
            address_size,
            min_inst_length,
            max_ops,
            line_base,
            line_range,
            opcode_base,
            opcode_lengths,
            program,
            paths,
            dirs,
            comp_dir: unit.comp_dir,
            comp_name: unit.name,
        })
    }

    /// The file of index `index`, as (directory, name), as gimli's
    /// `header.file(index)` and `FileEntry::directory` give them: 0-based
    /// from DWARF 5; before, 1-based, with file 0 the unit's own
    /// (`DW_AT_name`) and directory 0 its `DW_AT_comp_dir`. The directory
    /// is empty when there is none; `None` when there is no such file, or
    /// its name cannot be read.
    pub(crate) fn file(&self, index: u64) -> Option<(&'a [u8], &'a [u8])> {
        let files = self.paths.get(self.dirs..).unwrap_or(&[]);
        let (name, dir) = if self.version <= 4 {
            match index.checked_sub(1) {
                None => (self.comp_name?, 0),
                Some(i) => {
                    let e = files.get(usize::try_from(i).ok()?)?;
                    (e.path?, e.dir)
                }
            }
        } else {
            let e = files.get(usize::try_from(index).ok()?)?;
            (e.path?, e.dir)
        };
        Some((self.directory(dir).unwrap_or(&[]), name))
    }

    /// The include directory of index `index`.
    fn directory(&self, index: u64) -> Option<&'a [u8]> {
        let dirs = self.paths.get(..self.dirs).unwrap_or(&[]);
        let i = if self.version <= 4 {
            match index.checked_sub(1) {
                None => return Some(self.comp_dir),
                Some(i) => i,
            }
        } else {
            index
        };
        dirs.get(usize::try_from(i).ok()?)?.path
    }

    /// Run the program: `f` gets each row of its matrix, in order, as
    /// gimli's `LineRows::next_row` yields them (rows after a tombstone
    /// `DW_LNE_set_address` are dropped up to the next address). `None`
    /// at an instruction that cannot be read or an address that
    /// overflows, after the rows before it.
    pub(crate) fn rows(&self, f: &mut impl FnMut(Row)) -> Option<()> {
        let mut regs = Registers::new();
        let mut r = self.program;
        // Each instruction consumes at least its opcode's byte.
        while !r.is_empty() {
            if self.step(&mut r, &mut regs)? {
                if !regs.tombstone {
                    f(Row {
                        address: regs.address,
                        file: regs.file,
                        line: regs.line,
                        end_sequence: regs.end_sequence,
                    });
                }
                if regs.end_sequence {
                    regs = Registers::new();
                }
            }
        }
        Some(())
    }

    /// Execute one instruction; `true` when it appends a row.
    fn step(&self, r: &mut Reader<'a>, regs: &mut Registers) -> Option<bool> {
        let op = r.u8()?;
        if op == 0 {
            return self.extended(r, regs);
        }
        if op >= self.opcode_base {
            let adjusted = op - self.opcode_base;
            let line_step = i64::from(self.line_base) + i64::from(adjusted % self.line_range);
            regs.advance_line(line_step);
            self.advance(regs, u64::from(adjusted / self.line_range))?;
            return Some(true);
        }
        match op {
            dw::LNS_COPY => return Some(true),
            dw::LNS_ADVANCE_PC => self.advance(regs, r.uleb()?)?,
            dw::LNS_ADVANCE_LINE => regs.advance_line(r.sleb()?),
            dw::LNS_SET_FILE => regs.file = r.uleb()?,
            dw::LNS_SET_COLUMN | dw::LNS_SET_ISA => {
                r.uleb()?;
            }
            dw::LNS_NEGATE_STMT
            | dw::LNS_SET_BASIC_BLOCK
            | dw::LNS_SET_PROLOGUE_END
            | dw::LNS_SET_EPILOGUE_BEGIN => {}
            dw::LNS_CONST_ADD_PC => {
                let adjusted = 255 - self.opcode_base;
                self.advance(regs, u64::from(adjusted / self.line_range))?;
            }
            dw::LNS_FIXED_ADVANCE_PC => {
                let n = r.u16()?;
                if !regs.tombstone {
                    regs.address = add_sized(regs.address, u64::from(n), self.address_size)?;
                    regs.op_index = 0;
                }
            }
            _ => {
                // An opcode this reader does not know: skip its operands,
                // as many as the header says.
                let n = *self.opcode_lengths.get(usize::from(op - 1))?;
                for _ in 0..n {
                    r.uleb()?;
                }
            }
        }
        Some(false)
    }

    /// Execute an extended instruction (after its 0 byte).
    fn extended(&self, r: &mut Reader<'a>, regs: &mut Registers) -> Option<bool> {
        let len = usize::try_from(r.uleb()?).ok()?;
        let mut x = r.split(len)?;
        match x.u8()? {
            dw::LNE_END_SEQUENCE => {
                regs.end_sequence = true;
                return Some(true);
            }
            dw::LNE_SET_ADDRESS => {
                let a = x.address(self.address_size)?;
                // A tombstone (or an address going backwards, as linkers
                // leave a dropped function's): no rows until the next.
                regs.tombstone = a < regs.address || a >= min_tombstone(self.address_size);
                if !regs.tombstone {
                    regs.address = a;
                    regs.op_index = 0;
                }
            }
            dw::LNE_DEFINE_FILE if self.version <= 4 => {
                // Checked, as gimli parses it, but not added.
                x.cstr()?;
                for _ in 0..3 {
                    x.uleb()?;
                }
            }
            dw::LNE_SET_DISCRIMINATOR => {
                x.uleb()?;
            }
            _ => {}
        }
        Some(false)
    }

    /// Advance the operation pointer by `n` operations.
    fn advance(&self, regs: &mut Registers, n: u64) -> Option<()> {
        if regs.tombstone {
            return Some(());
        }
        let min = u64::from(self.min_inst_length);
        let step = if self.max_ops == 1 {
            regs.op_index = 0;
            min.wrapping_mul(n)
        } else {
            let max = u64::from(self.max_ops);
            let ops = regs.op_index.wrapping_add(n);
            regs.op_index = ops % max;
            min.wrapping_mul(ops / max)
        };
        regs.address = add_sized(regs.address, step, self.address_size)?;
        Some(())
    }
}

/// Parse DWARF 2-4 include directories and files into `out`; gives the
/// number of directories.
fn paths_v4<'a>(h: &mut Reader<'a>, out: &mut MapVec<PathEntry<'a>>) -> Option<usize> {
    // Each entry consumes its string's bytes; an empty string ends a list.
    loop {
        let d = h.cstr()?;
        if d.is_empty() {
            break;
        }
        out.push(PathEntry {
            path: Some(d),
            dir: 0,
        })?;
    }
    let dirs = out.len();
    loop {
        let name = h.cstr()?;
        if name.is_empty() {
            break;
        }
        let dir = h.uleb()?;
        h.uleb()?; // modification time
        h.uleb()?; // size
        out.push(PathEntry {
            path: Some(name),
            dir,
        })?;
    }
    Some(dirs)
}

/// Parse a DWARF 5 list of directories or files (its entry format, then
/// its entries) onto `out`.
fn paths_v5<'a>(
    h: &mut Reader<'a>,
    s: &Sections<'a>,
    b: &Base,
    enc: Encoding,
    out: &mut MapVec<PathEntry<'a>>,
) -> Option<()> {
    let formats = h.u8()?;
    let format_at = *h;
    let mut paths = 0;
    for _ in 0..formats {
        let content = h.uleb()?;
        h.uleb16()?;
        paths += usize::from(content == u64::from(dw::LNCT_PATH));
    }
    if paths != 1 {
        return None;
    }
    let count = h.uleb()?;
    // Entries may take no bytes (odd forms): the count is bounded by the
    // bytes left, so the loop is too.
    if count > u64::try_from(h.remaining()).ok()? {
        return None;
    }
    for _ in 0..count {
        let mut f = format_at;
        let mut e = PathEntry { path: None, dir: 0 };
        for _ in 0..formats {
            let content = u16::try_from(f.uleb()?).unwrap_or(u16::MAX);
            let form = f.uleb16()?;
            let raw = read_form(h, form, None, enc)?;
            match content {
                dw::LNCT_PATH => e.path = s.string(b, raw),
                dw::LNCT_DIRECTORY_INDEX => {
                    if let Some(d) = udata(raw) {
                        e.dir = d;
                    }
                }
                _ => {}
            }
        }
        out.push(e)?;
    }
    Some(())
}

/// A constant as an unsigned number (negative ones are not).
fn udata(raw: Raw<'_>) -> Option<u64> {
    match raw {
        Raw::Udata(v) | Raw::Data8(v) => Some(v),
        Raw::Data4(v) => Some(u64::from(v)),
        Raw::Sdata(v) => u64::try_from(v).ok(),
        _ => None,
    }
}

/// A line program's state machine registers (those the rows need).
struct Registers {
    address: u64,
    op_index: u64,
    file: u64,
    line: u64,
    end_sequence: bool,
    /// After a tombstone address: rows are not appended.
    tombstone: bool,
}

impl Registers {
    /// The state at the start of a sequence.
    fn new() -> Registers {
        Registers {
            address: 0,
            op_index: 0,
            file: 1,
            line: 1,
            end_sequence: false,
            tombstone: false,
        }
    }

    /// Add `n` to the line: wrapping up, and not below 0.
    fn advance_line(&mut self, n: i64) {
        if n < 0 {
            self.line = self.line.saturating_sub(n.unsigned_abs());
        } else {
            self.line = self.line.wrapping_add(n.unsigned_abs());
        }
    }
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
    use std::borrow::Cow;
    use std::vec::Vec;

    /// The sections' names, in `Sections`' order.
    const NAMES: [&str; 9] = [
        ".debug_info",
        ".debug_abbrev",
        ".debug_line",
        ".debug_str",
        ".debug_line_str",
        ".debug_str_offsets",
        ".debug_addr",
        ".debug_ranges",
        ".debug_rnglists",
    ];

    /// The sections of an object file, uncompressed.
    fn load<'d>(obj: &object::File<'d>) -> Vec<Cow<'d, [u8]>> {
        use object::{Object, ObjectSection};
        NAMES
            .iter()
            .map(|n| {
                obj.section_by_name(n)
                    .and_then(|s| s.uncompressed_data().ok())
                    .unwrap_or(Cow::Borrowed(&[]))
            })
            .collect()
    }

    fn sections<'a>(d: &'a [Cow<'_, [u8]>], big_endian: bool) -> Sections<'a> {
        Sections {
            info: &d[0],
            abbrev: &d[1],
            line: &d[2],
            str: &d[3],
            line_str: &d[4],
            str_offsets: &d[5],
            addr: &d[6],
            ranges: &d[7],
            rnglists: &d[8],
            big_endian,
        }
    }

    /// Run every part of the reader over `s`; gives how much it found.
    fn exercise(s: &Sections<'_>) -> usize {
        let mut n = 0usize;
        let mut abbrevs = Abbrevs::new();
        let mut scratch = MapVec::new();
        let mut units = s.units();
        while let Some(u) = units.next(&mut abbrevs) {
            n += 1;
            if let Some(p) = LineProgram::parse(s, &u, &mut scratch) {
                let _ = p.rows(&mut |r| {
                    n += 1;
                    let _ = p.file(r.file);
                });
                let _ = p.file(0);
            }
            let mut e = u.entries(s, &abbrevs);
            while let Some(d) = e.next_dfs() {
                n += 1;
                for (_, v) in d.attrs() {
                    if let Value::UnitRef(o) = v {
                        let _ = u.entry_at(s, &abbrevs, o);
                    }
                }
                let _ = s.die_ranges(&u, &d, &mut |_, _| n += 1);
            }
        }
        n
    }

    /// A byte string builder for hand-made sections.
    #[derive(Default, Clone)]
    struct B(Vec<u8>);

    impl B {
        fn u8(&mut self, v: u8) -> &mut B {
            self.0.push(v);
            self
        }
        fn u16(&mut self, v: u16) -> &mut B {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u32(&mut self, v: u32) -> &mut B {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(&mut self, v: u64) -> &mut B {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn uleb(&mut self, mut v: u64) -> &mut B {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.0.push(b);
                    return self;
                }
                self.0.push(b | 0x80);
            }
        }
        fn sleb(&mut self, mut v: i64) -> &mut B {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
                    self.0.push(b);
                    return self;
                }
                self.0.push(b | 0x80);
            }
        }
        fn str(&mut self, s: &str) -> &mut B {
            self.0.extend_from_slice(s.as_bytes());
            self.0.push(0);
            self
        }
        fn bytes(&mut self, b: &[u8]) -> &mut B {
            self.0.extend_from_slice(b);
            self
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        /// Patch a 32-bit value at `at`.
        fn set32(&mut self, at: usize, v: u32) {
            self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        fn set64(&mut self, at: usize, v: u64) {
            self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        /// An abbreviation: code, tag, children, (name, form[, const]).
        fn abbrev(&mut self, code: u64, tag: u16, children: bool, attrs: &[(u16, u16)]) -> &mut B {
            self.uleb(code).uleb(tag.into()).u8(children as u8);
            for &(name, form) in attrs {
                self.uleb(name.into()).uleb(form.into());
                if form == dw::FORM_IMPLICIT_CONST {
                    self.sleb(-7);
                }
            }
            self.u8(0).u8(0)
        }
    }

    /// Hand-made DWARF: a DWARF 5 unit (32-bit) with every string,
    /// address and range list form, and a DWARF 4 unit in 64-bit DWARF
    /// with a DWARF 3 line program, `.debug_ranges` and sparse
    /// abbreviation codes. Gives the sections, in `NAMES`' order.
    fn hand_made() -> Vec<Vec<u8>> {
        use dw::*;
        let mut str_ = B::default();
        let mut line_str = B::default();
        let s_main = str_.len() as u32;
        str_.str("main.c");
        let s_link = str_.len() as u32;
        str_.str("_ZN4main3fooE");
        let s_dir2 = str_.len() as u32;
        str_.str("/v4/dir");
        let ls_comp = line_str.len() as u32;
        line_str.str("/comp");
        let ls_inc = line_str.len() as u32;
        line_str.str("inc");
        // .debug_str_offsets (v5 header, then the table at 8).
        let mut stroff = B::default();
        stroff.u32(4 + 4 * 2).u16(5).u16(0).u32(s_main).u32(s_link);
        // .debug_addr (v5 header, then addresses at 8).
        let mut addr = B::default();
        addr.u32(4 + 8 * 4).u16(5).u8(8).u8(0);
        for a in [0x1000u64, 0x1100, 0x1200, 0x1300] {
            addr.u64(a);
        }
        // .debug_rnglists: header, 2 offsets, then lists.
        let mut rng = B::default();
        rng.u32(0).u16(5).u8(8).u8(0).u32(2);
        let table = rng.len();
        rng.u32(0).u32(0);
        let list0 = rng.len();
        rng.u8(RLE_BASE_ADDRESSX).uleb(0);
        rng.u8(RLE_OFFSET_PAIR).uleb(0x10).uleb(0x20);
        rng.u8(RLE_STARTX_ENDX).uleb(1).uleb(2);
        rng.u8(RLE_STARTX_LENGTH).uleb(2).uleb(0x30);
        rng.u8(RLE_BASE_ADDRESS).u64(0x5000);
        rng.u8(RLE_OFFSET_PAIR).uleb(4).uleb(8);
        rng.u8(RLE_OFFSET_PAIR).uleb(8).uleb(8); // empty: left out
        rng.u8(RLE_START_END).u64(0x6000).u64(0x6010);
        rng.u8(RLE_START_LENGTH).u64(0x7000).uleb(0x40);
        rng.u8(RLE_BASE_ADDRESS).u64(u64::MAX); // a tombstone base
        rng.u8(RLE_OFFSET_PAIR).uleb(1).uleb(2);
        rng.u8(RLE_END_OF_LIST);
        let list1 = rng.len();
        rng.u8(RLE_START_LENGTH).u64(0x8000).uleb(4);
        rng.u8(RLE_END_OF_LIST);
        rng.set32(table, (list0 - table) as u32);
        rng.set32(table + 4, (list1 - table) as u32);
        let n = rng.len() as u32 - 4;
        rng.set32(0, n);
        // .debug_ranges for the DWARF 4 unit.
        let mut ranges = B::default();
        ranges.u64(0x10).u64(0x20); // relative to the unit's low_pc
        ranges.u64(u64::MAX).u64(0x9000); // base selection
        ranges.u64(0).u64(0x10);
        ranges.u64(5).u64(5); // empty
        ranges.u64(0).u64(0);

        // .debug_line: a DWARF 5 program, then a DWARF 3 one in 64-bit.
        let mut line = B::default();
        let line5 = line.len();
        line.u32(0).u16(5).u8(8).u8(0);
        let hl = line.len();
        line.u32(0);
        line.u8(1).u8(1).u8(1).u8((-5i8) as u8).u8(14).u8(14);
        line.bytes(&[0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 2]);
        line.u8(1)
            .uleb(LNCT_PATH.into())
            .uleb(FORM_LINE_STRP.into());
        line.uleb(2).u32(ls_comp).u32(ls_inc);
        line.u8(3);
        line.uleb(LNCT_PATH.into()).uleb(FORM_STRING.into());
        line.uleb(LNCT_DIRECTORY_INDEX.into())
            .uleb(FORM_UDATA.into());
        line.uleb(5).uleb(FORM_DATA16.into()); // MD5
        line.uleb(3);
        line.str("main.c").uleb(0).bytes(&[0xaa; 16]);
        line.str("x.h").uleb(1).bytes(&[0xbb; 16]);
        line.str("/abs/y.h").uleb(7).bytes(&[0xcc; 16]);
        let prog = line.len();
        line.set32(hl, (prog - hl - 4) as u32);
        line.u8(0).uleb(9).u8(LNE_SET_ADDRESS).u64(0x1000);
        line.u8(14 + 3 * 14 + 6); // special: address +3, line +1
        line.u8(LNS_ADVANCE_LINE).sleb(-1);
        line.u8(LNS_COPY);
        line.u8(LNS_CONST_ADD_PC);
        line.u8(LNS_FIXED_ADVANCE_PC).u16(0x10);
        line.u8(13).uleb(300).uleb(5); // unknown standard opcode, 2 operands
        line.u8(0).uleb(4).u8(0x80).bytes(&[1, 2, 3]); // unknown extended
        line.u8(LNS_SET_FILE).uleb(2);
        line.u8(LNS_ADVANCE_LINE).sleb(1000);
        line.u8(0).uleb(2).u8(LNE_SET_DISCRIMINATOR).uleb(3);
        line.u8(LNS_SET_COLUMN)
            .uleb(4)
            .u8(LNS_NEGATE_STMT)
            .u8(LNS_SET_ISA)
            .uleb(1);
        line.u8(LNS_SET_PROLOGUE_END)
            .u8(LNS_SET_EPILOGUE_BEGIN)
            .u8(LNS_SET_BASIC_BLOCK);
        line.u8(14 + 5); // special: line -5 + 5 = 0
        line.u8(LNS_ADVANCE_LINE).sleb(-100_000); // saturates at 0
        line.u8(LNS_COPY);
        line.u8(LNS_ADVANCE_PC).uleb(0x20);
        line.u8(0).uleb(1).u8(LNE_END_SEQUENCE);
        // A dropped function's sequence: a tombstone address.
        line.u8(0).uleb(9).u8(LNE_SET_ADDRESS).u64(u64::MAX);
        line.u8(LNS_COPY).u8(14 + 20);
        line.u8(0).uleb(1).u8(LNE_END_SEQUENCE);
        line.u8(0).uleb(9).u8(LNE_SET_ADDRESS).u64(0x2000);
        line.u8(LNS_SET_FILE).uleb(0).u8(LNS_COPY);
        // Backwards: a tombstone too.
        line.u8(0).uleb(9).u8(LNE_SET_ADDRESS).u64(0x10);
        line.u8(LNS_COPY);
        line.u8(0).uleb(9).u8(LNE_SET_ADDRESS).u64(0x2100);
        line.u8(LNS_COPY);
        line.u8(0).uleb(1).u8(LNE_END_SEQUENCE);
        let n = (line.len() - line5 - 4) as u32;
        line.set32(line5, n);
        let line3 = line.len();
        line.u32(0xffff_ffff).u64(0).u16(3);
        let hl3 = line.len();
        line.u64(0);
        line.u8(4).u8(1).u8(1).u8(10).u8(10); // min length 4, opcode base 10
        line.bytes(&[0, 1, 1, 1, 1, 0, 0, 0, 1]);
        line.str("/inc3").str("rel").u8(0);
        line.str("a.c").uleb(0).uleb(0).uleb(0);
        line.str("b.h").uleb(2).uleb(1).uleb(2);
        line.str("c.h").uleb(9).uleb(0).uleb(0);
        line.u8(0);
        let prog3 = line.len();
        line.set64(hl3, (prog3 - hl3 - 8) as u64);
        line.u8(0).uleb(9).u8(LNE_SET_ADDRESS).u64(0x9000);
        line.u8(10).u8(11); // opcodes 10 and 11 are special here
        line.u8(0)
            .uleb(8)
            .u8(LNE_DEFINE_FILE)
            .str("d.c")
            .uleb(1)
            .uleb(0)
            .uleb(0);
        line.u8(LNS_SET_FILE).uleb(3).u8(LNS_CONST_ADD_PC).u8(255);
        line.u8(LNS_SET_FILE).uleb(0).u8(LNS_COPY);
        line.u8(0).uleb(1).u8(LNE_END_SEQUENCE);
        let n = (line.len() - line3 - 12) as u64;
        line.set64(line3 + 4, n);

        // .debug_abbrev: the v5 unit's table, then the v4 unit's.
        let mut ab = B::default();
        ab.abbrev(
            1,
            TAG_COMPILE_UNIT,
            true,
            &[
                (AT_NAME, FORM_STRX1),
                (AT_COMP_DIR, FORM_LINE_STRP),
                (AT_STMT_LIST, FORM_SEC_OFFSET),
                (AT_LOW_PC, FORM_ADDRX),
                (0x13, FORM_IMPLICIT_CONST), // DW_AT_language
                (AT_STR_OFFSETS_BASE, FORM_SEC_OFFSET),
                (AT_ADDR_BASE, FORM_SEC_OFFSET),
                (AT_RNGLISTS_BASE, FORM_SEC_OFFSET),
            ],
        );
        ab.abbrev(
            2,
            TAG_SUBPROGRAM,
            true,
            &[
                (AT_NAME, FORM_STRING),
                (AT_LOW_PC, FORM_ADDRX2),
                (AT_HIGH_PC, FORM_DATA4),
                (0x3a, FORM_INDIRECT), // DW_AT_decl_file
            ],
        );
        ab.abbrev(
            3,
            TAG_INLINED_SUBROUTINE,
            false,
            &[
                (AT_ABSTRACT_ORIGIN, FORM_REF4),
                (AT_RANGES, FORM_RNGLISTX),
                (AT_CALL_FILE, FORM_UDATA),
                (AT_CALL_LINE, FORM_DATA1),
            ],
        );
        ab.abbrev(
            4,
            TAG_INLINED_SUBROUTINE,
            true,
            &[
                (AT_ABSTRACT_ORIGIN, FORM_REF_UDATA),
                (AT_RANGES, FORM_SEC_OFFSET),
                (AT_CALL_FILE, FORM_DATA2),
                (AT_CALL_LINE, FORM_IMPLICIT_CONST),
            ],
        );
        ab.abbrev(
            5,
            TAG_SUBPROGRAM,
            false,
            &[
                (AT_LINKAGE_NAME, FORM_STRX),
                (AT_SPECIFICATION, FORM_REF_ADDR),
                (0x3f, FORM_FLAG_PRESENT), // DW_AT_external
                (0x02, FORM_EXPRLOC),
                (0x1c, FORM_BLOCK1), // DW_AT_const_value
                (0x1c, FORM_DATA16),
                (0x49, FORM_REF_SIG8), // DW_AT_type
                (0x3c, FORM_FLAG),     // DW_AT_declaration
                (AT_LOW_PC, FORM_ADDRX4),
                (AT_HIGH_PC, FORM_ADDRX1),
                (0x88, FORM_BLOCK2),
                (0x89, FORM_BLOCK4),
                (0x8a, FORM_BLOCK),
                (0x8b, FORM_SDATA),
                (0x8c, FORM_DATA8),
                (0x8d, FORM_STRX2),
                (0x8e, FORM_STRX3),
                (0x8f, FORM_STRX4),
                (0x90, FORM_ADDRX3),
                (0x91, FORM_LOCLISTX),
                (0x92, FORM_REF1),
                (0x93, FORM_REF2),
                (0x94, FORM_REF8),
                (0x95, FORM_REF_SUP4),
                (0x96, FORM_REF_SUP8),
                (0x97, FORM_STRP_SUP),
            ],
        );
        ab.u8(0);
        let ab4 = ab.len();
        ab.abbrev(
            1_000_000,
            TAG_COMPILE_UNIT,
            true,
            &[
                (AT_NAME, FORM_STRING),
                (AT_COMP_DIR, FORM_STRP),
                (AT_STMT_LIST, FORM_SEC_OFFSET),
                (AT_LOW_PC, FORM_ADDR),
                (AT_RANGES, FORM_DATA8), // an offset, in 64-bit DWARF
            ],
        );
        ab.abbrev(
            7,
            TAG_SUBPROGRAM,
            true,
            &[(AT_NAME, FORM_STRING), (AT_RANGES, FORM_SEC_OFFSET)],
        );
        ab.abbrev(
            u64::MAX >> 1,
            TAG_INLINED_SUBROUTINE,
            false,
            &[
                (AT_ABSTRACT_ORIGIN, FORM_REF8),
                (AT_LOW_PC, FORM_ADDR),
                (AT_HIGH_PC, FORM_ADDR),
                (AT_CALL_FILE, FORM_DATA1),
                (AT_CALL_LINE, FORM_SDATA),
                (0x88, FORM_GNU_STRP_ALT),
                (0x89, FORM_GNU_REF_ALT),
                (0x8a, FORM_REF_ADDR),
            ],
        );
        ab.u8(0);

        // .debug_info, unit 1: DWARF 5, 32-bit.
        let mut info = B::default();
        info.u32(0).u16(5).u8(UT_COMPILE).u8(8).u32(0);
        let root = info.len();
        info.uleb(1).u8(0).u32(ls_comp).u32(line5 as u32).uleb(0);
        info.u32(8).u32(8).u32(table as u32);
        let sub = info.len();
        info.uleb(2)
            .str("foo")
            .u16(1)
            .u32(0x80)
            .uleb(FORM_DATA1.into())
            .u8(1);
        info.uleb(3).u32((sub) as u32).uleb(0).uleb(2).u8(42);
        info.uleb(4).uleb(sub as u64).u32(list1 as u32).u16(1);
        info.uleb(3).u32((sub) as u32).uleb(1).uleb(1).u8(7);
        info.u8(0); // end of the inlined call's children
        info.u8(0); // end of foo's children
        info.uleb(5).uleb(1).u32(sub as u32);
        info.uleb(2).bytes(&[1, 2]).uleb(1).u8(9);
        info.bytes(&[0; 16]).u64(0x1234).u8(1).u32(3).u8(0);
        info.u16(2)
            .bytes(&[1, 2])
            .u32(1)
            .u8(3)
            .uleb(2)
            .bytes(&[4, 5]);
        info.sleb(-3).u64(9).u16(0).bytes(&[1, 0, 0]).u32(0);
        info.bytes(&[0, 0, 0])
            .uleb(0)
            .u8(root as u8)
            .u16(root as u16)
            .u64(root as u64);
        info.u32(0).u64(0).u32(0);
        info.u8(0); // end of the root's children
        let n = info.len() as u32 - 4;
        info.set32(0, n);
        // Unit 2: DWARF 4, 64-bit.
        let u2 = info.len();
        info.u32(0xffff_ffff).u64(0).u16(4).u64(ab4 as u64).u8(8);
        let root2 = info.len() - u2;
        info.uleb(1_000_000)
            .str("v4.c")
            .u64(s_dir2 as u64)
            .u64(line3 as u64);
        info.u64(0x9000).u64(0);
        let sub2 = info.len() - u2;
        info.uleb(7).str("bar").u64(0);
        info.uleb(u64::MAX >> 1)
            .u64(sub2 as u64)
            .u64(0x9004)
            .u64(0x9008);
        info.u8(2)
            .sleb(-1)
            .u64(0)
            .u64(0)
            .u64(u2 as u64 + root2 as u64);
        info.u8(0).u8(0);
        let n = (info.len() - u2 - 12) as u64;
        info.set64(u2 + 4, n);
        [info, ab, line, str_, line_str, stroff, addr, ranges, rng]
            .into_iter()
            .map(|b| b.0)
            .collect()
    }
    /// Skipping a value moves as far as reading it, and fails where
    /// reading fails, for every form and encoding.
    #[test]
    fn skipping_values_agrees_with_reading_them() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let encodings = [
            (2, 4, 4),
            (3, 8, 4),
            (4, 8, 8),
            (5, 4, 4),
            (5, 8, 8),
            (5, 1, 4),
        ];
        for (version, address_size, offset_size) in encodings {
            let enc = Encoding {
                version,
                address_size,
                offset_size,
            };
            for form in (0u16..0x30).chain(0x1f00..0x1f30) {
                let spec = Spec {
                    name: dw::AT_NAME,
                    form,
                    size: form_size(form, enc),
                    implicit: 7,
                };
                for round in 0..400 {
                    let n = (rand() % 40) as usize;
                    let buf: Vec<u8> = (0..n)
                        .map(|_| match round % 3 {
                            0 => rand() as u8,
                            1 => (rand() % 4) as u8,
                            _ => (rand() as u8) | 0x80,
                        })
                        .collect();
                    for big in [false, true] {
                        let mut a = Reader::new(&buf, 0, big).unwrap();
                        let mut b = a;
                        let read = read_form(&mut a, form, spec.implicit(), enc).map(|_| a.pos);
                        let skipped = skip_values(&mut b, &[spec], enc).map(|()| b.pos);
                        assert_eq!(read, skipped, "form {form:#x} in {buf:x?}");
                    }
                }
            }
        }
    }

    /// Every prefix of each hand-made section, and random bytes: no
    /// panic, no endless loop.
    #[test]
    fn corrupt_input_never_panics() {
        let good = hand_made();
        let cows: Vec<Cow<'_, [u8]>> = good.iter().map(|v| Cow::Borrowed(&v[..])).collect();
        assert!(exercise(&sections(&cows, false)) > 20);
        for i in 0..good.len() {
            for cut in 0..good[i].len() {
                let mut d = cows.clone();
                d[i] = Cow::Borrowed(&good[i][..cut]);
                exercise(&sections(&d, false));
                exercise(&sections(&d, true));
            }
        }
        // Random bytes, and random changes to good sections.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let mut d: Vec<Vec<u8>> = good.clone();
            for sec in d.iter_mut() {
                if round % 3 == 0 {
                    let n = (rand() % 300) as usize;
                    *sec = (0..n).map(|_| rand() as u8).collect();
                } else if !sec.is_empty() {
                    for _ in 0..1 + rand() % 4 {
                        let at = (rand() as usize) % sec.len();
                        sec[at] = rand() as u8;
                    }
                }
            }
            let c: Vec<Cow<'_, [u8]>> = d.iter().map(|v| Cow::Borrowed(&v[..])).collect();
            exercise(&sections(&c, round % 2 == 1));
        }
        // Prefixes of real sections: this binary's first units.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let obj = object::File::parse(&*exe).unwrap();
        let real = load(&obj);
        for i in [0usize, 2] {
            let len = real[i].len().min(48 << 10);
            for cut in (0..len).step_by(len / 700 + 1) {
                let mut d: Vec<Cow<'_, [u8]>> =
                    real.iter().map(|c| Cow::Borrowed(&c[..])).collect();
                d[0] = Cow::Borrowed(&real[0][..real[0].len().min(48 << 10)]);
                d[i] = Cow::Borrowed(&real[i][..cut]);
                exercise(&sections(&d, false));
            }
        }
    }

    #[cfg(feature = "symbolize")]
    mod against_gimli {
        use super::*;
        use gimli::{AttributeValue, EndianSlice, RunTimeEndian};
        use std::collections::HashMap;

        type R<'a> = EndianSlice<'a, RunTimeEndian>;

        #[test]
        fn constants_agree_with_gimli() {
            use gimli::constants as g;
            assert_eq!(dw::TAG_COMPILE_UNIT, g::DW_TAG_compile_unit.0);
            assert_eq!(dw::TAG_PARTIAL_UNIT, g::DW_TAG_partial_unit.0);
            assert_eq!(dw::TAG_SUBPROGRAM, g::DW_TAG_subprogram.0);
            assert_eq!(dw::TAG_INLINED_SUBROUTINE, g::DW_TAG_inlined_subroutine.0);
            let at = [
                (dw::AT_LOCATION, g::DW_AT_location),
                (dw::AT_NAME, g::DW_AT_name),
                (dw::AT_STMT_LIST, g::DW_AT_stmt_list),
                (dw::AT_LOW_PC, g::DW_AT_low_pc),
                (dw::AT_HIGH_PC, g::DW_AT_high_pc),
                (dw::AT_STRING_LENGTH, g::DW_AT_string_length),
                (dw::AT_COMP_DIR, g::DW_AT_comp_dir),
                (dw::AT_RETURN_ADDR, g::DW_AT_return_addr),
                (dw::AT_START_SCOPE, g::DW_AT_start_scope),
                (dw::AT_ABSTRACT_ORIGIN, g::DW_AT_abstract_origin),
                (dw::AT_DATA_MEMBER_LOCATION, g::DW_AT_data_member_location),
                (dw::AT_FRAME_BASE, g::DW_AT_frame_base),
                (dw::AT_MACRO_INFO, g::DW_AT_macro_info),
                (dw::AT_SEGMENT, g::DW_AT_segment),
                (dw::AT_SPECIFICATION, g::DW_AT_specification),
                (dw::AT_STATIC_LINK, g::DW_AT_static_link),
                (dw::AT_USE_LOCATION, g::DW_AT_use_location),
                (dw::AT_VTABLE_ELEM_LOCATION, g::DW_AT_vtable_elem_location),
                (dw::AT_RANGES, g::DW_AT_ranges),
                (dw::AT_CALL_FILE, g::DW_AT_call_file),
                (dw::AT_CALL_LINE, g::DW_AT_call_line),
                (dw::AT_LINKAGE_NAME, g::DW_AT_linkage_name),
                (dw::AT_STR_OFFSETS_BASE, g::DW_AT_str_offsets_base),
                (dw::AT_ADDR_BASE, g::DW_AT_addr_base),
                (dw::AT_RNGLISTS_BASE, g::DW_AT_rnglists_base),
                (dw::AT_MACROS, g::DW_AT_macros),
                (dw::AT_MIPS_LINKAGE_NAME, g::DW_AT_MIPS_linkage_name),
                (dw::AT_GNU_RANGES_BASE, g::DW_AT_GNU_ranges_base),
                (dw::AT_GNU_ADDR_BASE, g::DW_AT_GNU_addr_base),
            ];
            for (ours, theirs) in at {
                assert_eq!(ours, theirs.0, "{theirs}");
            }
            let forms = [
                (dw::FORM_ADDR, g::DW_FORM_addr),
                (dw::FORM_BLOCK2, g::DW_FORM_block2),
                (dw::FORM_BLOCK4, g::DW_FORM_block4),
                (dw::FORM_DATA2, g::DW_FORM_data2),
                (dw::FORM_DATA4, g::DW_FORM_data4),
                (dw::FORM_DATA8, g::DW_FORM_data8),
                (dw::FORM_STRING, g::DW_FORM_string),
                (dw::FORM_BLOCK, g::DW_FORM_block),
                (dw::FORM_BLOCK1, g::DW_FORM_block1),
                (dw::FORM_DATA1, g::DW_FORM_data1),
                (dw::FORM_FLAG, g::DW_FORM_flag),
                (dw::FORM_SDATA, g::DW_FORM_sdata),
                (dw::FORM_STRP, g::DW_FORM_strp),
                (dw::FORM_UDATA, g::DW_FORM_udata),
                (dw::FORM_REF_ADDR, g::DW_FORM_ref_addr),
                (dw::FORM_REF1, g::DW_FORM_ref1),
                (dw::FORM_REF2, g::DW_FORM_ref2),
                (dw::FORM_REF4, g::DW_FORM_ref4),
                (dw::FORM_REF8, g::DW_FORM_ref8),
                (dw::FORM_REF_UDATA, g::DW_FORM_ref_udata),
                (dw::FORM_INDIRECT, g::DW_FORM_indirect),
                (dw::FORM_SEC_OFFSET, g::DW_FORM_sec_offset),
                (dw::FORM_EXPRLOC, g::DW_FORM_exprloc),
                (dw::FORM_FLAG_PRESENT, g::DW_FORM_flag_present),
                (dw::FORM_STRX, g::DW_FORM_strx),
                (dw::FORM_ADDRX, g::DW_FORM_addrx),
                (dw::FORM_REF_SUP4, g::DW_FORM_ref_sup4),
                (dw::FORM_STRP_SUP, g::DW_FORM_strp_sup),
                (dw::FORM_DATA16, g::DW_FORM_data16),
                (dw::FORM_LINE_STRP, g::DW_FORM_line_strp),
                (dw::FORM_REF_SIG8, g::DW_FORM_ref_sig8),
                (dw::FORM_IMPLICIT_CONST, g::DW_FORM_implicit_const),
                (dw::FORM_LOCLISTX, g::DW_FORM_loclistx),
                (dw::FORM_RNGLISTX, g::DW_FORM_rnglistx),
                (dw::FORM_REF_SUP8, g::DW_FORM_ref_sup8),
                (dw::FORM_STRX1, g::DW_FORM_strx1),
                (dw::FORM_STRX2, g::DW_FORM_strx2),
                (dw::FORM_STRX3, g::DW_FORM_strx3),
                (dw::FORM_STRX4, g::DW_FORM_strx4),
                (dw::FORM_ADDRX1, g::DW_FORM_addrx1),
                (dw::FORM_ADDRX2, g::DW_FORM_addrx2),
                (dw::FORM_ADDRX3, g::DW_FORM_addrx3),
                (dw::FORM_ADDRX4, g::DW_FORM_addrx4),
                (dw::FORM_GNU_ADDR_INDEX, g::DW_FORM_GNU_addr_index),
                (dw::FORM_GNU_STR_INDEX, g::DW_FORM_GNU_str_index),
                (dw::FORM_GNU_REF_ALT, g::DW_FORM_GNU_ref_alt),
                (dw::FORM_GNU_STRP_ALT, g::DW_FORM_GNU_strp_alt),
            ];
            for (ours, theirs) in forms {
                assert_eq!(ours, theirs.0, "{theirs}");
            }
            assert_eq!(dw::UT_COMPILE, g::DW_UT_compile.0);
            assert_eq!(dw::UT_PARTIAL, g::DW_UT_partial.0);
            let lns = [
                (dw::LNS_COPY, g::DW_LNS_copy),
                (dw::LNS_ADVANCE_PC, g::DW_LNS_advance_pc),
                (dw::LNS_ADVANCE_LINE, g::DW_LNS_advance_line),
                (dw::LNS_SET_FILE, g::DW_LNS_set_file),
                (dw::LNS_SET_COLUMN, g::DW_LNS_set_column),
                (dw::LNS_NEGATE_STMT, g::DW_LNS_negate_stmt),
                (dw::LNS_SET_BASIC_BLOCK, g::DW_LNS_set_basic_block),
                (dw::LNS_CONST_ADD_PC, g::DW_LNS_const_add_pc),
                (dw::LNS_FIXED_ADVANCE_PC, g::DW_LNS_fixed_advance_pc),
                (dw::LNS_SET_PROLOGUE_END, g::DW_LNS_set_prologue_end),
                (dw::LNS_SET_EPILOGUE_BEGIN, g::DW_LNS_set_epilogue_begin),
                (dw::LNS_SET_ISA, g::DW_LNS_set_isa),
            ];
            for (ours, theirs) in lns {
                assert_eq!(ours, theirs.0);
            }
            assert_eq!(dw::LNE_END_SEQUENCE, g::DW_LNE_end_sequence.0);
            assert_eq!(dw::LNE_SET_ADDRESS, g::DW_LNE_set_address.0);
            assert_eq!(dw::LNE_DEFINE_FILE, g::DW_LNE_define_file.0);
            assert_eq!(dw::LNE_SET_DISCRIMINATOR, g::DW_LNE_set_discriminator.0);
            assert_eq!(dw::LNCT_PATH, g::DW_LNCT_path.0);
            assert_eq!(dw::LNCT_DIRECTORY_INDEX, g::DW_LNCT_directory_index.0);
            let rle = [
                (dw::RLE_END_OF_LIST, g::DW_RLE_end_of_list),
                (dw::RLE_BASE_ADDRESSX, g::DW_RLE_base_addressx),
                (dw::RLE_STARTX_ENDX, g::DW_RLE_startx_endx),
                (dw::RLE_STARTX_LENGTH, g::DW_RLE_startx_length),
                (dw::RLE_OFFSET_PAIR, g::DW_RLE_offset_pair),
                (dw::RLE_BASE_ADDRESS, g::DW_RLE_base_address),
                (dw::RLE_START_END, g::DW_RLE_start_end),
                (dw::RLE_START_LENGTH, g::DW_RLE_start_length),
            ];
            for (ours, theirs) in rle {
                assert_eq!(ours, theirs.0);
            }
        }

        /// What a comparison covered.
        #[derive(Debug, Default)]
        struct Counts {
            units: usize,
            v5_units: usize,
            rows: usize,
            files: usize,
            dies: usize,
            attrs: usize,
            calls: usize,
            inlined: usize,
            ranges: usize,
            origins: usize,
        }

        fn gimli_dwarf<'a>(d: &'a [Cow<'_, [u8]>], big: bool) -> gimli::Dwarf<R<'a>> {
            let endian = if big {
                RunTimeEndian::Big
            } else {
                RunTimeEndian::Little
            };
            gimli::Dwarf::load(|id| -> Result<R<'a>, gimli::Error> {
                let bytes = NAMES
                    .iter()
                    .position(|n| *n == id.name())
                    .map_or(&[][..], |i| &*d[i]);
                Ok(EndianSlice::new(bytes, endian))
            })
            .unwrap()
        }

        /// gimli's raw value, resolved as ours are.
        fn theirs<'a>(
            dwarf: &gimli::Dwarf<R<'a>>,
            unit: &gimli::Unit<R<'a>>,
            v: AttributeValue<R<'a>>,
        ) -> Value<'a> {
            use AttributeValue as A;
            let global = |o: gimli::UnitOffset| o.to_debug_info_offset(&unit.header).unwrap().0;
            match v {
                A::Data1(n) => Value::Udata(n.into()),
                A::Data2(n) => Value::Udata(n.into()),
                A::Data4(n) => Value::Udata(n.into()),
                A::Data8(n) | A::Udata(n) => Value::Udata(n),
                A::Sdata(n) => Value::Sdata(n),
                A::Addr(a) => Value::Addr(a),
                A::DebugAddrIndex(i) => dwarf.address(unit, i).map_or(Value::Other, Value::Addr),
                A::String(_)
                | A::DebugStrRef(_)
                | A::DebugLineStrRef(_)
                | A::DebugStrOffsetsIndex(_) => dwarf
                    .attr_string(unit, v)
                    .map_or(Value::Other, |s| Value::Str(s.slice())),
                A::UnitRef(o) => Value::UnitRef(global(o)),
                A::DebugInfoRef(o) => Value::RefAddr(o.0),
                A::SecOffset(o) => Value::SecOffset(o as u64),
                A::DebugRngListsIndex(i) => Value::Rnglistx(i.0 as u64),
                A::Flag(f) => Value::Flag(f),
                _ => Value::Other,
            }
        }

        type FileName = Option<(Vec<u8>, Vec<u8>)>;

        fn their_file(
            dwarf: &gimli::Dwarf<R<'_>>,
            unit: &gimli::Unit<R<'_>>,
            h: &gimli::LineProgramHeader<R<'_>>,
            idx: u64,
        ) -> FileName {
            let fe = h.file(idx)?;
            let name = dwarf.attr_string(unit, fe.path_name()).ok()?;
            let dir = fe
                .directory(h)
                .and_then(|d| dwarf.attr_string(unit, d).ok())
                .map_or(&[][..], |d| d.slice());
            Some((dir.to_vec(), name.slice().to_vec()))
        }

        fn compare_lines(
            s: &Sections<'_>,
            u: &Unit<'_>,
            dwarf: &gimli::Dwarf<R<'_>>,
            unit: &gimli::Unit<R<'_>>,
            c: &mut Counts,
        ) {
            let mut scratch = MapVec::new();
            let ours = LineProgram::parse(s, u, &mut scratch);
            let Some(program) = unit.line_program.clone() else {
                assert!(
                    ours.is_none(),
                    "unit {:#x}: a program gimli has not",
                    u.offset
                );
                return;
            };
            let ours = ours.expect("our line program");
            let header = program.header().clone();
            let mut want = Vec::new();
            let mut rows = program.rows();
            let done = loop {
                match rows.next_row() {
                    Ok(Some((_, r))) => want.push(Row {
                        address: r.address(),
                        file: r.file_index(),
                        line: r.line().map_or(0, |l| l.get()),
                        end_sequence: r.end_sequence(),
                    }),
                    Ok(None) => break true,
                    Err(_) => break false,
                }
            };
            let mut got = Vec::new();
            let ok = ours.rows(&mut |r| got.push(r)).is_some();
            assert_eq!((ok, got.len()), (done, want.len()), "unit {:#x}", u.offset);
            assert!(got == want, "unit {:#x}: rows differ", u.offset);
            c.rows += got.len();
            // Every file of the header, and a few indexes past them.
            let n = header.file_names().len() as u64 + 3;
            let used = got.iter().map(|r| r.file).filter(|&f| f >= n);
            for idx in (0..n).chain(used).chain([u64::MAX]) {
                let mine = ours.file(idx).map(|(d, f)| (d.to_vec(), f.to_vec()));
                assert_eq!(mine, their_file(dwarf, unit, &header, idx), "file {idx}");
                c.files += 1;
            }
        }

        fn compare_dies(
            s: &Sections<'_>,
            u: &Unit<'_>,
            abbrevs: &Abbrevs,
            dwarf: &gimli::Dwarf<R<'_>>,
            unit: &gimli::Unit<R<'_>>,
            c: &mut Counts,
        ) {
            use gimli::constants as g;
            let mut mine = u.entries(s, abbrevs);
            let mut entries = unit.entries();
            let mut origins: HashMap<usize, u16> = HashMap::new();
            while let Some(e) = entries.next_dfs().unwrap() {
                let d = mine.next_dfs().expect("our DIE");
                let off = e.offset().to_debug_info_offset(&unit.header).unwrap().0;
                assert_eq!((d.offset, d.depth, d.tag), (off, e.depth(), e.tag().0));
                c.dies += 1;
                let got: Vec<(u16, Value<'_>)> = d.attrs().collect();
                let want: Vec<(u16, Value<'_>)> = e
                    .attrs()
                    .iter()
                    .map(|a| (a.name().0, theirs(dwarf, unit, a.raw_value())))
                    .collect();
                assert_eq!(got, want, "DIE {off:#x}");
                c.attrs += got.len();
                if d.tag != dw::TAG_SUBPROGRAM && d.tag != dw::TAG_INLINED_SUBROUTINE {
                    continue;
                }
                c.calls += 1;
                c.inlined += usize::from(d.tag == dw::TAG_INLINED_SUBROUTINE);
                for name in [g::DW_AT_abstract_origin, g::DW_AT_specification] {
                    if let Some(Value::UnitRef(o)) = d.attr(name.0) {
                        origins.insert(o, 0);
                    }
                }
                let mut got = Vec::new();
                let ok = s.die_ranges(u, &d, &mut |a, b| got.push((a, b))).is_some();
                let mut want = Vec::new();
                let done = match dwarf.die_ranges(unit, e) {
                    Ok(mut it) => loop {
                        match it.next() {
                            Ok(Some(r)) => want.push((r.begin, r.end)),
                            Ok(None) => break true,
                            Err(_) => break false,
                        }
                    },
                    Err(_) => false,
                };
                assert_eq!((ok, &got), (done, &want), "ranges of DIE {off:#x}");
                c.ranges += got.len();
            }
            assert!(mine.next_dfs().is_none(), "a DIE gimli has not");
            for (&o, _) in origins.iter() {
                let mine = u.entry_at(s, abbrevs, o).map(|d| d.tag);
                let theirs = gimli::DebugInfoOffset(o)
                    .to_unit_offset(&unit.header)
                    .and_then(|uo| unit.entry(uo).ok())
                    .map(|e| e.tag().0);
                assert_eq!(mine, theirs, "origin {o:#x}");
                c.origins += 1;
            }
        }

        /// Compare everything we read in `d` with what gimli reads.
        fn compare(d: &[Cow<'_, [u8]>], big: bool) -> Counts {
            let s = sections(d, big);
            let dwarf = gimli_dwarf(d, big);
            let mut c = Counts::default();
            let mut abbrevs = Abbrevs::new();
            let mut ours = s.units();
            let mut headers = dwarf.units();
            while let Some(header) = headers.next().unwrap() {
                if !matches!(
                    header.type_(),
                    gimli::UnitType::Compilation | gimli::UnitType::Partial
                ) {
                    continue;
                }
                let off = header.offset().0;
                let u = ours.next(&mut abbrevs).expect("our unit");
                assert_eq!(u.offset, off);
                assert_eq!(u.version, header.version());
                assert_eq!(u.offset_size, header.format().word_size());
                let unit = dwarf.unit(header).unwrap();
                let dir = unit.comp_dir.map_or(&[][..], |d| d.slice());
                assert_eq!(u.comp_dir, dir, "unit {off:#x}");
                assert_eq!(u.name, unit.name.map(|n| n.slice()));
                assert_eq!(u.low_pc, unit.low_pc);
                c.units += 1;
                c.v5_units += usize::from(u.version == 5);
                compare_lines(&s, &u, &dwarf, &unit, &mut c);
                compare_dies(&s, &u, &abbrevs, &dwarf, &unit, &mut c);
            }
            assert!(ours.next(&mut abbrevs).is_none(), "a unit gimli has not");
            c
        }

        #[test]
        fn hand_made_dwarf_as_gimli_reads_it() {
            let v = hand_made();
            let d: Vec<Cow<'_, [u8]>> = v.iter().map(|v| Cow::Borrowed(&v[..])).collect();
            let c = compare(&d, false);
            eprintln!("{c:?}");
            assert_eq!((c.units, c.v5_units), (2, 1));
            assert_eq!(c.dies, 9);
            assert!(c.rows >= 9 && c.ranges >= 12 && c.origins >= 2, "{c:?}");
            // What the rows are, beyond agreeing with gimli.
            let s = sections(&d, false);
            let mut abbrevs = Abbrevs::new();
            let mut units = s.units();
            let u = units.next(&mut abbrevs).unwrap();
            assert_eq!(u.low_pc, 0x1000);
            let mut scratch = MapVec::new();
            let p = LineProgram::parse(&s, &u, &mut scratch).unwrap();
            let mut rows = Vec::new();
            p.rows(&mut |r| rows.push((r.address, r.file, r.line, r.end_sequence)))
                .unwrap();
            // The tombstone sequence and the row after the address that
            // went backwards are dropped; lines saturate at 0.
            let want = [
                (0x1003, 1, 2, false),
                (0x1003, 1, 1, false),
                (0x1024, 2, 1001, false),
                (0x1024, 2, 0, false),
                (0x1044, 2, 0, true),
                (0x2000, 0, 1, false),
                (0x2100, 0, 1, false),
                (0x2100, 0, 1, true),
            ];
            assert_eq!(rows, want);
            assert_eq!(p.file(1), Some((&b"inc"[..], &b"x.h"[..])));
            // No directory 7: none (gimli's too), the name alone.
            assert_eq!(p.file(2), Some((&b""[..], &b"/abs/y.h"[..])));
            assert_eq!(p.file(3), None);
            let u2 = units.next(&mut abbrevs).unwrap();
            assert_eq!((u2.version, u2.offset_size), (4, 8));
            let p = LineProgram::parse(&s, &u2, &mut scratch).unwrap();
            assert_eq!(p.file(0), Some((&b"/v4/dir"[..], &b"v4.c"[..])));
            assert_eq!(p.file(2), Some((&b"rel"[..], &b"b.h"[..])));
            assert_eq!(p.file(1), Some((&b"/v4/dir"[..], &b"a.c"[..])));
            assert!(units.next(&mut abbrevs).is_none());
        }

        #[test]
        fn our_binary_as_gimli_reads_it() {
            let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
            let obj = object::File::parse(&*exe).unwrap();
            let d = load(&obj);
            let t = std::time::Instant::now();
            let c = compare(&d, false);
            eprintln!("this binary: {c:?} in {:?}", t.elapsed());
            assert!(c.units > 50 && c.rows > 100_000 && c.files > 1000, "{c:?}");
            assert!(c.dies > 100_000 && c.attrs > 300_000, "{c:?}");
            assert!(
                c.inlined > 5000 && c.ranges > 10_000 && c.origins > 5000,
                "{c:?}"
            );
        }

        #[test]
        fn libc_debug_file_as_gimli_reads_it() {
            use object::Object;
            crate::indexer::modules::snapshot();
            let getpid = libc::getpid as *const () as usize;
            let m = crate::runtime::modules::lookup_in_snapshot(getpid).unwrap();
            use crate::indexer::file;
            let path = file::FilePath::from_bytes(m.path()).unwrap();
            let map = file::Mapped::open(&path).unwrap();
            let elf = file::Elf::parse(map.bytes()).unwrap();
            let Some((p, debug)) = file::find_debug_file(&path, &elf, m.build_id()) else {
                eprintln!("no debug file for {path:?}: skipped");
                return;
            };
            let dobj = object::File::parse(debug.bytes()).unwrap();
            let d = load(&dobj);
            let t = std::time::Instant::now();
            let c = compare(&d, !dobj.is_little_endian());
            eprintln!("{p:?}: {c:?} in {:?}", t.elapsed());
            assert!(
                c.units > 100 && c.rows > 10_000 && c.dies > 100_000,
                "{c:?}"
            );
            assert!(
                c.inlined > 1000 && c.ranges > 1000 && c.origins > 1000,
                "{c:?}"
            );
        }
    }
}
