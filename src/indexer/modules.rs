//! Snapshots the loaded modules (`runtime::modules`): at `enable()`, and
//! again on the `fh-symbols` thread. Normal context, malloc-free: the
//! objects come from `dl_iterate_phdr` (which takes the loader lock), the
//! executable's path from a `readlink` of `/proc/self/exe` into a buffer
//! on the stack, and the tables are built in [`MapVec`]s and published in
//! memory kept for ever ([`mem::leak_slice`], [`mem::leak`]).
#![allow(unsafe_code)]

use super::file::PATH_CAP;
use super::mem::{self, MapVec};
use crate::runtime::elf;
use crate::runtime::modules::{self, Module, Table, Unwind, UnwindTable};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Tickets of snapshots started, in order.
static STARTED: AtomicU64 = AtomicU64::new(0);
/// The ticket of the snapshot published last. A snapshot that started
/// earlier and finished later is older, and is not published over it:
/// without this, the symbol thread's snapshot, begun before a `dlopen`,
/// could replace the one a caller took after it, and that library would
/// be left without an index.
static PUBLISHED: AtomicU64 = AtomicU64::new(0);
/// Held while a snapshot compares its ticket and publishes its two
/// tables, so that the pair comes from one snapshot. Held only for those
/// few stores; reset in a forked child ([`forget_lock_after_fork`]).
static PUBLISHING: AtomicBool = AtomicBool::new(false);

/// After `fork()`: a thread of the parent that was publishing is not in
/// the child.
pub(crate) fn forget_lock_after_fork() {
    PUBLISHING.store(false, Ordering::Release);
}

/// Take a fresh snapshot of the loaded modules and publish it.
pub(crate) fn snapshot() {
    snapshot_of(Exe::Named);
}

/// [`snapshot`], leaving the main executable out: its path would cost a
/// `readlink` of `/proc/self/exe`, the process's first look into `/proc`
/// (tens of microseconds). `enable()` takes this one and leaves the full
/// one to its symbol thread; meanwhile a report finds the executable in
/// `/proc/self/maps`, as it finds a library loaded after the snapshot.
/// The executable's [`Unwind`] is published all the same.
pub(crate) fn snapshot_without_exe() {
    snapshot_of(Exe::Left);
}

/// Whether the snapshot names the main executable.
#[derive(Clone, Copy)]
enum Exe {
    Named,
    Left,
}

fn snapshot_of(exe: Exe) {
    // Taken before anything is read: a later ticket reads the loader's
    // list after every earlier ticket was taken.
    let ticket = STARTED.fetch_add(1, Ordering::AcqRel) + 1;
    let mut buf = [0u8; PATH_CAP];
    let exe = match exe {
        Exe::Named => Some(exe_path(&mut buf).unwrap_or(b"?")),
        Exe::Left => None,
    };
    let Some(mut found) = collect(exe) else {
        // Out of memory: the last snapshot stays.
        return;
    };
    found.modules.sort_unstable_by_key(|m| m.start);
    found.unwind.sort_unstable_by_key(|u| u.start);
    // Leaked, and the previous tables too: a handler may still read them.
    let Some(objects) = mem::leak_slice(&found.unwind) else {
        return;
    };
    let Some(modules) = mem::leak_slice(&found.modules) else {
        return;
    };
    let Some(unwind) = mem::leak(UnwindTable { objects }) else {
        return;
    };
    let Some(table) = mem::leak(Table { modules }) else {
        return;
    };
    #[cfg(test)]
    tests::before_publish(modules.as_ptr());
    while PUBLISHING
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // The holder may be the symbol thread, at idle priority: sleep
        // rather than spin over it.
        crate::runtime::sys::sleep_ms(1);
    }
    if PUBLISHED.load(Ordering::Relaxed) < ticket {
        modules::publish_unwind(unwind);
        modules::publish(table);
        PUBLISHED.store(ticket, Ordering::Relaxed);
    }
    PUBLISHING.store(false, Ordering::Release);
}

/// The main executable's path, `/proc/self/exe`'s target, read into
/// `buf`; `None` when it cannot be read or does not fit.
fn exe_path(buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: the link's name is a NUL-terminated literal; `buf` is
    // writable for `buf.len()` bytes, and readlink writes no more.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n > 0 && n < buf.len())?;
    buf.get(..n)
}

/// What [`collect`] found, in the loader's order.
struct Found {
    modules: MapVec<Module>,
    unwind: MapVec<Unwind>,
}

/// What the `dl_iterate_phdr` callback fills.
struct Walk<'e> {
    found: Found,
    /// The executable's path; `None`: leave it out of `modules`.
    exe: Option<&'e [u8]>,
    /// Objects seen so far (the first is the executable).
    seen: usize,
    /// Memory ran out: the walk stopped.
    failed: bool,
}

/// Every loaded object's [`Module`] and [`Unwind`]. The main executable
/// (the first object, which has no name) is named `exe`, or left out of
/// the modules when `exe` is `None`. `None` when memory ran out.
fn collect(exe: Option<&[u8]>) -> Option<Found> {
    let mut walk = Walk {
        found: Found {
            modules: MapVec::new(),
            unwind: MapVec::new(),
        },
        exe,
        seen: 0,
        failed: false,
    };
    // SAFETY: `each` matches the callback's C signature, reaches `walk`
    // only through `data`, and cannot unwind (it has no panicking
    // operation: every access is checked, arithmetic wraps or saturates);
    // `walk` outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(each), (&raw mut walk).cast());
    }
    (!walk.failed).then_some(walk.found)
}

/// `dl_iterate_phdr`'s callback: records one object into the [`Walk`] at
/// `data`. Returns 0 to go on, 1 to stop (memory ran out).
unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    if info.is_null() || data.is_null() {
        return 0;
    }
    // SAFETY: the loader passes a valid `info` for the duration of the
    // call (its first four fields, all we read, are in every version of
    // the structure), and `data` is the `Walk` of `collect`, borrowed by
    // nothing else while the loader runs us.
    let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk<'_>>()) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    let phdrs = {
        // SAFETY: the loader's program headers of this object: `dlpi_phnum`
        // entries at `dlpi_phdr`, mapped (they are part of the loaded
        // image or the loader's copy) while the object is loaded, which it
        // stays during the call (the loader lock is held).
        unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    walk.seen = walk.seen.saturating_add(1);
    if record(info, phdrs, walk).is_none() {
        walk.failed = true;
        return 1;
    }
    0
}

/// Record the object `info` with program headers `phdrs`. `None` when
/// memory ran out.
fn record(
    info: &libc::dl_phdr_info,
    phdrs: &[libc::Elf64_Phdr],
    walk: &mut Walk<'_>,
) -> Option<()> {
    let bias = info.dlpi_addr as usize;
    let at = |vaddr: u64| bias.wrapping_add(vaddr as usize);
    let mut start = usize::MAX;
    let mut end = 0usize;
    let mut eh_frame_hdr = 0usize;
    for p in phdrs {
        match p.p_type {
            libc::PT_LOAD => {
                let s = at(p.p_vaddr);
                start = start.min(s);
                end = end.max(s.saturating_add(p.p_memsz as usize));
            }
            libc::PT_GNU_EH_FRAME => eh_frame_hdr = at(p.p_vaddr),
            _ => {}
        }
    }
    if start >= end {
        return Some(());
    }
    walk.found.unwind.push(Unwind {
        start,
        end,
        eh_frame_hdr,
    })?;
    let name = if info.dlpi_name.is_null() {
        &[][..]
    } else {
        // SAFETY: a non-null `dlpi_name` is the loader's NUL-terminated
        // name of the object, alive while it is loaded (during the call).
        unsafe { core::ffi::CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    let path = match (name.is_empty(), walk.seen == 1, walk.exe) {
        (false, _, _) => name,
        (true, true, Some(exe)) => exe,
        // The executable left out, or a nameless object that is not the
        // executable: in the unwind table only.
        (true, _, _) => return Some(()),
    };
    let id = build_id(bias, phdrs);
    let id = id
        .as_ref()
        .map_or(&[][..], |(id, n)| id.get(..*n).unwrap_or(&[]));
    walk.found
        .modules
        .push(Module::new(start, end, bias, path, id))
}

/// The GNU build-id in the object's `PT_NOTE` segments, read in memory.
fn build_id(bias: usize, phdrs: &[libc::Elf64_Phdr]) -> Option<([u8; elf::BUILD_ID_MAX], usize)> {
    // A segment is read only when it lies inside a readable PT_LOAD: that
    // memory is mapped while the object is loaded.
    let readable = |lo: u64, len: u64| {
        phdrs.iter().any(|l| {
            l.p_type == libc::PT_LOAD
                && l.p_flags & libc::PF_R != 0
                && l.p_vaddr <= lo
                && lo
                    .checked_add(len)
                    .is_some_and(|hi| hi <= l.p_vaddr.saturating_add(l.p_memsz))
        })
    };
    phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_NOTE && readable(p.p_vaddr, p.p_memsz))
        .find_map(|p| {
            let addr = bias.wrapping_add(p.p_vaddr as usize);
            let len = usize::try_from(p.p_memsz).ok()?;
            if addr == 0 {
                return None;
            }
            // SAFETY: `len` bytes at `addr` lie inside a readable PT_LOAD
            // segment of this object (checked above), mapped while it is
            // loaded, which it stays during the callback; they are only
            // read, and the slice does not outlive this call.
            let notes = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
            elf::parse_build_id_note(notes)
        })
}

/// The loader's counts of objects loaded and unloaded since the process
/// started (`dlpi_adds`, `dlpi_subs`): equal counts at two moments mean
/// no library came or went in between. `None` when the C library does not
/// report them. Takes the loader lock: normal context only.
pub(crate) fn loader_counts() -> Option<(u64, u64)> {
    use core::mem::{offset_of, size_of};
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        size: libc::size_t,
        data: *mut c_void,
    ) -> c_int {
        let out = data.cast::<Option<(u64, u64)>>();
        // The counts are in the structure only when `size` covers them.
        let covered = offset_of!(libc::dl_phdr_info, dlpi_subs) + size_of::<u64>();
        if size >= covered && !info.is_null() {
            // SAFETY: the loader hands us a valid `info` of `size` bytes
            // for the duration of the call, `size` covers both fields, and
            // `data` is the `Option` below, alive across the call.
            unsafe {
                *out = Some(((*info).dlpi_adds, (*info).dlpi_subs));
            }
        }
        // One object is enough: every object carries the same counts.
        1
    }
    let mut counts: Option<(u64, u64)> = None;
    // SAFETY: `first` matches the callback's C signature, touches only
    // `counts` through `data`, and unwinds nothing; `counts` outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(first), (&raw mut counts).cast());
    }
    counts
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
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;

    std::thread_local! {
        /// Set on a test's thread whose next snapshot is to pause before
        /// it publishes.
        static PAUSE: Cell<bool> = const { Cell::new(false) };
    }
    /// The paused snapshot's module table (0 while none is paused).
    static PAUSED_AT: AtomicUsize = AtomicUsize::new(0);
    static RESUME: AtomicBool = AtomicBool::new(false);

    pub(super) fn before_publish(modules: *const Module) {
        if !PAUSE.with(|p| p.replace(false)) {
            return;
        }
        PAUSED_AT.store(modules as usize, Ordering::Release);
        while !RESUME.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// A snapshot that began before another and ends after it is older:
    /// it must not replace the newer one (which may list a library that
    /// was loaded in between, as `dlopen` then `build_index_now` does
    /// while the symbol thread takes its own snapshot).
    #[test]
    fn an_older_snapshot_finishing_last_is_not_published() {
        let old = std::thread::spawn(|| {
            PAUSE.with(|p| p.set(true));
            snapshot();
        });
        while PAUSED_AT.load(Ordering::Acquire) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        snapshot();
        let newer = modules::snapshot_modules().as_ptr() as usize;
        RESUME.store(true, Ordering::Release);
        old.join().unwrap();
        let stale = PAUSED_AT.load(Ordering::Acquire);
        assert_ne!(newer, stale);
        assert_ne!(
            modules::snapshot_modules().as_ptr() as usize,
            stale,
            "the older snapshot replaced the newer one"
        );
    }
    use findshlibs::{Segment, SharedLibrary, SharedLibraryId, TargetSharedLibrary};

    /// One object as findshlibs sees it: (start, end, bias, path,
    /// build-id, eh_frame_hdr), its range from the PT_LOAD segments.
    type View = (usize, usize, usize, Vec<u8>, Vec<u8>, usize);

    fn findshlibs_view() -> Vec<View> {
        let mut out = Vec::new();
        TargetSharedLibrary::each(|lib| {
            let bias = lib.virtual_memory_bias().0;
            let (mut start, mut end, mut eh) = (usize::MAX, 0usize, 0usize);
            for seg in lib.segments() {
                let s = seg.actual_virtual_memory_address(lib).0;
                if seg.is_load() {
                    start = start.min(s);
                    end = end.max(s + seg.len());
                }
                if seg.name() == "GNU_EH_FRAME" {
                    eh = s;
                }
            }
            if start >= end {
                return;
            }
            let id = match lib.id() {
                Some(SharedLibraryId::GnuBuildId(id)) => id,
                _ => Vec::new(),
            };
            let path = lib.name().as_encoded_bytes().to_vec();
            out.push((start, end, bias, path, id, eh));
        });
        out
    }

    fn ours(exe: Option<&[u8]>) -> Vec<View> {
        let found = collect(exe).unwrap();
        assert_eq!(
            found.modules.len(),
            found.unwind.len() - usize::from(exe.is_none())
        );
        found
            .unwind
            .iter()
            .filter_map(|u| {
                let m = found.modules.iter().find(|m| m.start == u.start);
                let m = match (m, exe) {
                    (Some(m), _) => m,
                    // The executable, left out of the modules.
                    (None, None) => return None,
                    (None, Some(_)) => panic!("no module at {:#x}", u.start),
                };
                assert_eq!(m.end, u.end);
                Some((
                    m.start,
                    m.end,
                    m.bias,
                    m.path().to_vec(),
                    m.build_id().to_vec(),
                    u.eh_frame_hdr,
                ))
            })
            .collect()
    }

    #[test]
    fn the_snapshot_matches_findshlibs() {
        let mut buf = [0u8; PATH_CAP];
        let exe = exe_path(&mut buf).unwrap();
        let want_exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(exe, want_exe.as_os_str().as_encoded_bytes());
        let want = findshlibs_view();
        let got = ours(Some(exe));
        assert_eq!(got, want);
        assert!(got.len() >= 3, "{} objects", got.len());
        assert!(got.iter().any(|m| m.3.windows(4).any(|w| w == b"libc")));
        assert!(got.iter().filter(|m| !m.4.is_empty()).count() >= 2);
        assert!(
            got.iter().all(|m| m.5 != 0),
            "every object has an eh_frame_hdr"
        );
        // Without the executable: the rest, the same.
        let rest = ours(None);
        assert_eq!(rest.len(), want.len() - 1);
        assert!(want[1..].iter().all(|w| rest.contains(w)));
    }

    #[test]
    fn published_snapshots() {
        snapshot();
        let here = published_snapshots as *const () as usize;
        let m = modules::lookup_in_snapshot(here).expect("this binary");
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(m.path(), exe.as_os_str().as_encoded_bytes());
        assert!(modules::unwind_info(here).is_some_and(|u| u.eh_frame_hdr != 0));
        let all = modules::snapshot_modules();
        assert!(all.windows(2).all(|w| w[0].start < w[1].start));
        let getpid = libc::getpid as *const () as usize;
        assert!(modules::lookup_in_snapshot(getpid).is_some());
        // (`snapshot_without_exe` is not published here: other tests of
        // this process look up the executable in the snapshot.)
    }

    #[test]
    fn loader_counts_are_there() {
        let (adds, subs) = loader_counts().expect("glibc reports them");
        assert!(adds >= subs && adds >= 2);
    }
}
