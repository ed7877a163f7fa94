//! The module map: which ELF object (executable, shared library, vdso) each
//! address belongs to, its load bias, path and GNU build-id.
//!
//! Async-signal-safe. The snapshot is taken at `enable()` time in normal
//! context by `indexer::modules` (with `dl_iterate_phdr`, which takes the
//! loader lock) and [`publish`]ed as an immutable table through an
//! atomic pointer.
//!
//! [`lookup`] reads the published table; an address outside it (a library `dlopen`ed after `enable()`) is
//! resolved from `/proc/self/maps`, read with open/read, and the object's
//! ELF headers, read from memory with `process_vm_readv` so that a torn-down
//! mapping cannot fault us. Those late finds are cached in static storage
//! that the reporter claim lends out ([`Late`]).
//!
//! # Safety
//!
//! The published table is leaked on purpose: a handler on another thread
//! may be reading it at any moment, so it is never freed.
#![allow(unsafe_code)]

use super::procfs;
use super::sys;
use crate::runtime::elf::{self, BUILD_ID_MAX};
use core::sync::atomic::{AtomicPtr, Ordering};

/// Longest module path kept; longer paths are cut.
pub(crate) const PATH_MAX: usize = 480;

/// One loaded ELF object.
#[derive(Clone, Copy)]
pub(crate) struct Module {
    /// Lowest mapped address.
    pub start: usize,
    /// One past the highest mapped address.
    pub end: usize,
    /// Load bias: runtime address minus ELF virtual address.
    pub bias: usize,
    path: [u8; PATH_MAX],
    path_len: u16,
    build_id: [u8; BUILD_ID_MAX],
    build_id_len: u8,
}

impl Module {
    pub(crate) const EMPTY: Module = Module {
        start: 0,
        end: 0,
        bias: 0,
        path: [0; PATH_MAX],
        path_len: 0,
        build_id: [0; BUILD_ID_MAX],
        build_id_len: 0,
    };

    pub(crate) fn new(
        start: usize,
        end: usize,
        bias: usize,
        path: &[u8],
        build_id: &[u8],
    ) -> Module {
        let mut m = Module::EMPTY;
        m.start = start;
        m.end = end;
        m.bias = bias;
        m.set_path(path);
        m.set_build_id(build_id);
        m
    }

    /// Async-signal-safe. Store `path`, cut at [`PATH_MAX`].
    fn set_path(&mut self, path: &[u8]) {
        let n = path.len().min(PATH_MAX);
        if let (Some(dst), Some(src)) = (self.path.get_mut(..n), path.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.path_len = n as u16;
    }

    /// Async-signal-safe. Store `id`, cut at [`BUILD_ID_MAX`].
    fn set_build_id(&mut self, id: &[u8]) {
        let n = id.len().min(BUILD_ID_MAX);
        if let (Some(dst), Some(src)) = (self.build_id.get_mut(..n), id.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.build_id_len = n as u8;
    }

    /// A module for the file at `path` as if it were mapped at its link
    /// addresses (bias 0); for benchmarks that look up symbols in files
    /// that are not loaded.
    pub(crate) fn for_file(path: &[u8], build_id: &[u8]) -> Module {
        Module::new(0, usize::MAX, 0, path, build_id)
    }

    /// The object's path as the loader knows it.
    pub(crate) fn path(&self) -> &[u8] {
        self.path.get(..self.path_len as usize).unwrap_or(&[])
    }

    /// The GNU build-id, empty when the object has none.
    pub(crate) fn build_id(&self) -> &[u8] {
        self.build_id
            .get(..self.build_id_len as usize)
            .unwrap_or(&[])
    }

    /// Whether `addr` falls inside this module's mapped range.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// What our unwinder (`runtime::cfi`) needs of a loaded object: where it
/// is mapped, and where its `PT_GNU_EH_FRAME` segment (`.eh_frame_hdr`)
/// is (0: it has none).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unwind {
    /// Lowest mapped address.
    pub start: usize,
    /// One past the highest mapped address.
    pub end: usize,
    /// The `.eh_frame_hdr`'s address, 0 when none.
    pub eh_frame_hdr: usize,
}

/// Every loaded object's [`Unwind`], sorted by address: published with
/// each snapshot, the main executable included even when the snapshot
/// leaves it out (its path is not known yet, its unwind tables are).
pub(crate) struct UnwindTable {
    /// The objects.
    pub objects: &'static [Unwind],
}

static UNWIND: AtomicPtr<UnwindTable> = AtomicPtr::new(core::ptr::null_mut());

/// Publish a new [`UnwindTable`]; the previous one stays valid.
pub(crate) fn publish_unwind(table: &'static UnwindTable) {
    UNWIND.store(
        table as *const UnwindTable as *mut UnwindTable,
        Ordering::Release,
    );
}

/// Async-signal-safe. The object that contains `addr`, from the last
/// published [`UnwindTable`].
pub(crate) fn unwind_info(addr: usize) -> Option<&'static Unwind> {
    let p = UNWIND.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: published tables are leaked, never freed or changed.
    let t = unsafe { &*p }.objects;
    let i = t.partition_point(|m| m.start <= addr);
    t.get(i.checked_sub(1)?)
        .filter(|m| m.start <= addr && addr < m.end)
}

static TABLE: AtomicPtr<Table> = AtomicPtr::new(core::ptr::null_mut());

/// A published snapshot: the loaded modules, sorted by start address.
pub(crate) struct Table {
    /// The modules.
    pub modules: &'static [Module],
}

/// Publish a new snapshot (built by `indexer::modules`). The previous one
/// stays valid: a handler may still be reading it.
pub(crate) fn publish(table: &'static Table) {
    TABLE.store(table as *const Table as *mut Table, Ordering::Release);
}

/// Async-signal-safe. The published snapshot.
fn table() -> &'static [Module] {
    let p = TABLE.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: published tables are never freed or mutated.
    unsafe { (*p).modules }
}

/// Async-signal-safe. Which snapshot is published: a new one has a new
/// value (snapshots are never freed, so an address is never reused).
pub(crate) fn snapshot_id() -> usize {
    TABLE.load(Ordering::Acquire) as usize
}

/// Async-signal-safe. The modules of the last snapshot, sorted by address.
pub(crate) fn snapshot_modules() -> &'static [Module] {
    table()
}

/// Modules found in `/proc/self/maps` during a report (loaded after the
/// snapshot): part of the report's scratch, which the reporter claim hands
/// out.
pub(crate) struct Late {
    modules: [Module; 16],
    count: usize,
    scratch: [u8; 4096],
}

impl Late {
    /// An empty cache.
    pub(crate) const fn new() -> Late {
        Late {
            modules: [Module::EMPTY; 16],
            count: 0,
            scratch: [0; 4096],
        }
    }
}

/// The module of the snapshot that contains `addr` (no late modules).
pub(crate) fn lookup_in_snapshot(addr: usize) -> Option<&'static Module> {
    let t = table();
    let i = t.partition_point(|m| m.start <= addr);
    t.get(i.checked_sub(1)?).filter(|m| m.contains(addr))
}

/// The module that contains `addr`: from the published snapshot, or
/// from `/proc/self/maps` through the late-module cache (a library
/// `dlopen`ed after the snapshot).
///
/// A reference into the cache stays valid, but its contents may be
/// replaced by a later lookup when the cache is full, so use it before the
/// next lookup.
pub(crate) fn lookup(addr: usize, late: &mut Late) -> Option<&Module> {
    if let Some(m) = lookup_in_snapshot(addr) {
        return Some(m);
    }
    let cached = late.count.min(late.modules.len());
    if let Some(i) = late.modules[..cached].iter().position(|m| m.contains(addr)) {
        return late.modules.get(i);
    }
    // A new one: fill the next slot (or reuse the last one when full).
    let slot = late.count.min(late.modules.len() - 1);
    let Late {
        modules, scratch, ..
    } = late;
    let m = modules.get_mut(slot)?;
    if !find_in_maps(scratch, addr, m) {
        return None;
    }
    if late.count < late.modules.len() {
        late.count += 1;
    }
    late.modules.get(slot)
}

/// Find the file mapping that holds `addr` and describe its whole object
/// in `out`, which is written in place. Returns false when `addr` is not in
/// a file mapping.
///
/// Never inlined: its locals would otherwise enlarge the frame of every
/// lookup, even those the snapshot answers, on alternate stacks as small as
/// 8 KiB.
#[inline(never)]
#[cold]
fn find_in_maps(scratch: &mut [u8], addr: usize, out: &mut Module) -> bool {
    // `out.path` holds the path of the object being scanned.
    out.path_len = 0;
    let mut first_start = 0usize;
    let mut found: Option<(usize, usize)> = None; // (base, end)
    procfs::for_each_mapping(scratch, |m| {
        if let Some((base, end)) = found {
            // Extend the range over the object's following mappings.
            if m.is_file() && m.path == out.path() {
                found = Some((base, m.end.max(end)));
                return true;
            }
            return false;
        }
        if m.is_file() && (m.path != out.path() || m.offset == 0) {
            // A new object starts: remember where its first page is mapped.
            out.set_path(m.path);
            first_start = m.start.saturating_sub(m.offset as usize);
        }
        if m.start <= addr && addr < m.end {
            if !m.is_file() {
                return false;
            }
            found = Some((first_start, m.end));
        }
        true
    });
    let Some((base, end)) = found else {
        out.start = 0;
        out.end = 0;
        return false;
    };
    // The maps text is done with: its scratch holds the notes now.
    let (first_vaddr, id) = read_elf_image(base, scratch);
    out.start = base;
    out.end = end;
    out.bias = base.wrapping_sub(first_vaddr);
    match id {
        Some((b, l)) => out.set_build_id(b.get(..l).unwrap_or(&[])),
        None => out.set_build_id(&[]),
    }
    true
}

/// Async-signal-safe. Read the ELF headers mapped at `base`: the page-aligned
/// virtual address of the first `PT_LOAD` (so that bias = base - it) and
/// the GNU build-id. Reads go through `process_vm_readv`, so bad memory
/// yields `(0, None)` rather than a fault.
#[inline(never)]
fn read_elf_image(base: usize, scratch: &mut [u8]) -> (usize, Option<([u8; BUILD_ID_MAX], usize)>) {
    let mut ehdr = [0u8; elf::EHDR_SIZE];
    if sys::read_memory(base, &mut ehdr) != ehdr.len() {
        return (0, None);
    }
    let Some(h) = elf::parse_ehdr(&ehdr) else {
        return (0, None);
    };
    if h.phentsize != elf::PHDR_SIZE {
        return (0, None);
    }
    let mut first_vaddr = None;
    let mut build_id = None;
    for i in 0..h.phnum.min(64) {
        let mut ph = [0u8; elf::PHDR_SIZE];
        let at = base
            .wrapping_add(h.phoff as usize)
            .wrapping_add(i * elf::PHDR_SIZE);
        if sys::read_memory(at, &mut ph) != ph.len() {
            break;
        }
        let Some(p) = elf::parse_phdr(&ph) else {
            break;
        };
        if p.p_type == elf::PT_LOAD && first_vaddr.is_none() {
            first_vaddr = Some(p.vaddr as usize & !0xfff);
        }
        if p.p_type == elf::PT_NOTE && build_id.is_none() {
            // The notes are mapped at bias + vaddr; bias is base minus the
            // first PT_LOAD's page, which always precedes PT_NOTE in practice.
            let bias = base.wrapping_sub(first_vaddr.unwrap_or(0));
            let len = (p.memsz as usize).min(1024).min(scratch.len());
            let notes = scratch.get_mut(..len).unwrap_or(&mut []);
            let got = sys::read_memory(bias.wrapping_add(p.vaddr as usize), notes);
            build_id = elf::parse_build_id_note(notes.get(..got).unwrap_or(&[]));
        }
    }
    (first_vaddr.unwrap_or(0), build_id)
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
    fn snapshot_covers_our_code_with_a_build_id() {
        crate::indexer::modules::snapshot();
        let here = snapshot_covers_our_code_with_a_build_id as *const () as usize;
        let m = lookup_in_snapshot(here).expect("our own code is mapped");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(m.path(), exe.as_os_str().as_encoded_bytes());
        assert!(m.build_id().len() >= 16, "rustc links with a build-id");
        assert!(m.start <= here && here < m.end);
    }

    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn maps_fallback_agrees_with_the_loader() {
        crate::indexer::modules::snapshot();
        let here = maps_fallback_agrees_with_the_loader as *const () as usize;
        let t = table();
        let want = t.iter().find(|m| m.contains(here)).unwrap();
        let mut scratch = [0u8; 4096];
        let mut got = Module::EMPTY;
        assert!(find_in_maps(&mut scratch, here, &mut got));
        assert_eq!(got.path(), want.path());
        assert_eq!(got.bias, want.bias);
        assert_eq!(got.build_id(), want.build_id());
        assert!(got.contains(here));
        let libc_fn = libc::getpid as *const () as usize;
        let want = t.iter().find(|m| m.contains(libc_fn)).unwrap();
        assert!(find_in_maps(&mut scratch, libc_fn, &mut got));
        // The loader may name libc through a symlink (/lib -> /usr/lib).
        let canon =
            |p: &[u8]| std::fs::canonicalize(std::ffi::OsStr::from_bytes(p)).expect("path exists");
        assert_eq!(canon(got.path()), canon(want.path()));
        assert_eq!(got.bias, want.bias);
        assert_eq!(got.build_id(), want.build_id());
        assert!(!find_in_maps(&mut scratch, 8, &mut got));
    }
}
