//! Builds the symbol index (see `symbolize::index`) on a background
//! thread, `fh-symbols`, started by `enable()`. Normal context: it
//! allocates freely, and what it publishes is leaked, never freed.

use super::helpers::Helper;
use crate::runtime::elf::{self, SYM_SIZE};
use crate::runtime::modules::{self, Module};
use crate::symbolize::index::{self, Entry, Lines, ModuleIndex, Set};
use core::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::symbolize::index::BUILDING;
/// One builder at a time (the thread, or a test's or benchmark's call).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Run the calling thread at idle priority (`SCHED_IDLE`): the index is
/// built with CPU time nobody else wants.
#[allow(unsafe_code)]
fn idle_priority() {
    // SAFETY: a plain sched_param, for the calling thread (pid 0).
    unsafe {
        let p = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &p) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
}

/// Install-time preparation, called by `enable()`: map the symbolizer's
/// stack and start the background index builder. Cheap: no work that
/// grows with the binary's size.
pub(crate) fn prepare() {
    crate::runtime::stack::prepare();
    start_building();
}

/// Start building indexes for the modules of the current snapshot that
/// have none, on a background thread. Normal context; returns at once.
pub(crate) fn start_building() {
    if index::ready() {
        return;
    }
    if BUILDING.swap(true, Ordering::AcqRel) {
        // The running builder looks at the snapshot again before it exits.
        return;
    }
    let spawned = super::helpers::spawn_internal(Helper::Indexer, || loop {
        index::BUILDER_TID.store(crate::runtime::sys::gettid(), Ordering::Release);
        idle_priority();
        build_missing();
        BUILDING.store(false, Ordering::Release);
        // A snapshot taken while we were building may have added
        // modules; whoever set BUILDING again after us loops here.
        if index::ready() || BUILDING.swap(true, Ordering::AcqRel) {
            return;
        }
    });
    if spawned.is_err() {
        BUILDING.store(false, Ordering::Release);
    }
}

/// Build the missing indexes now, on the calling thread, and publish
/// them: first every module's names, then each module's line tables.
pub(crate) fn build_missing() {
    let _g = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    build_missing_names();
    build_missing_lines();
}

/// Publish `indexes`, leaked (and the old set too: a handler may still be
/// reading it).
fn publish(indexes: Vec<&'static ModuleIndex>) {
    index::publish(Box::leak(Box::new(Set {
        indexes: Box::leak(indexes.into_boxed_slice()),
    })));
}

/// The budget of DWARF bytes one module's line tables may read.
#[cfg(feature = "symbolize")]
pub(crate) fn line_budget() -> u64 {
    crate::settings::LINE_BUDGET.load(Ordering::Relaxed)
}

/// Build the line tables of every indexed module that has none yet,
/// publishing after each module.
fn build_missing_lines() {
    let snapshot = modules::snapshot_modules();
    for m in snapshot.iter() {
        let Some(ix) = index::find(m) else { continue };
        if !matches!(ix.lines, Lines::Pending) {
            continue;
        }
        let lines = lines_for(m);
        let mut new = ix.clone();
        new.lines = lines;
        let new: &'static ModuleIndex = Box::leak(Box::new(new));
        let indexes: Vec<&'static ModuleIndex> = index::published()
            .iter()
            .map(|&old| if core::ptr::eq(old, ix) { new } else { old })
            .collect();
        publish(indexes);
    }
}

#[cfg(feature = "symbolize")]
fn lines_for(m: &Module) -> Lines {
    use super::lines::{build, Outcome};
    use std::os::unix::ffi::OsStrExt;
    if line_budget() == 0 {
        return Lines::Absent;
    }
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(m.path()));
    match build(path, m.build_id(), line_budget()).0 {
        Outcome::Ready(t) => Lines::Ready(t),
        Outcome::Absent => Lines::Absent,
        Outcome::OverBudget { size, budget } => Lines::OverBudget { size, budget },
    }
}

#[cfg(not(feature = "symbolize"))]
fn lines_for(_: &Module) -> Lines {
    Lines::Absent
}

fn build_missing_names() {
    let snapshot = modules::snapshot_modules();
    let mut indexes: Vec<&'static ModuleIndex> = index::published().to_vec();
    let mut added = false;
    for m in snapshot.iter() {
        if !index::indexable(m) || indexes.iter().any(|ix| ix.matches(m)) {
            continue;
        }
        if let Some(ix) = build(m) {
            indexes.push(Box::leak(Box::new(ix)));
            added = true;
        }
    }
    if added {
        publish(indexes);
    }
}

/// Read the code symbols of module `m` from its file.
fn build(m: &Module) -> Option<ModuleIndex> {
    let mut path = m.path().to_vec();
    path.push(0);
    let fd = elf::open_cstr(&path);
    if fd < 0 {
        return None;
    }
    let ix = build_from_fd(fd, m);
    elf::close(fd);
    ix
}

fn build_from_fd(fd: i32, m: &Module) -> Option<ModuleIndex> {
    let mut scratch = vec![0u8; 4096];
    let info = elf::inspect(fd, &mut scratch)?;
    if !m.build_id().is_empty() && info.build_id() != m.build_id() {
        // The file on disk is not what is mapped (rebuilt, replaced).
        return None;
    }
    if info.symtab.is_none_or(|t| t.dynamic) {
        // Stripped: the names of a separate debug file, kept in memory.
        if let Some(ix) = from_debug_file(m) {
            return Some(ix);
        }
    }
    let table = info.symtab?;
    let (sorted, _) = read_code_symbols(fd, &table, None)?;
    Some(ModuleIndex::new(
        m,
        table,
        Box::leak(sorted.into_boxed_slice()),
    ))
}

/// The names of module `m` from a separate debug file's `.symtab`, with
/// the names copied into memory.
#[cfg(feature = "symbolize")]
fn from_debug_file(m: &Module) -> Option<ModuleIndex> {
    use object::Object;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(m.path()));
    let map = super::lines::Mapped::open(path)?;
    let obj = object::File::parse(map.bytes()).ok()?;
    let id = match m.build_id() {
        [] => obj.build_id().ok().flatten().unwrap_or(&[]).to_vec(),
        id => id.to_vec(),
    };
    let (dpath, _) = super::lines::find_debug_file(path, &obj, &id)?;
    let f = std::fs::File::open(&dpath).ok()?;
    let mut scratch = vec![0u8; 4096];
    let info = elf::inspect(f.as_raw_fd(), &mut scratch)?;
    let table = info.symtab.filter(|t| !t.dynamic)?;
    // The whole string table (bounded), then only the names used.
    let size = usize::try_from(table.str_size).ok()?.min(256 << 20);
    let mut strtab = vec![0u8; size];
    let got = elf::pread_full(f.as_raw_fd(), &mut strtab, table.str_offset);
    strtab.truncate(got);
    let (sorted, pool) = read_code_symbols(f.as_raw_fd(), &table, Some(&strtab))?;
    let names = super::lines::leak_bytes(&pool)?;
    let mut ix = ModuleIndex::new(m, table, Box::leak(sorted.into_boxed_slice()));
    ix.names = names;
    Some(ix)
}

#[cfg(not(feature = "symbolize"))]
fn from_debug_file(_: &Module) -> Option<ModuleIndex> {
    None
}

/// The code symbols of `table`, sorted by address, one per address. With
/// `strtab`, the names are copied into a pool (returned) and each entry's
/// name is its offset there.
fn read_code_symbols(
    fd: i32,
    table: &elf::SymTable,
    strtab: Option<&[u8]>,
) -> Option<(Vec<Entry>, Vec<u8>)> {
    let table = *table;
    let mut entries = Vec::new();
    let mut ranks = Vec::new();
    let mut buf = vec![0u8; SYM_SIZE * 1024];
    let mut first = 0u64;
    loop {
        let n = elf::read_syms(fd, &table, first, &mut buf);
        if n == 0 {
            break;
        }
        for chunk in buf.chunks_exact(SYM_SIZE).take(n) {
            if let Some(s) = elf::parse_sym(chunk) {
                if s.is_code() {
                    entries.push(Entry {
                        addr: s.value,
                        size: u32::try_from(s.size).unwrap_or(u32::MAX),
                        name: s.name,
                    });
                    ranks.push(s.rank());
                }
            }
        }
        first += n as u64;
    }
    // Sort by address; at one address keep the best-ranked name (and the
    // largest size among equals), so lookups see one entry per address.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| (entries[i].addr, ranks[i], u32::MAX - entries[i].size));
    let mut sorted: Vec<Entry> = Vec::with_capacity(entries.len());
    for i in order {
        let e = entries[i];
        if sorted.last().is_some_and(|l| l.addr == e.addr) {
            continue;
        }
        sorted.push(e);
    }
    let mut pool = Vec::new();
    if let Some(strs) = strtab {
        let mut seen: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for e in sorted.iter_mut() {
            let at = *seen.entry(e.name).or_insert_with(|| {
                let start = e.name as usize;
                let name = strs.get(start..).unwrap_or(&[]);
                let n = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                // `memcpy@@GLIBC_2.14`: the version is not part of the name.
                let n = name
                    .get(..n)
                    .and_then(|s| s.iter().position(|&b| b == b'@'))
                    .filter(|&at| at > 0)
                    .unwrap_or(n);
                let at = pool.len() as u32;
                pool.extend_from_slice(name.get(..n).unwrap_or(&[]));
                pool.push(0);
                at
            });
            e.name = at;
        }
    }
    Some((sorted, pool))
}

/// Build an index for the file at `path` as if it were mapped as `m`
/// (benchmarks: the index of a big system binary that is not loaded).
pub(crate) fn build_for_file(fd: i32, m: &Module) -> Option<ModuleIndex> {
    build_from_fd(fd, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_of_our_own_binary_finds_our_functions() {
        super::super::modules::snapshot();
        build_missing();
        let here = index_of_our_own_binary_finds_our_functions as *const () as usize;
        let m = crate::runtime::modules::lookup_in_snapshot(here).unwrap();
        let ix = index::find(m).expect("the exe is indexed");
        assert!(ix.len() > 1000);
        let e = ix.lookup((here - m.bias) as u64 + 1).expect("found");
        assert_eq!(e.addr, (here - m.bias) as u64);
        assert!(e.size > 0);
        let mut name = [0u8; 512];
        let f = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        use std::os::fd::AsRawFd;
        let (len, whole) = elf::read_name(f.as_raw_fd(), &ix.table, e.name, &mut name).unwrap();
        assert!(whole);
        let name = std::str::from_utf8(&name[..len]).unwrap();
        assert!(
            name.contains("index_of_our_own_binary_finds_our_functions"),
            "{name}"
        );
        // Below the first symbol, and far past the last, nothing.
        assert!(ix.lookup(0).is_none());
        assert!(ix.lookup(u64::MAX).is_none());
    }
}
