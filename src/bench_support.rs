//! Internal entry points for `benches/symbols.rs`. Not part of the API:
//! hidden from the docs, may change at any time.
//!
//! # Safety
//!
//! The `unsafe` functions use the symbolizer's storage, which the reporter
//! claim guards; call them from one thread at a time, and never while a
//! crash may be reported. Frame writing goes through the reporter claim.
#![allow(unsafe_code)]
#![allow(missing_docs)]

use crate::report::{self, Parts};
use crate::runtime::elf;
use crate::runtime::modules::{self, Module};
use crate::runtime::stack;
use crate::setup;
use crate::signal::claim::{Claim, Scratch};
use crate::symbolize::{demangle, index, lookup};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Have the background builder (`fh-symbols`) start now, at the normal
/// priority, as a crash that waits for it does. For tests that wait for
/// the builder on a busy machine, where its idle priority may get it no
/// CPU at all; call it while waiting (the builder sets its idle priority
/// itself once it starts).
pub fn hurry_builder() {
    index::hurry();
}

/// Whether the background index covers every loaded module.
pub fn index_ready() -> bool {
    index::ready()
}

/// Whether reports use the index (true) or always scan (false).
pub fn set_index_enabled(yes: bool) {
    lookup::USE_INDEX.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// Whether reports use the line tables (true) or act as if they were not
/// built yet (false).
pub fn set_lines_enabled(yes: bool) {
    lookup::USE_LINES.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// Whether reports name frames at all (false: addresses and modules
/// only, the floor of a dump's cost).
pub fn set_naming_enabled(yes: bool) {
    lookup::NAMING.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// Make the helper threads spawned from now on wait `ms` before they
/// mark themselves internal (tests: a crash while one is still starting).
pub fn delay_helper_start(ms: u64) {
    setup::helpers::START_DELAY_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// Make the next warm-ups hold the reporter claim `ms` longer (tests: a
/// `fork()` while the symbol thread warms up).
pub fn delay_warm_up(ms: u64) {
    crate::signal::fatal::WARM_UP_DELAY_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// Build the missing indexes on this thread.
pub fn build_index_now() {
    crate::indexer::modules::snapshot();
    stack::prepare();
    crate::indexer::run::build_missing();
}

/// Write the frame lines for `frames` (return addresses, like a report's
/// frames after #0) to `fd`, as a crash report would.
///
/// # Safety
///
/// See the module docs.
pub unsafe fn write_frames_to_fd(fd: i32, frames: &[usize]) {
    let Some(mut claim) = Claim::dump(crate::runtime::sys::gettid(), 1000) else {
        return;
    };
    let Scratch {
        seen,
        late,
        symbols,
        writer: w,
        ..
    } = claim.scratch();
    // The claim's writer, as a report uses it (not a copy on this stack).
    w.reset(fd, -1, 10_000);
    let mut parts = Parts {
        w,
        seen,
        late,
        symbols,
    };
    parts.seen.clear();
    let current = report::Current {
        tid: crate::runtime::sys::gettid(),
        frames,
        first_is_pc: false,
        total: frames.len(),
        cut: false,
        bottom: 0,
        found_start: true,
        heading: true,
        name: None,
    };
    report::begin_naming(parts.symbols, u64::MAX, None);
    report::compose_body(&mut parts, Some(&current), frames.len(), None);
}

/// The path and load bias of the loaded module that contains `addr`.
pub fn module_of(addr: usize) -> Option<(String, usize)> {
    crate::indexer::modules::snapshot();
    let m = modules::lookup_in_snapshot(addr)?;
    Some((String::from_utf8_lossy(m.path()).into_owned(), m.bias))
}

/// Name `addr` (a code address in a loaded module) as a report would, and
/// return the name's length (0 when unnamed). For measuring the
/// symbolizer alone.
///
/// # Safety
///
/// See the module docs.
pub unsafe fn name_len_of(addr: usize) -> usize {
    let Some(m) = modules::lookup_in_snapshot(addr) else {
        return 0;
    };
    let Some(mut claim) = Claim::dump(crate::runtime::sys::gettid(), 0) else {
        return 0;
    };
    let mut s = lookup::Session::new(&mut claim.scratch().symbols);
    s.lookup(m, addr).map_or(0, |f| f.name.len())
}

/// The code symbols of an ELF file: (address, size), for choosing probes.
pub fn code_symbols(path: &str) -> Vec<(u64, u64)> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut scratch = vec![0u8; 4096];
    let Some(info) = elf::inspect(f.as_raw_fd(), &mut scratch) else {
        return Vec::new();
    };
    let Some(tab) = info.symtab else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; elf::SYM_SIZE * 1024];
    let mut first = 0;
    loop {
        let n = elf::read_syms(f.as_raw_fd(), &tab, first, &mut buf);
        if n == 0 {
            break;
        }
        for c in buf.chunks_exact(elf::SYM_SIZE).take(n) {
            if let Some(s) = elf::parse_sym(c) {
                if s.is_code() && s.size > 0 {
                    out.push((s.value, s.size));
                }
            }
        }
        first += n as u64;
    }
    out
}

/// Number of symbols in the file's symbol table, and whether it is
/// `.symtab` (not `.dynsym`).
pub fn symbol_count(path: &str) -> Option<(u64, bool)> {
    let f = std::fs::File::open(path).ok()?;
    let mut scratch = vec![0u8; 4096];
    let info = elf::inspect(f.as_raw_fd(), &mut scratch)?;
    info.symtab.map(|t| (t.count, !t.dynamic))
}

/// Results of timing lookups in one file.
pub struct FileTiming {
    /// Time to build the index (normal context, as the builder thread does).
    pub build: Duration,
    /// Entries in the index.
    pub entries: usize,
    /// Per lookup with the index: binary search, name read, demangling.
    pub index_per_lookup: Duration,
    /// Per lookup with the glog-style `pread` scan (512 symbols a read).
    pub scan_per_lookup: Duration,
    /// Naming 64 frames without the index (one batch scan for all).
    pub scan_64_frames: Duration,
    /// Lookups that found a name: index, scan, and of the 64 frames.
    pub found: (usize, usize, usize),
}

/// Time index lookups and scan lookups of `vaddrs` in the file at `path`
/// (treated as mapped at its link addresses).
///
/// # Safety
///
/// See the module docs.
pub unsafe fn time_file_lookups(path: &str, vaddrs: &[u64]) -> Option<FileTiming> {
    stack::prepare();
    let f = std::fs::File::open(path).ok()?;
    let mut scratch = vec![0u8; 4096];
    let info = elf::inspect(f.as_raw_fd(), &mut scratch)?;
    let m = Module::for_file(path.as_bytes(), info.build_id());
    let t = Instant::now();
    let ix = crate::indexer::symbols::build_for_file(f.as_raw_fd(), &m)?;
    let build = t.elapsed();
    let mut raw = vec![0u8; demangle::NAME_CAP + 1];
    let mut out = vec![0u8; lookup::OUT_CAP];
    let mut found_ix = 0;
    let t = Instant::now();
    for &a in vaddrs {
        if let Some(e) = ix.lookup(a) {
            if let Some((len, whole)) = elf::read_name(f.as_raw_fd(), &ix.table, e.name, &mut raw) {
                let n = demangle::demangle_into(&raw[..len], whole, &mut out);
                found_ix += usize::from(n > 0);
            }
        }
    }
    let index_per_lookup = t.elapsed() / vaddrs.len().max(1) as u32;
    let mut claim = Claim::dump(crate::runtime::sys::gettid(), 1000)?;
    let symbols = &mut claim.scratch().symbols;
    let mut found_scan = 0;
    let t = Instant::now();
    for &a in vaddrs {
        // A fresh budget each time: we measure the scan, not the bound.
        lookup::begin_report(symbols, u64::MAX, None);
        let mut s = lookup::Session::new(symbols);
        s.set_use_index(false);
        found_scan += usize::from(s.lookup(&m, a as usize).is_some());
    }
    let scan_per_lookup = t.elapsed() / vaddrs.len().max(1) as u32;
    // 64 frames named in one session without the index: one batch scan.
    let frames: Vec<usize> = vaddrs.iter().take(64).map(|&a| a as usize + 1).collect();
    let t = Instant::now();
    lookup::begin_report(symbols, u64::MAX, None);
    let mut s = lookup::Session::for_frames(symbols, &frames, false);
    s.set_use_index(false);
    let mut found_batch = 0;
    for &ip in &frames {
        found_batch += usize::from(s.lookup(&m, ip - 1).is_some());
    }
    drop(s);
    let scan_64_frames = t.elapsed();
    Some(FileTiming {
        build,
        entries: ix.len(),
        index_per_lookup,
        scan_per_lookup,
        scan_64_frames,
        found: (found_ix, found_scan, found_batch),
    })
}

/// Figures of building the line tables of the ELF file at `path`.
#[cfg(feature = "symbolize")]
#[derive(Default)]
pub struct LineFigures {
    /// CPU time of the build (this thread's).
    pub cpu: Duration,
    /// Wall time of the build.
    pub wall: Duration,
    /// Bytes of `.debug_line`, and of all the DWARF sections read.
    pub debug_line: u64,
    pub debug_read: u64,
    /// Rows, inline segments, inlined calls and files kept.
    pub rows: usize,
    pub segments: usize,
    pub inlines: usize,
    pub files: usize,
    /// Bytes of names kept.
    pub pool: usize,
    /// Inlined functions' names left in the module's file, not kept.
    pub names_in_file: usize,
    /// Inlined calls stored wide (16 bytes rather than 8).
    pub wide: usize,
    /// Bytes mapped for the tables (0 when none were built).
    pub mapped: usize,
    /// Code symbols of the file (functions).
    pub functions: usize,
}

/// CPU time used by the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Decompress the zstd frames `src` into `out` with the indexer's own
/// decoder (as it does a zstd-compressed debug section): the bytes
/// written, `None` for a bad stream or one that does not fit.
#[cfg(feature = "symbolize")]
pub fn zstd_decompress(src: &[u8], out: &mut [u8]) -> Option<usize> {
    crate::indexer::zstd::decompress(src, out)
}

/// Build the line tables of the file at `path` on this thread (with
/// `budget` bytes of DWARF at most) and measure it. The tables are leaked.
#[cfg(feature = "symbolize")]
pub fn build_lines_of(path: &str, budget: u64) -> LineFigures {
    let id = std::fs::File::open(path)
        .ok()
        .and_then(|f| {
            let mut scratch = vec![0u8; 4096];
            elf::inspect(f.as_raw_fd(), &mut scratch).map(|i| i.build_id().to_vec())
        })
        .unwrap_or_default();
    let c = thread_cpu();
    let t = Instant::now();
    let Some(file) = crate::indexer::file::FilePath::from_bytes(path.as_bytes()) else {
        return LineFigures::default();
    };
    let (out, fig) = crate::indexer::lines::build(&file, &id, budget);
    let wall = t.elapsed();
    let cpu = thread_cpu() - c;
    let mapped = match out {
        crate::indexer::lines::Outcome::Ready(t) => t.mapped,
        _ => 0,
    };
    LineFigures {
        cpu,
        wall,
        debug_line: fig.debug_line,
        debug_read: fig.debug_read,
        rows: fig.rows,
        segments: fig.segments,
        inlines: fig.inlines,
        files: fig.files,
        pool: fig.pool,
        names_in_file: fig.names_in_file,
        wide: fig.wide,
        mapped,
        functions: code_symbols(path).len(),
    }
}

/// Whether every loaded module has its line tables built (or none to
/// build).
pub fn lines_ready() -> bool {
    index::lines_ready()
}

/// Build the name index of the ELF file at `path` on this thread, as the
/// builder thread does for a loaded module (treated as mapped at its link
/// addresses), and measure it: (this thread's CPU time, wall time,
/// entries). Its entries are leaked, as the builder's are. `None` when the
/// file has no symbol table.
pub fn index_file(path: &str) -> Option<(Duration, Duration, usize)> {
    let f = std::fs::File::open(path).ok()?;
    let mut scratch = vec![0u8; 4096];
    let info = elf::inspect(f.as_raw_fd(), &mut scratch)?;
    let m = Module::for_file(path.as_bytes(), info.build_id());
    let c = thread_cpu();
    let t = Instant::now();
    let ix = crate::indexer::symbols::build_for_file(f.as_raw_fd(), &m)?;
    let wall = t.elapsed();
    let cpu = thread_cpu() - c;
    Some((cpu, wall, ix.len()))
}
