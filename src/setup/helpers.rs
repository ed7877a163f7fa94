//! Our helper threads: the dumper (dump requests by signal), the watchdog
//! and the symbol indexer. Normal context.

use crate::runtime::signals as table;
use crate::runtime::sys;
use crate::settings;
use crate::signal::collector;
use crate::Error;
use core::sync::atomic::Ordering;
use std::time::Duration;

/// How long new helper threads wait before they mark themselves (0;
/// set only by tests, through `__bench::delay_helper_start`).
pub(crate) static START_DELAY_MS: core::sync::atomic::AtomicU64 =
    core::sync::atomic::AtomicU64::new(0);

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
/// a thread may still be listed while it exits). `enable()`'s own thread
/// ([`spawn_internal_deferred`]) is not waited for: a collection waits for
/// helpers still starting instead.
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
/// spawner waits for the mark when this is dropped, unless it gives the
/// wait up with [`Started::dont_wait`] (as `enable()` does: collections
/// wait for helpers still starting).
#[must_use = "dropping it waits for the thread's mark"]
pub(crate) struct Started {
    marked: Option<std::sync::mpsc::Receiver<()>>,
}

impl Started {
    /// Don't wait for the mark: `enable()` returns without waiting for
    /// its thread to be scheduled (50 to 100 us on a VM). Every
    /// collection waits for helpers still starting before it lists
    /// threads, so none is listed even then.
    pub(crate) fn dont_wait(mut self) {
        self.marked = None;
    }
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
    collector::helper_starting();
    let r = std::thread::Builder::new()
        .name(which.name().into())
        .spawn(move || {
            let delay = START_DELAY_MS.load(Ordering::Relaxed);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            collector::mark_internal(slot, sys::gettid());
            let _ = marked_tx.send(());
            // Our own alternate stack, not std's 8 KiB one: the warm-up's
            // signal arrives here (and on aarch64 its walk, the process's
            // first, which binds libgcc_s's symbols lazily, runs here too:
            // more than 8 KiB), and so does a helper's crash. Without one
            // (mmap failed), a crash here still dies of its signal.
            let _ = crate::altstack::ensure_current_thread();
            f();
        });
    sys::thread_sigmask(libc::SIG_SETMASK, &old);
    if r.is_err() {
        collector::helper_start_failed();
    }
    r.map_err(|e| Error::with_io(format!("spawning the {} thread", which.name()), e))?;
    // In the preload's ELF constructor (inside dlopen) the new thread
    // cannot start before the loader lock we run under is released: don't
    // wait there. Elsewhere, wait (bounded all the same).
    Ok(Started {
        marked: (!settings::IN_CONSTRUCTOR.load(Ordering::Acquire)).then_some(marked_rx),
    })
}
