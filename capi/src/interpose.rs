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

// ---- Alternate signal stacks for every thread.

type StartFn = extern "C" fn(*mut libc::c_void) -> *mut libc::c_void;
type PthreadCreateFn = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    StartFn,
    *mut libc::c_void,
) -> c_int;

static REAL_PTHREAD_CREATE: AtomicUsize = AtomicUsize::new(0);
/// Whether new threads get an alternate stack (the preload enabled us,
/// and `FAULTHANDLER_ALTSTACK` is not `0`).
static ALTSTACKS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// The key whose destructor frees a thread's alternate stack at its exit.
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Usable size of a thread's alternate stack (a guard page below it).
const ALT_SIZE: usize = 64 << 10;
/// `SS_AUTODISARM` (Linux 4.7).
const SS_AUTODISARM: c_int = 1 << 31;

/// Give every thread created from now on a 64 KiB alternate signal stack
/// with a guard page, unless `FAULTHANDLER_ALTSTACK=0`. Normal context
/// (the preload constructor), once faulthandler is enabled.
pub(crate) fn start_altstacks() {
    if std::env::var_os("FAULTHANDLER_ALTSTACK").is_some_and(|v| v == "0") {
        return;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: creating a key with a destructor of the right signature.
    if unsafe { libc::pthread_key_create(&mut key, Some(free_altstack)) } != 0 {
        return;
    }
    KEY.store(key as usize, Ordering::Release);
    ALTSTACKS.store(true, Ordering::Release);
}

/// What the new thread runs first.
struct Start {
    f: StartFn,
    arg: *mut libc::c_void,
}

/// `pthread_create(3)`: the thread starts with an alternate signal stack
/// of its own (see [`start_altstacks`]).
///
/// # Safety
///
/// As `pthread_create(3)`.
#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    f: StartFn,
    arg: *mut libc::c_void,
) -> c_int {
    let real = next(c"pthread_create", &REAL_PTHREAD_CREATE);
    if real == 0 {
        return libc::EAGAIN;
    }
    // SAFETY: the C library's pthread_create has this signature.
    let real = unsafe { core::mem::transmute::<usize, PthreadCreateFn>(real) };
    if !ALTSTACKS.load(Ordering::Acquire) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(thread, attr, f, arg) };
    }
    // SAFETY: malloc of a plain struct, freed by the new thread (or here).
    let p = unsafe { libc::malloc(core::mem::size_of::<Start>()) }.cast::<Start>();
    if p.is_null() {
        // SAFETY: as above.
        return unsafe { real(thread, attr, f, arg) };
    }
    // SAFETY: `p` is fresh memory for one Start.
    unsafe { p.write(Start { f, arg }) };
    // SAFETY: as above, with our start routine and its argument.
    let r = unsafe { real(thread, attr, start_with_altstack, p.cast()) };
    if r != 0 {
        // SAFETY: the thread was not created: `p` is still ours.
        unsafe { libc::free(p.cast()) };
    }
    r
}

extern "C" fn start_with_altstack(p: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `p` is the Start that pthread_create made for this thread.
    let Start { f, arg } = unsafe { p.cast::<Start>().read() };
    // SAFETY: freeing it once, here.
    unsafe { libc::free(p) };
    give_altstack();
    f(arg)
}

/// Map and install the calling thread's alternate stack, unless it has
/// one already.
fn give_altstack() {
    // SAFETY: all-zero stack_t values are valid to overwrite.
    let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: a null new stack only queries.
    if unsafe { libc::sigaltstack(core::ptr::null(), &mut cur) } != 0
        || cur.ss_flags & libc::SS_DISABLE == 0
    {
        return;
    }
    let Some(base) = fh::__private::map_fenced(ALT_SIZE) else {
        return;
    };
    let base = base as *mut libc::c_void;
    let mut ss = libc::stack_t {
        ss_sp: base,
        ss_flags: SS_AUTODISARM,
        ss_size: ALT_SIZE,
    };
    // SAFETY: `ss` describes our mapping, kept until the thread exits.
    if unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) } != 0 {
        ss.ss_flags = 0;
        // SAFETY: as above.
        if unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) } != 0 {
            // SAFETY: what map_fenced gave us, never installed.
            unsafe { fh::__private::unmap_fenced(base as usize, ALT_SIZE) };
            return;
        }
    }
    let key = KEY.load(Ordering::Acquire) as libc::pthread_key_t;
    // SAFETY: the key was created before ALTSTACKS was set.
    unsafe { libc::pthread_setspecific(key, base) };
}

/// The key's destructor, at thread exit: take our alternate stack back
/// (unless the thread installed another meanwhile) and unmap it.
extern "C" fn free_altstack(base: *mut libc::c_void) {
    if base.is_null() {
        return;
    }
    let here = 0u8;
    let here = core::hint::black_box(&here) as *const u8 as usize;
    if (base as usize..base as usize + ALT_SIZE).contains(&here) {
        // Exiting from a handler running on it: leave it mapped.
        return;
    }
    // SAFETY: an all-zero stack_t is valid to overwrite.
    let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: a null new stack only queries.
    unsafe { libc::sigaltstack(core::ptr::null(), &mut cur) };
    if cur.ss_sp == base {
        if cur.ss_flags & libc::SS_ONSTACK != 0 {
            // Exiting from a handler on it (pthread_exit in a handler):
            // leave it mapped.
            return;
        }
        // SAFETY: all-zero, then SS_DISABLE: turn it off.
        let mut off: libc::stack_t = unsafe { core::mem::zeroed() };
        off.ss_flags = libc::SS_DISABLE;
        // SAFETY: a valid stack_t.
        unsafe { libc::sigaltstack(&off, core::ptr::null_mut()) };
    }
    // SAFETY: exactly what give_altstack mapped, unmapped once, and no
    // longer the thread's alternate stack.
    unsafe { fh::__private::unmap_fenced(base as usize, ALT_SIZE) };
}
