//! The preload library's signal interposer: `sigaction`, `signal` and
//! glibc's variants (`sigset`, `bsd_signal`, `sysv_signal`,
//! `__sysv_signal`), so that faulthandler's handlers stay first for the
//! five crash signals for the life of the process, whatever the program
//! installs (OpenJDK's libjsig and Android's libsigchain work this way).
//!
//! For `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` and `SIGABRT`, once the
//! preload enabled faulthandler, the program sees its own view: `SIG_DFL`
//! at first (or what was installed before us), then whatever it installed.
//! The kernel keeps our handler, which runs the program's action first, as
//! the kernel would have (see the crate's `Config::report_first`), and
//! reports only when the fault turns out fatal. Every other signal, and
//! every call before the preload enabled us (or in a program that links
//! the library without preloading it), goes straight to the C library.
//!
//! The C library's functions are found with `dlsym(RTLD_NEXT)`.
//!
//! # Safety
//!
//! The exported functions have the C library's signatures and contracts;
//! they hand their pointers on unchanged.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, CStr};
use core::sync::atomic::{AtomicUsize, Ordering};

type SigactionFn =
    unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
type SignalFn = unsafe extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t;

static REAL_SIGACTION: AtomicUsize = AtomicUsize::new(0);

/// The next definition of `name` after this library (the C library's).
fn next(name: &CStr, cache: &AtomicUsize) -> usize {
    let f = cache.load(Ordering::Acquire);
    if f != 0 {
        return f;
    }
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const c_char) } as usize;
    cache.store(f, Ordering::Release);
    f
}

fn real_sigaction() -> Option<SigactionFn> {
    let f = next(c"sigaction", &REAL_SIGACTION);
    // SAFETY: the C library's sigaction has this signature.
    (f != 0).then(|| unsafe { core::mem::transmute::<usize, SigactionFn>(f) })
}

fn real_signal(name: &CStr, cache: &AtomicUsize) -> Option<SignalFn> {
    let f = next(name, cache);
    // SAFETY: signal, bsd_signal, sysv_signal and sigset share this
    // signature.
    (f != 0).then(|| unsafe { core::mem::transmute::<usize, SignalFn>(f) })
}

/// Point the crate's own `sigaction` calls at the C library's: they must
/// see the kernel, never the program's view. Called from the preload
/// constructor before faulthandler is enabled.
pub(crate) fn setup() {
    if let Some(f) = real_sigaction() {
        fh::__private::set_raw_sigaction(f);
    }
}

/// `sigaction(2)`.
///
/// # Safety
///
/// As `sigaction(2)`.
#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    // SAFETY: the caller's contract, passed on.
    if let Some(r) = unsafe { fh::__private::interposed_sigaction(sig, act, old) } {
        return r;
    }
    match real_sigaction() {
        // SAFETY: the caller's contract, passed on.
        Some(f) => unsafe { f(sig, act, old) },
        None => {
            // SAFETY: setting errno.
            unsafe { *libc::__errno_location() = libc::ENOSYS };
            -1
        }
    }
}

/// A `signal`-style call for a crash signal, as an action of the program's
/// view: `flags` and a mask of `sig` itself or nothing. `None`: not ours
/// to answer.
fn view_signal(
    sig: c_int,
    handler: libc::sighandler_t,
    flags: c_int,
    mask_self: bool,
) -> Option<libc::sighandler_t> {
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    // SAFETY: editing our own signal set.
    unsafe {
        libc::sigemptyset(&mut act.sa_mask);
        if mask_self {
            libc::sigaddset(&mut act.sa_mask, sig);
        }
    }
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: both point at our own values.
    unsafe { fh::__private::interposed_sigaction(sig, &act, &mut old) }?;
    Some(old.sa_sigaction)
}

static REAL_SIGNAL: AtomicUsize = AtomicUsize::new(0);
static REAL_BSD_SIGNAL: AtomicUsize = AtomicUsize::new(0);
static REAL_SYSV_SIGNAL: AtomicUsize = AtomicUsize::new(0);
static REAL_SYSV_SIGNAL2: AtomicUsize = AtomicUsize::new(0);
static REAL_SIGSET: AtomicUsize = AtomicUsize::new(0);

fn or_real(
    sig: c_int,
    handler: libc::sighandler_t,
    name: &CStr,
    cache: &AtomicUsize,
) -> libc::sighandler_t {
    match real_signal(name, cache) {
        // SAFETY: the C library's function, with the caller's arguments.
        Some(f) => unsafe { f(sig, handler) },
        None => libc::SIG_ERR,
    }
}

/// `signal(3)`: BSD semantics, as glibc's (`SA_RESTART`, the signal
/// blocked while its handler runs).
///
/// # Safety
///
/// As `signal(3)`.
#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    view_signal(sig, handler, libc::SA_RESTART, true)
        .unwrap_or_else(|| or_real(sig, handler, c"signal", &REAL_SIGNAL))
}

/// `bsd_signal(3)`: the same as `signal`.
///
/// # Safety
///
/// As `signal(3)`.
#[no_mangle]
pub unsafe extern "C" fn bsd_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    view_signal(sig, handler, libc::SA_RESTART, true)
        .unwrap_or_else(|| or_real(sig, handler, c"bsd_signal", &REAL_BSD_SIGNAL))
}

/// `sysv_signal(3)`: System V semantics (`SA_RESETHAND | SA_NODEFER`).
///
/// # Safety
///
/// As `sysv_signal(3)`.
#[no_mangle]
pub unsafe extern "C" fn sysv_signal(
    sig: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    view_signal(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false)
        .unwrap_or_else(|| or_real(sig, handler, c"sysv_signal", &REAL_SYSV_SIGNAL))
}

/// `__sysv_signal`: glibc's name for `sysv_signal`.
///
/// # Safety
///
/// As `sysv_signal(3)`.
#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(
    sig: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    view_signal(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false)
        .unwrap_or_else(|| or_real(sig, handler, c"__sysv_signal", &REAL_SYSV_SIGNAL2))
}

/// glibc's `SIG_HOLD`.
const SIG_HOLD: libc::sighandler_t = 2;

/// `sigset(3)`: the handler with an empty mask, and the signal unblocked;
/// `SIG_HOLD` (block the signal) goes to the C library.
///
/// # Safety
///
/// As `sigset(3)`.
#[no_mangle]
pub unsafe extern "C" fn sigset(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if handler != SIG_HOLD {
        if let Some(old) = view_signal(sig, handler, 0, false) {
            // SAFETY: an all-zero sigset is valid to fill in.
            let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
            // SAFETY: editing our own set, then unblocking it.
            unsafe {
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
            }
            return old;
        }
    }
    or_real(sig, handler, c"sigset", &REAL_SIGSET)
}
