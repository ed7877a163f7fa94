//! Async-signal-safe. Collects the stacks of every other thread of the
//! process: at crash time from inside the fatal-signal handler, and in
//! normal context for dump requests, the watchdog and `dump_traceback()`.
//!
//! How a collection works:
//! - the threads are listed from `/proc/self/task` with raw `getdents64`
//!   (no `opendir`, which allocates);
//! - each listed thread gets a slot of the [`Pool`], which was allocated at
//!   `enable()` (or at the first dump) and is never freed, and is sent the
//!   *collector signal* with `rt_tgsigqueueinfo`, `si_code = SI_QUEUE` and
//!   the slot index and a generation number in `si_value`. Every thread is
//!   signalled before any answer is waited for;
//! - the collector handler, on the target thread, checks that the signal
//!   came from our own process with `SI_QUEUE`, claims its slot with a
//!   compare-and-swap on (generation, REQUESTED), walks its own stack into
//!   the slot (with `runtime::cfi` from the interrupted registers on
//!   x86_64, else with libgcc's unwinder), publishes it (DONE, Release)
//!   and bumps [`ACKS`]; the answer
//!   the collector waits for last ([`WAKE_AT`]) wakes it with `FUTEX_WAKE`;
//! - the collecting thread waits with `FUTEX_WAIT` against ONE deadline for
//!   the whole collection (`thread_timeout`, 100 ms by default). Once no
//!   answer came for 2 ms, it reads `SigBlk` from
//!   `/proc/self/task/TID/status` for the threads that have not answered:
//!   a thread that blocks the signal is not waited on;
//! - at the deadline every slot still REQUESTED is taken back with a
//!   compare-and-swap, so an answer that arrives later finds the generation
//!   changed and is dropped. A slot whose thread is in the middle of writing
//!   (WRITING) is never reused until it is done.
//!
//! The collector signal is a real-time signal picked at install time: the
//! first of `SIGRTMIN+n` whose disposition is `SIG_DFL` (glibc keeps 32 and
//! 33 for itself; `SIGRTMIN()` already skips them). Its handler is
//! installed with `SA_SIGINFO | SA_RESTART`, so an application thread
//! blocked in `read()` never sees `EINTR`. It is deliberately *not*
//! `SA_ONSTACK`: Rust std gives its threads 8 KiB alternate stacks, and an
//! unwind needs 5 to 7.5 KiB of stack, kernel frame included; the thread's
//! own stack is the safer place. The handler stays installed for the life
//! of the process (it ignores anything that is not our own request).
//!
//! Only one collection runs at a time: the caller holds the reporter claim
//! (`signal::claim`): a crash report, or a normal-context dump.
//!
//! # Safety
//!
//! The collector handler gets raw `siginfo_t`/`ucontext_t` pointers from
//! the kernel. It writes frames into a slot through a raw slice made from
//! the slot's `AtomicUsize` storage; that is exclusive because only the
//! thread that won the slot's (generation, REQUESTED) -> WRITING
//! compare-and-swap writes, and readers read only DONE slots (Acquire).
//! Pools are leaked, never freed, so a late answer never writes into freed
//! memory.
#![allow(unsafe_code)]

use crate::report::{Current, NoStack, Thread};
use crate::runtime::fmt::{parse_hex, Buf};
use crate::runtime::sys::{self, ErrnoGuard};
use crate::runtime::{guard, unwind};
use crate::settings;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{
    AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

/// Extra slots, so that slots still being written by a late thread never
/// leave a collection short.
pub(crate) const SPARE_SLOTS: usize = 16;

/// The collector signal, 0 until installed.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The current pool, null until the first install.
static POOL: AtomicPtr<Pool> = AtomicPtr::new(core::ptr::null_mut());
/// Generation of the collection in progress (or the last one).
static GENERATION: AtomicU32 = AtomicU32::new(0);
/// Bumped by every answer; the collector waits on it with `FUTEX_WAIT`.
static ACKS: AtomicU32 = AtomicU32::new(0);
/// The value of [`ACKS`] whose answer wakes the collector: the last one
/// it waits for.
static WAKE_AT: AtomicU32 = AtomicU32::new(0);
/// The generation of a crash's collection whose threads stay inside the
/// collector handler once they have answered (0: none), so that the
/// report is one snapshot: no thread runs on, sleeps end early or exits
/// while the crash is written. Cleared by [`release_held`] when the
/// process goes on; otherwise the process ends with them held.
static HOLD: AtomicU32 = AtomicU32::new(0);
/// Our own helper threads (dumper, watchdog, symbol indexer), left out of
/// every report.
static INTERNAL_TIDS: [AtomicI32; 3] = [const { AtomicI32::new(0) }; 3];
/// The threads inside the collector handler right now (0: a free cell):
/// the collection signal is blocked on them until they return, which is
/// not blocking it for good. A thread that finds no free cell is not
/// listed (it may then be taken for one that blocks the signal).
static INSIDE: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// Marks the calling thread as inside the collector handler while it
/// lives.
struct Inside(Option<&'static AtomicI32>);

impl Inside {
    fn enter(tid: i32) -> Inside {
        Inside(INSIDE.iter().find(|c| {
            c.compare_exchange(0, tid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }))
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.store(0, Ordering::Release);
        }
    }
}

/// The sigaction handler address of `signal-hook-registry`, found once by a
/// probe (0 when unknown).
static REGISTRY_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// A slot flag: the thread answered without a stack, having too little
/// room for the walk.
const NO_ROOM: u8 = 4;
/// A slot flag: the thread's walk faulted (caught), so it has no stack.
const FAULTED: u8 = 8;
/// The least alternate-stack room a thread walks itself in: the unwinder,
/// a lazy symbol binding (which saves the whole register file), and a
/// margin.
const MIN_WALK_ROOM: usize = 16 << 10;

const FREE: u64 = 0;
const REQUESTED: u64 = 1;
const WRITING: u64 = 2;
const DONE: u64 = 3;

fn pack(gen: u32, state: u64) -> u64 {
    (u64::from(gen) << 8) | state
}

/// What the collecting thread knows about one listed thread.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Outcome {
    Pending = 0,
    Blocked = 1,
    Gone = 2,
    NotSent = 3,
    /// It is in the fatal handler itself (it crashed too).
    Crashed = 4,
}

/// One thread's answer.
pub(crate) struct Slot {
    state: AtomicU64,
    tid: AtomicI32,
    stored: AtomicUsize,
    total: AtomicUsize,
    /// Bit 0: the walk reached the interrupted pc; bit 1: cut short.
    flags: AtomicU8,
    /// Stored frames that are the bottom of a deeper stack.
    bottom: AtomicU8,
    /// The thread's name, read by the thread itself (no file to open per
    /// thread): 16 bytes, NUL-padded.
    name: [AtomicU64; 2],
    /// Written and read by the collecting thread only.
    outcome: AtomicU8,
}

/// Storage for one collection, allocated by `setup::collector` and never
/// freed.
pub(crate) struct Pool {
    /// `max_threads` plus [`SPARE_SLOTS`] slots.
    pub slots: &'static [Slot],
    /// `per_slot` frames for each slot.
    pub frames: &'static [AtomicUsize],
    /// Frames per slot.
    pub per_slot: usize,
    /// The listed threads' slots, in listing order (collector only); a
    /// thread that found no free slot is [`NO_SLOT`] | its tid. One per
    /// thread that may be shown (`max_threads`).
    pub order: &'static [AtomicU64],
}

impl Pool {
    fn frames_of(&self, idx: usize) -> &[AtomicUsize] {
        let start = idx.saturating_mul(self.per_slot);
        self.frames
            .get(start..start.saturating_add(self.per_slot))
            .unwrap_or(&[])
    }
}

/// The collector signal, once installed.
pub(crate) fn signal() -> Option<c_int> {
    match SIGNAL.load(Ordering::Acquire) {
        0 => None,
        s => Some(s),
    }
}

fn is_internal(tid: i32) -> bool {
    INTERNAL_TIDS
        .iter()
        .any(|t| t.load(Ordering::Acquire) == tid)
}

/// The handler address `signal-hook-registry` installs, when known.
pub(crate) fn registry_handler() -> usize {
    REGISTRY_HANDLER.load(Ordering::Acquire)
}

impl Slot {
    /// A free slot: every field 0, which is how `setup::collector`
    /// allocates them (zeroed memory).
    #[cfg(test)]
    pub(crate) const fn new() -> Slot {
        Slot {
            state: AtomicU64::new(FREE),
            tid: AtomicI32::new(0),
            stored: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            flags: AtomicU8::new(0),
            bottom: AtomicU8::new(0),
            name: [AtomicU64::new(0), AtomicU64::new(0)],
            outcome: AtomicU8::new(0),
        }
    }
}

/// The pool in use, if any.
pub(crate) fn pool() -> Option<&'static Pool> {
    let p = POOL.load(Ordering::Acquire);
    // SAFETY: pools are leaked by `setup::collector`, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Make `pool` the one collections use. The old one stays valid: a late
/// answer may still write into it.
pub(crate) fn publish_pool(pool: &'static Pool) {
    POOL.store(pool as *const Pool as *mut Pool, Ordering::Release);
}

/// Install `collector` as the handler of `sig` and publish the signal.
pub(crate) fn install_signal(sig: c_int) -> Result<(), c_int> {
    let act = sys::Action::handler(collector, libc::SA_SIGINFO | libc::SA_RESTART, &[]);
    sys::set_action(sig, &act)?;
    SIGNAL.store(sig, Ordering::Release);
    Ok(())
}

/// Helper threads spawned that have not marked themselves yet: a
/// collection waits for them (bounded) before it lists threads, so that
/// none of ours is listed, even by a crash right after `enable()`.
static STARTING: AtomicU32 = AtomicU32::new(0);

/// A helper thread is about to be spawned (its [`mark_internal`], or
/// [`helper_start_failed`], follows).
pub(crate) fn helper_starting() {
    STARTING.fetch_add(1, Ordering::AcqRel);
}

/// The helper thread announced by [`helper_starting`] was not spawned.
pub(crate) fn helper_start_failed() {
    let _ = STARTING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    sys::futex_wake(&STARTING);
}

/// Leave thread `tid` out of every report: helper thread number `slot`.
/// Called by the helper itself, first thing.
pub(crate) fn mark_internal(slot: usize, tid: i32) {
    if let Some(t) = INTERNAL_TIDS.get(slot) {
        t.store(tid, Ordering::Release);
    }
    let _ = STARTING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    sys::futex_wake(&STARTING);
}

/// In a forked child: no helper thread of the parent is starting here.
pub(crate) fn forget_starting_helpers() {
    STARTING.store(0, Ordering::Release);
}

/// Wait, at most [`settings::HELPER_START_WAIT_MS`], for helper threads
/// still starting to mark themselves.
fn wait_for_starting_helpers() {
    let limit = settings::HELPER_START_WAIT_MS.saturating_mul(1_000_000);
    let start = sys::monotonic_ns();
    loop {
        let n = STARTING.load(Ordering::Acquire);
        let waited = sys::monotonic_ns().saturating_sub(start);
        if n == 0 || waited >= limit {
            return;
        }
        sys::futex_wait(&STARTING, n, limit - waited);
    }
}

/// Remember `signal-hook-registry`'s handler address.
pub(crate) fn set_registry_handler(h: usize) {
    REGISTRY_HANDLER.store(h, Ordering::Release);
}

/// The interrupted pc from a ucontext.
pub(crate) fn context_pc(uc: *mut c_void) -> usize {
    if uc.is_null() {
        return 0;
    }
    let uc = uc.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        unsafe { (*uc).uc_mcontext.pc as usize }
    }
}

/// The collector handler: runs on the thread being asked for its stack.
extern "C" fn collector(_sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let _errno = ErrnoGuard::new();
    if info.is_null() {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo; SI_QUEUE siginfo carries
    // the sender's pid and the value (checked before they are used).
    let (code, pid, value) = unsafe {
        let i = &*info;
        (i.si_code, i.si_pid(), i.si_value().sival_ptr as usize)
    };
    if code != libc::SI_QUEUE || !crate::runtime::signals::is_own_pid(pid) {
        return;
    }
    let tid = sys::gettid();
    let _inside = Inside::enter(tid);
    let p = POOL.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: pools are never freed.
    let pool = unsafe { &*p };
    let idx = value & 0xffff_ffff;
    let gen = (value >> 32) as u32;
    let Some(slot) = pool.slots.get(idx) else {
        return;
    };
    if slot
        .state
        .compare_exchange(
            pack(gen, REQUESTED),
            pack(gen, WRITING),
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_err()
    {
        // Late (the collection gave up on us), or not ours.
        return;
    }
    if slot.tid.load(Ordering::Relaxed) != tid {
        slot.state.store(pack(gen, REQUESTED), Ordering::Release);
        return;
    }
    let cells = pool.frames_of(idx);
    // Walk into as many frames as are shown, so that the bottom of a deep
    // stack lands where the report takes it.
    let len = cells.len().min(settings::max_frames().max(1));
    // SAFETY: AtomicUsize has the layout of usize, `len` is within the
    // slot's cells, and we own the slot exclusively until we publish DONE
    // (see the module's Safety section).
    let frames: &mut [usize] =
        unsafe { core::slice::from_raw_parts_mut(cells.as_ptr() as *mut usize, len) };
    let mut bottom = 0;
    let pc = context_pc(uc);
    let (stored, total, flags) = if sys::altstack_room_at(uc).is_some_and(|r| r < MIN_WALK_ROOM) {
        // We run on an alternate stack that another handler is using
        // already (the signal arrived inside it): a walk could run off its
        // end, and a fault there would kill the process. Answer without one.
        (0, 0, NO_ROOM)
    } else {
        let mut walk = unwind::Walk::default();
        let mut walk_it = || {
            // Our own reader of the unwind tables first, from the
            // interrupted context: the same frames as libgcc's, or none.
            #[cfg(target_arch = "x86_64")]
            if let Some(w) = crate::runtime::cfi::walk_context(uc, frames, u64::from(gen)) {
                walk = w;
                return;
            }
            // SAFETY: walking our own stack from the handler (see `unwind`).
            walk = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) };
        };
        // A corrupt frame chain can fault inside the unwinder: caught,
        // and answered as such (a dump never kills the process).
        if guard::catching_faults_as(tid, &mut walk_it).is_err() {
            (0, 0, FAULTED)
        } else if walk.found_start {
            bottom = walk.bottom;
            (walk.stored, walk.total, 1 | if walk.cut { 2 } else { 0 })
        } else {
            if let Some(f) = frames.first_mut() {
                *f = pc;
            }
            (frames.len().min(1), 1, 0)
        }
    };
    slot.stored.store(stored, Ordering::Relaxed);
    slot.total.store(total, Ordering::Relaxed);
    slot.flags.store(flags, Ordering::Relaxed);
    slot.bottom.store(bottom as u8, Ordering::Relaxed);
    let mut name = [0u8; 16];
    sys::own_thread_name(&mut name);
    for (cell, part) in slot.name.iter().zip(name.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(part);
        cell.store(u64::from_ne_bytes(b), Ordering::Relaxed);
    }
    slot.state.store(pack(gen, DONE), Ordering::Release);
    // Wake the collector only with the answer it waits for (the last
    // one): with a wake per answer, it would run (and scan its slots) as
    // often as threads answer, which grows as threads squared.
    let acks = ACKS.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    if acks == WAKE_AT.load(Ordering::SeqCst) {
        sys::futex_wake(&ACKS);
    }
    if gen != 0 && HOLD.load(Ordering::Acquire) == gen {
        stay_held(gen);
    }
}

/// Wait inside the handler while the crash's collection `gen` is held,
/// at most [`settings::hold_limit_ms`]: a process that goes on without
/// releasing us loses at most that much time on this thread.
#[inline(never)]
fn stay_held(gen: u32) {
    let limit = settings::hold_limit_ms().saturating_mul(1_000_000);
    let start = sys::monotonic_ns();
    while HOLD.load(Ordering::Acquire) == gen {
        let waited = sys::monotonic_ns().saturating_sub(start);
        if waited >= limit {
            return;
        }
        sys::futex_wait(&HOLD, gen, (limit - waited).max(1));
    }
}

/// Let the threads of a held crash collection return from the handler:
/// the process goes on (a handler of the program's runs next, or the
/// fault was survived). Idempotent.
pub(crate) fn release_held() {
    if HOLD.swap(0, Ordering::AcqRel) != 0 {
        sys::futex_wake(&HOLD);
    }
}

/// Call `f` with every thread id of the process, from `/proc/self/task`,
/// read with raw `getdents64` into `buf`.
fn for_each_tid(buf: &mut [u64], mut f: impl FnMut(i32)) {
    let Some(dir) = sys::Fd::open(c"/proc/self/task", libc::O_DIRECTORY) else {
        return;
    };
    loop {
        let n = dir.getdents(buf);
        if n == 0 {
            break;
        }
        // SAFETY: viewing our own u64 array as bytes.
        let bytes: &[u8] = unsafe {
            core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), core::mem::size_of_val(buf))
        };
        let bytes = bytes.get(..n).unwrap_or(&[]);
        let mut off = 0usize;
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        while let Some(rec) = bytes.get(off..) {
            let Some(len) = rec
                .get(16..18)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]) as usize)
            else {
                break;
            };
            if len == 0 {
                break;
            }
            let name = rec.get(19..len.min(rec.len())).unwrap_or(&[]);
            let name = match name.iter().position(|&b| b == 0) {
                Some(i) => name.get(..i).unwrap_or(&[]),
                None => name,
            };
            if let Some(tid) = parse_dec(name) {
                f(tid);
            }
            off += len;
        }
    }
}

fn parse_dec(s: &[u8]) -> Option<i32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut v: i32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i32::from(c - b'0');
    }
    Some(v)
}

/// Whether thread `tid` blocks `sig`, from `SigBlk` in its status file.
fn blocks_signal(tid: i32, sig: c_int, text: &mut [u8]) -> bool {
    let mut path = Buf::<64>::new();
    path.str("/proc/self/task/").dec(tid as u64).str("/status");
    let n = crate::runtime::procfs::read_file(path.as_bytes(), text);
    let text = text.get(..n).unwrap_or(&[]);
    let mask = sigblk_of(text);
    sig > 0 && sig <= 64 && mask.is_some_and(|m| m & (1u64 << (sig - 1)) != 0)
}

fn sigblk_of(text: &[u8]) -> Option<u64> {
    let key = b"SigBlk:";
    let at = text.windows(key.len()).position(|w| w == key)?;
    let rest = text.get(at + key.len()..)?;
    let start = rest.iter().position(|&b| b != b'\t' && b != b' ')?;
    let rest = rest.get(start..)?;
    let end = rest
        .iter()
        .position(|&b| !b.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    parse_hex(rest.get(..end)?)
}

fn send(sig: c_int, tid: i32, value: usize) -> c_int {
    sys::queue_to_thread(tid, sig, value)
}

/// Collect the stack of every thread of the process except the caller and
/// our helper threads, and hand each outcome to `emit` in listing order
/// (the report composer writes them), then the thread-limit cut if the
/// limit cut the list.
///
/// With `hold` (a crash), the threads that answer stay inside the
/// collector handler until [`release_held`], or until the process ends.
///
/// Async-signal-safe.
///
/// # Safety
///
/// The caller must hold the reporter claim (`signal::claim`): the pool
/// and the module cache are used without further locking.
pub(crate) unsafe fn collect_other_threads(
    scratch: &mut Scratch,
    max_frames: usize,
    hold: bool,
    emit: &mut dyn FnMut(Thread<'_>),
) {
    // SAFETY: the caller's.
    unsafe { collect_threads(scratch, max_frames, 0, hold, emit) }
}

/// [`collect_other_threads`] for thread `tid` alone (a dump of the thread
/// that took a request signal). Nothing is emitted when it is gone.
///
/// # Safety
///
/// As for [`collect_other_threads`].
pub(crate) unsafe fn collect_one_thread(
    scratch: &mut Scratch,
    max_frames: usize,
    tid: i32,
    emit: &mut dyn FnMut(Thread<'_>),
) {
    // SAFETY: the caller's.
    unsafe { collect_threads(scratch, max_frames, tid, false, emit) }
}

/// Collect every thread but the caller and our helpers, or (`only` not
/// 0) thread `only` alone; with `hold`, the threads that answer stay held
/// (see [`collect_other_threads`]).
unsafe fn collect_threads(
    scratch: &mut Scratch,
    max_frames: usize,
    only: i32,
    hold: bool,
    emit: &mut dyn FnMut(Thread<'_>),
) {
    let sig = SIGNAL.load(Ordering::Acquire);
    let Some(pool) = pool().filter(|_| sig != 0) else {
        emit(Thread::NoCollector);
        return;
    };
    wait_for_starting_helpers();
    let timeout_ms = settings::thread_timeout_ms();
    let max_threads = settings::MAX_THREADS
        .load(Ordering::Relaxed)
        .min(pool.order.len());
    let max_frames = max_frames.clamp(1, pool.per_slot.max(1));
    let gen = GENERATION.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
    if hold {
        HOLD.store(gen, Ordering::Release);
    }
    let start = sys::monotonic_ns();
    let deadline = start.saturating_add(timeout_ms.saturating_mul(1_000_000));
    let me = sys::gettid();
    // Only answers to this collection bump ACKS (a late one fails its
    // slot's compare-and-swap first), so it counts them from here.
    let base = ACKS.load(Ordering::SeqCst);

    // List the threads and signal each one.
    let mut listed = 0usize;
    let mut more = 0usize;
    let mut cursor = 0usize;
    let mut sent = 0usize;
    for_each_tid(&mut scratch.dirents, |tid| {
        if tid == me || is_internal(tid) || (only != 0 && tid != only) {
            return;
        }
        if listed >= max_threads {
            more += 1;
            return;
        }
        // A free slot: anything not being written by a late thread.
        let mut found = None;
        while let Some(s) = pool.slots.get(cursor) {
            let st = s.state.load(Ordering::Acquire) & 0xff;
            cursor += 1;
            if st != WRITING {
                found = Some((cursor - 1, s));
                break;
            }
        }
        let Some(order) = pool.order.get(listed) else {
            return;
        };
        listed += 1;
        let Some((idx, slot)) = found else {
            order.store(NO_SLOT | tid as u32 as u64, Ordering::Relaxed);
            return;
        };
        order.store(idx as u64, Ordering::Relaxed);
        slot.tid.store(tid, Ordering::Relaxed);
        slot.outcome
            .store(Outcome::Pending as u8, Ordering::Relaxed);
        slot.state.store(pack(gen, REQUESTED), Ordering::Release);
        let value = ((gen as usize) << 32) | idx;
        match send(sig, tid, value) {
            0 => sent += 1,
            libc::ESRCH => slot.outcome.store(Outcome::Gone as u8, Ordering::Relaxed),
            _ => slot
                .outcome
                .store(Outcome::NotSent as u8, Ordering::Relaxed),
        }
    });

    let in_order = || listed_slots(pool, listed);
    // The answers still waited for: the threads asked and not left out,
    // and (while they are to be looked at again) those found blocking the
    // signal, which may answer after all.
    let waiting = |blocked_too: bool| {
        in_order()
            .filter(|s| {
                let outcome = s.outcome.load(Ordering::Relaxed);
                let state = s.state.load(Ordering::Acquire);
                (outcome == Outcome::Pending as u8 && state != pack(gen, DONE))
                    || (blocked_too
                        && outcome == Outcome::Blocked as u8
                        && state == pack(gen, REQUESTED))
            })
            .count()
    };

    // Wait for the answers. The last one expected wakes us; until then,
    // while answers keep coming, nothing is checked (a thousand threads
    // on two cores take a while, and a `/proc` read per thread would
    // make a big collection slower still). Only once no answer came for
    // a while are the threads that have not answered looked at: those
    // that block the signal are left out, as are those that exited.
    let mut target = base.wrapping_add(sent as u32);
    set_wake_at(target);
    let mut progress = ACKS.load(Ordering::SeqCst);
    let mut next_check = start.saturating_add(settings::STALL_CHECK_NS).min(deadline);
    let mut checked_blocked = false;
    // A thread found blocking the signal is looked at again a little
    // later: it may have been just leaving a handler of ours that blocks
    // it (the mask comes back with the handler's return), and then
    // answers.
    let mut recheck_at: Option<u64> = None;
    loop {
        let acks = ACKS.load(Ordering::SeqCst);
        if acks == target {
            // Every answer expected is in, unless the target was set
            // low (answers raced its count): check, and set it again.
            let left = waiting(recheck_at.is_some());
            if left == 0 {
                break;
            }
            target = acks.wrapping_add(left as u32);
            set_wake_at(target);
            continue;
        }
        let now = sys::monotonic_ns();
        if now >= deadline {
            break;
        }
        if now >= next_check {
            next_check = now.saturating_add(settings::STALL_CHECK_NS).min(deadline);
            let stalled = acks == progress;
            progress = acks;
            if recheck_at.is_some_and(|at| now >= at) {
                recheck_at = None;
                for s in in_order() {
                    if s.outcome.load(Ordering::Relaxed) == Outcome::Blocked as u8
                        && s.state.load(Ordering::Acquire) == pack(gen, REQUESTED)
                        && !blocks_signal(s.tid.load(Ordering::Relaxed), sig, &mut scratch.status)
                    {
                        s.outcome.store(Outcome::Pending as u8, Ordering::Relaxed);
                    }
                }
            }
            if stalled && !checked_blocked {
                checked_blocked = true;
                for s in in_order() {
                    let tid = s.tid.load(Ordering::Relaxed);
                    if s.outcome.load(Ordering::Relaxed) == Outcome::Pending as u8
                        && s.state.load(Ordering::Acquire) == pack(gen, REQUESTED)
                        && blocks_signal(tid, sig, &mut scratch.status)
                        && !answering_late(pool, tid)
                    {
                        let outcome = if crate::runtime::signals::crashed_with(tid).is_some() {
                            Outcome::Crashed
                        } else {
                            Outcome::Blocked
                        };
                        if outcome == Outcome::Blocked {
                            recheck_at =
                                Some(now.saturating_add(settings::BLOCKED_RECHECK_AFTER_NS));
                        }
                        s.outcome.store(outcome as u8, Ordering::Relaxed);
                    }
                }
            } else if stalled {
                // A thread that exited meanwhile never answers (its
                // pending signal went with it): stop waiting for it.
                for s in in_order() {
                    if s.outcome.load(Ordering::Relaxed) == Outcome::Pending as u8
                        && s.state.load(Ordering::Acquire) == pack(gen, REQUESTED)
                        && !thread_exists(s.tid.load(Ordering::Relaxed))
                    {
                        s.outcome.store(Outcome::Gone as u8, Ordering::Relaxed);
                    }
                }
                next_check = now
                    .saturating_add(settings::GONE_CHECK_EVERY_NS)
                    .min(deadline);
            }
            // The threads left out no longer count: wait for the rest.
            let acks = ACKS.load(Ordering::SeqCst);
            let left = waiting(recheck_at.is_some());
            if left == 0 {
                break;
            }
            target = acks.wrapping_add(left as u32);
            set_wake_at(target);
            if ACKS.load(Ordering::SeqCst) != acks {
                continue;
            }
            if let Some(at) = recheck_at {
                next_check = next_check.min(at);
            }
        }
        let now = sys::monotonic_ns();
        let stop = next_check.min(deadline);
        if now >= stop {
            continue;
        }
        sys::futex_wait(&ACKS, acks, stop - now);
    }
    set_wake_at(0);
    // Take back every slot that did not answer: a late answer then finds
    // the state changed and is dropped.
    for s in in_order() {
        let _ = s.state.compare_exchange(
            pack(gen, REQUESTED),
            FREE,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    // Hand over the outcomes in listing order.
    for o in pool.order.get(..listed).unwrap_or(&[]) {
        let entry = o.load(Ordering::Relaxed);
        let idx = entry as usize;
        let slot = if entry & NO_SLOT == 0 {
            pool.slots.get(idx)
        } else {
            None
        };
        let Some(s) = slot else {
            emit(Thread::NoStack {
                tid: entry as u32 as i32,
                why: NoStack::NoFreeSlot,
            });
            continue;
        };
        let tid = s.tid.load(Ordering::Relaxed);
        let outcome = s.outcome.load(Ordering::Relaxed);
        let done = s.state.load(Ordering::Acquire) == pack(gen, DONE);
        if done && !thread_exists(tid) {
            // It answered, then exited (a thread ending just now): its
            // stack no longer exists, and it is left out like any thread
            // that exited.
            s.state.store(FREE, Ordering::Release);
            continue;
        }
        let flags = s.flags.load(Ordering::Relaxed);
        if done && flags & (NO_ROOM | FAULTED) != 0 {
            s.state.store(FREE, Ordering::Release);
            emit(Thread::NoStack {
                tid,
                why: if flags & FAULTED != 0 {
                    NoStack::UnwinderFaulted
                } else {
                    NoStack::NoRoom
                },
            });
        } else if done {
            let stored = s.stored.load(Ordering::Relaxed);
            let flags = s.flags.load(Ordering::Relaxed);
            let cells = pool.frames_of(idx);
            let n = stored.min(max_frames).min(cells.len());
            // SAFETY: the slot is DONE: its writer has finished (Acquire
            // above), and nobody can claim it again until we free it below.
            let frames: &[usize] =
                unsafe { core::slice::from_raw_parts(cells.as_ptr() as *const usize, n) };
            emit(Thread::Stack(Current {
                tid,
                frames,
                first_is_pc: true,
                total: s.total.load(Ordering::Relaxed),
                cut: flags & 2 != 0,
                // Only when every frame walked is shown: the bottom is at
                // the end of what the walk stored.
                bottom: if n == stored {
                    usize::from(s.bottom.load(Ordering::Relaxed))
                } else {
                    0
                },
                found_start: flags & 1 != 0,
                heading: true,
                name: Some(slot_name(s)),
            }));
            s.state.store(FREE, Ordering::Release);
        } else if outcome == Outcome::Gone as u8 {
            // It exited before it could be asked: left out.
        } else if outcome == Outcome::Blocked as u8 {
            emit(Thread::NoStack {
                tid,
                why: NoStack::Blocked,
            });
        } else if outcome == Outcome::Crashed as u8 {
            let sig = crate::runtime::signals::crashed_with(tid).unwrap_or(0);
            emit(Thread::NoStack {
                tid,
                why: NoStack::Crashed { sig },
            });
        } else if outcome == Outcome::NotSent as u8 {
            emit(Thread::NoStack {
                tid,
                why: NoStack::NotSent,
            });
        } else if thread_exists(tid) {
            emit(Thread::NoStack {
                tid,
                why: NoStack::NoAnswer { ms: timeout_ms },
            });
        }
    }
    if more > 0 {
        emit(Thread::Cut { more, max_threads });
    }
}

/// The name a slot's thread stored (NUL-padded).
fn slot_name(s: &Slot) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (part, cell) in out.chunks_exact_mut(8).zip(&s.name) {
        part.copy_from_slice(&cell.load(Ordering::Relaxed).to_ne_bytes());
    }
    out
}

/// Whether thread `tid` is inside our collector handler right now,
/// answering an earlier collection late: the collection signal is blocked
/// while it does, and it takes ours as soon as it returns, so it does not
/// "block the dump signal".
fn answering_late(pool: &Pool, tid: i32) -> bool {
    INSIDE.iter().any(|c| c.load(Ordering::Acquire) == tid)
        || pool.slots.iter().any(|s| {
            s.state.load(Ordering::Acquire) & 0xff == WRITING
                && s.tid.load(Ordering::Relaxed) == tid
        })
}

/// Set the answer count whose answer wakes the collector.
fn set_wake_at(target: u32) {
    WAKE_AT.store(target, Ordering::SeqCst);
}

/// The slots of the first `listed` listed threads, in listing order.
fn listed_slots(pool: &Pool, listed: usize) -> impl Iterator<Item = &Slot> {
    pool.order
        .get(..listed)
        .unwrap_or(&[])
        .iter()
        .map(|o| o.load(Ordering::Relaxed))
        .filter(|&e| e & NO_SLOT == 0)
        .filter_map(|e| pool.slots.get(e as usize))
}

/// Buffers for the collecting thread, part of the claim's scratch (not on
/// the stack: a crash on a thread with Rust std's 8 KiB alternate stack
/// leaves little room beyond the unwinder's needs).
pub(crate) struct Scratch {
    /// `getdents64` records (8-byte aligned).
    dirents: [u64; 256],
    /// One `/proc/self/task/TID/status` file.
    status: [u8; 2048],
}

impl Scratch {
    /// Zeroed buffers.
    pub(crate) const fn new() -> Scratch {
        Scratch {
            dirents: [0; 256],
            status: [0; 2048],
        }
    }
}

/// Marks an `order` entry whose thread found no free slot.
const NO_SLOT: u64 = 1 << 63;

fn thread_exists(tid: i32) -> bool {
    sys::thread_exists(tid)
}

/// Normal context. Walk the calling thread's stack, keeping only frames
/// whose stack address lies above `sp_floor` (the frames of our callers);
/// the first `skip` of those are dropped too.
/// `None` when the unwinder faulted on the way (caught).
pub(crate) fn walk_current(
    sp_floor: usize,
    skip: usize,
    out: &mut [usize],
) -> Option<unwind::Walk> {
    let mut walk = unwind::Walk::default();
    let mut walk_it = || {
        // SAFETY: a walk of our own stack, in normal context.
        walk = unsafe { unwind::walk(unwind::Start::AboveSp(sp_floor), skip, out) };
    };
    guard::catching_faults(&mut walk_it).ok().map(|()| walk)
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

    /// Every field of a new slot is 0 (`setup::collector` hands out
    /// zeroed memory as new slots).
    #[test]
    fn new_slot_is_zero() {
        let s = Slot::new();
        let r = Ordering::Relaxed;
        assert_eq!(FREE, 0);
        assert_eq!(
            (
                s.state.load(r),
                s.tid.load(r),
                s.stored.load(r),
                s.total.load(r),
                s.flags.load(r),
                s.bottom.load(r),
                s.name[0].load(r),
                s.name[1].load(r),
                s.outcome.load(r),
            ),
            (0, 0, 0, 0, 0, 0, 0, 0, 0)
        );
    }

    #[test]
    fn parses_sigblk() {
        let text = b"Name:\tx\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000000201\nSigIgn:\t0\n";
        assert_eq!(sigblk_of(text), Some(0x201));
        assert_eq!(sigblk_of(b"Name: x\n"), None);
    }

    #[test]
    fn answers_only_current_requests_from_our_own_process() {
        crate::setup::collector::ensure_installed(4, 16).unwrap();
        let sig = signal().unwrap();
        // SAFETY: pools are never freed.
        let pool = pool().unwrap();
        let me = sys::gettid();
        // Use the last spare slot: no collection runs in this test binary.
        let idx = pool.slots.len() - 1;
        let slot = &pool.slots[idx];
        slot.tid.store(me, Ordering::Relaxed);
        let value = |gen: u32| ((gen as usize) << 32) | idx;

        // A current request is answered: the stack lands in the slot.
        let gen = GENERATION.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        slot.state.store(pack(gen, REQUESTED), Ordering::Release);
        let acks = ACKS.load(Ordering::Acquire);
        assert_eq!(send(sig, me, value(gen)), 0);
        assert_eq!(slot.state.load(Ordering::Acquire), pack(gen, DONE));
        assert!(slot.stored.load(Ordering::Relaxed) >= 2);
        assert_eq!(
            slot.flags.load(Ordering::Relaxed) & 1,
            1,
            "walk reached the pc"
        );
        assert_eq!(ACKS.load(Ordering::Acquire), acks.wrapping_add(1));

        // A late answer (the collection took the slot back) is dropped,
        // and so is one for an older generation.
        slot.state.store(FREE, Ordering::Release);
        assert_eq!(send(sig, me, value(gen)), 0);
        assert_eq!(slot.state.load(Ordering::Acquire), FREE);
        let next = GENERATION.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        slot.state.store(pack(next, REQUESTED), Ordering::Release);
        assert_eq!(send(sig, me, value(gen)), 0);
        assert_eq!(slot.state.load(Ordering::Acquire), pack(next, REQUESTED));

        // A plain signal (SI_TKILL, not SI_QUEUE) is ignored too.
        // SAFETY: tgkill to our own thread.
        unsafe { libc::syscall(libc::SYS_tgkill, sys::getpid(), me, sig) };
        assert_eq!(slot.state.load(Ordering::Acquire), pack(next, REQUESTED));
        assert_eq!(ACKS.load(Ordering::Acquire), acks.wrapping_add(1));
        slot.state.store(FREE, Ordering::Release);
    }

    #[test]
    fn lists_our_own_threads() {
        let mut tids = Vec::new();
        let mut buf = [0u64; 16]; // small: several getdents64 calls
        for_each_tid(&mut buf, |t| tids.push(t));
        assert!(tids.contains(&sys::getpid()));
        assert!(tids.contains(&sys::gettid()));
        assert_eq!(parse_dec(b"4242"), Some(4242));
        assert_eq!(parse_dec(b"."), None);
    }
}
