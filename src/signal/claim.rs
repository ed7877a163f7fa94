//! Async-signal-safe. The reporter claim: at most one report is written
//! at a time, by the thread that holds the claim, and only that thread
//! touches the report's static scratch storage.
//!
//! A [`Claim`] is the token. Taking it for a crash ([`Claim::crash`]) or a
//! dump ([`Claim::dump`]) is the only way to reach the [`Scratch`]
//! ([`Claim::scratch`]). Dropping a dump's token gives the claim back; a
//! crash's token is kept past the report with [`Claim::keep`], so that a
//! signal raised by the handler we chain to (Rust std aborts after its
//! stack-overflow message) is seen as part of the same crash.
//!
//! The encoding stays in here: 0 when free, `+tid` while thread `tid`
//! reports a crash (or warms up), `-tid` while it writes a dump.
//!
//! # Safety
//!
//! `SCRATCH` is handed out only through a live token, and at most one
//! token exists at a time (the compare-and-swap on [`OWNER`]); `&mut self`
//! ties each borrow to the token.
#![allow(unsafe_code)]

use crate::report::ModulesSeen;
use crate::runtime::modules::Late;
use crate::runtime::racy::RacyCell;
use crate::runtime::sys;
use crate::runtime::writer::Writer;
use crate::settings::{self, MAX_FRAMES_LIMIT};
use crate::signal::collector;
use crate::symbolize::lookup;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// Who holds the claim (see the module docs for the encoding).
static OWNER: AtomicI32 = AtomicI32::new(0);
/// Set once a crash report is complete (or given up on).
static CRASH_DONE: AtomicBool = AtomicBool::new(false);
/// When [`CRASH_DONE`] was set (monotonic milliseconds).
static CRASH_DONE_AT: AtomicU64 = AtomicU64::new(0);

/// Set [`CRASH_DONE`]; returns whether it was set already.
fn set_crash_done() -> bool {
    CRASH_DONE_AT.store(sys::monotonic_ms(), Ordering::Release);
    CRASH_DONE.swap(true, Ordering::AcqRel)
}

/// Whether the crash claim `owner` is stale: its report is done, and the
/// process went on (a handler of the program's recovered, a sent signal
/// was survived). For a dump it is enough that our handlers stepped
/// aside after the report (the dump is harmless even if the process is
/// dying after all); a change of configuration, which installs our
/// handlers again, waits until the process, had it been dying, would be
/// dead ([`settings::STALE_CRASH_MS`]).
fn crash_is_stale(owner: i32, for_configure: bool) -> bool {
    if owner <= 0 || !CRASH_DONE.load(Ordering::Acquire) {
        return false;
    }
    let long_ago = sys::monotonic_ms().saturating_sub(CRASH_DONE_AT.load(Ordering::Acquire))
        >= settings::STALE_CRASH_MS;
    long_ago
        || !sys::thread_exists(owner)
        || (!for_configure && !crate::runtime::signals::enabled())
}

/// What the claim guards: the storage a report needs, kept out of the
/// (possibly 8 KiB) alternate stack.
pub(crate) struct Scratch {
    /// The crashing thread's frames.
    pub frames: [usize; MAX_FRAMES_LIMIT],
    /// Text of `/proc/self/maps`, read a page at a time.
    pub maps: [u8; 4096],
    /// The report's writer.
    pub writer: Writer,
    /// The modules the frames referred to.
    pub seen: ModulesSeen,
    /// Modules found after the snapshot.
    pub late: Late,
    /// The stack collector's buffers.
    pub collect: collector::Scratch,
    /// The symbolizer's files, scan buffers and name cache.
    pub symbols: lookup::Storage,
    /// The walk stored in `frames` ahead of the program's own handler
    /// (see `fatal`'s pre-walk).
    pub prewalk: crate::runtime::unwind::Walk,
}

static SCRATCH: RacyCell<Scratch> = RacyCell::new(Scratch {
    frames: [0; MAX_FRAMES_LIMIT],
    maps: [0; 4096],
    writer: Writer::IDLE,
    seen: ModulesSeen::new(),
    late: Late::new(),
    collect: collector::Scratch::new(),
    symbols: lookup::Storage::new(),
    prewalk: crate::runtime::unwind::Walk::EMPTY,
});

/// The token: while it lives, this thread alone may write a report.
pub(crate) struct Claim {
    tid: i32,
    /// Not `Send`: the claim belongs to the thread that took it.
    _thread: PhantomData<*mut ()>,
}

/// What a crashing thread got.
pub(crate) enum Crash {
    /// The claim: this thread reports.
    Won(Claim),
    /// This thread holds the crash claim already: a fault inside the
    /// handler, or a signal raised by the handler we chained to.
    Nested,
    /// Another thread reported (or took too long): just chain.
    Waited,
}

impl Claim {
    /// Become the one thread that reports a crash on thread `tid`.
    ///
    /// A crash must be reported, and must not deadlock:
    /// - a dump on *this* thread (we crashed inside it): take over at
    ///   once; the dump never resumes;
    /// - a dump on another thread: wait for it to end, at most as long as a
    ///   dump may take plus a margin, then take over anyway;
    /// - a crash report on another thread: wait until it is done, then
    ///   chain (the report covers us too); if the claim is released
    ///   instead (the warm-up finished), try again;
    /// - a crash report on this thread: [`Crash::Nested`].
    #[inline(never)]
    pub(crate) fn crash(tid: i32) -> Crash {
        let crash_limit =
            settings::report_write_ms().saturating_add(settings::CRASH_WAIT_MARGIN_MS);
        let dump_limit =
            settings::dump_duration_ms().saturating_add(settings::DUMP_TAKEOVER_MARGIN_MS);
        let start = sys::monotonic_ms();
        loop {
            let waited = sys::monotonic_ms().saturating_sub(start);
            match OWNER.compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Crash::Won(Claim::crash_token(tid)),
                Err(owner) if owner == tid => return Crash::Nested,
                Err(owner) if owner < 0 => {
                    // A dump on this thread (we crashed inside it), one
                    // that took too long, or one whose thread is not in
                    // this process (we are a child forked during a dump:
                    // it will never end here): take over.
                    if (owner == -tid || waited >= dump_limit || !sys::thread_exists(-owner))
                        && OWNER
                            .compare_exchange(owner, tid, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                    {
                        return Crash::Won(Claim::crash_token(tid));
                    }
                }
                Err(_) => {
                    if CRASH_DONE.load(Ordering::Acquire) {
                        // Let the reporter's chain run first: it ends the
                        // process.
                        sys::sleep_ms(settings::AFTER_REPORT_SLEEP_MS);
                        return Crash::Waited;
                    }
                    if waited >= crash_limit {
                        return Crash::Waited;
                    }
                }
            }
            sys::sleep_ms(1);
        }
    }

    fn crash_token(tid: i32) -> Claim {
        CRASH_DONE.store(false, Ordering::Release);
        Claim {
            tid,
            _thread: PhantomData,
        }
    }

    /// The claim for the warm-up at `enable()`, only if it is free.
    pub(crate) fn warm_up(tid: i32) -> Option<Claim> {
        OWNER
            .compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Claim {
                tid,
                _thread: PhantomData,
            })
    }

    /// In a child that `fork()` made while the parent's thread `tid` held
    /// the claim for the warm-up: let it go. No thread here holds it (the
    /// child's threads are new), so it would never be free again.
    pub(crate) fn forget_warm_up_after_fork(tid: i32) {
        let _ = OWNER.compare_exchange(tid, 0, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The crash claim for thread `tid` only if it is free now, without
    /// waiting: taken ahead of a program handler that may turn the fault
    /// fatal (see `fatal`'s pre-walk).
    pub(crate) fn try_crash(tid: i32) -> Option<Claim> {
        OWNER
            .compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Claim::crash_token(tid))
    }

    /// [`Claim::try_crash`], but while the symbol thread's warm-up (on
    /// thread `warm_up_tid`, 0 when none runs) holds the claim, wait for it
    /// to end, at most `limit_ms`: a warm-up takes a fraction of a
    /// millisecond, and a fault that lost that race would walk without
    /// the claim's stack (see `fatal`'s pre-walk).
    pub(crate) fn try_crash_after_warm_up(
        tid: i32,
        warm_up_tid: &core::sync::atomic::AtomicI32,
        limit_ms: u64,
    ) -> Option<Claim> {
        let start = sys::monotonic_ms();
        loop {
            if let Some(c) = Claim::try_crash(tid) {
                return Some(c);
            }
            let warm = warm_up_tid.load(Ordering::Acquire);
            let busy = warm != 0 && warm != tid && OWNER.load(Ordering::Acquire) == warm;
            if !busy || sys::monotonic_ms().saturating_sub(start) >= limit_ms {
                return None;
            }
            sys::sleep_ms(1);
        }
    }

    /// The crash claim that a frame below us on this thread holds, taken
    /// with [`Claim::try_crash`] before it called the program's handler,
    /// which then raised a crash signal.
    ///
    /// # Safety
    ///
    /// The holder's frame is suspended below this one and never uses its
    /// token again before this one is gone (the process ends, or this
    /// token is dropped before the holder resumes).
    pub(crate) unsafe fn adopt(tid: i32) -> Option<Claim> {
        (OWNER.load(Ordering::Acquire) == tid).then_some(Claim {
            tid,
            _thread: PhantomData,
        })
    }

    /// The claim for a dump on thread `tid`, waiting up to `wait_ms` for a
    /// report in progress. `None` when it stayed busy (most likely a crash
    /// is being reported and the process is about to end).
    pub(crate) fn dump(tid: i32, wait_ms: u64) -> Option<Claim> {
        let start = sys::monotonic_ms();
        let token = Claim {
            tid: -tid,
            _thread: PhantomData,
        };
        loop {
            match OWNER.compare_exchange(0, -tid, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(token),
                // A crash was reported and handed on, and we are still
                // running: the process survived it (a handler that
                // recovers, a sent signal). Its claim is stale.
                Err(owner)
                    if crash_is_stale(owner, false)
                        && OWNER
                            .compare_exchange(owner, -tid, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok() =>
                {
                    return Some(token);
                }
                // A report on this very thread, below us (a signal
                // handler's dump on top of it): it cannot end while we wait.
                Err(owner) if owner == tid || owner == -tid => {
                    core::mem::forget(token);
                    return None;
                }
                Err(_) => {}
            }
            if sys::monotonic_ms().saturating_sub(start) >= wait_ms {
                core::mem::forget(token);
                return None;
            }
            sys::sleep_ms(1);
        }
    }

    /// The claim for changing the configuration (`enable()`,
    /// `disable()`), held while the settings, the fd and the handlers
    /// change, so that a report in progress never sees them change under
    /// it: waits, without a limit, for a report or dump in progress to
    /// end. A crash report holds the claim until the process ends, so a
    /// thread that enables during a crash waits for the end; a crash the
    /// process survived leaves a stale claim, taken over here.
    ///
    /// A crash on another thread meanwhile waits for this claim as for a
    /// dump (the configuration holds it for well under a millisecond).
    /// Normal context.
    pub(crate) fn configure(tid: i32) -> Claim {
        loop {
            match OWNER.compare_exchange(0, -tid, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(owner)
                    if crash_is_stale(owner, true)
                        && OWNER
                            .compare_exchange(owner, -tid, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok() =>
                {
                    break
                }
                Err(_) => sys::sleep_ms(1),
            }
        }
        CRASH_DONE.store(false, Ordering::Release);
        Claim {
            tid: -tid,
            _thread: PhantomData,
        }
    }

    /// The storage the claim guards.
    pub(crate) fn scratch(&mut self) -> &mut Scratch {
        // SAFETY: only a live token reaches here, at most one token exists
        // (module docs), and the borrow is tied to `&mut self`.
        unsafe { SCRATCH.get_unsynchronized() }
    }

    /// Fault the whole scratch in, writable (the warm-up): a report then
    /// takes no page fault in it.
    pub(crate) fn prefault_scratch(&mut self) {
        let at = self.scratch() as *mut Scratch as usize;
        // SAFETY: the scratch is our own static, writable memory, and the
        // token makes this thread its only user.
        unsafe { sys::populate_write(at, core::mem::size_of::<Scratch>()) };
    }

    /// The scratch of the crash report this thread was writing when it
    /// faulted again (the nested-fault note).
    ///
    /// # Safety
    ///
    /// Call only from the fatal handler of a thread for which
    /// [`Claim::crash`] returned [`Crash::Nested`] because its own report
    /// faulted: the token's holder is that report, suspended in a signal
    /// frame below ours, and it never resumes (the process ends, or the
    /// fault fires again into the previous action).
    pub(crate) unsafe fn scratch_of_faulted_report() -> &'static mut Scratch {
        // SAFETY: the caller's contract: the only other user of the
        // scratch is suspended below us for good.
        unsafe { SCRATCH.get_unsynchronized() }
    }

    /// End a crash report: it is complete (or given up on), and the claim
    /// stays taken until the process ends or a dump finds it stale.
    pub(crate) fn keep(self) {
        set_crash_done();
        core::mem::forget(self);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // A crash that took the claim over meanwhile keeps it.
        let _ = OWNER.compare_exchange(self.tid, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Give back a claim that thread `tid` took with [`Claim::try_crash`] and
/// left behind (its program handler never returned: `siglongjmp`).
pub(crate) fn release_left(tid: i32) {
    let _ = OWNER.compare_exchange(tid, 0, Ordering::AcqRel, Ordering::Acquire);
}

/// Mark a crash report as done without a token (a nested fault gave up on
/// it); returns whether it was already done.
pub(crate) fn mark_crash_done() -> bool {
    set_crash_done()
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
    fn one_holder_at_a_time() {
        let _g = crate::TEST_LOCK.lock().unwrap();
        let me = sys::gettid();
        let mut d = Claim::dump(me, 0).expect("free");
        let _ = d.scratch().frames[0];
        assert!(Claim::dump(me + 1, 0).is_none(), "taken");
        assert!(Claim::warm_up(me).is_none(), "taken");
        drop(d);
        let w = Claim::warm_up(me).expect("given back");
        drop(w);
        assert!(Claim::dump(me, 0).is_some());
    }
}
