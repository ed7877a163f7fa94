//! Async-signal-safe lookups in the symbol index; the index itself is
//! built in normal context, off the startup path.
//!
//! [`start_building`] runs at `enable()`: it only spawns a thread (tens of
//! microseconds, whatever the binary's size). That thread reads the symbol
//! table of every module in the module snapshot with `pread`, keeps the
//! code symbols as a sorted array of 16-byte entries (address, size, name
//! offset; names stay in the file), and publishes the set through an
//! atomic pointer. A report that comes before that (or for a module that
//! was `dlopen`ed later) falls back to a bounded scan of the file.
//!
//! [`find`] and [`ModuleIndex::lookup`] are what the handler uses: an
//! atomic load, then binary searches over immutable memory.
//!
//! # Safety
//!
//! Published sets and indexes are leaked on purpose, never freed or
//! changed: a handler on another thread may be reading them at any time.
#![allow(unsafe_code)]

use super::elf::{self, SymTable, BUILD_ID_MAX, SYM_SIZE};
use crate::modules::{self, Module};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// One code symbol: its virtual address, size, and name's offset in the
/// string table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub addr: u64,
    pub size: u32,
    pub name: u32,
}

/// The sorted code symbols of one module.
pub(crate) struct ModuleIndex {
    /// Where the module is mapped, and its bias: the identity of the
    /// mapping this index was built for.
    pub start: usize,
    pub bias: usize,
    build_id: [u8; BUILD_ID_MAX],
    build_id_len: usize,
    /// The table the entries came from.
    pub table: SymTable,
    entries: Box<[Entry]>,
}

impl ModuleIndex {
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

    /// Whether this index was built for `m` (same mapping, same file).
    fn matches(&self, m: &Module) -> bool {
        self.start == m.start
            && self.bias == m.bias
            && self.build_id.get(..self.build_id_len) == Some(m.build_id())
    }
}

struct Set {
    indexes: Box<[&'static ModuleIndex]>,
}

static SET: AtomicPtr<Set> = AtomicPtr::new(core::ptr::null_mut());
static BUILDING: AtomicBool = AtomicBool::new(false);

/// Async-signal-safe. The published index for module `m`, if it is built.
pub(crate) fn find(m: &Module) -> Option<&'static ModuleIndex> {
    let p = SET.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: published sets are leaked and never changed.
    let set = unsafe { &*p };
    set.indexes.iter().copied().find(|ix| ix.matches(m))
}

/// Whether every module of the current snapshot has an index (for the
/// benchmark and tests, which wait for the builder).
pub(crate) fn ready() -> bool {
    modules::snapshot_modules()
        .iter()
        .all(|m| find(m).is_some() || !indexable(m))
}

fn indexable(m: &Module) -> bool {
    m.path().first() == Some(&b'/')
}

/// Start building indexes for the modules of the current snapshot that
/// have none, on a background thread. Normal context; returns at once.
pub(crate) fn start_building() {
    if ready() {
        return;
    }
    if BUILDING.swap(true, Ordering::AcqRel) {
        // The running builder looks at the snapshot again before it exits.
        return;
    }
    let spawned = crate::threads::spawn_internal("fh-symbols", 2, || loop {
        build_missing();
        BUILDING.store(false, Ordering::Release);
        // A snapshot taken while we were building may have added
        // modules; whoever set BUILDING again after us loops here.
        if ready() || BUILDING.swap(true, Ordering::AcqRel) {
            return;
        }
    });
    if spawned.is_err() {
        BUILDING.store(false, Ordering::Release);
    }
}

/// Build the missing indexes now, on the calling thread, and publish them.
pub(crate) fn build_missing() {
    let snapshot = modules::snapshot_modules();
    let old: &[&'static ModuleIndex] = {
        let p = SET.load(Ordering::Acquire);
        if p.is_null() {
            &[]
        } else {
            // SAFETY: published sets are leaked and never changed.
            unsafe { &(*p).indexes }
        }
    };
    let mut indexes: Vec<&'static ModuleIndex> = old.to_vec();
    let mut added = false;
    for m in snapshot.iter() {
        if !indexable(m) || indexes.iter().any(|ix| ix.matches(m)) {
            continue;
        }
        if let Some(ix) = build(m) {
            indexes.push(Box::leak(Box::new(ix)));
            added = true;
        }
    }
    if added {
        let set = Box::into_raw(Box::new(Set {
            indexes: indexes.into_boxed_slice(),
        }));
        // The old set is leaked: a handler may still be reading it.
        SET.store(set, Ordering::Release);
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
    let table = info.symtab?;
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
    let mut build_id = [0u8; BUILD_ID_MAX];
    let id = m.build_id();
    build_id[..id.len()].copy_from_slice(id);
    Some(ModuleIndex {
        start: m.start,
        bias: m.bias,
        build_id,
        build_id_len: id.len(),
        table,
        entries: sorted.into_boxed_slice(),
    })
}

/// Build an index for the file at `path` as if it were mapped as `m`
/// (benchmarks: the index of a big system binary that is not loaded).
#[doc(hidden)]
pub(crate) fn build_for_file(fd: i32, m: &Module) -> Option<ModuleIndex> {
    build_from_fd(fd, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_of_our_own_binary_finds_our_functions() {
        modules::snapshot();
        build_missing();
        let here = index_of_our_own_binary_finds_our_functions as *const () as usize;
        // SAFETY: tests do not run a report concurrently with this lookup
        // of an address that the snapshot covers.
        let m = unsafe { modules::lookup_unsynchronized(here) }.unwrap();
        let ix = find(m).expect("the exe is indexed");
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

    #[test]
    fn lookup_rules() {
        let e = |addr, size, name| Entry { addr, size, name };
        let ix = ModuleIndex {
            start: 0,
            bias: 0,
            build_id: [0; BUILD_ID_MAX],
            build_id_len: 0,
            table: SymTable::default(),
            entries: vec![
                e(0x100, 0x100, 1), // outer: 0x100..0x200
                e(0x140, 0x10, 2),  // nested inside it
                e(0x300, 0, 3),     // no size: its address only
                e(0x400, 0x10, 4),
            ]
            .into_boxed_slice(),
        };
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
