//! Builds the symbol index (see `symbolize::index`) on a background
//! thread, `fh-symbols`, started by `enable()`. Normal context: it
//! allocates freely, and what it publishes is leaked, never freed.

use super::helpers::Helper;
use crate::runtime::elf::{self, SYM_SIZE};
use crate::runtime::modules::{self, Module};
use crate::symbolize::index::{self, Entry, ModuleIndex, Set};
use core::sync::atomic::{AtomicBool, Ordering};

/// Set while a builder thread runs.
static BUILDING: AtomicBool = AtomicBool::new(false);

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

/// Build the missing indexes now, on the calling thread, and publish them.
pub(crate) fn build_missing() {
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
        // Leaked, and the old set too: a handler may still be reading them.
        index::publish(Box::leak(Box::new(Set {
            indexes: Box::leak(indexes.into_boxed_slice()),
        })));
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
    Some(ModuleIndex::new(
        m,
        table,
        Box::leak(sorted.into_boxed_slice()),
    ))
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
