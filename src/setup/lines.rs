//! Builds a module's line tables (`symbolize::lines`) from its DWARF, and
//! finds separate debug files. Normal context (the `fh-symbols` thread):
//! it allocates freely while it works; what it keeps is copied into memory
//! it maps itself and leaks, so a handler can read it at any time.
//!
//! - The DWARF is read from the module's own file, or else from a
//!   separate debug file with the same GNU build-id: in each debug
//!   directory (those given with `Config::debug_dir`, then
//!   `/usr/lib/debug`) as `.build-id/xx/rest.debug`, or through the
//!   file's `.gnu_debuglink` (next to the file, in its `.debug/`
//!   subdirectory, or under each debug directory plus the file's own
//!   directory). Split DWARF (`.dwo`, `.dwp`) is not read.
//! - DWARF 4 and 5, compressed sections (`SHF_COMPRESSED`, zlib and zstd)
//!   too.
//! - A module whose debug sections add up to more than the budget
//!   (`Config::line_budget`, 64 MiB by default) gets no line tables: its
//!   frames are named, without lines, and the report says so once.
#![allow(unsafe_code)]

use crate::symbolize::lines::{
    encode_row, encode_seg, Block, Call, Inline, LineTable, Row, SegBlock, Str, BLOCK_ROWS,
    IN_FILE, NONE, NO_FILE,
};
use core::sync::atomic::{AtomicPtr, Ordering};
use gimli::{AttributeValue, EndianSlice, RunTimeEndian, SectionId};
use object::{Object, ObjectSection};
use std::borrow::Cow;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

/// The debug directories given in the configuration, searched before
/// `/usr/lib/debug`; null for none. Each new list is leaked: not a
/// `Mutex`, which a `fork()` during the builder's read would leave locked
/// in the child, for its `enable()` to wait on forever.
static DEBUG_DIRS: AtomicPtr<Vec<PathBuf>> = AtomicPtr::new(core::ptr::null_mut());

/// Set the debug directories (`enable()`; a list equal to the current
/// one is not stored again).
pub(crate) fn set_debug_dirs(dirs: &[PathBuf]) {
    if configured_debug_dirs() == dirs {
        return;
    }
    let list: &'static mut Vec<PathBuf> = Box::leak(Box::new(dirs.to_vec()));
    DEBUG_DIRS.store(list, Ordering::Release);
}

fn configured_debug_dirs() -> &'static [PathBuf] {
    let p = DEBUG_DIRS.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: every pointer stored is a leaked `Vec`, never freed or
    // changed after it was published.
    unsafe { (*p).as_slice() }
}

/// The system's debug directory.
const SYSTEM_DEBUG_DIR: &str = "/usr/lib/debug";

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

/// A file mapped read-only, unmapped on drop.
pub(crate) struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    /// Map the file at `path`.
    pub(crate) fn open(path: &Path) -> Option<Mapped> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(path).ok()?;
        let meta = f.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        let len = usize::try_from(meta.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: a new private read-only mapping of a file we opened; the
        // kernel picks the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                f.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapped { ptr, len })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes and lives as long as
        // `self`. (A file truncated meanwhile could fault a read; module
        // files and debug files are not rewritten in place.)
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: our own mapping, not used after this.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn has_lines(obj: &object::File<'_>) -> bool {
    obj.section_by_name(".debug_line")
        .is_some_and(|s| s.size() > 0 && s.kind() != object::SectionKind::UninitializedData)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn debug_dirs() -> Vec<PathBuf> {
    let mut dirs = configured_debug_dirs().to_vec();
    dirs.push(PathBuf::from(SYSTEM_DEBUG_DIR));
    dirs
}

/// A separate debug file for the module file at `path` (mapped as
/// `file`), with build-id `build_id`: by build-id, then through
/// `.gnu_debuglink`. The file found is mapped, and its build-id checked.
pub(crate) fn find_debug_file(
    path: &Path,
    file: &object::File<'_>,
    build_id: &[u8],
) -> Option<(PathBuf, Mapped)> {
    let dirs = debug_dirs();
    let mut candidates = Vec::new();
    if build_id.len() > 1 {
        let h = hex(build_id);
        for d in &dirs {
            candidates.push(
                d.join(".build-id")
                    .join(&h[..2])
                    .join(format!("{}.debug", &h[2..])),
            );
        }
    }
    let link = file.gnu_debuglink().ok().flatten();
    if let Some((name, _)) = link {
        let name = std::str::from_utf8(name).ok()?;
        let dir = path.parent().unwrap_or(Path::new("/"));
        candidates.push(dir.join(name));
        candidates.push(dir.join(".debug").join(name));
        for d in &dirs {
            let rel = dir.strip_prefix("/").unwrap_or(dir);
            candidates.push(d.join(rel).join(name));
        }
    }
    for c in candidates {
        if c == path {
            continue;
        }
        let Some(map) = Mapped::open(&c) else {
            continue;
        };
        let ok = match object::File::parse(map.bytes()) {
            Ok(obj) => {
                let id = obj.build_id().ok().flatten().unwrap_or(&[]);
                if build_id.is_empty() {
                    // No build-id to compare: the debuglink's CRC decides.
                    link.is_some_and(|(_, crc)| crc32(map.bytes()) == crc)
                } else {
                    id == build_id
                }
            }
            Err(_) => false,
        };
        if ok {
            return Some((c, map));
        }
    }
    None
}

/// CRC-32 (IEEE), as `.gnu_debuglink` uses it.
fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *t = c;
    }
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The DWARF sections the tables need.
const SECTIONS: &[SectionId] = &[
    SectionId::DebugAbbrev,
    SectionId::DebugAddr,
    SectionId::DebugInfo,
    SectionId::DebugLine,
    SectionId::DebugLineStr,
    SectionId::DebugRanges,
    SectionId::DebugRngLists,
    SectionId::DebugStr,
    SectionId::DebugStrOffsets,
];

/// The uncompressed size of the DWARF sections the tables need.
pub(crate) fn debug_size(obj: &object::File<'_>) -> u64 {
    SECTIONS
        .iter()
        .filter_map(|id| obj.section_by_name(id.name()))
        .map(|s| {
            s.compressed_file_range()
                .map_or(s.size(), |r| r.uncompressed_size)
        })
        .sum()
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

/// Build the line tables for the module file at `path` (its build-id
/// `build_id`, empty if none), within `budget` bytes of DWARF.
pub(crate) fn build(path: &Path, build_id: &[u8], budget: u64) -> (Outcome, Figures) {
    let none = (Outcome::Absent, Figures::default());
    let Some(map) = Mapped::open(path) else {
        return none;
    };
    let Ok(obj) = object::File::parse(map.bytes()) else {
        return none;
    };
    if has_lines(&obj) {
        // Names stay in this file, the module's own: a report reads them
        // from it (checked by build-id, as for its symbols).
        let own = map.bytes();
        return build_from(&obj, budget, Some((own.as_ptr() as usize, own.len())));
    }
    let Some((_, debug)) = find_debug_file(path, &obj, build_id) else {
        return none;
    };
    let Ok(dobj) = object::File::parse(debug.bytes()) else {
        return none;
    };
    if !has_lines(&dobj) {
        return none;
    }
    build_from(&dobj, budget, None)
}

/// Build from `obj`; `own` is the span of the module's own file in
/// memory when `obj` is that file (names found in it uncompressed are
/// left there, as file offsets).
fn build_from(
    obj: &object::File<'_>,
    budget: u64,
    own: Option<(usize, usize)>,
) -> (Outcome, Figures) {
    let size = debug_size(obj);
    let mut fig = Figures {
        debug_line: obj.section_by_name(".debug_line").map_or(0, |s| {
            s.compressed_file_range()
                .map_or(s.size(), |r| r.uncompressed_size)
        }),
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
    match builder.run(obj) {
        Some(t) => {
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
        None => (Outcome::Absent, fig),
    }
}

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// The tables while they are built (on the heap).
#[derive(Default)]
struct Builder {
    pool: Vec<u8>,
    strings: HashMap<Vec<u8>, Str>,
    files: Vec<Str>,
    file_ids: HashMap<Vec<u8>, u32>,
    inlines: Vec<Pending>,
    levels: Vec<u16>,
    /// (lo, hi, level, call) of every inlined call's ranges.
    ranges: Vec<(u64, u64, u16, u32)>,
    /// Sequences of rows (address, file, line), each ending with a
    /// [`NO_FILE`] row.
    sequences: Vec<Vec<(u64, u32, u32)>>,
    /// Names by the global offset of their DIE.
    names: HashMap<usize, NameRef>,
    /// The module's own file in memory, when DWARF is read from it.
    own: Option<(usize, usize)>,
}

/// Where an inlined function's name is while the tables are built.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum NameRef {
    /// In the pool.
    Pool(Str),
    /// At this offset in the module's own file, NUL-terminated.
    File(u32),
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
    blocks: Vec<Block>,
    stream: Vec<u8>,
    segments: usize,
    segs: Vec<SegBlock>,
    seg_stream: Vec<u8>,
    inlines: Vec<Inline>,
    wide: Vec<Call>,
    names: Vec<u32>,
    names_in_file: usize,
    files: Vec<Str>,
    pool: Vec<u8>,
}

/// A legacy Rust symbol without its hash (`17h` and 16 hex digits before
/// the final `E`): reports never show it, and it is a fifth of the name.
fn without_hash(name: &[u8]) -> Cow<'_, [u8]> {
    let n = name.len();
    if name.starts_with(b"_ZN") && n > 23 && name[n - 1] == b'E' {
        let hash = &name[n - 20..n - 1];
        if hash.starts_with(b"17h") && hash[3..].iter().all(u8::is_ascii_hexdigit) {
            let mut v = name[..n - 20].to_vec();
            v.push(b'E');
            return Cow::Owned(v);
        }
    }
    Cow::Borrowed(name)
}

/// A line program's file indexes (small, dense) to our file ids.
#[derive(Default)]
struct FileMap(Vec<u32>);

/// Not looked up yet.
const UNSEEN: u32 = u32::MAX - 1;

impl FileMap {
    fn get(&self, idx: u64) -> Option<u32> {
        self.0
            .get(usize::try_from(idx).ok()?)
            .copied()
            .filter(|&f| f != UNSEEN)
    }

    fn insert(&mut self, idx: u64, f: u32) {
        let Ok(i) = usize::try_from(idx) else { return };
        if i >= 1 << 20 {
            return;
        }
        if self.0.len() <= i {
            self.0.resize(i + 1, UNSEEN);
        }
        self.0[i] = f;
    }
}

fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    if rel.first() == Some(&b'/') || base.is_empty() {
        return rel.to_vec();
    }
    if rel.is_empty() {
        return base.to_vec();
    }
    let mut p = base.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(rel);
    p
}

fn udata(v: AttributeValue<R<'_>>) -> Option<u64> {
    match v {
        AttributeValue::Udata(n) | AttributeValue::FileIndex(n) => Some(n),
        AttributeValue::Data1(n) => Some(n.into()),
        AttributeValue::Data2(n) => Some(n.into()),
        AttributeValue::Data4(n) => Some(n.into()),
        AttributeValue::Data8(n) => Some(n),
        AttributeValue::Sdata(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

impl Builder {
    /// A name found in DWARF: left in the module's file when it lies there
    /// as is (a NUL-terminated string, not in a compressed section), else
    /// kept in the pool without its hash.
    fn name_ref(&mut self, s: &[u8]) -> NameRef {
        if let Some((base, len)) = self.own {
            let at = (s.as_ptr() as usize).wrapping_sub(base);
            let end = at.saturating_add(s.len());
            // SAFETY: `base..base + len` is the module file's mapping,
            // alive for the whole build; `end < len` keeps the read in it.
            let nul = end < len && unsafe { *(base as *const u8).add(end) } == 0;
            if let Ok(at) = u32::try_from(at) {
                if nul && at < IN_FILE {
                    return NameRef::File(at);
                }
            }
        }
        NameRef::Pool(self.intern(&without_hash(s)))
    }

    fn intern(&mut self, s: &[u8]) -> Str {
        if let Some(&v) = self.strings.get(s) {
            return v;
        }
        let v = Str {
            at: self.pool.len() as u32,
            len: s.len() as u32,
        };
        self.pool.extend_from_slice(s);
        self.strings.insert(s.to_vec(), v);
        v
    }

    fn file_id(&mut self, path: &[u8]) -> u32 {
        if let Some(&id) = self.file_ids.get(path) {
            return id;
        }
        let s = self.intern(path);
        let id = self.files.len() as u32;
        self.files.push(s);
        self.file_ids.insert(path.to_vec(), id);
        id
    }

    /// The file `index` of a line program, as a full path.
    fn program_file(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &gimli::Unit<R<'_>>,
        header: &gimli::LineProgramHeader<R<'_>>,
        index: u64,
    ) -> u32 {
        let Some(fe) = header.file(index) else {
            return NO_FILE;
        };
        let Ok(name) = dwarf.attr_string(unit, fe.path_name()) else {
            return NO_FILE;
        };
        let comp = unit.comp_dir.map_or(&[][..], |d| d.slice());
        let dir = fe
            .directory(header)
            .and_then(|d| dwarf.attr_string(unit, d).ok())
            .map_or(&[][..], |d| d.slice());
        let path = join(&join(comp, dir), name.slice());
        self.file_id(&path)
    }

    fn run(mut self, obj: &object::File<'_>) -> Option<Tables> {
        let endian = if obj.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let data: Vec<(SectionId, Cow<'_, [u8]>)> = SECTIONS
            .iter()
            .filter_map(|&id| {
                let s = obj.section_by_name(id.name())?;
                Some((id, s.uncompressed_data().ok()?))
            })
            .collect();
        let dwarf = gimli::Dwarf::load(|id| -> Result<R<'_>, gimli::Error> {
            let bytes = data
                .iter()
                .find(|(i, _)| *i == id)
                .map_or(&[][..], |(_, d)| &**d);
            Ok(EndianSlice::new(bytes, endian))
        })
        .ok()?;
        // Code lives in executable sections; rows elsewhere (functions the
        // linker dropped, left at address 0) are ignored.
        let exec: Vec<(u64, u64)> = obj
            .sections()
            .filter(|s| match s.flags() {
                object::SectionFlags::Elf { sh_flags, .. } => {
                    sh_flags.contains(object::elf::SHF_EXECINSTR)
                }
                _ => false,
            })
            .map(|s| (s.address(), s.address().saturating_add(s.size())))
            .filter(|r| r.0 < r.1)
            .collect();
        let in_code = |a: u64| exec.iter().any(|&(lo, hi)| lo <= a && a < hi);
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut file_map = FileMap::default();
            if let Some(program) = unit.line_program.clone() {
                let mut rows = program.rows();
                let mut seq: Vec<(u64, u32, u32)> = Vec::new();
                while let Ok(Some((h, row))) = rows.next_row() {
                    let addr = row.address();
                    if row.end_sequence() {
                        if seq.first().is_some_and(|f| in_code(f.0)) {
                            seq.push((addr, NO_FILE, 0));
                            self.sequences.push(std::mem::take(&mut seq));
                        }
                        seq.clear();
                        continue;
                    }
                    let idx = row.file_index();
                    let file = match file_map.get(idx) {
                        Some(f) => f,
                        None => {
                            let f = self.program_file(&dwarf, &unit, h, idx);
                            file_map.insert(idx, f);
                            f
                        }
                    };
                    let line = row
                        .line()
                        .map_or(0, |l| u32::try_from(l.get()).unwrap_or(u32::MAX - 1));
                    let file = if line == 0 { NO_FILE } else { file };
                    if let Some(last) = seq.last_mut() {
                        if last.0 == addr {
                            last.1 = file;
                            last.2 = line;
                            continue;
                        }
                        if last.1 == file && last.2 == line {
                            continue;
                        }
                    }
                    seq.push((addr, file, line));
                }
            }
            self.inlines_of(&dwarf, &unit, &mut file_map);
        }
        self.finish(&exec)
    }

    /// The inlined calls of one unit.
    fn inlines_of(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &gimli::Unit<R<'_>>,
        file_map: &mut FileMap,
    ) {
        let header = unit.line_program.as_ref().map(|p| p.header().clone());
        // Open calls: (DIE depth, call index; NONE for a function).
        let mut stack: Vec<(isize, u32)> = Vec::new();
        let mut entries = unit.entries();
        while let Ok(Some(entry)) = entries.next_dfs() {
            let depth = entry.depth();
            while stack.last().is_some_and(|s| s.0 >= depth) {
                stack.pop();
            }
            match entry.tag() {
                gimli::DW_TAG_subprogram => stack.push((depth, NONE)),
                gimli::DW_TAG_inlined_subroutine => {
                    let parent = stack.last().map_or(NONE, |s| s.1);
                    let name = entry
                        .attr_value(gimli::DW_AT_abstract_origin)
                        .and_then(|v| self.origin_name(dwarf, unit, v, 0))
                        .unwrap_or(NameRef::Pool(Str { at: 0, len: 0 }));
                    let call_file = entry
                        .attr_value(gimli::DW_AT_call_file)
                        .and_then(udata)
                        .map_or(NO_FILE, |idx| match file_map.get(idx) {
                            Some(f) => f,
                            None => {
                                let f = header
                                    .as_ref()
                                    .map_or(NO_FILE, |h| self.program_file(dwarf, unit, h, idx));
                                file_map.insert(idx, f);
                                f
                            }
                        });
                    let call_line = entry
                        .attr_value(gimli::DW_AT_call_line)
                        .and_then(udata)
                        .map_or(0, |l| u32::try_from(l).unwrap_or(0));
                    let id = self.inlines.len() as u32;
                    let level = if parent == NONE {
                        1
                    } else {
                        self.levels
                            .get(parent as usize)
                            .map_or(1, |l| l.saturating_add(1))
                    };
                    self.inlines.push(Pending {
                        parent,
                        name,
                        call: Row {
                            file: if call_line == 0 { NO_FILE } else { call_file },
                            line: call_line,
                        },
                    });
                    self.levels.push(level);
                    if let Ok(mut ranges) = dwarf.die_ranges(unit, entry) {
                        while let Ok(Some(r)) = ranges.next() {
                            if r.begin < r.end && r.begin != 0 {
                                self.ranges.push((r.begin, r.end, level, id));
                            }
                        }
                    }
                    stack.push((depth, id));
                }
                _ => {}
            }
        }
    }

    /// The name of the function an inlined call refers to: its linkage
    /// (mangled) name, else its plain name, following specifications and
    /// abstract origins a few steps.
    fn origin_name(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &gimli::Unit<R<'_>>,
        v: AttributeValue<R<'_>>,
        depth: u32,
    ) -> Option<NameRef> {
        let AttributeValue::UnitRef(off) = v else {
            // References into other units (LTO) are left unnamed.
            return None;
        };
        let global = off.to_debug_info_offset(&unit.header).map(|o| o.0);
        if let Some(g) = global {
            if let Some(&s) = self.names.get(&g) {
                return Some(s);
            }
        }
        let e = unit.entry(off).ok()?;
        let mut plain = None;
        let mut next = None;
        for attr in e.attrs() {
            match attr.name() {
                gimli::DW_AT_linkage_name | gimli::DW_AT_MIPS_linkage_name => {
                    if let Ok(s) = dwarf.attr_string(unit, attr.value()) {
                        let s = self.name_ref(s.slice());
                        if let Some(g) = global {
                            self.names.insert(g, s);
                        }
                        return Some(s);
                    }
                }
                gimli::DW_AT_name => {
                    plain = dwarf.attr_string(unit, attr.value()).ok();
                }
                gimli::DW_AT_specification | gimli::DW_AT_abstract_origin => {
                    next = Some(attr.value());
                }
                _ => {}
            }
        }
        let found = match (next, depth < 4) {
            (Some(n), true) => self.origin_name(dwarf, unit, n, depth + 1),
            _ => None,
        };
        let s = found.or_else(|| plain.map(|p| self.name_ref(p.slice())))?;
        if let Some(g) = global {
            self.names.insert(g, s);
        }
        Some(s)
    }

    fn finish(mut self, exec: &[(u64, u64)]) -> Option<Tables> {
        let base = exec.iter().map(|r| r.0).min()?;
        let rel = |a: u64| u32::try_from(a.checked_sub(base)?).ok();
        // Rows: sequences by address, overlapping ones dropped.
        self.sequences.sort_by_key(|s| s.first().map_or(0, |r| r.0));
        let mut row_addrs = Vec::new();
        let mut rows = Vec::new();
        let mut end = 0u64;
        for seq in &self.sequences {
            let (Some(first), Some(last)) = (seq.first(), seq.last()) else {
                continue;
            };
            if first.0 < end {
                continue;
            }
            end = last.0;
            for &(a, file, line) in seq {
                let Some(r) = rel(a) else { continue };
                if row_addrs.last() == Some(&r) {
                    rows.pop();
                    row_addrs.pop();
                }
                row_addrs.push(r);
                rows.push(Row { file, line });
            }
        }
        // Only the inlined calls in code (not in functions the linker
        // dropped) are kept, renumbered, with only the names they use.
        let in_code = |a: u64| exec.iter().any(|&(lo, hi)| lo <= a && a < hi);
        self.ranges.retain(|r| in_code(r.0));
        let mut keep = vec![NONE; self.inlines.len()];
        for r in &self.ranges {
            if let Some(k) = keep.get_mut(r.3 as usize) {
                *k = 0;
            }
        }
        let mut pool = Vec::new();
        let mut strings: HashMap<Vec<u8>, Str> = HashMap::new();
        let mut put = |pool: &mut Vec<u8>, s: &[u8]| -> Str {
            *strings.entry(s.to_vec()).or_insert_with(|| {
                let v = Str {
                    at: pool.len() as u32,
                    len: s.len() as u32,
                };
                pool.extend_from_slice(s);
                v
            })
        };
        let old_pool = std::mem::take(&mut self.pool);
        let text = |s: Str| {
            old_pool
                .get(s.at as usize..(s.at + s.len) as usize)
                .unwrap_or(&[])
        };
        let files: Vec<Str> = self
            .files
            .iter()
            .map(|&f| put(&mut pool, text(f)))
            .collect();
        let mut inlines = Vec::new();
        let mut wide = Vec::new();
        let mut names = Vec::new();
        let mut name_ids: HashMap<NameRef, u32> = HashMap::new();
        let mut names_in_file = 0;
        for (i, rec) in self.inlines.iter().enumerate() {
            if keep[i] == NONE {
                continue;
            }
            let id = inlines.len() as u32;
            keep[i] = id;
            let parent = match rec.parent {
                NONE => NONE,
                p => keep.get(p as usize).copied().unwrap_or(NONE),
            };
            let name = match name_ids.get(&rec.name) {
                Some(&n) => n,
                None => {
                    let entry = match rec.name {
                        NameRef::File(at) => {
                            names_in_file += 1;
                            at | IN_FILE
                        }
                        NameRef::Pool(s) => {
                            let mut name = text(s).to_vec();
                            name.push(0);
                            put(&mut pool, &name).at
                        }
                    };
                    let n = names.len() as u32;
                    names.push(entry);
                    name_ids.insert(rec.name, n);
                    n
                }
            };
            let call = Call {
                parent,
                name,
                call: rec.call,
            };
            inlines.push(Inline::pack(id, call).unwrap_or_else(|| {
                wide.push(call);
                Inline::wide(wide.len() as u32 - 1)
            }));
        }
        for r in self.ranges.iter_mut() {
            r.3 = keep.get(r.3 as usize).copied().unwrap_or(NONE);
        }
        // Inline segments: at each boundary, the innermost call covering it.
        self.ranges.sort_unstable();
        let mut points: Vec<u64> = self.ranges.iter().flat_map(|r| [r.0, r.1]).collect();
        points.sort_unstable();
        points.dedup();
        let mut heap: BinaryHeap<(u16, u32, u64)> = BinaryHeap::new();
        let mut next = 0usize;
        let mut seg_addrs = Vec::new();
        let mut seg_inner = Vec::new();
        for &p in &points {
            while let Some(r) = self.ranges.get(next).filter(|r| r.0 <= p) {
                heap.push((r.2, r.3, r.1));
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
            seg_addrs.push(r);
            seg_inner.push(inner);
        }
        if row_addrs.is_empty() && seg_addrs.is_empty() {
            return None;
        }
        let mut blocks = Vec::with_capacity(rows.len() / BLOCK_ROWS + 1);
        let mut stream = Vec::new();
        for (i, (&a, &r)) in row_addrs.iter().zip(&rows).enumerate() {
            if i % BLOCK_ROWS == 0 {
                blocks.push(Block {
                    addr: a,
                    row: r,
                    at: u32::try_from(stream.len()).ok()?,
                });
            } else if let (Some(&pa), Some(&pr)) = (row_addrs.get(i - 1), rows.get(i - 1)) {
                encode_row(&mut stream, pa, pr, a, r);
            }
        }
        let mut segs = Vec::with_capacity(seg_addrs.len() / BLOCK_ROWS + 1);
        let mut seg_stream = Vec::new();
        for (i, (&a, &inner)) in seg_addrs.iter().zip(&seg_inner).enumerate() {
            if i % BLOCK_ROWS == 0 {
                segs.push(SegBlock {
                    addr: a,
                    inner,
                    at: u32::try_from(seg_stream.len()).ok()?,
                });
            } else if let (Some(&pa), Some(&pi)) = (seg_addrs.get(i - 1), seg_inner.get(i - 1)) {
                encode_seg(&mut seg_stream, pa, pi, a, inner);
            }
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
            .next_multiple_of(crate::runtime::sys::page_size());
        let p = crate::runtime::sys::map_apart(len, libc::PROT_READ | libc::PROT_WRITE, 0).ok()?;
        Some(Arena {
            base: p as *mut u8,
            len,
            used: 0,
        })
    }

    /// Copy `v` in, aligned for `T`; the copy lives forever.
    fn put<T: Copy>(&mut self, v: &[T]) -> Option<&'static [T]> {
        let align = std::mem::align_of::<T>();
        let at = self.used.checked_add(align - 1)? & !(align - 1);
        let bytes = std::mem::size_of_val(v);
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
            std::ptr::copy_nonoverlapping(v.as_ptr(), dst, v.len());
            Some(std::slice::from_raw_parts(dst, v.len()))
        }
    }
}

/// Copy `bytes` into memory mapped for them, leaked.
pub(crate) fn leak_bytes(bytes: &[u8]) -> Option<&'static [u8]> {
    let page = crate::runtime::sys::page_size();
    let mut a = Arena::new(bytes.len().div_ceil(page).max(1) * page)?;
    a.put(bytes)
}

impl Tables {
    /// Copy the tables into a mapping of their own, leaked.
    fn publish(self) -> Option<&'static LineTable> {
        fn size<T>(v: &[T]) -> usize {
            std::mem::size_of_val(v) + std::mem::align_of::<T>()
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
            + std::mem::size_of::<LineTable>()
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
        let align = std::mem::align_of::<LineTable>();
        let at = (a.used + align - 1) & !(align - 1);
        if at + std::mem::size_of::<LineTable>() > a.len {
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
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn strips_legacy_hashes() {
        assert_eq!(
            &*without_hash(b"_ZN4core3ptr13read_volatile17h0123456789abcdefE"),
            b"_ZN4core3ptr13read_volatileE"
        );
        assert_eq!(
            &*without_hash(b"_RNvCs1234_7mycrate3foo"),
            b"_RNvCs1234_7mycrate3foo"
        );
        assert_eq!(&*without_hash(b"main"), b"main");
    }

    #[test]
    fn joins_paths() {
        assert_eq!(join(b"/a", b"b"), b"/a/b");
        assert_eq!(join(b"/a/", b"b"), b"/a/b");
        assert_eq!(join(b"/a", b"/b"), b"/b");
        assert_eq!(join(b"", b"b"), b"b");
    }

    /// Our own binary's lines: this function's file, at a line inside it.
    #[test]
    fn lines_of_our_own_binary() {
        let exe = std::env::current_exe().unwrap();
        let (out, fig) = build(&exe, &[], 1 << 40);
        let Outcome::Ready(t) = out else {
            panic!("no tables: {out:?}")
        };
        assert!(fig.rows > 1000, "{fig:?}");
        let here = lines_of_our_own_binary as *const () as usize;
        crate::setup::modules::snapshot();
        let m = crate::runtime::modules::lookup_in_snapshot(here).unwrap();
        let loc = t
            .location((here - m.bias) as u64 + 8)
            .expect("a line for this function");
        let file = std::str::from_utf8(loc.file).unwrap();
        assert!(file.ends_with("src/setup/lines.rs"), "{file}");
        // Inlined functions' names are left in the file, and a session
        // reads them there: each as the file has it, demangled.
        assert!(fig.names_in_file > 100, "{fig:?}");
        let bytes = std::fs::read(&exe).unwrap();
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
        let (out, _) = build(&exe, &[], 1000);
        assert!(matches!(out, Outcome::OverBudget { .. }), "{out:?}");
    }
}

#[cfg(test)]
mod libc_tests {
    use super::*;

    /// With libc's debug file installed (libc6-dbg), libc gets lines too.
    #[test]
    fn libc_lines_from_its_debug_file() {
        crate::setup::modules::snapshot();
        let getpid = libc::getpid as *const () as usize;
        let m = crate::runtime::modules::lookup_in_snapshot(getpid).unwrap();
        let path = std::path::Path::new(std::str::from_utf8(m.path()).unwrap());
        let map = Mapped::open(path).unwrap();
        let obj = object::File::parse(map.bytes()).unwrap();
        if find_debug_file(path, &obj, m.build_id()).is_none() {
            eprintln!("no debug file for {}: skipped", path.display());
            return;
        }
        let t = std::time::Instant::now();
        let (out, fig) = build(path, m.build_id(), 1 << 40);
        eprintln!("libc: {fig:?} in {:?}", t.elapsed());
        if let Outcome::Ready(t) = out {
            eprintln!("mapped {} B", t.mapped);
        }
        let Outcome::Ready(t) = out else {
            panic!("no tables: {out:?}")
        };
        let loc = t
            .location((getpid - m.bias) as u64)
            .expect("a line for getpid");
        eprintln!("{}:{}", String::from_utf8_lossy(loc.file), loc.line);
    }
}
