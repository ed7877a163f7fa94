//! Async-signal-safe. Source lines and inlined calls of one module, from
//! memory: the tables `indexer::lines` builds from DWARF in normal context
//! (on the `fh-symbols` thread, at idle priority) and leaves in memory it
//! mapped itself. A lookup is a few binary searches over immutable arrays;
//! nothing here reads a file, allocates or locks.
//!
//! The tables of one module:
//! - the line table: rows (address as a `u32` offset from `base`, file
//!   index, line), sorted by address, only those where the file or line
//!   changes (a row of [`NO_FILE`] ends a sequence: no line from there
//!   on). They are stored in blocks of [`BLOCK_ROWS`]: a [`Block`] holds
//!   the block's first row in full, and the others follow in a byte
//!   stream, each as the differences from the row before (LEB128: the
//!   address delta, then the zigzag line delta shifted left once, whose
//!   low bit says a new file index + 1 follows). A row costs about 2 to
//!   3 bytes, a quarter of its fixed-width size;
//! - the inline segments: sorted start addresses, each with the innermost
//!   inlined call that covers it (or [`NONE`]), in blocks of
//!   [`BLOCK_ROWS`] as the rows are: a [`SegBlock`] holds the first in
//!   full, the others follow as differences (LEB128: the address delta,
//!   then the zigzag delta of the call's index + 1);
//! - the inlined calls, 8 bytes each ([`Inline`]): each its parent call
//!   (the one it was inlined into, or [`NONE`] when that is the real
//!   function), its function's (raw, mangled) name, and the file and
//!   line of the call;
//! - the names of the inlined functions: where each is in the module's
//!   own file (read there by a report, as symbol names are), or in the
//!   pool when the file has it compressed or DWARF is in a debug file;
//! - the files, and a pool of bytes for file names and function names.
//!
//! # Safety
//!
//! The tables are leaked on purpose, never freed or changed.
// Without the `symbolize` feature nothing builds tables (reports have no
// lines), and the builder's half is unused.
#![cfg_attr(not(feature = "symbolize"), allow(dead_code))]

/// No file: a row that ends a sequence, or a call without a known file.
pub(crate) const NO_FILE: u32 = u32::MAX;
/// No inlined call (a segment outside every inlined call; the top of a
/// chain).
pub(crate) const NONE: u32 = u32::MAX;
/// Longest inlined function name read (longer ones are cut).
pub(crate) const MAX_NAME: usize = 4096;
/// Inlined calls shown for one address at most.
pub(crate) const MAX_INLINE: usize = 16;

/// Rows per block of the line table: a lookup decodes at most this many.
pub(crate) const BLOCK_ROWS: usize = 32;

/// The first row of a block of the line table, and where the block's
/// other rows start in the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Block {
    pub addr: u32,
    pub row: Row,
    pub at: u32,
}

/// The first inline segment of a block, and where the block's other
/// segments start in the segment stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct SegBlock {
    pub addr: u32,
    pub inner: u32,
    pub at: u32,
}

/// A row's file and line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Row {
    pub file: u32,
    pub line: u32,
}

/// A string in the pool: offset and length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub(crate) struct Str {
    pub at: u32,
    pub len: u32,
}

/// One inlined call in full: what [`Inline`] packs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Call {
    /// The call this one was inlined into, or [`NONE`]. Always a smaller
    /// index than this call's own.
    pub parent: u32,
    /// The inlined function's name: an index into the names.
    pub name: u32,
    /// Where the call is: file ([`NO_FILE`] when unknown) and line.
    pub call: Row,
}

/// One inlined call, packed in 8 bytes: the name's index (bits 0-19),
/// the call's file (20-35; all ones for [`NO_FILE`]), its line (36-55)
/// and how far back its parent is (56-63; 0 for none). A call whose
/// fields do not fit has all ones for its name, and the index of its
/// [`Call`] among the wide ones in the bits above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Inline(pub u64);

const NAME_BITS: u32 = 20;
const FILE_BITS: u32 = 16;
const LINE_BITS: u32 = 20;
const UP_BITS: u32 = 8;
const WIDE: u64 = (1 << NAME_BITS) - 1;
const FILE_NONE: u64 = (1 << FILE_BITS) - 1;

impl Inline {
    /// Call `i` packed, when its fields fit (`None`: store it wide).
    pub(crate) fn pack(i: u32, c: Call) -> Option<Inline> {
        let name = u64::from(c.name);
        let file = match c.call.file {
            NO_FILE => FILE_NONE,
            f => u64::from(f),
        };
        let line = u64::from(c.call.line);
        let up = match c.parent {
            NONE => 0,
            p => u64::from(i.checked_sub(p).filter(|&d| d > 0)?),
        };
        let fits = name < WIDE
            && (file < FILE_NONE || c.call.file == NO_FILE)
            && line < 1 << LINE_BITS
            && up < 1 << UP_BITS;
        fits.then_some(Inline(
            name | file << NAME_BITS
                | line << (NAME_BITS + FILE_BITS)
                | up << (NAME_BITS + FILE_BITS + LINE_BITS),
        ))
    }

    /// The entry of a call stored wide, at `at` among the wide calls.
    pub(crate) fn wide(at: u32) -> Inline {
        Inline(WIDE | u64::from(at) << NAME_BITS)
    }
}

/// Where an inlined function's name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Name {
    /// In memory (the tables' pool).
    Pool(&'static [u8]),
    /// NUL-terminated at this offset in the module's own file (its
    /// `.debug_str`, or wherever DWARF keeps the string uncompressed).
    File(u64),
}

/// A name's entry in the names: the pool offset, or with this bit, the
/// file offset.
pub(crate) const IN_FILE: u32 = 1 << 31;

/// A source location: file name and line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub file: &'static [u8],
    pub line: u32,
}

/// The line tables of one module (see the module docs).
#[derive(Debug)]
pub(crate) struct LineTable {
    /// Added to every stored address: the module's lowest code address.
    pub base: u64,
    pub blocks: &'static [Block],
    pub stream: &'static [u8],
    pub segs: &'static [SegBlock],
    pub seg_stream: &'static [u8],
    pub inlines: &'static [Inline],
    /// The calls that do not fit in an [`Inline`].
    pub wide: &'static [Call],
    /// Each inlined function's name: an offset into the pool, or with
    /// [`IN_FILE`] into the module's file.
    pub names: &'static [u32],
    pub files: &'static [Str],
    pub pool: &'static [u8],
    /// Bytes mapped for all of it.
    pub mapped: usize,
}

impl LineTable {
    /// An empty table (no lines).
    #[cfg(test)]
    pub(crate) const EMPTY: LineTable = LineTable {
        base: 0,
        blocks: &[],
        stream: &[],
        segs: &[],
        seg_stream: &[],
        inlines: &[],
        wide: &[],
        names: &[],
        files: &[],
        pool: &[],
        mapped: 0,
    };

    fn rel(&self, vaddr: u64) -> Option<u32> {
        u32::try_from(vaddr.checked_sub(self.base)?).ok()
    }

    fn str(&self, s: Str) -> &'static [u8] {
        let at = s.at as usize;
        self.pool
            .get(at..at.saturating_add(s.len as usize))
            .unwrap_or(&[])
    }

    fn loc(&self, r: Row) -> Option<Loc> {
        if r.file == NO_FILE || r.line == 0 {
            return None;
        }
        let f = *self.files.get(r.file as usize)?;
        Some(Loc {
            file: self.str(f),
            line: r.line,
        })
    }

    /// The line the code at `vaddr` (a link-time address) comes from: the
    /// innermost one, inside any inlined call.
    pub(crate) fn location(&self, vaddr: u64) -> Option<Loc> {
        let rel = self.rel(vaddr)?;
        let k = self
            .blocks
            .partition_point(|b| b.addr <= rel)
            .checked_sub(1)?;
        let b = *self.blocks.get(k)?;
        let end = self
            .blocks
            .get(k + 1)
            .map_or(self.stream.len(), |n| n.at as usize);
        let mut pos = b.at as usize;
        let (mut addr, mut row) = (b.addr, b.row);
        for _ in 1..BLOCK_ROWS {
            if pos >= end {
                break;
            }
            let (next_addr, next_row) = decode_row(self.stream, &mut pos, addr, row)?;
            if next_addr > rel {
                break;
            }
            (addr, row) = (next_addr, next_row);
        }
        self.loc(row)
    }

    /// The inlined calls at `vaddr`, innermost first, into `out`; returns
    /// how many (at most [`MAX_INLINE`]: deeper chains are cut at the
    /// outer end).
    pub(crate) fn inline_chain(&self, vaddr: u64, out: &mut [u32; MAX_INLINE]) -> usize {
        let Some(rel) = self.rel(vaddr) else {
            return 0;
        };
        let Some(mut cur) = self.segment(rel) else {
            return 0;
        };
        let mut n = 0usize;
        while cur != NONE {
            let Some(rec) = self.call(cur) else {
                break;
            };
            let Some(slot) = out.get_mut(n) else {
                break;
            };
            *slot = cur;
            n += 1;
            // Parents have smaller indexes: the walk always ends.
            if rec.parent != NONE && rec.parent >= cur {
                break;
            }
            cur = rec.parent;
        }
        n
    }

    /// The innermost inlined call of the segment that holds `rel`.
    fn segment(&self, rel: u32) -> Option<u32> {
        let k = self
            .segs
            .partition_point(|b| b.addr <= rel)
            .checked_sub(1)?;
        let b = *self.segs.get(k)?;
        let end = self
            .segs
            .get(k + 1)
            .map_or(self.seg_stream.len(), |n| n.at as usize);
        let mut pos = b.at as usize;
        let (mut addr, mut inner) = (b.addr, b.inner);
        for _ in 1..BLOCK_ROWS {
            if pos >= end {
                break;
            }
            let (next_addr, next_inner) = decode_seg(self.seg_stream, &mut pos, addr, inner)?;
            if next_addr > rel {
                break;
            }
            (addr, inner) = (next_addr, next_inner);
        }
        Some(inner)
    }

    /// Inlined call `i`, unpacked.
    pub(crate) fn call(&self, i: u32) -> Option<Call> {
        let v = self.inlines.get(i as usize)?.0;
        let field = |at: u32, bits: u32| (v >> at) & ((1 << bits) - 1);
        if field(0, NAME_BITS) == WIDE {
            let at = usize::try_from(v >> NAME_BITS).ok()?;
            return self.wide.get(at).copied();
        }
        let file = field(NAME_BITS, FILE_BITS);
        let up = field(NAME_BITS + FILE_BITS + LINE_BITS, UP_BITS) as u32;
        Some(Call {
            parent: if up == 0 { NONE } else { i.checked_sub(up)? },
            name: field(0, NAME_BITS) as u32,
            call: Row {
                file: if file == FILE_NONE {
                    NO_FILE
                } else {
                    file as u32
                },
                line: field(NAME_BITS + FILE_BITS, LINE_BITS) as u32,
            },
        })
    }

    /// Where the (raw) name of inlined call `i` is.
    pub(crate) fn inline_name(&self, i: u32) -> Name {
        let Some(&entry) = self.call(i).and_then(|c| self.names.get(c.name as usize)) else {
            return Name::Pool(&[]);
        };
        if entry & IN_FILE != 0 {
            return Name::File(u64::from(entry & !IN_FILE));
        }
        let rest = self.pool.get(entry as usize..).unwrap_or(&[]);
        let n = rest
            .iter()
            .take(MAX_NAME)
            .position(|&b| b == 0)
            .unwrap_or(rest.len().min(MAX_NAME));
        Name::Pool(rest.get(..n).unwrap_or(&[]))
    }

    /// Where inlined call `i` is made.
    pub(crate) fn call_site(&self, i: u32) -> Option<Loc> {
        self.loc(self.call(i)?.call)
    }
}

/// One LEB128 number from `s` at `*pos`.
fn leb(s: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *s.get(*pos)?;
        *pos = pos.wrapping_add(1);
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The row after (`addr`, `row`), decoded from the stream at `*pos`.
fn decode_row(s: &[u8], pos: &mut usize, addr: u32, row: Row) -> Option<(u32, Row)> {
    let da = u32::try_from(leb(s, pos)?).ok()?;
    let l = leb(s, pos)?;
    let file = if l & 1 != 0 {
        (leb(s, pos)? as u32).wrapping_sub(1)
    } else {
        row.file
    };
    let z = l >> 1;
    let dl = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let line = i64::from(row.line).wrapping_add(dl) as u32;
    Some((addr.checked_add(da)?, Row { file, line }))
}

/// A call index as the segment stream counts it: [`NONE`] is 0.
fn seg_value(inner: u32) -> i64 {
    if inner == NONE {
        0
    } else {
        i64::from(inner) + 1
    }
}

/// The segment after (`addr`, `inner`), decoded from the stream at `*pos`.
fn decode_seg(s: &[u8], pos: &mut usize, addr: u32, inner: u32) -> Option<(u32, u32)> {
    let da = u32::try_from(leb(s, pos)?).ok()?;
    let z = leb(s, pos)?;
    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let v = seg_value(inner).checked_add(d)?;
    let next = match v {
        0 => NONE,
        v => u32::try_from(v - 1).ok()?,
    };
    Some((addr.checked_add(da)?, next))
}

/// Append the segment (`addr`, `inner`) that follows (`prev_addr`,
/// `prev`), as [`decode_seg`] reads it.
pub(crate) fn encode_seg(
    out: &mut impl Extend<u8>,
    prev_addr: u32,
    prev: u32,
    addr: u32,
    inner: u32,
) {
    push_leb(out, u64::from(addr.wrapping_sub(prev_addr)));
    let d = seg_value(inner) - seg_value(prev);
    push_leb(out, ((d << 1) ^ (d >> 63)) as u64);
}

/// Append a LEB128 number (normal context: the builder).
pub(crate) fn push_leb(out: &mut impl Extend<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.extend([b]);
            return;
        }
        out.extend([b | 0x80]);
    }
}

/// Append the row (`addr`, `row`) that follows (`prev_addr`, `prev`), as
/// [`decode_row`] reads it.
pub(crate) fn encode_row(
    out: &mut impl Extend<u8>,
    prev_addr: u32,
    prev: Row,
    addr: u32,
    row: Row,
) {
    push_leb(out, u64::from(addr.wrapping_sub(prev_addr)));
    let dl = i64::from(row.line) - i64::from(prev.line);
    let z = ((dl << 1) ^ (dl >> 63)) as u64;
    let new_file = row.file != prev.file;
    push_leb(out, (z << 1) | u64::from(new_file));
    if new_file {
        push_leb(out, u64::from(row.file.wrapping_add(1)));
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

    fn leak<T>(v: Vec<T>) -> &'static [T] {
        Box::leak(v.into_boxed_slice())
    }

    fn encode(rows: &[(u32, Row)]) -> (Vec<Block>, Vec<u8>) {
        let mut blocks = Vec::new();
        let mut stream = Vec::new();
        for (i, &(a, r)) in rows.iter().enumerate() {
            if i % BLOCK_ROWS == 0 {
                blocks.push(Block {
                    addr: a,
                    row: r,
                    at: stream.len() as u32,
                });
            } else {
                let (pa, pr) = rows[i - 1];
                encode_row(&mut stream, pa, pr, a, r);
            }
        }
        (blocks, stream)
    }

    fn encode_segs(segs: &[(u32, u32)]) -> (Vec<SegBlock>, Vec<u8>) {
        let mut blocks = Vec::new();
        let mut stream = Vec::new();
        for (i, &(a, inner)) in segs.iter().enumerate() {
            if i % BLOCK_ROWS == 0 {
                blocks.push(SegBlock {
                    addr: a,
                    inner,
                    at: stream.len() as u32,
                });
            } else {
                let (pa, pi) = segs[i - 1];
                encode_seg(&mut stream, pa, pi, a, inner);
            }
        }
        (blocks, stream)
    }

    /// Segments over several blocks, with calls far apart and none: each
    /// address finds its segment's call.
    #[test]
    fn segments_round_trip() {
        let segs: Vec<(u32, u32)> = (0..1000u32)
            .map(|i| {
                let inner = if i % 3 == 0 {
                    NONE
                } else {
                    (i * 7919) % 100_000
                };
                (100 + i * 9 + i % 5, inner)
            })
            .collect();
        let (b, st) = encode_segs(&segs);
        let t = LineTable {
            segs: leak(b),
            seg_stream: leak(st),
            ..LineTable::EMPTY
        };
        for (i, &(a, inner)) in segs.iter().enumerate() {
            assert_eq!(t.segment(a), Some(inner), "segment {i}");
            if let Some(&(next, _)) = segs.get(i + 1) {
                assert_eq!(t.segment(next - 1), Some(inner), "segment {i}+");
            }
        }
        assert_eq!(t.segment(segs[0].0 - 1), None);
    }

    /// Many rows, over several blocks, with big and negative deltas: each
    /// address finds its row.
    #[test]
    fn blocks_round_trip() {
        let rows: Vec<(u32, Row)> = (0..1000u32)
            .map(|i| {
                let file = if i % 7 == 0 { NO_FILE } else { i % 5 };
                let line = (i * 7919) % 3000 + 1;
                (i * 5 + i % 4 + i / 10 * 300, Row { file, line })
            })
            .collect();
        let (blocks, stream) = encode(&rows);
        let files: Vec<Str> = (0..5).map(|_| Str { at: 0, len: 1 }).collect();
        let t = LineTable {
            base: 0,
            blocks: leak(blocks),
            stream: leak(stream),
            files: leak(files),
            pool: b"x",
            ..LineTable::EMPTY
        };
        for (i, &(a, r)) in rows.iter().enumerate() {
            let want = (r.file != NO_FILE).then_some(r.line);
            assert_eq!(t.location(u64::from(a)).map(|l| l.line), want, "row {i}");
            if let Some(&(next, _)) = rows.get(i + 1) {
                assert_eq!(
                    t.location(u64::from(next - 1)).map(|l| l.line),
                    want,
                    "row {i}+"
                );
            }
        }
    }

    #[test]
    fn lookups() {
        let pool = b"a.rsb.rsinner\0outer\0";
        let s = |at, len| Str { at, len };
        let r = |file, line| Row { file, line };
        let segs = encode_segs(&[(0, NONE), (0x10, 0), (0x18, 1), (0x20, NONE)]);
        let (blocks, stream) = encode(&[
            (0, r(0, 5)),
            (0x10, r(1, 7)),
            (0x20, r(0, 0)),
            (0x30, r(NO_FILE, 0)),
        ]);
        let t = LineTable {
            base: 0x1000,
            blocks: leak(blocks),
            stream: leak(stream),
            segs: leak(segs.0),
            seg_stream: leak(segs.1),
            inlines: leak(vec![
                Inline::pack(
                    0,
                    Call {
                        parent: NONE,
                        name: 0,
                        call: r(0, 6),
                    },
                )
                .unwrap(),
                Inline::wide(0),
                Inline::pack(
                    2,
                    Call {
                        parent: 1,
                        name: 2,
                        call: r(NO_FILE, 0),
                    },
                )
                .unwrap(),
            ]),
            // Call 1 is stored wide (as a line past 20 bits would be).
            wide: leak(vec![Call {
                parent: 0,
                name: 1,
                call: r(1, 3),
            }]),
            names: leak(vec![14, 8, IN_FILE | 0x1234]),
            files: leak(vec![s(0, 4), s(4, 4)]),
            pool: pool.as_slice(),
            mapped: 0,
        };
        let at = |a| t.location(a).map(|l| (l.file, l.line));
        assert_eq!(at(0xfff), None);
        assert_eq!(at(0x1000), Some((&b"a.rs"[..], 5)));
        assert_eq!(at(0x100f), Some((&b"a.rs"[..], 5)));
        assert_eq!(at(0x1010), Some((&b"b.rs"[..], 7)));
        assert_eq!(at(0x1020), None, "line 0");
        assert_eq!(at(0x1030), None, "end of sequence");
        let mut out = [0u32; MAX_INLINE];
        assert_eq!(t.inline_chain(0x1005, &mut out), 0);
        assert_eq!(t.inline_chain(0x1011, &mut out), 1);
        assert_eq!(t.inline_name(out[0]), Name::Pool(b"outer"));
        assert_eq!(t.inline_chain(0x1019, &mut out), 2);
        assert_eq!(&out[..2], &[1, 0]);
        assert_eq!(t.inline_name(1), Name::Pool(b"inner"));
        assert_eq!(t.inline_name(2), Name::File(0x1234));
        assert_eq!(t.call(2).unwrap().parent, 1);
        assert_eq!(t.call_site(2), None);
        assert_eq!(t.call_site(1).unwrap().line, 3);
        assert_eq!(t.call_site(0).unwrap().file, b"a.rs");
        assert_eq!(t.inline_chain(0x1020, &mut out), 0);
        assert_eq!(LineTable::EMPTY.location(0x1000), None);
    }

    /// What fits in 8 bytes comes back as it went in; what does not is
    /// refused (and stored wide by the builder).
    #[test]
    fn packing() {
        let c = |parent, name, file, line| Call {
            parent,
            name,
            call: Row { file, line },
        };
        let fits = [
            (0, c(NONE, 0, NO_FILE, 0)),
            (300, c(45, (1 << 20) - 2, 0xfffe, (1 << 20) - 1)),
            (7, c(6, 3, 2, 1)),
        ];
        for (i, call) in fits {
            let mut inlines = vec![Inline(0); i as usize + 1];
            inlines[i as usize] = Inline::pack(i, call).expect("fits");
            let t = LineTable {
                inlines: leak(inlines),
                ..LineTable::EMPTY
            };
            assert_eq!(t.call(i), Some(call));
        }
        for (i, call) in [
            (300, c(44, 1, 1, 1)),
            (1, c(NONE, 1 << 20, 1, 1)),
            (1, c(0, (1 << 20) - 1, 1, 1)),
            (1, c(0, 1, 0xffff, 1)),
            (1, c(0, 1, 1, 1 << 20)),
            (1, c(1, 1, 1, 1)),
        ] {
            assert_eq!(Inline::pack(i, call), None, "{call:?}");
        }
    }
}
