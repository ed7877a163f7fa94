//! Async-signal-safe. Names one address: the in-handler symbolizer.
//!
//! For an address in module `m`:
//! 1. the module's file is opened (once per report, by path) and checked:
//!    it must be ELF and carry the build-id the mapped image has, so a
//!    file rebuilt or replaced on disk is never used to name old code;
//! 2. the symbol is found in the module's index when the background
//!    builder has published one (a binary search), or else by a `pread`
//!    scan of the file's `.symtab` (or `.dynsym`), 512 symbols a read,
//!    bounded in time. One scan resolves every frame of the stack that
//!    lies in that module (a batch of sorted addresses), and its results
//!    are remembered for the rest of the stack;
//!    A stripped module's index built from its separate debug file keeps
//!    the names in memory: no file is opened for them;
//! 3. its name is read from the string table (at most
//!    [`super::demangle::NAME_CAP`] bytes) and demangled, on the
//!    symbolizer stack, into static storage.
//!
//! Bounds: one scan may take at most [`SCAN_LOOKUP_MS`], and all the scans
//! of one report together at most [`SCAN_REPORT_MS`]; past that a frame is
//! left as `??`, and a module whose scan ran out of time is not scanned
//! again in the same report. A report never waits on the symbolizer.
//!
//! All storage is the reporter claim's: a [`Session`] borrows the
//! claim's [`Storage`] mutably, so only the claim's holder names frames,
//! one session at a time. Nothing allocates, nothing locks.
//!
//! # Safety
//!
//! The only `unsafe` is the stack switch for the demangler (the report
//! stack belongs to the claim's holder, whom the borrowed storage proves).
#![allow(unsafe_code)]

use super::demangle::{self, NAME_CAP};
use super::frame_text::{FrameText, World};
use super::index;
use super::lines::{self, LineTable};
use crate::runtime::elf::{self, SymTable, SYM_SIZE};
use crate::runtime::modules::{Module, PATH_MAX};
use crate::runtime::stack;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A budget not renewed for this long renews itself (for dumps whose
/// callers do not call [`begin_report`]).
use crate::settings::SCAN_BUDGET_RENEW_MS as BUDGET_RENEW_MS;
/// Longest one scan may take.
///
/// A full scan of a 110k-symbol binary takes about 1 ms; the margin is for
/// a loaded machine (the process may be descheduled mid-scan), where a
/// name is still worth a few more milliseconds of a dying process.
pub(crate) use crate::settings::SCAN_LOOKUP_MS;
/// Longest all the scans of one report may take together.
pub(crate) use crate::settings::SCAN_REPORT_MS;
/// Symbols per scan read.
const SCAN_CHUNK: usize = 512;
/// Longest readable name produced.
pub(crate) const OUT_CAP: usize = 512;
/// Files open at once during a report.
const MAX_FILES: usize = 8;
/// Without the symbolizer stack, names longer than this are not demangled
/// (bounding the demangler's recursion on the current stack).
const NAME_CAP_ON_CURRENT_STACK: usize = 64;

#[derive(Clone, Copy)]
enum FileState {
    /// Opened and checked; `table` is where its symbols are.
    Ready { fd: i32, table: SymTable },
    /// Unusable for this report: missing, not ELF, wrong build-id, no
    /// symbols, or its scan ran out of time.
    Unusable { fd: i32 },
}

#[derive(Clone, Copy)]
struct File {
    /// The module's start address: which module this is.
    module_start: usize,
    state: FileState,
    /// Whether a batch scan resolved every frame of this module already,
    /// so an address not remembered has no symbol (no need to scan again).
    scanned_all: bool,
}

struct Scratch {
    files: [File; MAX_FILES],
    nfiles: usize,
    syms: [u8; SYM_SIZE * SCAN_CHUNK],
    headers: [u8; 4096],
    path: [u8; PATH_MAX + 1],
    raw: [u8; NAME_CAP + 1],
    out: [u8; OUT_CAP],
    out_len: usize,
    /// Scan time spent in this report, and the report's start.
    spent_ms: u64,
    since_ms: u64,
    /// Symbols found by scans in this session, so a function seen on
    /// several frames (recursion) is scanned for once.
    found: [Remembered; REMEMBERED],
    nfound: usize,
    /// Scan reads left in this report (the warm-up allows 1).
    reads_left: u64,
    /// The addresses of one batch scan (sorted), and what it found.
    batch: [u64; BATCH],
    best: [Option<elf::Sym>; BATCH],
}

const NO_FILE: File = File {
    module_start: 0,
    state: FileState::Unusable { fd: -1 },
    scanned_all: false,
};

const SCRATCH_INIT: Scratch = Scratch {
    files: [NO_FILE; MAX_FILES],
    nfiles: 0,
    syms: [0; SYM_SIZE * SCAN_CHUNK],
    headers: [0; 4096],
    path: [0; PATH_MAX + 1],
    raw: [0; NAME_CAP + 1],
    out: [0; OUT_CAP],
    out_len: 0,
    spent_ms: 0,
    since_ms: 0,
    reads_left: u64::MAX,
    found: [Remembered {
        module_start: 0,
        sym: elf::Sym {
            name: 0,
            info: 0,
            shndx: 0,
            value: 0,
            size: 0,
        },
    }; REMEMBERED],
    nfound: 0,
    batch: [0; BATCH],
    best: [None; BATCH],
};

/// Scan results remembered per session.
const REMEMBERED: usize = 256;

/// Names remembered for the rest of one report, by address: the threads of
/// a process share most of their frames (a pool parked in the same place),
/// and a hit needs no file at all.
const NAME_CACHE: usize = 512;
/// Longest name kept in the cache; longer ones are looked up each time.
const CACHED_NAME: usize = 118;

#[derive(Clone, Copy)]
struct CachedName {
    /// The report (generation) this entry belongs to; 0 is never current.
    generation: u32,
    /// The looked-up address (already adjusted) and the symbol's start.
    addr: usize,
    start: usize,
    /// `None`: the address has no name.
    len: Option<u8>,
    name: [u8; CACHED_NAME],
}

const NO_NAME: CachedName = CachedName {
    generation: 0,
    addr: 0,
    start: 0,
    len: None,
    name: [0; CACHED_NAME],
};

struct NameCache {
    generation: u32,
    entries: [CachedName; NAME_CACHE],
}

/// The symbolizer's storage: part of the reporter claim's scratch
/// (`signal::claim`), so a session exists only for the claim's holder.
pub(crate) struct Storage {
    s: Scratch,
    names: NameCache,
    frames: FrameText,
}

impl Storage {
    /// Empty storage.
    pub(crate) const fn new() -> Storage {
        Storage {
            s: SCRATCH_INIT,
            names: NameCache {
                generation: 1,
                entries: [NO_NAME; NAME_CACHE],
            },
            frames: FrameText::new(),
        }
    }
}

fn cache_slot(addr: usize) -> usize {
    // Fibonacci hashing: neighbouring return addresses spread out.
    (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - 9)) % NAME_CACHE
}
/// Addresses resolved by one batch scan.
const BATCH: usize = 256;

#[derive(Clone, Copy)]
struct Remembered {
    module_start: usize,
    sym: elf::Sym,
}

/// Scans done (tests and the benchmark read it).
pub(crate) static SCANS: AtomicU64 = AtomicU64::new(0);
/// Whether sessions use the index; off only to benchmark the fallback.
pub(crate) static USE_INDEX: AtomicBool = AtomicBool::new(true);
/// Whether reports use the line tables; off only for tests (a crash
/// before the tables are ready).
pub(crate) static USE_LINES: AtomicBool = AtomicBool::new(true);

/// Whether frames are named at all; off only to benchmark the floor
/// (signal delivery and unwinding, no naming).
pub(crate) static NAMING: AtomicBool = AtomicBool::new(true);

/// A name found for an address.
pub(crate) struct Found<'a> {
    /// Readable (demangled) name, ASCII.
    pub name: &'a [u8],
    /// Runtime address of the symbol's start.
    pub start: usize,
}

/// The symbolizer for one stack's frames. Files it opened are closed when
/// it is dropped.
pub(crate) struct Session<'f> {
    s: &'f mut Scratch,
    names: &'f mut NameCache,
    texts: &'f mut FrameText,
    use_index: bool,
    /// The stack being named: a scan for one of its frames resolves all
    /// its frames in the same module at once.
    frames: &'f [usize],
    first_is_pc: bool,
}

/// The world a report names frames in, as far as this side can see it:
/// the published module snapshot and index set, and the switches. The
/// caller adds the loader's counts (`loads`, `unloads`), which only
/// normal context can read.
pub(crate) fn world(loads: u64, unloads: u64) -> World {
    let switches = u8::from(USE_INDEX.load(Ordering::Relaxed))
        | u8::from(USE_LINES.load(Ordering::Relaxed)) << 1
        | u8::from(NAMING.load(Ordering::Relaxed)) << 2;
    World {
        modules: crate::runtime::modules::snapshot_id(),
        indexes: index::set_id(),
        loads,
        unloads,
        switches,
    }
}

/// Renew the scan budget: a new report starts, which may make at most
/// `max_scan_reads` scan reads in all (`u64::MAX`: bounded by time only).
/// `world`, when the caller can tell, keeps the frame texts of the last
/// reports in the same world (see `frame_text`).
pub(crate) fn begin_report(st: &mut Storage, max_scan_reads: u64, world: Option<World>) {
    let s = &mut st.s;
    s.spent_ms = 0;
    s.since_ms = crate::runtime::sys::monotonic_ms();
    s.reads_left = max_scan_reads;
    // Names from an earlier report may be stale (a library unloaded, and
    // another loaded at its address): start the cache afresh.
    let names = &mut st.names;
    names.generation = names.generation.wrapping_add(1).max(1);
    st.frames.begin(world);
}

impl<'f> Session<'f> {
    /// Start naming the frames of `frames` (`first_is_pc` as in the
    /// report: whether `frames[0]` is an interrupted instruction rather
    /// than a return address).
    pub(crate) fn for_frames(
        st: &'f mut Storage,
        frames: &'f [usize],
        first_is_pc: bool,
    ) -> Session<'f> {
        let mut s = Session::new(st);
        s.frames = frames;
        s.first_is_pc = first_is_pc;
        s
    }

    /// Start naming addresses one at a time.
    pub(crate) fn new(st: &'f mut Storage) -> Session<'f> {
        let Storage { s, names, frames } = st;
        let now = crate::runtime::sys::monotonic_ms();
        if now.saturating_sub(s.since_ms) > BUDGET_RENEW_MS {
            s.spent_ms = 0;
            s.since_ms = now;
            s.reads_left = u64::MAX;
        }
        s.nfiles = 0;
        s.nfound = 0;
        Session {
            s,
            names,
            texts: frames,
            use_index: USE_INDEX.load(Ordering::Relaxed),
            frames: &[],
            first_is_pc: false,
        }
    }

    /// The line tables of `m`, when the index has them (and is used).
    pub(crate) fn line_table(&self, m: &Module) -> Option<&'static LineTable> {
        if !self.use_index || !USE_LINES.load(Ordering::Relaxed) || !NAMING.load(Ordering::Relaxed)
        {
            return None;
        }
        index::find(m)?.line_table()
    }

    /// Whether `m`'s names come from its index (not from a bounded scan).
    pub(crate) fn indexed(&self, m: &Module) -> bool {
        self.use_index && index::find(m).is_some()
    }

    /// The readable name of an inlined function of module `m` (from its
    /// line tables), in the session's name buffer; `None` when it cannot
    /// be read (its file is missing, replaced or unreadable), empty when
    /// DWARF gives none.
    pub(crate) fn inlined_name(&mut self, m: &Module, name: lines::Name) -> Option<&[u8]> {
        let (raw, complete) = match name {
            lines::Name::Pool(raw) => {
                let complete = raw.len() <= NAME_CAP;
                (raw.get(..NAME_CAP).unwrap_or(raw), complete)
            }
            lines::Name::File(at) => {
                // The file the tables were built from, checked (ELF, the
                // mapped image's build-id) as for symbol names.
                let slot = self.file_for(m)?;
                let FileState::Ready { fd, .. } = self.s.files.get(slot)?.state else {
                    return None;
                };
                let whole = SymTable {
                    str_offset: at,
                    str_size: u64::MAX - at,
                    ..SymTable::default()
                };
                let (len, complete) = elf::read_name(fd, &whole, 0, &mut self.s.raw)?;
                (self.s.raw.get(..len)?, complete)
            }
        };
        let n = demangle_on_symbolizer_stack(raw, complete, &mut self.s.out);
        self.s.out.get(..n)
    }

    /// The text written for frame `key` (see `frame_text`) earlier in
    /// this report.
    pub(crate) fn frame_text(&self, key: usize) -> Option<&[u8]> {
        self.texts.get(key)
    }

    /// Remember `text` as frame `key`'s for the rest of the report, and
    /// longer when `lasting` (see `frame_text`).
    pub(crate) fn remember_frame_text(&mut self, key: usize, text: &[u8], lasting: bool) {
        self.texts.put(key, text, lasting);
    }

    /// Ignore the index and always scan (benchmarks).
    pub(crate) fn set_use_index(&mut self, yes: bool) {
        self.use_index = yes;
    }

    /// Name the code at `addr` (already adjusted: a return address minus
    /// one) in module `m`.
    #[inline(never)]
    pub(crate) fn lookup(&mut self, m: &Module, addr: usize) -> Option<Found<'_>> {
        if !NAMING.load(Ordering::Relaxed) {
            return None;
        }
        let generation = self.names.generation;
        let slot = cache_slot(addr);
        {
            let entry = self.names.entries.get(slot)?;
            if entry.generation == generation && entry.addr == addr {
                let len = usize::from(entry.len?);
                let name = entry.name.get(..len)?;
                self.s.out.get_mut(..len)?.copy_from_slice(name);
                self.s.out_len = len;
                return Some(Found {
                    name: self.s.out.get(..len)?,
                    start: entry.start,
                });
            }
        }
        let found = self.lookup_uncached(m, addr);
        let entry = self.names.entries.get_mut(slot)?;
        entry.generation = generation;
        entry.addr = addr;
        entry.len = None;
        if let Some((start, len)) = found {
            if len <= CACHED_NAME {
                entry.start = start;
                if let (Some(dst), Some(src)) = (entry.name.get_mut(..len), self.s.out.get(..len)) {
                    dst.copy_from_slice(src);
                    entry.len = Some(len as u8);
                }
            } else {
                // Too long to keep: look it up again next time.
                entry.generation = 0;
            }
        }
        let (start, len) = found?;
        Some(Found {
            name: self.s.out.get(..len)?,
            start,
        })
    }

    /// [`lookup`](Self::lookup) without the cache: the name goes to
    /// `self.s.out`; returns the symbol's start and the name's length.
    fn lookup_uncached(&mut self, m: &Module, addr: usize) -> Option<(usize, usize)> {
        if self.use_index {
            if let Some(ix) = index::find(m).filter(|ix| !ix.names.is_empty()) {
                // Names from a separate debug file, in memory: no file.
                let e = ix.lookup(addr.wrapping_sub(m.bias) as u64)?;
                let (raw, complete) = ix.name_in_memory(e.name, NAME_CAP)?;
                self.s.out_len = demangle_on_symbolizer_stack(raw, complete, &mut self.s.out);
                return Some(((e.addr as usize).wrapping_add(m.bias), self.s.out_len));
            }
        }
        let slot = self.file_for(m)?;
        let FileState::Ready { fd, table } = self.s.files.get(slot)?.state else {
            return None;
        };
        let vaddr = addr.wrapping_sub(m.bias) as u64;
        let ix = if self.use_index { index::find(m) } else { None };
        let (sym_vaddr, name) = match ix {
            Some(ix) => {
                let e = ix.lookup(vaddr)?;
                (e.addr, e.name)
            }
            None => {
                if self.remembered(m, vaddr).is_none()
                    && !self.s.files.get(slot).is_some_and(|f| f.scanned_all)
                    && !self.scan_module(m, slot, fd, &table, vaddr)
                {
                    if let Some(f) = self.s.files.get_mut(slot) {
                        f.state = FileState::Unusable { fd };
                    }
                    return None;
                }
                let r = self.remembered(m, vaddr)?;
                (r.value, r.name)
            }
        };
        let (len, complete) = elf::read_name(fd, &table, name, &mut self.s.raw)?;
        let raw = self.s.raw.get(..len)?;
        self.s.out_len = demangle_on_symbolizer_stack(raw, complete, &mut self.s.out);
        Some(((sym_vaddr as usize).wrapping_add(m.bias), self.s.out_len))
    }

    /// The slot of the open, checked file for `m`, opening it if needed.
    #[inline(never)]
    fn file_for(&mut self, m: &Module) -> Option<usize> {
        let s = &mut *self.s;
        let open = s.files.get(..s.nfiles).unwrap_or(&[]);
        if let Some(i) = open.iter().position(|f| f.module_start == m.start) {
            return Some(i);
        }
        let state = open_checked(m, &mut s.path, &mut s.headers);
        let slot = if s.nfiles < MAX_FILES {
            s.nfiles += 1;
            s.nfiles - 1
        } else {
            // Full: reuse the last slot.
            let last = s.files.get(MAX_FILES - 1)?;
            close_state(last.state);
            MAX_FILES - 1
        };
        *s.files.get_mut(slot)? = File {
            module_start: m.start,
            state,
            scanned_all: false,
        };
        Some(slot)
    }

    /// A symbol an earlier scan of this session found that contains `vaddr`.
    fn remembered(&self, m: &Module, vaddr: u64) -> Option<elf::Sym> {
        let n = self.s.nfound.min(REMEMBERED);
        self.s
            .found
            .get(..n)?
            .iter()
            .find(|r| r.module_start == m.start && r.sym.contains(vaddr))
            .map(|r| r.sym)
    }

    fn remember(&mut self, m: &Module, sym: elf::Sym) {
        if self.s.nfound >= REMEMBERED {
            // Older entries get overwritten: no file may rely on them.
            for f in self.s.files.iter_mut() {
                f.scanned_all = false;
            }
        }
        let i = self.s.nfound % REMEMBERED;
        if let Some(slot) = self.s.found.get_mut(i) {
            *slot = Remembered {
                module_start: m.start,
                sym,
            };
            self.s.nfound += 1;
        }
    }

    /// Scan the module's symbol table once for `vaddr` and for every frame
    /// of the session's stack in the same module, and remember what is
    /// found. Returns false when the scan ran out of time.
    #[inline(never)]
    fn scan_module(
        &mut self,
        m: &Module,
        slot: usize,
        fd: i32,
        table: &SymTable,
        vaddr: u64,
    ) -> bool {
        let s = &mut *self.s;
        // The addresses: `vaddr`, then the module's frames, sorted, distinct.
        let mut nb = 0usize;
        let mut all = true;
        if let Some(b) = s.batch.get_mut(0) {
            *b = vaddr;
            nb = 1;
        }
        for (n, &ip) in self.frames.iter().enumerate() {
            let probe = if n == 0 && self.first_is_pc {
                ip
            } else {
                ip.wrapping_sub(1)
            };
            if !m.contains(probe) {
                continue;
            }
            match s.batch.get_mut(nb) {
                Some(b) => {
                    *b = probe.wrapping_sub(m.bias) as u64;
                    nb += 1;
                }
                None => all = false,
            }
        }
        let batch = s.batch.get_mut(..nb).unwrap_or(&mut []);
        batch.sort_unstable();
        // Drop duplicates (recursion): keep the first of each run.
        let mut k = 0usize;
        for i in 0..batch.len() {
            let Some(&v) = batch.get(i) else { break };
            if k > 0 && batch.get(k - 1) == Some(&v) {
                continue;
            }
            if let Some(d) = batch.get_mut(k) {
                *d = v;
                k += 1;
            }
        }
        let (Some(batch), Some(best)) = (s.batch.get(..k), s.best.get_mut(..k)) else {
            return false;
        };
        best.fill(None);
        if !scan_batch(
            fd,
            table,
            batch,
            best,
            &mut s.syms,
            &mut s.spent_ms,
            &mut s.reads_left,
        ) {
            return false;
        }
        for i in 0..k {
            if let Some(Some(sym)) = self.s.best.get(i).copied() {
                if self.remembered(m, sym.value).is_none() {
                    self.remember(m, sym);
                }
            }
        }
        if all && !self.frames.is_empty() && self.s.nfound < REMEMBERED {
            if let Some(f) = self.s.files.get_mut(slot) {
                f.scanned_all = true;
            }
        }
        true
    }
}

/// One pass over a symbol table: for each of the sorted addresses in
/// `probes`, the innermost code symbol that contains it goes to `best`.
/// Bounded by the report's budgets; returns false when it ran out (and
/// `best` is then incomplete).
#[inline(never)]
fn scan_batch(
    fd: i32,
    table: &SymTable,
    probes: &[u64],
    best: &mut [Option<elf::Sym>],
    syms: &mut [u8],
    spent_ms: &mut u64,
    reads_left: &mut u64,
) -> bool {
    if *spent_ms >= SCAN_REPORT_MS {
        return false;
    }
    SCANS.fetch_add(1, Ordering::Relaxed);
    let start = crate::runtime::sys::monotonic_ms();
    let limit = SCAN_LOOKUP_MS.min(SCAN_REPORT_MS - *spent_ms);
    let mut first = 0u64;
    let complete = loop {
        if *reads_left == 0 {
            break false;
        }
        *reads_left -= 1;
        let n = elf::read_syms(fd, table, first, syms);
        if n == 0 {
            break true;
        }
        for chunk in syms.chunks_exact(SYM_SIZE).take(n) {
            let Some(sym) = elf::parse_sym(chunk) else {
                continue;
            };
            if !sym.is_code() {
                continue;
            }
            // The probes inside this symbol: from the first >= its start.
            let mut i = probes.partition_point(|&p| p < sym.value);
            while let (Some(&p), Some(b)) = (probes.get(i), best.get_mut(i)) {
                if !sym.contains(p) {
                    break;
                }
                let better = match b {
                    None => true,
                    Some(o) => {
                        sym.value > o.value || (sym.value == o.value && sym.rank() < o.rank())
                    }
                };
                if better {
                    *b = Some(sym);
                }
                i += 1;
            }
        }
        first += n as u64;
        if crate::runtime::sys::monotonic_ms().saturating_sub(start) > limit {
            break false;
        }
    };
    *spent_ms = spent_ms.saturating_add(crate::runtime::sys::monotonic_ms().saturating_sub(start));
    complete
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        for f in self.s.files.iter().take(self.s.nfiles) {
            close_state(f.state);
        }
        self.s.nfiles = 0;
    }
}

fn close_state(state: FileState) {
    match state {
        FileState::Ready { fd, .. } | FileState::Unusable { fd } => elf::close(fd),
    }
}

/// Open `m`'s file and check that it is the mapped object.
#[inline(never)]
fn open_checked(m: &Module, path: &mut [u8; PATH_MAX + 1], headers: &mut [u8]) -> FileState {
    let p = m.path();
    if p.first() != Some(&b'/') || p.len() >= path.len() {
        return FileState::Unusable { fd: -1 };
    }
    if let Some(dst) = path.get_mut(..p.len()) {
        dst.copy_from_slice(p);
    }
    if let Some(nul) = path.get_mut(p.len()) {
        *nul = 0;
    }
    let fd = elf::open_cstr(path);
    if fd < 0 {
        return FileState::Unusable { fd };
    }
    let Some(info) = elf::inspect(fd, headers) else {
        return FileState::Unusable { fd };
    };
    if !m.build_id().is_empty() && info.build_id() != m.build_id() {
        return FileState::Unusable { fd };
    }
    match info.symtab {
        Some(table) => FileState::Ready { fd, table },
        None => FileState::Unusable { fd },
    }
}

/// Run the demangler once on the report stack, so its pages and code are
/// in place before a crash. Taking the storage proves the claim.
pub(crate) fn warm_up(_st: &mut Storage) {
    let mut out = [0u8; 64];
    demangle_on_symbolizer_stack(b"_RNvCs1234_7mycrate3foo", true, &mut out);
}

/// Demangle `raw` into `out` on the symbolizer stack.
fn demangle_on_symbolizer_stack(raw: &[u8], complete: bool, out: &mut [u8]) -> usize {
    let mut len = 0usize;
    if stack::available() {
        let mut f = || len = demangle::demangle_into(raw, complete, out);
        // SAFETY: this runs only in a session or the warm-up, which hold
        // the claim's storage: the claim's holder owns the report stack.
        unsafe { stack::run_on_report_stack(&mut f) };
    } else {
        let short = complete && raw.len() <= NAME_CAP_ON_CURRENT_STACK;
        len = demangle::demangle_into(raw, short, out);
    }
    len
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
    use crate::TEST_LOCK;

    /// Look up our own functions the way a report does: with the index and
    /// with the fallback scan.
    #[test]
    fn session_names_our_functions_with_and_without_the_index() {
        let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = Box::new(Storage::new());
        crate::indexer::modules::snapshot();
        stack::prepare();
        let here = session_names_our_functions_with_and_without_the_index as *const () as usize;
        let m = crate::runtime::modules::lookup_in_snapshot(here).unwrap();
        let want = "faulthandler::symbolize::lookup::tests::session_names_our_functions_with_and_without_the_index";

        // Without an index (a fresh process has none until the builder
        // publishes one): the scan.
        if index::find(m).is_none() {
            let before = SCANS.load(core::sync::atomic::Ordering::Relaxed);
            let mut s = Session::new(&mut st);
            let f = s.lookup(m, here + 4).expect("scan finds it");
            assert_eq!(std::str::from_utf8(f.name).unwrap(), want);
            assert_eq!(f.start, here);
            assert!(SCANS.load(core::sync::atomic::Ordering::Relaxed) > before);
        }
        crate::indexer::run::build_missing();
        assert!(index::find(m).is_some());
        let mut s = Session::new(&mut st);
        let f = s.lookup(m, here + 4).expect("index finds it");
        assert_eq!(std::str::from_utf8(f.name).unwrap(), want);
        assert_eq!(f.start, here);
        // libc is named from its .dynsym at least.
        let getpid = libc::getpid as *const () as usize;
        let lm = crate::runtime::modules::lookup_in_snapshot(getpid).unwrap();
        let f = s.lookup(lm, getpid).expect("libc exports getpid");
        assert!(std::str::from_utf8(f.name).unwrap().contains("getpid"));
    }
}

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod stack_tests {
    use super::*;
    use crate::TEST_LOCK;

    /// A v0 name nested 480 deep (just under rustc-demangle's limit of 500)
    /// needs far more stack than a small alternate stack has. Demangled
    /// through the symbolizer stack from a thread with a 16 KiB stack, it
    /// comes out whole.
    #[test]
    fn deep_v0_name_is_demangled_on_the_symbolizer_stack() {
        let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        assert!(stack::prepare());
        let mut name = String::from("_RINvCs1234_7mycrate3foo");
        name.push_str(&"R".repeat(480));
        name.push_str("uE");
        let out = std::thread::Builder::new()
            .stack_size(16 << 10)
            .spawn(move || {
                let mut out = [0u8; OUT_CAP];
                let n = demangle_on_symbolizer_stack(name.as_bytes(), true, &mut out);
                String::from_utf8(out[..n].to_vec()).unwrap()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(out, format!("mycrate::foo::<{}()>", "&".repeat(480)));
    }
}

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod batch_tests {
    use super::*;
    use crate::TEST_LOCK;

    #[inline(never)]
    fn first() -> usize {
        first as *const () as usize
    }
    #[inline(never)]
    fn second() -> usize {
        second as *const () as usize
    }

    /// Without an index, the frames of one module are all resolved by a
    /// single scan of its symbol table.
    #[test]
    fn one_scan_names_every_frame_of_a_module() {
        let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = Box::new(Storage::new());
        crate::indexer::modules::snapshot();
        stack::prepare();
        // Return-address-like frames inside three functions, one twice.
        let frames = [
            first() + 2,
            second() + 2,
            first() + 3,
            crate::runtime::fmt::parse_hex as *const () as usize + 2,
        ];
        let m = crate::runtime::modules::lookup_in_snapshot(frames[0]).unwrap();
        let mut s = Session::for_frames(&mut st, &frames, false);
        s.set_use_index(false);
        let before = SCANS.load(Ordering::Relaxed);
        let mut names = Vec::new();
        for &ip in &frames {
            let f = s.lookup(m, ip - 1).expect("named");
            names.push(String::from_utf8(f.name.to_vec()).unwrap());
        }
        assert_eq!(SCANS.load(Ordering::Relaxed) - before, 1, "one scan");
        let p = "faulthandler::symbolize::lookup::batch_tests::";
        assert_eq!(
            names,
            [
                format!("{p}first"),
                format!("{p}second"),
                format!("{p}first"),
                "faulthandler::runtime::fmt::parse_hex".to_string()
            ]
        );
        // An address with no symbol after the batch: no second scan.
        assert!(s.lookup(m, m.start).is_none());
        assert_eq!(SCANS.load(Ordering::Relaxed) - before, 1);
    }

    /// A scan that runs out of budget gives up: the frame is unnamed, and
    /// the module is not scanned again in the same report.
    #[test]
    fn a_scan_out_of_budget_gives_up() {
        let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = Box::new(Storage::new());
        crate::indexer::modules::snapshot();
        stack::prepare();
        let frames = [second() + 2];
        let m = crate::runtime::modules::lookup_in_snapshot(frames[0]).unwrap();
        // SAFETY: as above. One scan read in all: our binary has far more
        // than 512 symbols, so the scan cannot finish.
        begin_report(&mut st, 1, None);
        let mut s = Session::for_frames(&mut st, &frames, false);
        s.set_use_index(false);
        let before = SCANS.load(Ordering::Relaxed);
        assert!(s.lookup(m, frames[0] - 1).is_none());
        assert!(s.lookup(m, frames[0] - 1).is_none());
        assert_eq!(SCANS.load(Ordering::Relaxed) - before, 1, "not retried");
        drop(s);
        // A new report has its budget back.
        begin_report(&mut st, u64::MAX, None);
        let mut s = Session::for_frames(&mut st, &frames, false);
        s.set_use_index(false);
        assert!(s.lookup(m, frames[0] - 1).is_some());
    }
}
