//! Snapshots the loaded modules (`runtime::modules`) at `enable()`, with
//! `findshlibs`, which takes the loader lock and allocates. Normal context.

use crate::runtime::modules::{self, Module, Table};

/// Take a fresh snapshot of the loaded modules and publish it.
pub(crate) fn snapshot() {
    use findshlibs::{Segment, SharedLibrary, SharedLibraryId, TargetSharedLibrary};
    let exe = std::fs::read_link("/proc/self/exe").ok();
    let mut modules = Vec::new();
    TargetSharedLibrary::each(|lib| {
        let bias = lib.virtual_memory_bias().0;
        let mut start = usize::MAX;
        let mut end = 0usize;
        for seg in lib.segments() {
            let s = seg.actual_virtual_memory_address(lib).0;
            start = start.min(s);
            end = end.max(s.saturating_add(seg.len()));
        }
        if start >= end {
            return;
        }
        let name = lib.name().as_encoded_bytes();
        let path: &[u8] = if name.is_empty() {
            match &exe {
                Some(p) => p.as_os_str().as_encoded_bytes(),
                None => b"?",
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
    // Leaked, and the previous table too: a handler may still read them.
    modules::publish(Box::leak(Box::new(Table {
        modules: Box::leak(modules.into_boxed_slice()),
    })));
}
