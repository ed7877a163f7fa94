//! Builds the symbol index (see `symbolize::index`) on a background
//! thread, `fh-symbols`, started by `enable()`. Normal context: it
//! allocates freely, and what it publishes is leaked, never freed.

use super::helpers::Helper;
use crate::runtime::elf::{self, SYM_SIZE};
use crate::runtime::modules::{self, Module};
use crate::symbolize::index::{self, Entry, Lines, ModuleIndex, Set};
use core::sync::atomic::{AtomicI32, Ordering};

use crate::symbolize::index::BUILDING;
/// The thread building now, 0 when none: one builder at a time (the
/// thread, or a test's or benchmark's call). Not a `Mutex`: a child that
/// `fork()` made during a build must be able to build (see
/// [`forget_builder_after_fork`]).
static BUILDER: AtomicI32 = AtomicI32::new(0);

/// Holds [`BUILDER`] while it lives.
struct Building;

impl Building {
    fn start() -> Building {
        let me = crate::runtime::sys::gettid();
        while BUILDER
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            crate::runtime::sys::sleep_ms(1);
        }
        Building
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        BUILDER.store(0, Ordering::Release);
    }
}

/// In a child that `fork()` made (its `pthread_atfork` handler): the
/// parent's builder is not here, building or starting. Without this, the
/// child would never build an index, and its crashes would wait for line
/// tables that nobody builds.
pub(crate) fn forget_builder_after_fork() {
    BUILDER.store(0, Ordering::Release);
    index::BUILDER_TID.store(0, Ordering::Release);
    BUILDING.store(false, Ordering::Release);
}

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

/// Wait [`settings::INDEX_DELAY_MS`](crate::settings::INDEX_DELAY_MS)
/// before the first build, or until a crash wants the index now: a
/// process that ends sooner (a build's compiler, `node -e`, a test's
/// child) spends no CPU on an index it never used.
fn delay() {
    use crate::runtime::sys;
    let start = sys::monotonic_ns();
    let limit = crate::settings::INDEX_DELAY_MS * 1_000_000;
    while index::START_NOW.load(Ordering::Acquire) == 0 {
        let waited = sys::monotonic_ns().saturating_sub(start);
        if waited >= limit {
            break;
        }
        sys::futex_wait(&index::START_NOW, 0, limit - waited);
    }
    index::START_NOW.store(1, Ordering::Release);
}

/// Install-time preparation, called by `enable()`: map the symbolizer's
/// stack and start the background index builder, which runs `first`
/// before anything else, at the caller's priority. Cheap: no work that
/// grows with the binary's size. `None` when no thread was started (the
/// index is built, or being built): `first` did not run, and will not.
pub(crate) fn prepare(first: fn()) -> Option<super::helpers::Started> {
    crate::runtime::stack::prepare();
    start_building(first)
}

/// Start building indexes for the modules of the current snapshot that
/// have none, on a background thread that runs `first` before it.
/// Normal context; returns at once. The thread's mark is waited for when
/// the returned token is dropped.
fn start_building(first: fn()) -> Option<super::helpers::Started> {
    if index::ready() {
        return None;
    }
    if BUILDING.swap(true, Ordering::AcqRel) {
        // The running builder looks at the snapshot again before it exits.
        return None;
    }
    let spawned = super::helpers::spawn_internal_deferred(Helper::Indexer, move || {
        index::BUILDER_TID.store(crate::runtime::sys::gettid(), Ordering::Release);
        first();
        idle_priority();
        loop {
            delay();
            build_missing();
            BUILDING.store(false, Ordering::Release);
            // A snapshot taken while we were building may have added
            // modules; whoever set BUILDING again after us loops here.
            if index::ready() || BUILDING.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    });
    match spawned {
        Ok(started) => Some(started),
        Err(_) => {
            BUILDING.store(false, Ordering::Release);
            None
        }
    }
}

/// Build the missing indexes now, on the calling thread, and publish
/// them: first every module's names, then each module's line tables.
pub(crate) fn build_missing() {
    let _one = Building::start();
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
    let expect = usize::try_from(table.count).unwrap_or(0).min(1 << 22);
    // One sort key per code symbol: address, rank, size (largest first)
    // and position, packed so that a radix sort orders them; the names
    // aside, by position.
    let mut keys: Vec<u128> = Vec::with_capacity(expect);
    let mut names: Vec<u32> = Vec::with_capacity(expect);
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
                    if names.len() >= MAX_SYMBOLS {
                        // Named by scans instead (see `symbolize::lookup`).
                        return None;
                    }
                    let size = u32::try_from(s.size).unwrap_or(u32::MAX);
                    keys.push(
                        (u128::from(s.value) << 64)
                            | (u128::from(s.rank()) << 56)
                            | (u128::from(u32::MAX - size) << POS_BITS)
                            | names.len() as u128,
                    );
                    names.push(s.name);
                }
            }
        }
        first += n as u64;
    }
    // Sort by address; at one address keep the best-ranked name (and the
    // largest size among equals), so lookups see one entry per address.
    radix_sort(&mut keys);
    let mut sorted: Vec<Entry> = Vec::with_capacity(keys.len());
    for k in keys {
        let addr = (k >> 64) as u64;
        if sorted.last().is_some_and(|l| l.addr == addr) {
            continue;
        }
        let pos = (k & (MAX_SYMBOLS as u128 - 1)) as usize;
        sorted.push(Entry {
            addr,
            size: u32::MAX - (k >> POS_BITS) as u32,
            name: names.get(pos).copied().unwrap_or(0),
        });
    }
    drop(names);
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

/// Bits of a sort key that hold the symbol's position.
const POS_BITS: u32 = 24;
/// Code symbols indexed in one module at most: a module with more is
/// named by scans.
const MAX_SYMBOLS: usize = 1 << POS_BITS;

/// Sort `keys` (address in the high 64 bits): a stable least-significant
/// digit radix sort on the address bits that differ, 11 at a time, then
/// each run of equal addresses by its whole key. Two or three linear
/// passes where a comparison sort needs seventeen.
fn radix_sort(keys: &mut Vec<u128>) {
    const DIGIT: u32 = 11;
    let addr = |k: u128| (k >> 64) as u64;
    let (Some(lo), Some(hi)) = (
        keys.iter().map(|&k| addr(k)).min(),
        keys.iter().map(|&k| addr(k)).max(),
    ) else {
        return;
    };
    let bits = 64 - (hi - lo).leading_zeros();
    let mut other = vec![0u128; keys.len()];
    let mut shift = 0;
    while shift < bits {
        let digit = |k: u128| ((addr(k) - lo) >> shift) as usize & ((1 << DIGIT) - 1);
        let mut count = vec![0usize; 1 << DIGIT];
        for &k in keys.iter() {
            count[digit(k)] += 1;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for &k in keys.iter() {
            let d = digit(k);
            other[count[d]] = k;
            count[d] += 1;
        }
        std::mem::swap(keys, &mut other);
        shift += DIGIT;
    }
    // Equal addresses: by rank, size and position (the low 64 bits).
    let mut i = 0;
    while i < keys.len() {
        let a = addr(keys[i]);
        let mut j = i + 1;
        while j < keys.len() && addr(keys[j]) == a {
            j += 1;
        }
        if j - i > 1 {
            keys[i..j].sort_unstable();
        }
        i = j;
    }
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
    fn radix_sort_orders_like_a_sort() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (n, spread) in [
            (0usize, 1u64),
            (1, 1),
            (5000, 1 << 40),
            (5000, 64),
            (3000, u64::MAX),
        ] {
            let mut keys: Vec<u128> = (0..n)
                .map(|_| {
                    (u128::from(0x40_0000u64.wrapping_add(next() % spread)) << 64)
                        | u128::from(next())
                })
                .collect();
            let mut want = keys.clone();
            want.sort_unstable();
            radix_sort(&mut keys);
            assert_eq!(keys, want, "{n} keys over {spread}");
        }
    }

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
