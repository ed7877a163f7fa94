//! Snapshots the loaded modules (`runtime::modules`) at `enable()`, with
//! `findshlibs`, which takes the loader lock and allocates. Normal context.

use crate::runtime::modules::{self, Module, Table, Unwind, UnwindTable};

/// Take a fresh snapshot of the loaded modules and publish it.
pub(crate) fn snapshot() {
    snapshot_of(Exe::Named);
}

/// [`snapshot`], leaving the main executable out: its path would cost a
/// `readlink` of `/proc/self/exe`, the process's first look into `/proc`
/// (tens of microseconds). `enable()` takes this one and leaves the full
/// one to its symbol thread; meanwhile a report finds the executable in
/// `/proc/self/maps`, as it finds a library loaded after the snapshot.
pub(crate) fn snapshot_without_exe() {
    snapshot_of(Exe::Left);
}

enum Exe {
    Named,
    Left,
}

fn snapshot_of(exe: Exe) {
    use findshlibs::{Segment, SharedLibrary, SharedLibraryId, TargetSharedLibrary};
    let exe = match exe {
        Exe::Named => Some(std::fs::read_link("/proc/self/exe").ok()),
        Exe::Left => None,
    };
    let mut modules = Vec::new();
    let mut unwind = Vec::new();
    TargetSharedLibrary::each(|lib| {
        let bias = lib.virtual_memory_bias().0;
        let mut start = usize::MAX;
        let mut end = 0usize;
        let mut eh_frame_hdr = 0usize;
        for seg in lib.segments() {
            let s = seg.actual_virtual_memory_address(lib).0;
            start = start.min(s);
            end = end.max(s.saturating_add(seg.len()));
            if seg.name() == "GNU_EH_FRAME" {
                eh_frame_hdr = s;
            }
        }
        if start >= end {
            return;
        }
        unwind.push(Unwind {
            start,
            end,
            eh_frame_hdr,
        });
        let name = lib.name().as_encoded_bytes();
        let path: &[u8] = if name.is_empty() {
            match exe {
                Some(Some(ref p)) => p.as_os_str().as_encoded_bytes(),
                Some(None) => b"?",
                None => return,
            }
        } else {
            name
        };
        let build_id = match lib.id() {
            Some(SharedLibraryId::GnuBuildId(id)) => id,
            _ => Vec::new(),
        };
        modules.push(Module::new(start, end, bias, path, &build_id));
    });
    modules.sort_by_key(|m| m.start);
    unwind.sort_by_key(|m| m.start);
    modules::publish_unwind(Box::leak(Box::new(UnwindTable {
        objects: Box::leak(unwind.into_boxed_slice()),
    })));
    // Leaked, and the previous table too: a handler may still read them.
    modules::publish(Box::leak(Box::new(Table {
        modules: Box::leak(modules.into_boxed_slice()),
    })));
}

/// The loader's counts of objects loaded and unloaded since the process
/// started (`dlpi_adds`, `dlpi_subs`): equal counts at two moments mean
/// no library came or went in between. `None` when the C library does not
/// report them. Takes the loader lock: normal context only.
#[allow(unsafe_code)]
pub(crate) fn loader_counts() -> Option<(u64, u64)> {
    use core::ffi::{c_int, c_void};
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
