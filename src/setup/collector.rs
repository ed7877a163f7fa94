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
        let slots: Vec<Slot> = (0..n).map(|_| Slot::new()).collect();
        let frames: Vec<AtomicUsize> = (0..n * per_slot).map(|_| AtomicUsize::new(0)).collect();
        let order: Vec<AtomicU64> = (0..max_threads).map(|_| AtomicU64::new(0)).collect();
        // Leaked, and the old pool too: a late answer may still write
        // into it.
        collector::publish_pool(Box::leak(Box::new(Pool {
            slots: Box::leak(slots.into_boxed_slice()),
            frames: Box::leak(frames.into_boxed_slice()),
            per_slot,
            order: Box::leak(order.into_boxed_slice()),
        })));
    }
    Ok(())
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
