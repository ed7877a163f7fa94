//! Our helper threads: the dumper (dump requests by signal), the watchdog
//! and the symbol indexer. Normal context.

use crate::runtime::signals as table;
use crate::runtime::sys;
use crate::settings;
use crate::signal::collector;
use crate::Error;
use core::sync::atomic::Ordering;
use std::time::Duration;

/// Which helper thread.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Helper {
    /// `fh-dumper`: serves dump requests by signal.
    Dumper,
    /// `fh-watchdog`: the hang watchdog.
    Watchdog,
    /// `fh-symbols`: builds the symbol index.
    Indexer,
}

impl Helper {
    fn name(self) -> &'static str {
        match self {
            Helper::Dumper => "fh-dumper",
            Helper::Watchdog => "fh-watchdog",
            Helper::Indexer => "fh-symbols",
        }
    }
}

/// Spawn helper thread `which`: it is left out of every report, from
/// before the spawner returns (the new thread marks itself and then lets
/// the spawner go on), so no dump can list it, to its end (the mark stays:
/// a thread may still be listed while it exits).
///
/// It runs with every signal blocked but the crash signals: a dump
/// request or the collection signal must never land on it, and a fault
/// inside it is still reported.
pub(crate) fn spawn_internal(
    which: Helper,
    f: impl FnOnce() + Send + 'static,
) -> Result<(), Error> {
    let all_but_crashes = sys::sigset_all_but(&table::FATAL_SIGNALS);
    let (marked_tx, marked_rx) = std::sync::mpsc::sync_channel::<()>(1);
    // The new thread inherits this mask.
    let old = sys::thread_sigmask(libc::SIG_BLOCK, &all_but_crashes);
    let slot = which as usize;
    let r = std::thread::Builder::new()
        .name(which.name().into())
        .spawn(move || {
            collector::mark_internal(slot, sys::gettid());
            let _ = marked_tx.send(());
            f();
        });
    sys::thread_sigmask(libc::SIG_SETMASK, &old);
    r.map_err(|e| Error::with_io(format!("spawning the {} thread", which.name()), e))?;
    // In the preload's ELF constructor (inside dlopen) the new thread
    // cannot start before the loader lock we run under is released: don't
    // wait there. Elsewhere, wait (bounded all the same).
    if !settings::IN_CONSTRUCTOR.load(Ordering::Acquire) {
        let _ = marked_rx.recv_timeout(Duration::from_millis(settings::HELPER_START_WAIT_MS));
    }
    Ok(())
}
