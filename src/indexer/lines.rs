//! Builds a module's line tables (`symbolize::lines`) from its DWARF.
//! Normal context, malloc-free: it works in mappings of its own
//! ([`MapVec`]), and what it keeps is copied into memory it maps and
//! leaks, so a handler can read it at any time.
//!
//! - The DWARF is read from the module's own file, or else from a
//!   separate debug file with the same GNU build-id (`file`'s search).
//!   Split DWARF (`.dwo`, `.dwp`) is not read.
//! - DWARF 2 to 5, and compressed sections (`SHF_COMPRESSED`, zlib and
//!   zstd, both uncompressed without the heap, see `file`).
//! - A module whose debug sections add up to more than the budget
//!   (`Config::line_budget`, 64 MiB by default) gets no line tables: its
//!   frames are named, without lines, and the report says so once.
#![allow(unsafe_code)]

use super::dwarf::{self, dw, Abbrevs, LineProgram, Sections, Unit, Value};
use super::file::{self, Elf, FilePath, Mapped, SectionData};
use super::mem::{Interner, MapVec, MaxHeap, U64Map};
use crate::symbolize::lines::{
    encode_row, encode_seg, Block, Call, Inline, LineTable, Row, SegBlock, Str, BLOCK_ROWS,
    IN_FILE, NONE, NO_FILE,
};

/// What building the line tables of a module gave.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    /// The tables.
    Ready(&'static LineTable),
    /// No line info: no DWARF here or in a debug file.
    Absent,
    /// The debug sections (`size` bytes) are over the budget.
    OverBudget { size: u64, budget: u64 },
}

/// Figures about one build, for the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Figures {
    /// Bytes of `.debug_line` (uncompressed).
    pub debug_line: u64,
    /// Bytes of all the DWARF sections read.
    pub debug_read: u64,
    /// Rows, inline segments, inlined calls, files kept.
    pub rows: usize,
    pub segments: usize,
    pub inlines: usize,
    pub files: usize,
    /// Bytes of file and function names kept.
    pub pool: usize,
    /// Inlined functions' names left in the module's file (read there by
    /// a report), not kept.
    pub names_in_file: usize,
    /// Inlined calls stored wide (16 bytes, not 8).
    pub wide: usize,
}

/// The DWARF sections the tables need, in [`Sections`]' order.
const SECTIONS: [&[u8]; 9] = [
    b".debug_info",
    b".debug_abbrev",
    b".debug_line",
    b".debug_str",
    b".debug_line_str",
    b".debug_str_offsets",
    b".debug_addr",
    b".debug_ranges",
    b".debug_rnglists",
];

/// The uncompressed size of the DWARF sections the tables need.
pub(crate) fn debug_size(elf: &Elf<'_>) -> u64 {
    elf.uncompressed_size_of(&SECTIONS)
}

fn has_lines(elf: &Elf<'_>) -> bool {
    elf.section(b".debug_line")
        .is_some_and(|s| s.uncompressed_size() > 0 && !s.is_nobits())
}

/// Build the line tables for the module file at `path` (its build-id
/// `build_id`, empty if none), within `budget` bytes of DWARF.
pub(crate) fn build(path: &FilePath, build_id: &[u8], budget: u64) -> (Outcome, Figures) {
    let none = (Outcome::Absent, Figures::default());
    let Some(map) = Mapped::open(path) else {
        return none;
    };
    let Some(elf) = Elf::parse(map.bytes()) else {
        return none;
    };
    if has_lines(&elf) {
        // Names stay in this file, the module's own: a report reads them
        // from it (checked by build-id, as for its symbols).
        let own = map.bytes();
        return build_from(&elf, budget, Some((own.as_ptr() as usize, own.len())));
    }
    let Some((_, debug)) = file::find_debug_file(path, &elf, build_id) else {
        return none;
    };
    let Some(delf) = Elf::parse(debug.bytes()) else {
        return none;
    };
    if !has_lines(&delf) {
        return none;
    }
    build_from(&delf, budget, None)
}

/// Build from `elf`; `own` is the span of the module's own file in
/// memory when `elf` is that file (names found in it uncompressed are
/// left there, as file offsets).
fn build_from(elf: &Elf<'_>, budget: u64, own: Option<(usize, usize)>) -> (Outcome, Figures) {
    let size = debug_size(elf);
    let mut fig = Figures {
        debug_line: elf
            .section(b".debug_line")
            .map_or(0, |s| s.uncompressed_size()),
        debug_read: size,
        ..Figures::default()
    };
    if size > budget {
        return (Outcome::OverBudget { size, budget }, fig);
    }
    let builder = Builder {
        own,
        ..Builder::default()
    };
    let Some(t) = builder.run(elf) else {
        return (Outcome::Absent, fig);
    };
    fig.rows = t.rows;
    fig.segments = t.segments;
    fig.inlines = t.inlines.len();
    fig.files = t.files.len();
    fig.pool = t.pool.len();
    fig.names_in_file = t.names_in_file;
    fig.wide = t.wide.len();
    match t.publish() {
        Some(lt) => (Outcome::Ready(lt), fig),
        None => (Outcome::Absent, fig),
    }
}

/// The tables while they are built.
#[derive(Default)]
struct Builder {
    /// File and function names.
    strings: Interner,
    /// Each file id's path, interned.
    files: MapVec<Str>,
    /// File ids by the pool offset of their interned path.
    file_ids: U64Map<u32>,
    inlines: MapVec<Pending>,
    levels: MapVec<u16>,
    /// (lo, hi, level, call) of every inlined call's ranges.
    ranges: MapVec<(u64, u64, u16, u32)>,
    /// Rows (address, file, line) of every sequence kept, one after the
    /// other, each ending with a [`NO_FILE`] row.
    rows: MapVec<(u64, u32, u32)>,
    /// Each sequence: its first address and its span of `rows`.
    sequences: MapVec<(u64, usize, usize)>,
    /// Names ([`NameRef::pack`]ed) by the global offset of their DIE.
    names: U64Map<u64>,
    /// The module's own file in memory, when DWARF is read from it.
    own: Option<(usize, usize)>,
    /// Scratch: a path being joined, a name without its hash.
    scratch: MapVec<u8>,
    /// Memory ran out somewhere: the build is given up.
    failed: bool,
}

/// Where an inlined function's name is while the tables are built.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NameRef {
    /// In the pool.
    Pool(Str),
    /// At this offset in the module's own file, NUL-terminated.
    File(u32),
}

impl NameRef {
    /// As one `u64` (a map's key or value).
    fn pack(self) -> u64 {
        match self {
            NameRef::Pool(s) => (u64::from(s.at) << 32) | u64::from(s.len),
            NameRef::File(at) => (1 << 63) | u64::from(at),
        }
    }

    fn unpack(v: u64) -> NameRef {
        if v >> 63 == 1 {
            NameRef::File(v as u32)
        } else {
            NameRef::Pool(Str {
                at: ((v >> 32) & 0x7fff_ffff) as u32,
                len: v as u32,
            })
        }
    }
}

/// An inlined call while the tables are built.
#[derive(Clone, Copy)]
struct Pending {
    parent: u32,
    name: NameRef,
    call: Row,
}

/// The finished tables, relative to `base`.
struct Tables {
    base: u64,
    rows: usize,
    blocks: MapVec<Block>,
    stream: MapVec<u8>,
    segments: usize,
    segs: MapVec<SegBlock>,
    seg_stream: MapVec<u8>,
    inlines: MapVec<Inline>,
    wide: MapVec<Call>,
    names: MapVec<u32>,
    names_in_file: usize,
    files: MapVec<Str>,
    pool: MapVec<u8>,
}

/// The length of a legacy Rust symbol without its hash (`17h` and 16 hex
/// digits before the final `E`), which reports never show and which is a
/// fifth of the name; `None` for other names.
fn hash_at(name: &[u8]) -> Option<usize> {
    let n = name.len();
    if name.starts_with(b"_ZN") && n > 23 && name.get(n - 1) == Some(&b'E') {
        let hash = name.get(n - 20..n - 1)?;
        if hash.starts_with(b"17h") && hash.get(3..)?.iter().all(u8::is_ascii_hexdigit) {
            return Some(n - 20);
        }
    }
    None
}

/// A line program's file indexes (small, dense) to our file ids.
#[derive(Default)]
struct FileMap(MapVec<u32>);

/// Not looked up yet.
const UNSEEN: u32 = u32::MAX - 1;

impl FileMap {
    fn get(&self, idx: u64) -> Option<u32> {
        self.0
            .get(usize::try_from(idx).ok()?)
            .copied()
            .filter(|&f| f != UNSEEN)
    }

    fn insert(&mut self, idx: u64, f: u32) -> Option<()> {
        let i = usize::try_from(idx).ok()?;
        if i >= 1 << 20 {
            return Some(());
        }
        if self.0.len() <= i {
            self.0.resize(i + 1, UNSEEN)?;
        }
        *self.0.get_mut(i)? = f;
        Some(())
    }
}

/// Append `rel` to `out` (which holds a base path): a `/` between them,
/// and an absolute `rel` replaces the base.
fn join_onto(out: &mut MapVec<u8>, rel: &[u8]) -> Option<()> {
    if rel.first() == Some(&b'/') || out.is_empty() {
        out.clear();
        return out.extend_from_slice(rel);
    }
    if rel.is_empty() {
        return Some(());
    }
    if out.last() != Some(&b'/') {
        out.push(b'/')?;
    }
    out.extend_from_slice(rel)
}

/// A byte sink for the row encoders: notes when memory runs out.
struct Sink<'a> {
    out: &'a mut MapVec<u8>,
    failed: &'a mut bool,
}

impl Extend<u8> for Sink<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        for b in bytes {
            if self.out.push(b).is_none() {
                *self.failed = true;
            }
        }
    }
}

/// The value of a constant-class attribute.
fn udata(v: Value<'_>) -> Option<u64> {
    match v {
        Value::Udata(n) => Some(n),
        Value::Sdata(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

impl Builder {
    /// A name found in DWARF: left in the module's file when it lies there
    /// as is (a NUL-terminated string, not in a compressed section), else
    /// kept in the pool without its hash.
    fn name_ref(&mut self, s: &[u8]) -> Option<NameRef> {
        if let Some((base, len)) = self.own {
            let at = (s.as_ptr() as usize).wrapping_sub(base);
            let end = at.saturating_add(s.len());
            // SAFETY: `base..base + len` is the module file's mapping,
            // alive for the whole build; `end < len` keeps the read in it.
            let nul = end < len && unsafe { *(base as *const u8).add(end) } == 0;
            if let Ok(at) = u32::try_from(at) {
                if nul && at < IN_FILE {
                    return Some(NameRef::File(at));
                }
            }
        }
        let s = match hash_at(s) {
            Some(cut) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(s.get(..cut)?)?;
                self.scratch.push(b'E')?;
                self.strings.intern(&self.scratch)?
            }
            None => self.strings.intern(s)?,
        };
        // Offsets past 2 GiB do not pack (`NameRef::pack`).
        (s.0 < IN_FILE).then_some(NameRef::Pool(Str { at: s.0, len: s.1 }))
    }

    /// The id of the file whose path is in `scratch`.
    fn file_id_of_scratch(&mut self) -> Option<u32> {
        let (at, len) = self.strings.intern(&self.scratch)?;
        if let Some(id) = self.file_ids.get(u64::from(at)) {
            return Some(id);
        }
        let id = u32::try_from(self.files.len()).ok()?;
        self.files.push(Str { at, len })?;
        self.file_ids.insert(u64::from(at), id)?;
        Some(id)
    }

    /// The file `index` of a line program, as a full path.
    fn program_file(&mut self, unit: &Unit<'_>, program: &LineProgram<'_, '_>, index: u64) -> u32 {
        let Some((dir, name)) = program.file(index) else {
            return NO_FILE;
        };
        self.scratch.clear();
        let joined = join_onto(&mut self.scratch, unit.comp_dir)
            .and_then(|()| join_onto(&mut self.scratch, dir))
            .and_then(|()| join_onto(&mut self.scratch, name));
        match joined.and_then(|()| self.file_id_of_scratch()) {
            Some(id) => id,
            None => {
                self.failed = true;
                NO_FILE
            }
        }
    }

    /// The file id of a line program's file `idx`, through `map`.
    fn file_of(
        &mut self,
        map: &mut FileMap,
        unit: &Unit<'_>,
        program: Option<&LineProgram<'_, '_>>,
        idx: u64,
    ) -> u32 {
        if let Some(f) = map.get(idx) {
            return f;
        }
        let f = program.map_or(NO_FILE, |p| self.program_file(unit, p, idx));
        if map.insert(idx, f).is_none() {
            self.failed = true;
        }
        f
    }

    fn run(mut self, elf: &Elf<'_>) -> Option<Tables> {
        // Each section's bytes, decompressed when they are compressed;
        // kept alive for the whole build.
        let data: [Option<SectionData<'_>>; 9] =
            SECTIONS.map(|name| elf.section(name).and_then(|s| s.uncompressed_data()));
        let bytes = |i: usize| {
            data.get(i)
                .and_then(|d| d.as_ref())
                .map_or(&[][..], |d| d.bytes())
        };
        let sections = Sections {
            info: bytes(0),
            abbrev: bytes(1),
            line: bytes(2),
            str: bytes(3),
            line_str: bytes(4),
            str_offsets: bytes(5),
            addr: bytes(6),
            ranges: bytes(7),
            rnglists: bytes(8),
            big_endian: false,
        };
        // Code lives in executable sections; rows elsewhere (functions the
        // linker dropped, left at address 0) are ignored.
        let mut exec: MapVec<(u64, u64)> = MapVec::new();
        for s in elf.sections().filter(|s| s.is_executable()) {
            let r = (s.address, s.address.saturating_add(s.size));
            if r.0 < r.1 {
                exec.push(r)?;
            }
        }
        let in_code = |a: u64| exec.iter().any(|&(lo, hi)| lo <= a && a < hi);
        let mut abbrevs = Abbrevs::default();
        let mut file_map = FileMap::default();
        let mut program_scratch = MapVec::new();
        let mut stack: MapVec<(isize, u32)> = MapVec::new();
        let mut units = sections.units();
        while let Some(unit) = units.next(&mut abbrevs) {
            file_map.0.clear();
            let program = LineProgram::parse(&sections, &unit, &mut program_scratch);
            if let Some(p) = program.as_ref() {
                self.rows_of(&unit, p, &mut file_map, &in_code);
            }
            self.inlines_of(
                &sections,
                &unit,
                &abbrevs,
                program.as_ref(),
                &mut file_map,
                &mut stack,
            );
            if self.failed {
                return None;
            }
        }
        self.finish(&exec)
    }

    /// The rows of one unit's line program, in sequences.
    fn rows_of(
        &mut self,
        unit: &Unit<'_>,
        program: &LineProgram<'_, '_>,
        file_map: &mut FileMap,
        in_code: &dyn Fn(u64) -> bool,
    ) {
        // Where the sequence being read starts in `rows`.
        let mut start = self.rows.len();
        let _ = program.rows(&mut |row: dwarf::Row| {
            if self.failed {
                return;
            }
            let addr = row.address;
            if row.end_sequence {
                let first = self.rows.get(start).map(|r| r.0);
                if first.is_some_and(in_code) {
                    let kept = self.rows.push((addr, NO_FILE, 0)).and_then(|()| {
                        self.sequences
                            .push((first.unwrap_or(0), start, self.rows.len()))
                    });
                    self.failed |= kept.is_none();
                } else {
                    self.rows.truncate(start);
                }
                start = self.rows.len();
                return;
            }
            let file = self.file_of(file_map, unit, Some(program), row.file);
            let line = u32::try_from(row.line).unwrap_or(u32::MAX - 1);
            let file = if line == 0 { NO_FILE } else { file };
            if self.rows.len() > start {
                if let Some(last) = self.rows.last_mut() {
                    if last.0 == addr {
                        last.1 = file;
                        last.2 = line;
                        return;
                    }
                    if last.1 == file && last.2 == line {
                        return;
                    }
                }
            }
            self.failed |= self.rows.push((addr, file, line)).is_none();
        });
        // A sequence the program did not end is dropped.
        self.rows.truncate(start);
    }

    /// The inlined calls of one unit.
    fn inlines_of(
        &mut self,
        sections: &Sections<'_>,
        unit: &Unit<'_>,
        abbrevs: &Abbrevs,
        program: Option<&LineProgram<'_, '_>>,
        file_map: &mut FileMap,
        stack: &mut MapVec<(isize, u32)>,
    ) {
        // Open calls: (DIE depth, call index; NONE for a function).
        stack.clear();
        let mut entries = unit.entries(sections, abbrevs);
        while let Some(entry) = entries.next_dfs() {
            let depth = entry.depth;
            while stack.last().is_some_and(|s| s.0 >= depth) {
                stack.pop();
            }
            match entry.tag {
                dw::TAG_SUBPROGRAM => {
                    self.failed |= stack.push((depth, NONE)).is_none();
                }
                dw::TAG_INLINED_SUBROUTINE => {
                    let parent = stack.last().map_or(NONE, |s| s.1);
                    let (mut origin, mut call_file, mut call_line) = (None, None, 0u32);
                    for (name, value) in entry.attrs() {
                        match name {
                            dw::AT_ABSTRACT_ORIGIN => origin = Some(value),
                            dw::AT_CALL_FILE => call_file = udata(value),
                            dw::AT_CALL_LINE => {
                                call_line =
                                    udata(value).map_or(0, |l| u32::try_from(l).unwrap_or(0))
                            }
                            _ => {}
                        }
                    }
                    let name = origin
                        .and_then(|v| self.origin_name(sections, unit, abbrevs, v, 0))
                        .unwrap_or(NameRef::Pool(Str { at: 0, len: 0 }));
                    let call_file =
                        call_file.map_or(NO_FILE, |idx| self.file_of(file_map, unit, program, idx));
                    let Ok(id) = u32::try_from(self.inlines.len()) else {
                        self.failed = true;
                        return;
                    };
                    let level = if parent == NONE {
                        1
                    } else {
                        self.levels
                            .get(parent as usize)
                            .map_or(1, |l| l.saturating_add(1))
                    };
                    let pushed = self
                        .inlines
                        .push(Pending {
                            parent,
                            name,
                            call: Row {
                                file: if call_line == 0 { NO_FILE } else { call_file },
                                line: call_line,
                            },
                        })
                        .and_then(|()| self.levels.push(level))
                        .and_then(|()| stack.push((depth, id)));
                    self.failed |= pushed.is_none();
                    let ranges = &mut self.ranges;
                    let failed = &mut self.failed;
                    let _ = sections.die_ranges(unit, &entry, &mut |lo, hi| {
                        if lo < hi && lo != 0 {
                            *failed |= ranges.push((lo, hi, level, id)).is_none();
                        }
                    });
                }
                _ => {}
            }
            if self.failed {
                return;
            }
        }
    }

    /// The name of the function an inlined call refers to: its linkage
    /// (mangled) name, else its plain name, following specifications and
    /// abstract origins a few steps.
    fn origin_name(
        &mut self,
        sections: &Sections<'_>,
        unit: &Unit<'_>,
        abbrevs: &Abbrevs,
        v: Value<'_>,
        depth: u32,
    ) -> Option<NameRef> {
        let Value::UnitRef(global) = v else {
            // References into other units (LTO) are left unnamed.
            return None;
        };
        let key = u64::try_from(global).ok()?;
        if let Some(s) = self.names.get(key) {
            return Some(NameRef::unpack(s));
        }
        let e = unit.entry_at(sections, abbrevs, global)?;
        let mut plain = None;
        let mut next = None;
        for (name, value) in e.attrs() {
            match (name, value) {
                (dw::AT_LINKAGE_NAME | dw::AT_MIPS_LINKAGE_NAME, Value::Str(s)) => {
                    let s = self.name_ref(s)?;
                    self.names.insert(key, s.pack())?;
                    return Some(s);
                }
                (dw::AT_NAME, Value::Str(s)) => plain = Some(s),
                (dw::AT_SPECIFICATION | dw::AT_ABSTRACT_ORIGIN, v) => next = Some(v),
                _ => {}
            }
        }
        let found = match (next, depth < 4) {
            (Some(n), true) => self.origin_name(sections, unit, abbrevs, n, depth + 1),
            _ => None,
        };
        let s = match found {
            Some(s) => s,
            None => self.name_ref(plain?)?,
        };
        self.names.insert(key, s.pack())?;
        Some(s)
    }

    fn finish(mut self, exec: &[(u64, u64)]) -> Option<Tables> {
        let base = exec.iter().map(|r| r.0).min()?;
        let rel = |a: u64| u32::try_from(a.checked_sub(base)?).ok();
        // Rows: sequences by address (equal starts in the order read),
        // overlapping ones dropped.
        self.sequences.sort_unstable_by_key(|s| (s.0, s.1));
        let mut row_addrs: MapVec<u32> = MapVec::new();
        let mut rows: MapVec<Row> = MapVec::new();
        let mut end = 0u64;
        for &(first, from, to) in self.sequences.iter() {
            let seq = self.rows.get(from..to).unwrap_or(&[]);
            let Some(last) = seq.last() else { continue };
            if first < end {
                continue;
            }
            end = last.0;
            for &(a, file, line) in seq {
                let Some(r) = rel(a) else { continue };
                if row_addrs.last() == Some(&r) {
                    rows.pop();
                    row_addrs.pop();
                }
                row_addrs.push(r)?;
                rows.push(Row { file, line })?;
            }
        }
        drop(self.rows.take());
        // Only the inlined calls in code (not in functions the linker
        // dropped) are kept, renumbered, with only the names they use.
        let in_code = |a: u64| exec.iter().any(|&(lo, hi)| lo <= a && a < hi);
        self.ranges.retain(|r| in_code(r.0));
        let mut keep = MapVec::filled(self.inlines.len(), NONE)?;
        for r in self.ranges.iter() {
            if let Some(k) = keep.get_mut(r.3 as usize) {
                *k = 0;
            }
        }
        let old = &self.strings;
        let text = |s: Str| {
            old.pool()
                .get(s.at as usize..(s.at as usize).saturating_add(s.len as usize))
                .unwrap_or(&[])
        };
        let mut kept = Interner::default();
        let mut put = |s: &[u8]| -> Option<Str> {
            let (at, len) = kept.intern(s)?;
            Some(Str { at, len })
        };
        let mut files: MapVec<Str> = MapVec::with_capacity(self.files.len())?;
        for &f in self.files.iter() {
            files.push(put(text(f))?)?;
        }
        let mut inlines: MapVec<Inline> = MapVec::new();
        let mut wide: MapVec<Call> = MapVec::new();
        let mut names: MapVec<u32> = MapVec::new();
        let mut name_ids: U64Map<u32> = U64Map::default();
        let mut names_in_file = 0;
        let mut nul_name: MapVec<u8> = MapVec::new();
        for (i, rec) in self.inlines.iter().enumerate() {
            if keep.get(i) == Some(&NONE) {
                continue;
            }
            let id = u32::try_from(inlines.len()).ok()?;
            *keep.get_mut(i)? = id;
            let parent = match rec.parent {
                NONE => NONE,
                p => keep.get(p as usize).copied().unwrap_or(NONE),
            };
            let name = match name_ids.get(rec.name.pack()) {
                Some(n) => n,
                None => {
                    let entry = match rec.name {
                        NameRef::File(at) => {
                            names_in_file += 1;
                            at | IN_FILE
                        }
                        NameRef::Pool(s) => {
                            nul_name.clear();
                            nul_name.extend_from_slice(text(s))?;
                            nul_name.push(0)?;
                            put(&nul_name)?.at
                        }
                    };
                    let n = u32::try_from(names.len()).ok()?;
                    names.push(entry)?;
                    name_ids.insert(rec.name.pack(), n)?;
                    n
                }
            };
            let call = Call {
                parent,
                name,
                call: rec.call,
            };
            let packed = match Inline::pack(id, call) {
                Some(p) => p,
                None => {
                    wide.push(call)?;
                    Inline::wide(u32::try_from(wide.len()).ok()? - 1)
                }
            };
            inlines.push(packed)?;
        }
        let pool = kept.take_pool();
        for r in self.ranges.iter_mut() {
            r.3 = keep.get(r.3 as usize).copied().unwrap_or(NONE);
        }
        // Inline segments: at each boundary, the innermost call covering it.
        self.ranges.sort_unstable();
        let mut points: MapVec<u64> = MapVec::with_capacity(self.ranges.len() * 2)?;
        for r in self.ranges.iter() {
            points.push(r.0)?;
            points.push(r.1)?;
        }
        points.sort_unstable();
        points.dedup();
        let mut heap: MaxHeap<(u16, u32, u64)> = MaxHeap::default();
        let mut next = 0usize;
        let mut seg_addrs: MapVec<u32> = MapVec::new();
        let mut seg_inner: MapVec<u32> = MapVec::new();
        for &p in points.iter() {
            while let Some(r) = self.ranges.get(next).filter(|r| r.0 <= p) {
                heap.push((r.2, r.3, r.1))?;
                next += 1;
            }
            while heap.peek().is_some_and(|t| t.2 <= p) {
                heap.pop();
            }
            let inner = heap.peek().map_or(NONE, |t| t.1);
            let Some(r) = rel(p) else { continue };
            if seg_inner.last() == Some(&inner) {
                continue;
            }
            if seg_addrs.last() == Some(&r) {
                seg_addrs.pop();
                seg_inner.pop();
            }
            seg_addrs.push(r)?;
            seg_inner.push(inner)?;
        }
        if row_addrs.is_empty() && seg_addrs.is_empty() {
            return None;
        }
        let mut failed = false;
        let mut blocks: MapVec<Block> = MapVec::with_capacity(rows.len() / BLOCK_ROWS + 1)?;
        let mut stream: MapVec<u8> = MapVec::new();
        for (i, (&a, &r)) in row_addrs.iter().zip(rows.iter()).enumerate() {
            if i % BLOCK_ROWS == 0 {
                blocks.push(Block {
                    addr: a,
                    row: r,
                    at: u32::try_from(stream.len()).ok()?,
                })?;
            } else if let (Some(&pa), Some(&pr)) = (row_addrs.get(i - 1), rows.get(i - 1)) {
                let mut sink = Sink {
                    out: &mut stream,
                    failed: &mut failed,
                };
                encode_row(&mut sink, pa, pr, a, r);
            }
        }
        let mut segs: MapVec<SegBlock> = MapVec::with_capacity(seg_addrs.len() / BLOCK_ROWS + 1)?;
        let mut seg_stream: MapVec<u8> = MapVec::new();
        for (i, (&a, &inner)) in seg_addrs.iter().zip(seg_inner.iter()).enumerate() {
            if i % BLOCK_ROWS == 0 {
                segs.push(SegBlock {
                    addr: a,
                    inner,
                    at: u32::try_from(seg_stream.len()).ok()?,
                })?;
            } else if let (Some(&pa), Some(&pi)) = (seg_addrs.get(i - 1), seg_inner.get(i - 1)) {
                let mut sink = Sink {
                    out: &mut seg_stream,
                    failed: &mut failed,
                };
                encode_seg(&mut sink, pa, pi, a, inner);
            }
        }
        if failed {
            return None;
        }
        Some(Tables {
            base,
            rows: rows.len(),
            blocks,
            stream,
            segments: seg_addrs.len(),
            segs,
            seg_stream,
            inlines,
            wide,
            names,
            names_in_file,
            files,
            pool,
        })
    }
}

/// Memory mapped for the tables, filled in order.
struct Arena {
    base: *mut u8,
    len: usize,
    used: usize,
}

impl Arena {
    fn new(len: usize) -> Option<Arena> {
        let len = len
            .max(1)
            .checked_next_multiple_of(crate::runtime::sys::page_size())?;
        let p = crate::runtime::sys::map_apart(len, libc::PROT_READ | libc::PROT_WRITE, 0).ok()?;
        Some(Arena {
            base: p as *mut u8,
            len,
            used: 0,
        })
    }

    /// Copy `v` in, aligned for `T`; the copy lives forever.
    fn put<T: Copy>(&mut self, v: &[T]) -> Option<&'static [T]> {
        let align = core::mem::align_of::<T>();
        let at = self.used.checked_add(align - 1)? & !(align - 1);
        let bytes = core::mem::size_of_val(v);
        let end = at.checked_add(bytes)?;
        if end > self.len {
            return None;
        }
        self.used = end;
        // SAFETY: `at..end` lies inside our mapping (checked above), is
        // aligned for `T`, and no other slice covers it; the mapping is
        // never unmapped, so the slice may live forever. `T: Copy`, so a
        // bytewise copy is a valid value.
        unsafe {
            let dst = self.base.add(at).cast::<T>();
            core::ptr::copy_nonoverlapping(v.as_ptr(), dst, v.len());
            Some(core::slice::from_raw_parts(dst, v.len()))
        }
    }
}

impl Tables {
    /// Copy the tables into a mapping of their own, leaked.
    fn publish(self) -> Option<&'static LineTable> {
        fn size<T>(v: &[T]) -> usize {
            core::mem::size_of_val(v) + core::mem::align_of::<T>()
        }
        let total = size(&self.blocks)
            + size(&self.stream)
            + size(&self.segs)
            + size(&self.seg_stream)
            + size(&self.inlines)
            + size(&self.wide)
            + size(&self.names)
            + size(&self.files)
            + size(&self.pool)
            + core::mem::size_of::<LineTable>()
            + 8;
        let page = crate::runtime::sys::page_size();
        let mapped = total.div_ceil(page) * page;
        let mut a = Arena::new(mapped)?;
        let t = LineTable {
            base: self.base,
            blocks: a.put(&self.blocks)?,
            stream: a.put(&self.stream)?,
            segs: a.put(&self.segs)?,
            seg_stream: a.put(&self.seg_stream)?,
            inlines: a.put(&self.inlines)?,
            wide: a.put(&self.wide)?,
            names: a.put(&self.names)?,
            files: a.put(&self.files)?,
            pool: a.put(&self.pool)?,
            mapped,
        };
        // The table itself goes in the same mapping.
        let align = core::mem::align_of::<LineTable>();
        let at = (a.used + align - 1) & !(align - 1);
        if at + core::mem::size_of::<LineTable>() > a.len {
            return None;
        }
        // SAFETY: as in `put`: inside the mapping, aligned, unshared, and
        // never unmapped.
        unsafe {
            let dst = a.base.add(at).cast::<LineTable>();
            dst.write(t);
            Some(&*dst)
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

    #[test]
    fn strips_legacy_hashes() {
        assert_eq!(
            hash_at(b"_ZN4core3ptr13read_volatile17h0123456789abcdefE"),
            Some(b"_ZN4core3ptr13read_volatile".len())
        );
        assert_eq!(hash_at(b"_RNvCs1234_7mycrate3foo"), None);
        assert_eq!(hash_at(b"main"), None);
    }

    #[test]
    fn joins_paths() {
        let joined = |base: &[u8], rel: &[u8]| {
            let mut v = MapVec::new();
            v.extend_from_slice(base).unwrap();
            join_onto(&mut v, rel).unwrap();
            v.to_vec()
        };
        assert_eq!(joined(b"/a", b"b"), b"/a/b");
        assert_eq!(joined(b"/a/", b"b"), b"/a/b");
        assert_eq!(joined(b"/a", b"/b"), b"/b");
        assert_eq!(joined(b"", b"b"), b"b");
        assert_eq!(joined(b"/a", b""), b"/a");
    }

    #[test]
    fn name_refs_pack_both_ways() {
        for r in [
            NameRef::File(0),
            NameRef::File(IN_FILE - 1),
            NameRef::Pool(Str { at: 0, len: 0 }),
            NameRef::Pool(Str {
                at: IN_FILE - 1,
                len: u32::MAX,
            }),
        ] {
            assert_eq!(NameRef::unpack(r.pack()), r);
            assert_ne!(r.pack(), u64::MAX);
        }
    }

    fn exe_path() -> FilePath {
        let exe = std::env::current_exe().unwrap();
        FilePath::from_bytes(exe.as_os_str().as_encoded_bytes()).unwrap()
    }

    /// Our own binary's lines: this function's file, at a line inside it.
    #[test]
    fn lines_of_our_own_binary() {
        let (out, fig) = build(&exe_path(), &[], 1 << 40);
        let Outcome::Ready(t) = out else {
            panic!("no tables: {out:?}")
        };
        assert!(fig.rows > 1000, "{fig:?}");
        let here = lines_of_our_own_binary as *const () as usize;
        crate::indexer::modules::snapshot();
        let m = crate::runtime::modules::lookup_in_snapshot(here).unwrap();
        let loc = t
            .location((here - m.bias) as u64 + 8)
            .expect("a line for this function");
        let file = std::str::from_utf8(loc.file).unwrap();
        assert!(file.ends_with("src/indexer/lines.rs"), "{file}");
        // Inlined functions' names are left in the file, and a session
        // reads them there: each as the file has it, demangled.
        assert!(fig.names_in_file > 100, "{fig:?}");
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        crate::runtime::stack::prepare();
        let mut st = Box::new(crate::symbolize::lookup::Storage::new());
        let mut session = crate::symbolize::lookup::Session::new(&mut st);
        let mut checked = 0;
        for i in (0..t.inlines.len() as u32).step_by(97) {
            let crate::symbolize::lines::Name::File(at) = t.inline_name(i) else {
                continue;
            };
            let rest = &bytes[at as usize..];
            let raw =
                std::str::from_utf8(&rest[..rest.iter().position(|&b| b == 0).unwrap()]).unwrap();
            let want = format!("{:#}", rustc_demangle::demangle(raw));
            let got = session.inlined_name(m, t.inline_name(i)).expect("read");
            let got = std::str::from_utf8(got).unwrap();
            // A long name is cut, with `...`.
            match got.strip_suffix("...") {
                Some(cut) if got.len() >= crate::symbolize::lookup::OUT_CAP - 8 => {
                    assert!(want.starts_with(cut), "call {i}: {got} / {want}")
                }
                _ => assert_eq!(got, want, "call {i}"),
            }
            checked += 1;
        }
        assert!(checked > 10, "{checked}");
        // Budget: over it, no tables.
        let (out, _) = build(&exe_path(), &[], 1000);
        assert!(matches!(out, Outcome::OverBudget { .. }), "{out:?}");
    }

    /// With libc's debug file installed (libc6-dbg), libc gets lines too.
    #[test]
    fn libc_lines_from_its_debug_file() {
        crate::indexer::modules::snapshot();
        let getpid = libc::getpid as *const () as usize;
        let m = crate::runtime::modules::lookup_in_snapshot(getpid).unwrap();
        let path = FilePath::from_bytes(m.path()).unwrap();
        let map = Mapped::open(&path).unwrap();
        let elf = Elf::parse(map.bytes()).unwrap();
        if file::find_debug_file(&path, &elf, m.build_id()).is_none() {
            eprintln!(
                "no debug file for {:?}: skipped",
                std::str::from_utf8(m.path())
            );
            return;
        }
        let t = std::time::Instant::now();
        let (out, fig) = build(&path, m.build_id(), 1 << 40);
        eprintln!("libc: {fig:?} in {:?}", t.elapsed());
        let Outcome::Ready(t) = out else {
            panic!("no tables: {out:?}")
        };
        let loc = t
            .location((getpid - m.bias) as u64)
            .expect("a line for getpid");
        eprintln!("{}:{}", String::from_utf8_lossy(loc.file), loc.line);
    }
}
