//! Which process our state belongs to. Normal context: `enable()` records
//! the process, and a `pthread_atfork` child handler records every child
//! that `fork()` makes, so the handlers can tell a `vfork` child (which
//! borrows the parent's memory and runs no fork handlers) from a process
//! of its own (see `runtime::signals::in_borrowed_memory`).
#![allow(unsafe_code)]

use crate::runtime::signals as table;
use std::sync::Once;

extern "C" fn forked_child() {
    table::note_process();
}

/// Record the calling process, and every forked child from now on.
pub(crate) fn watch() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a handler that only stores an atomic; it
        // stays valid for the life of the process (a static function).
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
    table::note_process();
}
