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
/// a thread may still be listed while it exits). For `enable()`'s own
/// thread, [`spawn_internal_deferred`] moves that wait to the end of
/// `enable()`.
///
/// It runs with every signal blocked but the crash signals: a dump
/// request or the collection signal must never land on it, and a fault
/// inside it is still reported.
pub(crate) fn spawn_internal(
    which: Helper,
    f: impl FnOnce() + Send + 'static,
) -> Result<(), Error> {
    spawn_internal_deferred(which, f).map(drop)
}

/// A helper thread spawned, that may not have marked itself yet: the
/// spawner waits for the mark when this is dropped. Holding it while doing
/// other work lets the thread start on another CPU meanwhile (`enable()`
/// does its warm-up first), instead of waiting for it at once.
#[must_use = "dropping it waits for the thread's mark"]
pub(crate) struct Started {
    marked: Option<std::sync::mpsc::Receiver<()>>,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(rx) = self.marked.take() {
            let _ = rx.recv_timeout(Duration::from_millis(settings::HELPER_START_WAIT_MS));
        }
    }
}

/// [`spawn_internal`], returning before the thread's mark: it is waited
/// for when the [`Started`] is dropped.
pub(crate) fn spawn_internal_deferred(
    which: Helper,
    f: impl FnOnce() + Send + 'static,
) -> Result<Started, Error> {
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
    Ok(Started {
        marked: (!settings::IN_CONSTRUCTOR.load(Ordering::Acquire)).then_some(marked_rx),
    })
}
