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

/// The process id.
pub(crate) fn getpid() -> i32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::getpid() }
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
    // SAFETY: tgkill takes plain integers.
    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig) };
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

/// Call a handler that was installed with `prev` (which is neither
/// `SIG_DFL` nor `SIG_IGN`), with the signature its flags say it has.
pub(crate) fn call_handler(
    prev: &libc::sigaction,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut core::ffi::c_void,
) {
    let h = prev.sa_sigaction;
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the handler was installed with this signature.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut core::ffi::c_void) =
            unsafe { core::mem::transmute(h) };
        f(sig, info, uc);
    } else {
        // SAFETY: the handler was installed with this signature.
        let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(h) };
        f(sig);
    }
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
