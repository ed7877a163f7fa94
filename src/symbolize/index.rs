//! Async-signal-safe. Lookups in the symbol index. The index is built in
//! normal context, off the startup path, by `indexer` on a background
//! thread (started by `setup::index`): it reads the symbol table of every
//! module in the module snapshot, keeps the code symbols as a sorted
//! array of 16-byte entries (address, size, name offset; names stay in
//! the file), and [`publish`]es the set through an atomic pointer. A
//! report that comes before that (or for a module that was `dlopen`ed
//! later) falls back to a bounded scan of the file.
//!
//! [`find`] and [`ModuleIndex::lookup`] are what the handler uses: an
//! atomic load, then binary searches over immutable memory.
//!
//! # Safety
//!
//! Published sets and indexes are leaked on purpose, never freed or
//! changed: a handler on another thread may be reading them at any time.
#![allow(unsafe_code)]

use crate::runtime::elf::SymTable as Table;
use crate::runtime::elf::BUILD_ID_MAX;
use crate::runtime::modules::{self, Module};
use crate::symbolize::lines::LineTable;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, Ordering};

/// One code symbol: its virtual address, size, and name's offset in the
/// string table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub addr: u64,
    pub size: u32,
    pub name: u32,
}

/// What the index knows of a module's source lines.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "symbolize"), allow(dead_code))]
pub(crate) enum Lines {
    /// Not built yet.
    Pending,
    /// The module has no line info (no DWARF, here or in a debug file).
    Absent,
    /// Its debug sections (`size` bytes) are over the budget: names only.
    OverBudget { size: u64, budget: u64 },
    /// The tables.
    Ready(&'static LineTable),
}

/// The sorted code symbols of one module.
#[derive(Clone)]
pub(crate) struct ModuleIndex {
    /// Where the module is mapped, and its bias: the identity of the
    /// mapping this index was built for.
    pub start: usize,
    pub bias: usize,
    build_id: [u8; BUILD_ID_MAX],
    build_id_len: usize,
    /// The table the entries came from.
    pub table: Table,
    entries: &'static [Entry],
    /// The names, NUL-terminated, when they are kept in memory (symbols
    /// from a separate debug file); empty when they are read from the
    /// module's file (`table`).
    pub names: &'static [u8],
    /// Source lines and inlined calls.
    pub lines: Lines,
}

impl ModuleIndex {
    /// The line tables, when they are built.
    pub(crate) fn line_table(&self) -> Option<&'static LineTable> {
        match self.lines {
            Lines::Ready(t) => Some(t),
            _ => None,
        }
    }

    /// The name at `name` in the in-memory names, at most `cap` bytes,
    /// and whether it is whole.
    pub(crate) fn name_in_memory(&self, name: u32, cap: usize) -> Option<(&'static [u8], bool)> {
        let rest = self.names.get(name as usize..)?;
        let n = rest.iter().take(cap + 1).position(|&b| b == 0);
        match n {
            Some(n) => Some((rest.get(..n)?, true)),
            None => Some((rest.get(..cap.min(rest.len()))?, false)),
        }
    }

    /// The entry whose symbol contains the virtual address `vaddr`.
    pub(crate) fn lookup(&self, vaddr: u64) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| e.addr <= vaddr);
        // Symbols may nest (a local alias inside a bigger one): look back a
        // little for one that contains the address.
        let lo = i.saturating_sub(8);
        for k in (lo..i).rev() {
            let e = self.entries.get(k)?;
            let inside = if e.size == 0 {
                e.addr == vaddr
            } else {
                vaddr - e.addr < u64::from(e.size)
            };
            if inside {
                return Some(e);
            }
        }
        None
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// An index of `entries` (sorted by address, one per address) for the
    /// module `m`, whose symbols come from `table`.
    pub(crate) fn new(m: &Module, table: Table, entries: &'static [Entry]) -> ModuleIndex {
        let mut build_id = [0u8; BUILD_ID_MAX];
        let id = m.build_id();
        if let Some(dst) = build_id.get_mut(..id.len()) {
            dst.copy_from_slice(id);
        }
        ModuleIndex {
            start: m.start,
            bias: m.bias,
            build_id,
            build_id_len: id.len(),
            table,
            entries,
            names: &[],
            lines: Lines::Pending,
        }
    }

    /// Whether this index was built for `m` (same mapping, same file).
    pub(crate) fn matches(&self, m: &Module) -> bool {
        self.start == m.start
            && self.bias == m.bias
            && self.build_id.get(..self.build_id_len) == Some(m.build_id())
    }
}

/// A published set of indexes, leaked by its builder.
pub(crate) struct Set {
    /// One index per module.
    pub indexes: &'static [&'static ModuleIndex],
}

static SET: AtomicPtr<Set> = AtomicPtr::new(core::ptr::null_mut());

/// The published indexes (none before the first [`publish`]).
pub(crate) fn published() -> &'static [&'static ModuleIndex] {
    let p = SET.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: published sets are leaked and never changed.
    unsafe { (*p).indexes }
}

/// Which set is published: a new one has a new value (sets are never
/// freed, so an address is never reused).
pub(crate) fn set_id() -> usize {
    SET.load(Ordering::Acquire) as usize
}

/// Publish a new set, replacing the old one (which stays valid: a handler
/// may still be reading it).
pub(crate) fn publish(set: &'static Set) {
    SET.store(set as *const Set as *mut Set, Ordering::Release);
}

/// Async-signal-safe. The published index for module `m`, if it is built.
pub(crate) fn find(m: &Module) -> Option<&'static ModuleIndex> {
    published().iter().copied().find(|ix| ix.matches(m))
}

/// Whether every module of the current snapshot has an index (for the
/// benchmark and tests, which wait for the builder).
pub(crate) fn ready() -> bool {
    modules::snapshot_modules()
        .iter()
        .all(|m| find(m).is_some() || !indexable(m))
}

/// Whether every module of the current snapshot has its line tables
/// built, or known to have none (for the benchmark and tests).
pub(crate) fn lines_ready() -> bool {
    modules::snapshot_modules()
        .iter()
        .all(|m| !indexable(m) || find(m).is_some_and(|ix| !matches!(ix.lines, Lines::Pending)))
}

/// Set while the background builder (`fh-symbols`) runs.
pub(crate) static BUILDING: AtomicBool = AtomicBool::new(false);
/// The builder thread's tid (0 before it starts).
pub(crate) static BUILDER_TID: AtomicI32 = AtomicI32::new(0);
/// Set when the builder is to start now rather than after its delay
/// (`settings::INDEX_DELAY_MS`); it waits on this word.
pub(crate) static START_NOW: AtomicU32 = AtomicU32::new(0);

/// End the builder's delay: a crash waits for what it builds.
pub(crate) fn start_now() {
    if START_NOW.swap(1, Ordering::AcqRel) == 0 {
        crate::runtime::sys::futex_wake(&START_NOW);
    }
}

/// Async-signal-safe. Have the builder start now, at the normal
/// priority: it runs at idle priority, which a busy machine may never
/// give it, and someone now waits for it.
pub(crate) fn hurry() {
    start_now();
    if BUILDING.load(Ordering::Acquire) {
        let tid = BUILDER_TID.load(Ordering::Acquire);
        if tid > 0 {
            crate::runtime::sys::sched_normal(tid);
        }
    }
}

/// Async-signal-safe. For a crash that comes while the builder still
/// works: wait (sleeping, at most `max_ms`) until every module of
/// `frames` has its line tables or is known to have none, or the builder
/// stops. Returns at once when the builder is not running.
pub(crate) fn wait_for_lines(frames: &[usize], max_ms: u64) {
    let start = crate::runtime::sys::monotonic_ms();
    let pending = || {
        frames.iter().any(|&ip| {
            modules::lookup_in_snapshot(ip.wrapping_sub(1)).is_some_and(|m| {
                indexable(m) && find(m).is_none_or(|ix| matches!(ix.lines, Lines::Pending))
            })
        })
    };
    // Every frame's module has its tables (the usual warm crash): wake
    // nobody. Waking the builder from its delay cost 20 to 100 us.
    if !pending() {
        return;
    }
    hurry();
    while BUILDING.load(Ordering::Acquire)
        && crate::runtime::sys::monotonic_ms().saturating_sub(start) < max_ms
        && pending()
    {
        crate::runtime::sys::sleep_ms(2);
    }
}

/// Whether `m` is a file that can have an index.
pub(crate) fn indexable(m: &Module) -> bool {
    m.path().first() == Some(&b'/')
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
    fn lookup_rules() {
        let e = |addr, size, name| Entry { addr, size, name };
        let entries: &'static [Entry] = Box::leak(Box::new([
            e(0x100, 0x100, 1), // outer: 0x100..0x200
            e(0x140, 0x10, 2),  // nested inside it
            e(0x300, 0, 3),     // no size: its address only
            e(0x400, 0x10, 4),
        ]));
        let ix = ModuleIndex::new(&Module::EMPTY, Table::default(), entries);
        let name = |a| ix.lookup(a).map(|e| e.name);
        assert_eq!(name(0xff), None);
        assert_eq!(name(0x100), Some(1));
        assert_eq!(name(0x145), Some(2));
        assert_eq!(name(0x150), Some(1), "past the nested one, the outer one");
        assert_eq!(name(0x1ff), Some(1));
        assert_eq!(name(0x200), None, "a gap");
        assert_eq!(name(0x300), Some(3));
        assert_eq!(name(0x301), None);
        assert_eq!(name(0x40f), Some(4));
        assert_eq!(name(0x410), None);
    }
}
