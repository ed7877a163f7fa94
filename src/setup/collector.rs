//! The stack collector's storage and signal (see `signal::collector`):
//! the pool of slots is allocated here, leaked, and published; the
//! collection signal is picked here. Normal context.
#![allow(unsafe_code)]

use crate::runtime::sys;
use crate::signal::collector::{self, Pool, Slot, SPARE_SLOTS};
use crate::Error;
use core::ffi::c_int;
use core::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Mutex;

/// Make sure the collector signal is installed and a pool of at least
/// `max_threads` slots of `max_frames` frames exists. Called by
/// `enable()`, `register()`, the watchdog and `dump_traceback()`.
pub(crate) fn ensure_installed(max_threads: usize, max_frames: usize) -> Result<(), Error> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if collector::signal().is_none() {
        install_signal()?;
    }
    let (old_t, old_f) = collector::pool().map_or((0, 0), |p| (p.order.len(), p.per_slot));
    if old_t < max_threads || old_f < max_frames {
        let max_threads = max_threads.max(old_t);
        let per_slot = max_frames.max(old_f);
        let n = max_threads + SPARE_SLOTS;
        // Leaked, and the old pool too: a late answer may still write
        // into it. Zeroed memory from the allocator: a large pool is fresh
        // pages that nothing touches until a collection uses them (filling
        // 200 slots of 100 frames took 60 us of enable()).
        collector::publish_pool(Box::leak(Box::new(Pool {
            slots: leak_zeroed::<Slot>(n),
            frames: leak_zeroed::<AtomicUsize>(n * per_slot),
            per_slot,
            order: leak_zeroed::<AtomicU64>(max_threads),
        })));
    }
    Ok(())
}

/// Types whose all-zero bytes are a valid value, and the value a new
/// one has.
///
/// # Safety
///
/// Implement only for such types.
unsafe trait ZeroIsNew {}
// SAFETY: an atomic integer is an integer in memory; zero is 0.
unsafe impl ZeroIsNew for AtomicUsize {}
// SAFETY: as above.
unsafe impl ZeroIsNew for AtomicU64 {}
// SAFETY: every field of a slot is an atomic integer or an array of
// them, and `Slot::new()` sets each to 0 (its state `FREE` is 0: checked
// by `signal::collector`'s `new_slot_is_zero` test).
unsafe impl ZeroIsNew for Slot {}

/// `n` new values of `T`, in fresh zeroed pages of their own, never
/// unmapped. Not the allocator's: `calloc` clears memory it cannot tell
/// was never used, and touching 100 KB of new pages costs 60 us.
fn leak_zeroed<T: ZeroIsNew>(n: usize) -> &'static [T] {
    let Ok(layout) = std::alloc::Layout::array::<T>(n) else {
        std::alloc::handle_alloc_error(std::alloc::Layout::new::<T>());
    };
    if layout.size() == 0 {
        return &[];
    }
    let page = sys::page_size();
    let Ok(p) = sys::map_apart(
        layout.size().next_multiple_of(page),
        libc::PROT_READ | libc::PROT_WRITE,
        0,
    ) else {
        std::alloc::handle_alloc_error(layout);
    };
    // SAFETY: the mapping is page-aligned (so aligned for `T`), holds `n`
    // `T`s, all zero bytes, which `ZeroIsNew` makes valid new values; it
    // is never unmapped or written through another pointer, so it may be
    // shared forever.
    unsafe { std::slice::from_raw_parts(p as *const T, n) }
}

/// Pick the collector signal (the first `SIGRTMIN+n` that is `SIG_DFL`)
/// and install its handler.
fn install_signal() -> Result<(), Error> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let sig = (min..=max)
        .find(|&s| sys::query_action(s).is_default())
        .ok_or_else(|| {
            Error::invalid("no real-time signal is free (SIG_DFL) for collecting stacks")
        })?;
    probe_registry(sig);
    collector::install_signal(sig)
        .map_err(|e| Error::from_raw_os("sigaction for the stack collector signal", e))
}

/// Learn the address of `signal-hook-registry`'s handler by registering a
/// no-op action on the (still unused) collector signal, so that
/// `register()` can tell a signal somebody listens to through signal-hook
/// or tokio from a plain previous handler. Our collector handler replaces
/// the registry's right after.
fn probe_registry(sig: c_int) {
    if collector::registry_handler() != 0 {
        return;
    }
    // SAFETY: the action does nothing, which is async-signal-safe.
    if let Ok(id) = unsafe { signal_hook_registry::register_sigaction(sig, |_| {}) } {
        let h = sys::query_action(sig);
        signal_hook_registry::unregister(id);
        if h.is_handler() {
            collector::set_registry_handler(h.handler_addr());
        }
    }
}
