//! Our helper threads: the dumper (dump requests by signal), the watchdog
//! and the symbol indexer. Normal context.
//!
//! They are raw `pthread_create` threads, not `std::thread`s: std's
//! thread start allocates (`pthread_getattr_np` for its stack guard, the
//! thread's handle, its name), and glibc gives a thread its own malloc
//! arena (64 MiB of address space) at its first `malloc` or `free`. On a
//! helper nothing allocates or frees before its body runs: the spawner
//! allocates the hand-off block (below) and frees it too.
//!
//! # Safety
//!
//! The hand-off block ([`Handoff`]) is shared by the spawner and the new
//! thread through a raw pointer. Its protocol: the spawner fills it in
//! before `pthread_create` and then only reads its `state`, until `state`
//! is [`DONE`]; the new thread reads `which` and moves the closure out
//! once, then stores [`DONE`] and never touches the block again. Only
//! after it saw [`DONE`] does a spawner free the block (or one that was
//! never started, when `pthread_create` failed); a block whose thread has
//! not said [`DONE`] when its spawner stops waiting is retired
//! ([`RETIRED`]) and freed by a later spawner that sees it [`DONE`].
#![allow(unsafe_code)]

use crate::runtime::signals as table;
use crate::runtime::sys;
use crate::settings;
use crate::signal::collector;
use crate::Error;
use core::ffi::{c_void, CStr};
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// How long new helper threads wait before they mark themselves (0;
/// set only by tests, through `__bench::delay_helper_start`).
pub(crate) static START_DELAY_MS: AtomicU64 = AtomicU64::new(0);

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
    /// The thread's name, as `/proc/*/task/*/comm` and reports show it.
    fn name(self) -> &'static CStr {
        match self {
            Helper::Dumper => c"fh-dumper",
            Helper::Watchdog => c"fh-watchdog",
            Helper::Indexer => c"fh-symbols",
        }
    }

    /// The thread's stack size (a guard page below it, pthread's default).
    /// Only the pages touched cost memory. The indexer parses DWARF with
    /// stack buffers of its own. The dumper and the watchdog compose their
    /// reports on the report stack (`runtime::stack`); their own stack
    /// holds the collection and the dump's set-up: 11 KiB at most, measured
    /// over `tests/threads.rs`'s dumps (opt-level 1). Without the report stack (where it could not
    /// be mapped, or on an architecture without the switch) the report
    /// runs here, keeping its demangled names short: hence the margin.
    fn stack_size(self) -> usize {
        match self {
            Helper::Dumper | Helper::Watchdog => 256 * 1024,
            Helper::Indexer => 1024 * 1024,
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
///
/// The thread is detached (nobody joins it). `f` should not allocate
/// (see the module docs); a panic in it ends the thread, nothing more.
pub(crate) fn spawn_internal(
    which: Helper,
    f: impl FnOnce() + Send + 'static,
) -> Result<(), Error> {
    spawn_internal_deferred(which, f).map(drop)
}

/// The block's `state` before the new thread took its closure.
const PENDING: u32 = 0;
/// The block's `state` once the new thread marked itself and moved its
/// closure out: from then on only spawners touch the block.
const DONE: u32 = 1;

/// Bumped (and woken) by every new thread right after it stored [`DONE`]:
/// the word spawners wait on. A static, never freed, so that the wake-up
/// never touches a block its spawner may have freed already.
static DONE_EPOCH: AtomicU32 = AtomicU32::new(0);

/// The type-independent head of a [`Handoff`] block.
#[repr(C)]
struct Head {
    /// [`PENDING`] or [`DONE`].
    state: AtomicU32,
    /// Which helper: read by the new thread before [`DONE`].
    which: Helper,
    /// Frees the whole block (its closure, moved out or never started,
    /// is not dropped).
    free: unsafe fn(NonNull<Head>),
    /// The next retired block (spawners only, see [`RETIRED`]).
    next: *mut Head,
}

/// What the spawner hands the new thread: allocated and freed by
/// spawners only, so the new thread never calls `free`.
#[repr(C)]
struct Handoff<F> {
    /// First, so that a pointer to the block is a pointer to its head.
    head: Head,
    /// The closure; moved out by the new thread before it stores [`DONE`]
    /// (or by the spawner, when `pthread_create` failed).
    f: MaybeUninit<F>,
}

/// Free a `Box<Handoff<F>>` from its head.
///
/// # Safety
///
/// `head` came from `Box::into_raw` of a `Box<Handoff<F>>`, and nobody
/// else uses the block any more.
unsafe fn free_handoff<F>(head: NonNull<Head>) {
    // SAFETY: per this function's contract; `Head` is the first field of
    // the `repr(C)` `Handoff<F>`, so the pointers are the same. Dropping
    // the box drops no `F`: `f` is a `MaybeUninit`.
    drop(unsafe { Box::from_raw(head.as_ptr().cast::<Handoff<F>>()) });
}

/// Blocks whose spawner stopped waiting before their thread stored
/// [`DONE`] (`dont_wait`, in an ELF constructor, a thread scheduled late),
/// linked through [`Head::next`]. Pushed onto with a CAS and only ever
/// emptied whole (`swap`), so there is no ABA: a spawner that took the
/// list owns every block in it.
static RETIRED: AtomicPtr<Head> = AtomicPtr::new(ptr::null_mut());

/// Put `head` on [`RETIRED`], to be freed by a later spawner.
fn retire(head: NonNull<Head>) {
    let mut top = RETIRED.load(Ordering::Acquire);
    loop {
        // SAFETY: we own this retired block's `next` until the CAS
        // publishes it; the new thread never touches `next`.
        unsafe { (*head.as_ptr()).next = top };
        match RETIRED.compare_exchange_weak(top, head.as_ptr(), Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return,
            Err(now) => top = now,
        }
    }
}

/// Free the retired blocks whose thread stored [`DONE`]; put the others
/// back.
fn sweep_retired() {
    let mut p = RETIRED.swap(ptr::null_mut(), Ordering::AcqRel);
    while let Some(head) = NonNull::new(p) {
        // SAFETY: taking the whole list made us the only spawner that
        // owns its blocks; `next` is read before the block may be freed or
        // pushed again. Its thread, if it has not stored DONE, only reads
        // `which` and `f` and writes `state`.
        p = unsafe { (*head.as_ptr()).next };
        finish(head);
    }
}

/// Free `head` if its thread stored [`DONE`], else retire it.
fn finish(head: NonNull<Head>) {
    // SAFETY: the block is alive: only a spawner that saw DONE frees it,
    // and we own it (the spawner's `Started`, or taken from RETIRED).
    let (state, free) = unsafe {
        let h = head.as_ptr();
        ((*h).state.load(Ordering::Acquire), (*h).free)
    };
    if state == DONE {
        // SAFETY: DONE was stored (Release, seen with Acquire) after the
        // thread's last use of the block; `free` is the block's own.
        unsafe { free(head) };
    } else {
        retire(head);
    }
}

/// A helper thread spawned, that may not have marked itself yet: the
/// spawner waits for the mark when this is dropped, unless it gives the
/// wait up with [`Started::dont_wait`] (as `enable()` does: collections
/// wait for helpers still starting).
#[must_use = "dropping it waits for the thread's mark"]
pub(crate) struct Started {
    /// The hand-off block, when this still waits for it and frees it.
    block: Option<NonNull<Head>>,
}

impl Started {
    /// Don't wait for the mark: `enable()` returns without waiting for
    /// its thread to be scheduled (50 to 100 us on a VM). Every
    /// collection waits for helpers still starting before it lists
    /// threads, so none is listed even then.
    pub(crate) fn dont_wait(mut self) {
        if let Some(head) = self.block.take() {
            finish(head);
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let Some(head) = self.block.take() else {
            return;
        };
        let limit = settings::HELPER_START_WAIT_MS.saturating_mul(1_000_000);
        let start = sys::monotonic_ns();
        loop {
            // The epoch first: a DONE stored after the check below also
            // bumps it after this load, so the wait returns at once.
            let epoch = DONE_EPOCH.load(Ordering::Acquire);
            // SAFETY: we own the block and have not freed it.
            let state = unsafe { (*head.as_ptr()).state.load(Ordering::Acquire) };
            let waited = sys::monotonic_ns().saturating_sub(start);
            if state == DONE || waited >= limit {
                break;
            }
            sys::futex_wait(&DONE_EPOCH, epoch, limit - waited);
        }
        finish(head);
    }
}

/// Name the calling thread (`PR_SET_NAME`, as `pthread_setname_np` does
/// for its own thread: no allocation).
fn set_own_name(name: &CStr) {
    // SAFETY: a NUL-terminated name of at most 15 bytes and a NUL, which
    // the kernel copies.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// The new thread's start routine: mark the thread, take the closure,
/// tell the spawner, and run it. It neither allocates nor frees before
/// `f` runs; a panic in `f` ends the thread here (it never unwinds into
/// the C caller).
extern "C" fn start<F: FnOnce() + Send + 'static>(arg: *mut c_void) -> *mut c_void {
    let block = arg.cast::<Handoff<F>>();
    // SAFETY: `arg` is the block the spawner made for us, alive until we
    // store DONE (see the module docs); `which` is only read.
    let which = unsafe { (*block).head.which };
    set_own_name(which.name());
    let delay = START_DELAY_MS.load(Ordering::Relaxed);
    if delay > 0 {
        sys::sleep_ms(delay);
    }
    collector::mark_internal(which as usize, sys::gettid());
    // SAFETY: the spawner wrote `f` before `pthread_create` and never
    // reads it once the thread exists: we move it out, exactly once.
    let f = unsafe { ptr::read((*block).f.as_ptr()) };
    // SAFETY: the block is still alive (no DONE yet). After this store we
    // never touch it again: the spawner may free it at once.
    unsafe { (*block).head.state.store(DONE, Ordering::Release) };
    DONE_EPOCH.fetch_add(1, Ordering::Release);
    sys::futex_wake(&DONE_EPOCH);
    // Our own alternate stack: the warm-up's signal arrives here (and on
    // aarch64 its walk, the process's first, which binds libgcc_s's
    // symbols lazily, runs here too: more than 8 KiB), and so does a
    // helper's crash. Owned by this frame, not by a thread-local (whose
    // destructor's registration would `calloc`); without one (mmap
    // failed), a crash here still dies of its signal.
    let alt = crate::altstack::OwnedAltStack::install();
    // catch_unwind allocates only when a panic happens (it is caught
    // here: the thread just ends).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(alt);
    ptr::null_mut()
}

/// [`spawn_internal`], returning before the thread's mark: it is waited
/// for when the [`Started`] is dropped.
pub(crate) fn spawn_internal_deferred<F: FnOnce() + Send + 'static>(
    which: Helper,
    f: F,
) -> Result<Started, Error> {
    sweep_retired();
    let block = Box::into_raw(Box::new(Handoff {
        head: Head {
            state: AtomicU32::new(PENDING),
            which,
            free: free_handoff::<F>,
            next: ptr::null_mut(),
        },
        f: MaybeUninit::new(f),
    }));
    let all_but_crashes = sys::sigset_all_but(&table::FATAL_SIGNALS);
    // The new thread inherits this mask.
    let old = sys::thread_sigmask(libc::SIG_BLOCK, &all_but_crashes);
    collector::helper_starting();
    let r = create_detached(which.stack_size(), start::<F>, block.cast());
    sys::thread_sigmask(libc::SIG_SETMASK, &old);
    if let Err(e) = r {
        collector::helper_start_failed();
        // SAFETY: no thread was made: the block is ours alone; its closure
        // is moved out (and dropped) once, and the block freed once.
        unsafe {
            drop(ptr::read((*block).f.as_ptr()));
            free_handoff::<F>(NonNull::new_unchecked(block.cast::<Head>()));
        }
        let name = which.name().to_str().unwrap_or("helper");
        return Err(Error::from_raw_os(format!("spawning the {name} thread"), e));
    }
    // SAFETY: `Box::into_raw` never returns null.
    let head = unsafe { NonNull::new_unchecked(block.cast::<Head>()) };
    // In the preload's ELF constructor (inside dlopen) the new thread
    // cannot start before the loader lock we run under is released: don't
    // wait there. Elsewhere, wait (bounded all the same).
    if settings::IN_CONSTRUCTOR.load(Ordering::Acquire) {
        finish(head);
        return Ok(Started { block: None });
    }
    Ok(Started { block: Some(head) })
}

/// The start routine type of `pthread_create`.
type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;

/// `pthread_create` a detached thread with a `stack`-byte stack (and
/// pthread's default guard page) running `f(arg)`. The error is
/// `pthread_create`'s (or the attribute calls') error number.
fn create_detached(stack: usize, f: StartFn, arg: *mut c_void) -> Result<(), i32> {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_attr_init initialises the attribute object it is
    // given (and fails only with ENOMEM, when it is left uninitialised).
    let rc = unsafe { libc::pthread_attr_init(attr.as_mut_ptr()) };
    if rc != 0 {
        return Err(rc);
    }
    let attr = attr.as_mut_ptr();
    let stack = stack.max(libc::PTHREAD_STACK_MIN);
    let mut tid: libc::pthread_t = 0;
    // SAFETY: `attr` was initialised above and is destroyed once, below;
    // `tid` is a valid out-parameter; `f` is a start routine that takes
    // `arg` as its hand-off block (see the module docs).
    let rc = unsafe {
        let mut rc = libc::pthread_attr_setstacksize(attr, stack);
        if rc == 0 {
            rc = libc::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED);
        }
        if rc == 0 {
            rc = libc::pthread_create(&mut tid, attr, f, arg);
        }
        libc::pthread_attr_destroy(attr);
        rc
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}
