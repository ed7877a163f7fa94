//! Async-signal-safe. Thin wrappers over the raw system calls that the
//! handlers use, each of which is on the POSIX async-signal-safe list or is
//! a plain Linux system call with no user-space state.
//!
//! # Safety
//!
//! The wrappers hand pointers to the kernel; each `unsafe` block says why the
//! pointer is valid for the call.
#![allow(unsafe_code)]

use core::ffi::c_int;

/// Saves `errno` when created and puts it back when dropped, so that a
/// handler never changes the `errno` the interrupted code will read.
pub(crate) struct ErrnoGuard(c_int);

impl ErrnoGuard {
    /// Save the current `errno`.
    pub(crate) fn new() -> Self {
        ErrnoGuard(errno())
    }
}

impl Drop for ErrnoGuard {
    fn drop(&mut self) {
        set_errno(self.0);
    }
}

/// The calling thread's `errno`.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot,
    // which is always valid to read.
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's `errno`.
pub(crate) fn set_errno(v: c_int) {
    // SAFETY: as in `errno`, the slot is valid and thread-local.
    unsafe { *libc::__errno_location() = v }
}

/// The kernel thread id of the caller.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The calling thread's name (its comm, up to 15 bytes), from
/// `prctl(PR_GET_NAME)`: no file to open. Returns the length.
pub(crate) fn own_thread_name(out: &mut [u8; 16]) -> usize {
    *out = [0; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, to `out`.
    let rc = unsafe { libc::prctl(libc::PR_GET_NAME, out.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    out.iter().position(|&b| b == 0).unwrap_or(out.len())
}

/// The device and inode of the file open on `fd`, if it is open.
pub(crate) fn fd_identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    (rc == 0).then_some((st.st_dev, st.st_ino))
}

/// The process id, from the kernel (never a cached value: a `vfork`
/// child must see its own).
pub(crate) fn getpid() -> i32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// Monotonic clock in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Monotonic clock in milliseconds.
pub(crate) fn monotonic_ms() -> u64 {
    monotonic_ns() / 1_000_000
}

/// Sleep for `ms` milliseconds (restarting after signals until the time is up).
/// Put thread `tid` of this process back to the normal policy
/// (`SCHED_OTHER`, nice 0), from `SCHED_IDLE`. Best effort: without
/// the right (`RLIMIT_NICE`, `CAP_SYS_NICE`) it fails, and nothing changes.
pub(crate) fn sched_normal(tid: i32) {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: a raw system call with a valid sched_param; it changes only
    // the scheduling of our own thread `tid`.
    unsafe {
        libc::syscall(
            libc::SYS_sched_setscheduler,
            tid as libc::c_long,
            libc::SCHED_OTHER as libc::c_long,
            &p as *const libc::sched_param,
        );
    }
}

pub(crate) fn sleep_ms(ms: u64) {
    let mut req = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    loop {
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: both pointers are valid timespecs on our stack.
        let r = unsafe { libc::nanosleep(&req, &mut rem) };
        if r == 0 || errno() != libc::EINTR {
            return;
        }
        req = rem;
    }
}

/// Queue `info` as signal `sig` to thread `tid` of this process, keeping the
/// original siginfo (sender pid, uid, code) for whoever handles it next.
/// Falls back to a plain `tgkill` if the kernel refuses.
pub(crate) fn requeue_to_self(sig: c_int, info: *const libc::siginfo_t) {
    let pid = getpid();
    let tid = gettid();
    if !info.is_null() {
        // SAFETY: `info` points at the siginfo the kernel gave the handler;
        // rt_tgsigqueueinfo only reads it. Queuing to our own thread is
        // allowed with any si_code.
        let r = unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, sig, info) };
        if r == 0 {
            return;
        }
    }
    tgkill(tid, sig);
}

/// Our own 128-byte siginfo image for `rt_tgsigqueueinfo`: signo, errno,
/// code, then the fields of an `SI_QUEUE` signal.
#[repr(C)]
struct QueueInfo {
    signo: c_int,
    errno: c_int,
    code: c_int,
    _pad: c_int,
    pid: libc::pid_t,
    uid: libc::uid_t,
    value: usize,
    _rest: [u64; 12],
}
const _: () = assert!(core::mem::size_of::<QueueInfo>() == 128);

/// Queue signal `sig` to thread `tid` of this process as `SI_QUEUE`,
/// carrying `value` (`si_value`); the handler can tell it from any other
/// sender by `si_code` and `si_pid`. Returns 0, or the errno (`ESRCH`: the
/// thread is gone).
pub(crate) fn queue_to_thread(tid: i32, sig: c_int, value: usize) -> c_int {
    let pid = getpid();
    let info = QueueInfo {
        signo: sig,
        errno: 0,
        code: libc::SI_QUEUE,
        _pad: 0,
        pid,
        // SAFETY: getuid cannot fail.
        uid: unsafe { libc::getuid() },
        value,
        _rest: [0; 12],
    };
    // SAFETY: `info` is a 128-byte siginfo image; queuing SI_QUEUE to a
    // thread of our own process is permitted.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            pid,
            tid,
            sig,
            &info as *const QueueInfo,
        )
    };
    if r == 0 {
        0
    } else {
        errno()
    }
}

/// A signal action: a typed `sigaction`, queried or built here and
/// installed with [`set_action`].
#[derive(Clone, Copy)]
pub(crate) struct Action(libc::sigaction);

/// A three-argument (`SA_SIGINFO`) signal handler.
pub(crate) type SigHandler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut core::ffi::c_void);

impl Action {
    /// An all-zero action (`SIG_DFL`), for static storage.
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags,
    // an empty mask).
    pub(crate) const ZERO: Action = Action(unsafe { core::mem::zeroed() });

    /// `handler` with `flags` (`SA_SIGINFO` is added), blocking `mask`
    /// while it runs.
    pub(crate) fn handler(handler: SigHandler, flags: c_int, mask: &[c_int]) -> Action {
        // SAFETY: an all-zero sigaction is a valid value to fill in.
        let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
        act.sa_sigaction = handler as usize;
        act.sa_flags = flags | libc::SA_SIGINFO;
        act.sa_mask = sigset_of(mask);
        Action(act)
    }

    /// `SIG_DFL`.
    pub(crate) fn default_action() -> Action {
        // SAFETY: an all-zero sigaction is SIG_DFL with no flags.
        Action(unsafe { core::mem::zeroed() })
    }

    /// Block `sig` too while the handler runs.
    pub(crate) fn also_block(&mut self, sig: c_int) {
        // SAFETY: adding a signal number to a set we own.
        unsafe { libc::sigaddset(&mut self.0.sa_mask, sig) };
    }

    /// The handler's address (or `SIG_DFL`, `SIG_IGN`).
    pub(crate) fn handler_addr(&self) -> usize {
        self.0.sa_sigaction
    }

    /// Whether the action is `handler`.
    pub(crate) fn is(&self, handler: SigHandler) -> bool {
        self.0.sa_sigaction == handler as usize
    }

    /// Whether the action is `SIG_DFL`.
    pub(crate) fn is_default(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_DFL
    }

    /// Whether the action is `SIG_IGN`.
    pub(crate) fn is_ignore(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_IGN
    }

    /// Its `sa_flags`.
    pub(crate) fn flags(&self) -> c_int {
        self.0.sa_flags
    }

    /// Its `sa_mask`.
    pub(crate) fn mask(&self) -> libc::sigset_t {
        self.0.sa_mask
    }

    /// Whether it is a handler (neither `SIG_DFL` nor `SIG_IGN`).
    pub(crate) fn is_handler(&self) -> bool {
        !self.is_default() && !self.is_ignore()
    }
}

/// The C library's own `sigaction`, when the preload library interposes
/// the symbol (0: call `libc::sigaction`).
static RAW_SIGACTION: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// `sigaction(2)` as the C library has it, whatever interposes the
/// symbol.
pub(crate) type SigactionFn =
    unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;

/// Call the C library's own `sigaction` from now on (see
/// `__private::set_raw_sigaction`).
pub(crate) fn set_raw_sigaction(f: SigactionFn) {
    RAW_SIGACTION.store(f as usize, core::sync::atomic::Ordering::Release);
}

/// The kernel's `sigaction`, never an interposer's view.
///
/// # Safety
///
/// As `sigaction(2)`: `act` null or a valid action, `old` null or
/// writable.
pub(crate) unsafe fn raw_sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let f = RAW_SIGACTION.load(core::sync::atomic::Ordering::Acquire);
    if f == 0 {
        // SAFETY: the caller's contract.
        return unsafe { libc::sigaction(sig, act, old) };
    }
    // SAFETY: only a `SigactionFn` is ever stored.
    let f = unsafe { core::mem::transmute::<usize, SigactionFn>(f) };
    // SAFETY: the caller's contract.
    unsafe { f(sig, act, old) }
}

impl Action {
    /// The raw `sigaction`.
    pub(crate) fn raw(&self) -> libc::sigaction {
        self.0
    }

    /// An action from a raw `sigaction`.
    pub(crate) fn from_raw(act: libc::sigaction) -> Action {
        Action(act)
    }
}

/// The action installed for `sig`.
pub(crate) fn query_action(sig: c_int) -> Action {
    let mut cur = Action::default_action();
    // SAFETY: a null new action only queries; `cur` is writable.
    unsafe { raw_sigaction(sig, core::ptr::null(), &mut cur.0) };
    cur
}

/// Install `act` for `sig`; the errno on failure.
pub(crate) fn set_action(sig: c_int, act: &Action) -> Result<(), c_int> {
    // SAFETY: `act` is a fully initialised action.
    if unsafe { raw_sigaction(sig, &act.0, core::ptr::null_mut()) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// What [`call_handler`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Called {
    /// The handler ran and returned.
    Handler,
    /// The action is `SIG_DFL`: nothing was called.
    Default,
    /// The action is `SIG_IGN`: nothing was called.
    Ignore,
}

/// Run the action `prev` for `sig` the way the kernel would have: a
/// handler is called with the signature its flags say it has; `SIG_DFL`
/// and `SIG_IGN` are not functions and are only reported back.
///
/// # Safety
///
/// `info` and `uc` must be what the kernel passed to the handler that
/// calls this (or null), and `prev` an action the kernel gave us or one we
/// built: its handler address is called as a function.
pub(crate) unsafe fn call_handler(
    prev: &Action,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut core::ffi::c_void,
) -> Called {
    if prev.is_default() {
        return Called::Default;
    }
    if prev.is_ignore() {
        return Called::Ignore;
    }
    let h = prev.0.sa_sigaction;
    if prev.0.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the handler was installed with this signature (the
        // caller's contract).
        let f: SigHandler = unsafe { core::mem::transmute::<usize, SigHandler>(h) };
        f(sig, info, uc);
    } else {
        // SAFETY: as above, the one-argument form.
        let f: extern "C" fn(c_int) =
            unsafe { core::mem::transmute::<usize, extern "C" fn(c_int)>(h) };
        f(sig);
    }
    Called::Handler
}

/// Send `sig` to thread `tid` of this process; 0 or the errno.
pub(crate) fn tgkill(tid: i32, sig: c_int) -> c_int {
    // SAFETY: tgkill takes plain integers.
    if unsafe { libc::syscall(libc::SYS_tgkill, getpid(), tid, sig) } == 0 {
        0
    } else {
        errno()
    }
}

/// Whether thread `tid` of this process still exists.
pub(crate) fn thread_exists(tid: i32) -> bool {
    tgkill(tid, 0) == 0
}

/// Wake every waiter on `word`.
pub(crate) fn futex_wake(word: &core::sync::atomic::AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
}

/// Wait until `word` is no longer `seen`, or `ns` nanoseconds pass.
pub(crate) fn futex_wait(word: &core::sync::atomic::AtomicU32, seen: u32, ns: u64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `word` is a valid, aligned u32 and `ts` a valid timespec.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            seen,
            &ts as *const libc::timespec,
        )
    };
}

/// An fd we opened and close when dropped.
pub(crate) struct Fd(c_int);

impl Fd {
    /// Open a NUL-terminated path read-only, close-on-exec, with extra
    /// `flags` (`O_DIRECTORY`).
    pub(crate) fn open(path: &core::ffi::CStr, flags: c_int) -> Option<Fd> {
        // SAFETY: `path` is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | flags) };
        (fd >= 0).then_some(Fd(fd))
    }

    /// Read directory entries (`getdents64`) into `buf`; the bytes read,
    /// 0 at the end or on error. Retries on `EINTR`.
    pub(crate) fn getdents(&self, buf: &mut [u64]) -> usize {
        loop {
            // SAFETY: `buf` is writable for its size in bytes.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    self.0,
                    buf.as_mut_ptr().cast::<u8>(),
                    core::mem::size_of_val(buf),
                )
            };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            return usize::try_from(n).unwrap_or(0);
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closing the fd we opened, once.
        unsafe { libc::close(self.0) };
    }
}

/// Map `len` bytes (a multiple of the page size) of private anonymous
/// memory with `prot`, above an inaccessible guard page, so that no
/// mapping of the program's ever merges with it; returns the address of
/// the `len` bytes. Normal context.
///
/// Why: the kernel merges neighbouring private anonymous mappings with
/// the same flags into one. A program's page placed next to ours, that it
/// flips between inaccessible and writable (a garbage collector's
/// barrier, a JIT's guard), would then split and merge that mapping on
/// every `mprotect`: measured, twice the cost of each fault a host fixes
/// itself. So the whole mapping, guard included, is marked
/// `MADV_NOHUGEPAGE` (a flag the program's mappings do not have: 2
/// mappings, as a plain guarded one); a kernel without transparent huge
/// pages refuses that, and then both ends become a *shared* anonymous
/// page, backed by a file of its own, which merges with nothing. One page
/// more than `len` is mapped above it either way. Unmap with
/// [`unmap_apart`].
pub(crate) fn map_apart(len: usize, prot: c_int, flags: c_int) -> Result<usize, c_int> {
    let page = page_size();
    let total = len
        .checked_add(2 * page)
        .filter(|_| len.is_multiple_of(page))
        .ok_or(libc::EINVAL)?;
    // SAFETY: a fresh anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            total,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(errno());
    }
    let base = p as usize;
    let fail = |e: c_int| {
        // SAFETY: unmapping what we mapped, which nothing uses yet.
        unsafe { libc::munmap(p, total) };
        Err(e)
    };
    // SAFETY: advice on the mapping just made; no contents change.
    if unsafe { libc::madvise(p, total, libc::MADV_NOHUGEPAGE) } == 0 {
        // SAFETY: the first page of the mapping just made.
        if unsafe { libc::mprotect(p, page, libc::PROT_NONE) } != 0 {
            return fail(errno());
        }
        return Ok(base + page);
    }
    for fence in [base, base + page + len] {
        // SAFETY: MAP_FIXED over a page of the mapping just made, which
        // nothing else knows of yet: no other memory is replaced.
        let f = unsafe {
            libc::mmap(
                fence as *mut core::ffi::c_void,
                page,
                libc::PROT_NONE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if f == libc::MAP_FAILED {
            return fail(errno());
        }
    }
    Ok(base + page)
}

/// Unmap what [`map_apart`] returned for `len` bytes, with the guard page
/// below and the page above.
///
/// # Safety
///
/// `addr` and `len` are a [`map_apart`] mapping that nothing uses any
/// more.
pub(crate) unsafe fn unmap_apart(addr: usize, len: usize) {
    let page = page_size();
    // SAFETY: the caller's contract: all of what `map_apart` mapped.
    unsafe { libc::munmap((addr - page) as *mut core::ffi::c_void, len + 2 * page) };
}

/// A private anonymous mapping of `size` bytes (a multiple of the page
/// size) with an inaccessible guard page below it, made by [`map_apart`]:
/// no mapping of the program's merges with it.
pub(crate) struct GuardedMap {
    base: usize,
    len: usize,
}

impl GuardedMap {
    /// Map it; the errno on failure.
    pub(crate) fn new(size: usize) -> Result<GuardedMap, c_int> {
        let base = map_apart(
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_NORESERVE,
        )?;
        Ok(GuardedMap { base, len: size })
    }

    /// The usable memory: above the guard page.
    pub(crate) fn usable(&self) -> (usize, usize) {
        (self.base, self.len)
    }

    /// A placeholder that owns nothing (dropping it unmaps nothing).
    pub(crate) fn dangling() -> GuardedMap {
        GuardedMap { base: 0, len: 0 }
    }

    /// Keep the mapping for the life of the process.
    pub(crate) fn leak(self) -> (usize, usize) {
        let r = self.usable();
        core::mem::forget(self);
        r
    }
}

impl Drop for GuardedMap {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: exactly what `new` mapped, unmapped once.
        unsafe { unmap_apart(self.base, self.len) };
    }
}

/// The page size.
/// `MADV_POPULATE_WRITE` (`<linux/mman.h>`, Linux 5.14).
const MADV_POPULATE_WRITE: c_int = 23;

/// Make every whole page inside `[addr, addr + len)` present and
/// writable now, with its contents unchanged: `MADV_POPULATE_WRITE`, or,
/// where the kernel refuses it, one byte a page read and written back.
/// A write fault later (on a page that was only read so far: the kernel's
/// zero page) costs a copy and a TLB flush on every CPU the process runs
/// on, more the more threads it has.
///
/// # Safety
///
/// The range is memory of ours, readable and writable, that no other
/// thread writes meanwhile.
pub(crate) unsafe fn populate_write(addr: usize, len: usize) {
    let page = page_size();
    let start = addr.next_multiple_of(page);
    let end = addr.saturating_add(len) / page * page;
    if end <= start {
        return;
    }
    // SAFETY: the pages lie inside memory the caller owns; the advice
    // changes no contents.
    let rc = unsafe {
        libc::madvise(
            start as *mut core::ffi::c_void,
            end - start,
            MADV_POPULATE_WRITE,
        )
    };
    if rc == 0 {
        return;
    }
    let mut p = start;
    while p < end {
        // SAFETY: `p` is in the caller's writable range, which no other
        // thread writes meanwhile: the byte written is the byte read.
        unsafe {
            let b = core::ptr::read_volatile(p as *const u8);
            core::ptr::write_volatile(p as *mut u8, b);
        }
        p += page;
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf takes a plain integer.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// Block (`how = SIG_BLOCK`), unblock or set the signals in `set` for the
/// calling thread; returns the previous mask.
pub(crate) fn thread_sigmask(how: c_int, set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid (empty) set.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigset_t values.
    unsafe { libc::pthread_sigmask(how, set, &mut old) };
    old
}

/// Build a signal set from a list of signal numbers.
pub(crate) fn sigset_of(signals: &[c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is valid, and sigemptyset/sigaddset only
    // write into it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Add `sig` to `set`.
pub(crate) fn sigset_add(set: &mut libc::sigset_t, sig: c_int) {
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigaddset(set, sig) };
}

/// Add every signal of `from` to `set`.
pub(crate) fn sigset_add_all(set: &mut libc::sigset_t, from: &libc::sigset_t) {
    const WORDS: usize = core::mem::size_of::<libc::sigset_t>() / 8;
    // SAFETY: sigset_t is plain bits (glibc: an array of unsigned long),
    // read and written as u64 words within its size.
    unsafe {
        let a = (set as *mut libc::sigset_t).cast::<u64>();
        let b = (from as *const libc::sigset_t).cast::<u64>();
        for i in 0..WORDS {
            *a.add(i) |= *b.add(i);
        }
    }
}

/// Whether `sig` is in `set`.
pub(crate) fn sigset_has(set: &libc::sigset_t, sig: c_int) -> bool {
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// Read the calling process's memory at `addr` into `buf` without any risk
/// of faulting: the kernel checks the addresses and answers EFAULT instead.
/// Returns the number of bytes read.
pub(crate) fn read_memory(addr: usize, buf: &mut [u8]) -> usize {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes our own writable buffer; the remote range is
    // only read by the kernel, which validates it.
    let n = unsafe { libc::process_vm_readv(getpid(), &local, 1, &remote, 1, 0) };
    if n < 0 {
        0
    } else {
        n as usize
    }
}

/// The room left below the stack pointer when the calling thread runs on
/// its alternate signal stack, `None` when it does not.
pub(crate) fn altstack_room() -> Option<usize> {
    // SAFETY: an all-zero stack_t is a valid value to overwrite.
    let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: a null new stack only queries; `cur` is writable.
    if unsafe { libc::sigaltstack(core::ptr::null(), &mut cur) } != 0 {
        return None;
    }
    if cur.ss_flags & libc::SS_ONSTACK == 0 {
        return None;
    }
    let here = 0u8;
    let sp = core::hint::black_box(&here) as *const u8 as usize;
    Some(sp.saturating_sub(cur.ss_sp as usize))
}

/// [`altstack_room`] from the alternate stack's settings that the kernel
/// saved in the context `uc` of the signal being handled (no system
/// call): whether this frame lies on that stack, as the kernel decides
/// it. (A stack that `SS_AUTODISARM` turned off is saved as none, and
/// the kernel says the same.)
pub(crate) fn altstack_room_at(uc: *mut core::ffi::c_void) -> Option<usize> {
    if uc.is_null() {
        return altstack_room();
    }
    // SAFETY: the kernel's ucontext for the signal being handled.
    let st = unsafe { (*uc.cast::<libc::ucontext_t>()).uc_stack };
    let here = 0u8;
    let sp = core::hint::black_box(&here) as *const u8 as usize;
    let base = st.ss_sp as usize;
    (st.ss_size != 0 && sp > base && sp - base <= st.ss_size).then(|| sp - base)
}

/// Turn the calling thread's alternate signal stack off (it must not be
/// running on it), returning it for [`altstack_set`]; `None` when it had
/// none or it could not be turned off.
pub(crate) fn altstack_disable() -> Option<libc::stack_t> {
    // SAFETY: an all-zero stack_t is a valid value to overwrite.
    let mut old: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut off: libc::stack_t = unsafe { core::mem::zeroed() };
    off.ss_flags = libc::SS_DISABLE;
    // SAFETY: both are valid stack_t values.
    let r = unsafe { libc::sigaltstack(&off, &mut old) };
    (r == 0 && old.ss_flags & libc::SS_DISABLE == 0).then(|| {
        old.ss_flags = 0;
        old
    })
}

/// Give the calling thread `ss` as its alternate signal stack again.
pub(crate) fn altstack_set(ss: &libc::stack_t) {
    // SAFETY: `ss` is a stack the thread had.
    unsafe { libc::sigaltstack(ss, core::ptr::null_mut()) };
}

/// Every signal but those in `except`.
pub(crate) fn sigset_all_but(except: &[c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset is valid; sigfillset/sigdelset only write
    // into it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut set);
        for &s in except {
            libc::sigdelset(&mut set, s);
        }
        set
    }
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

    use core::sync::atomic::{AtomicI64, Ordering as O};
    /// What the inner handler saw: room from the context, from the kernel
    /// (-1: none).
    static ROOM_AT: AtomicI64 = AtomicI64::new(-2);
    static ROOM_ASKED: AtomicI64 = AtomicI64::new(-2);

    fn as_i64(r: Option<usize>) -> i64 {
        r.map_or(-1, |v| v as i64)
    }

    extern "C" fn inner(_: c_int, _: *mut libc::siginfo_t, uc: *mut core::ffi::c_void) {
        ROOM_AT.store(as_i64(altstack_room_at(uc)), O::SeqCst);
        ROOM_ASKED.store(as_i64(altstack_room()), O::SeqCst);
    }

    extern "C" fn outer(_: c_int, _: *mut libc::siginfo_t, _: *mut core::ffi::c_void) {
        // SAFETY: a signal to this very thread, whose handler is `inner`.
        unsafe { libc::raise(libc::SIGRTMAX() - 5) };
    }

    /// A handler without `SA_ONSTACK` finds how much alternate stack it
    /// has left from its context exactly as the kernel tells it, on the
    /// alternate stack (interrupting an `SA_ONSTACK` handler) and off it.
    #[test]
    fn altstack_room_from_the_context_is_the_kernels() {
        std::thread::spawn(|| {
            let (a, b) = (libc::SIGRTMAX() - 4, libc::SIGRTMAX() - 5);
            let mut stack = vec![0u8; 64 << 10];
            // SAFETY: handlers for two real-time signals no other test
            // uses, and an alternate stack this thread owns until it ends
            // (it is turned off before `stack` is dropped).
            unsafe {
                let ss = libc::stack_t {
                    ss_sp: stack.as_mut_ptr().cast(),
                    ss_flags: 0,
                    ss_size: stack.len(),
                };
                assert_eq!(libc::sigaltstack(&ss, core::ptr::null_mut()), 0);
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = inner as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO;
                assert_eq!(libc::sigaction(b, &sa, core::ptr::null_mut()), 0);
                sa.sa_sigaction = outer as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                assert_eq!(libc::sigaction(a, &sa, core::ptr::null_mut()), 0);
                libc::raise(a);
            }
            let (at, asked) = (ROOM_AT.load(O::SeqCst), ROOM_ASKED.load(O::SeqCst));
            assert!(
                at > 0 && at < 64 << 10,
                "on the alternate stack: {at}, asked {asked}"
            );
            // The two reads are a few bytes of stack apart.
            assert!((at - asked).abs() < 256, "{at} vs {asked}");
            // SAFETY: a signal to this thread, handled by `inner` on its
            // own stack.
            unsafe { libc::raise(b) };
            assert_eq!(
                (ROOM_AT.load(O::SeqCst), ROOM_ASKED.load(O::SeqCst)),
                (-1, -1)
            );
            // SAFETY: turning the alternate stack off before it is freed.
            unsafe {
                let off = libc::stack_t {
                    ss_sp: core::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                assert_eq!(libc::sigaltstack(&off, core::ptr::null_mut()), 0);
            }
            drop(stack);
        })
        .join()
        .unwrap();
    }

    /// The `/proc/self/maps` entry that holds `addr`.
    fn mapping_of(addr: usize) -> Option<(usize, usize)> {
        let mut scratch = vec![0u8; 64 << 10];
        let mut found = None;
        crate::runtime::procfs::for_each_mapping(&mut scratch, |m| {
            if m.start <= addr && addr < m.end {
                found = Some((m.start, m.end));
                return false;
            }
            true
        });
        found
    }

    /// A program's page right next to a fenced mapping of ours, flipped
    /// between inaccessible and writable (as a garbage collector does),
    /// stays a mapping of its own, and ours stays whole: the kernel
    /// never merges them (and never splits them again on the next flip).
    #[test]
    fn fenced_mappings_merge_with_no_neighbour() {
        let page = page_size();
        let len = 4 * page;
        let prot_rw = libc::PROT_READ | libc::PROT_WRITE;
        // Other tests map memory meanwhile: a mapping whose neighbours are
        // both taken is kept (so the next lands elsewhere) and tried again.
        let mut kept = Vec::new();
        let mut tried = 0;
        for _ in 0..32 {
            let at = map_apart(len, prot_rw, libc::MAP_NORESERVE).expect("map_apart");
            kept.push(at);
            let ours = mapping_of(at).expect("mapped");
            assert!(ours.0 == at && ours.1 >= at + len, "{ours:x?}");
            for addr in [at - 2 * page, at + len + page] {
                // SAFETY: MAP_FIXED_NOREPLACE maps only where nothing is.
                let p = unsafe {
                    libc::mmap(
                        addr as *mut core::ffi::c_void,
                        page,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    )
                };
                if p as usize != addr {
                    // Taken by something else (or an old kernel placed it
                    // elsewhere): not a neighbour we can make.
                    if p != libc::MAP_FAILED {
                        // SAFETY: what we just mapped.
                        unsafe { libc::munmap(p, page) };
                    }
                    continue;
                }
                tried += 1;
                for prot in [prot_rw, libc::PROT_NONE, prot_rw, libc::PROT_NONE] {
                    // SAFETY: our own page.
                    assert_eq!(unsafe { libc::mprotect(p, page, prot) }, 0);
                    // Ours stays whole, and the neighbour's mapping (which
                    // may grow on its far side, with another test's) never
                    // reaches our guard page or our memory.
                    assert_eq!(mapping_of(at), Some(ours), "prot {prot}");
                    let (s, e) = mapping_of(addr).expect("the neighbour");
                    assert!(
                        e <= at - page || s >= at + len + page,
                        "prot {prot}: {s:x}-{e:x}"
                    );
                }
                // SAFETY: our own page.
                unsafe { libc::munmap(p, page) };
            }
            if tried > 0 {
                break;
            }
        }
        assert!(tried > 0, "no free page next to 32 mappings");
        for at in kept {
            // SAFETY: what map_apart made, unused.
            unsafe { unmap_apart(at, len) };
        }
    }

    /// Which of the `n` pages at `at` are resident.
    fn resident(at: usize, n: usize) -> Vec<bool> {
        let mut v = vec![0u8; n];
        // SAFETY: `at` is a mapping of `n` pages; `v` has room for `n`.
        let rc = unsafe {
            libc::mincore(
                at as *mut core::ffi::c_void,
                n * page_size(),
                v.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        v.iter().map(|b| b & 1 == 1).collect()
    }

    #[test]
    fn populate_write_faults_in_and_keeps_contents() {
        let page = page_size();
        let n = 8;
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let at = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                n * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as usize;
        assert_ne!(at, libc::MAP_FAILED as usize);
        // Page 1 holds data; the others are untouched.
        // SAFETY: inside the mapping.
        unsafe { core::ptr::write_bytes((at + page) as *mut u8, 0x5a, page) };
        assert!(!resident(at, n)[3], "page 3 untouched so far");
        // Not page-aligned at either end: only whole pages inside count.
        // SAFETY: the mapping is ours, and no other thread uses it.
        unsafe { populate_write(at + 100, (n - 1) * page) };
        let r = resident(at, n);
        assert!(r[1..n - 1].iter().all(|&x| x), "{r:?}");
        // SAFETY: reading inside the mapping.
        let data = unsafe { core::slice::from_raw_parts((at + page) as *const u8, page) };
        assert!(data.iter().all(|&b| b == 0x5a));
        // SAFETY: unmapping what we mapped.
        unsafe { libc::munmap(at as *mut core::ffi::c_void, n * page) };
    }
}
