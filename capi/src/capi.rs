//! The C API, exported from `libfaulthandler.so` and `libfaulthandler.a`.
//!
//! Every function returns 0 on success, or -1 with `errno` set; none lets a
//! Rust panic cross into C.
//!
//! # Safety
//!
//! The functions are `extern "C"` entry points with unmangled names; they
//! take integers, except `faulthandler_set`, whose two pointers must be
//! null or NUL-terminated strings (null is refused with `EINVAL`).
#![allow(unsafe_code)]

use fh as crate_;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The format `faulthandler_set_format` chose, which every later
/// `faulthandler_enable` keeps: `FAULTHANDLER_FORMAT_TEXT` (0) or
/// `FAULTHANDLER_FORMAT_JSON` (1).
static FORMAT: AtomicI32 = AtomicI32::new(FORMAT_TEXT);
const FORMAT_TEXT: i32 = 0;
const FORMAT_JSON: i32 = 1;

fn format_of(f: i32) -> Option<crate_::Format> {
    match f {
        FORMAT_TEXT => Some(crate_::Format::Text),
        FORMAT_JSON => Some(crate_::Format::JsonLines),
        _ => None,
    }
}

fn fail(errno: i32) -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = errno };
    -1
}

fn errno() -> i32 {
    // SAFETY: as in `fail`.
    unsafe { *libc::__errno_location() }
}

fn errno_of(e: &crate_::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EINVAL)
}

/// Map a Rust result to the C convention: `ok` on success, else -1 with
/// errno set.
fn status<T>(r: std::thread::Result<Result<T, crate_::Error>>, ok: impl FnOnce(T) -> i32) -> i32 {
    match r {
        Ok(Ok(v)) => ok(v),
        Ok(Err(e)) => fail(errno_of(&e)),
        Err(_) => fail(libc::EIO),
    }
}

/// Duplicate a caller's fd (close-on-exec), so the caller keeps its own.
fn dup_fd(fd: i32) -> Result<OwnedFd, i32> {
    // SAFETY: F_DUPFD_CLOEXEC takes an fd and a minimum number.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(errno());
    }
    // SAFETY: `dup` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// `const char *faulthandler_version(void)`: the library's version, as
/// `FAULTHANDLER_VERSION` in the header spells it (`"0.2.0"`).
#[no_mangle]
pub extern "C" fn faulthandler_version() -> *const core::ffi::c_char {
    crate::VERSION.as_ptr()
}

/// The settings `faulthandler_set` made, for the next `faulthandler_enable`.
static PENDING: std::sync::Mutex<Option<crate_::env::Env>> = std::sync::Mutex::new(None);

/// The variables `faulthandler_set` does not take: the dump signal, the
/// watchdog and readiness have functions (or no meaning) of their own.
const NOT_SETTABLE: [&str; 5] = [
    "FAULTHANDLER_SIGNAL",
    "FAULTHANDLER_TIMEOUT",
    "FAULTHANDLER_TIMEOUT_REPEAT",
    "FAULTHANDLER_TIMEOUT_EXIT",
    "FAULTHANDLER_READY_FD",
];

/// `int faulthandler_set(const char *name, const char *value)`: a setting
/// for the next `faulthandler_enable`, written as its environment
/// variable would be and checked by the same validator: `name` is
/// `"max_threads"` or `"FAULTHANDLER_MAX_THREADS"` (also `file`,
/// `all_threads`, `max_frames`, `thread_timeout`, `write_timeout` in
/// seconds, `report_first`, `registers`). `EINVAL` for an unknown name or a bad value,
/// which changes nothing.
///
/// # Safety
///
/// `name` and `value` are null or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn faulthandler_set(
    name: *const core::ffi::c_char,
    value: *const core::ffi::c_char,
) -> i32 {
    if name.is_null() || value.is_null() {
        return fail(libc::EINVAL);
    }
    // SAFETY: the caller's: NUL-terminated strings.
    let (name, value) = unsafe {
        (
            std::ffi::CStr::from_ptr(name),
            std::ffi::CStr::from_ptr(value),
        )
    };
    let r = catch_unwind(|| {
        use std::os::unix::ffi::OsStrExt;
        let name = name.to_str().map_err(|_| libc::EINVAL)?;
        let upper = name.to_ascii_uppercase();
        let var = if upper.starts_with("FAULTHANDLER_") {
            upper
        } else {
            format!("FAULTHANDLER_{upper}")
        };
        if !crate_::env::VARS.contains(&var.as_str()) || NOT_SETTABLE.contains(&var.as_str()) {
            return Err(libc::EINVAL);
        }
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .get_or_insert_with(Default::default)
            .set(&var, std::ffi::OsStr::from_bytes(value.to_bytes()))
            .map_err(|_| libc::EINVAL)
    });
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(e),
        Err(_) => fail(libc::EIO),
    }
}

/// `int faulthandler_enable(int fd, int all_threads, size_t max_frames)`:
/// install the crash handlers, with the settings `faulthandler_set` made.
/// `fd < 0` means stderr (or the `file` set); any other fd is duplicated,
/// so the caller keeps its own. `max_frames` 0 means the one set, or the
/// default (100).
#[no_mangle]
pub extern "C" fn faulthandler_enable(fd: i32, all_threads: i32, max_frames: usize) -> i32 {
    let r = catch_unwind(|| {
        let base = PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or_else(crate_::Config::new, |p| p.config());
        let mut c = base
            .all_threads(all_threads != 0)
            .report_first(REPORT_FIRST.load(core::sync::atomic::Ordering::Acquire));
        if let Some(f) = format_of(FORMAT.load(Ordering::Acquire)) {
            c = c.format(f);
        }
        if max_frames != 0 {
            c = c.max_frames(max_frames);
        }
        if fd >= 0 {
            c = c.fd(dup_fd(fd)?);
        }
        c.enable().map_err(|e| errno_of(&e))
    });
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(e),
        Err(_) => fail(libc::EIO),
    }
}

/// What `faulthandler_set_report_first` asked for, applied by every later
/// `faulthandler_enable`.
static REPORT_FIRST: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// `int faulthandler_set_report_first(int on)`: nonzero writes a crash
/// report before the handler the program had installed before
/// `faulthandler_enable` runs; 0 (the default) runs that handler first and
/// reports only when the fault turns out fatal. Takes effect at once and
/// for every later `faulthandler_enable`. Returns 0.
#[no_mangle]
pub extern "C" fn faulthandler_set_report_first(on: i32) -> i32 {
    REPORT_FIRST.store(on != 0, core::sync::atomic::Ordering::Release);
    crate_::__private::set_report_first(on != 0);
    0
}

/// `int faulthandler_set_format(int format)`: write every report from now
/// on as text (`FAULTHANDLER_FORMAT_TEXT`, 0) or JSON lines
/// (`FAULTHANDLER_FORMAT_JSON`, 1); later `faulthandler_enable` calls keep
/// it. EINVAL for any other value.
#[no_mangle]
pub extern "C" fn faulthandler_set_format(format: i32) -> i32 {
    let Some(f) = format_of(format) else {
        return fail(libc::EINVAL);
    };
    FORMAT.store(format, Ordering::Release);
    match catch_unwind(|| crate_::__private::set_format(f)) {
        Ok(()) => 0,
        Err(_) => fail(libc::EIO),
    }
}

/// `int faulthandler_disable(void)`: remove the crash handlers. Returns 1
/// if they were enabled, 0 if not.
#[no_mangle]
pub extern "C" fn faulthandler_disable() -> i32 {
    catch_unwind(crate_::disable).map_or_else(|_| fail(libc::EIO), i32::from)
}

/// `int faulthandler_is_enabled(void)`: 1 if the crash handlers are
/// installed, else 0.
#[no_mangle]
pub extern "C" fn faulthandler_is_enabled() -> i32 {
    i32::from(crate_::is_enabled())
}

/// `int faulthandler_install_thread_altstack(void)`: give the calling
/// thread a 64 KiB alternate signal stack.
#[no_mangle]
pub extern "C" fn faulthandler_install_thread_altstack() -> i32 {
    match catch_unwind(crate_::install_thread_altstack) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(errno_of(&e)),
        Err(_) => fail(libc::EIO),
    }
}

/// `int faulthandler_register(int signum, int fd, int all_threads, int chain)`:
/// dump every thread's stack when `signum` arrives, and carry on. `fd < 0`
/// means stderr; any other fd is duplicated. With `chain`, the action
/// installed before also runs. Crash signals, SIGKILL and SIGSTOP are
/// refused (EINVAL).
#[no_mangle]
pub extern "C" fn faulthandler_register(signum: i32, fd: i32, all_threads: i32, chain: i32) -> i32 {
    let r = catch_unwind(|| {
        let mut reg = crate_::Register::new(signum)
            .all_threads(all_threads != 0)
            .chain(chain != 0);
        if fd >= 0 {
            match dup_fd(fd) {
                Ok(d) => reg = reg.fd(d),
                Err(e) => {
                    return Err(crate_::Error::from_io(
                        "fd",
                        std::io::Error::from_raw_os_error(e),
                    ))
                }
            }
        }
        reg.install()
    });
    status(r, |()| 0)
}

/// `int faulthandler_unregister(int signum)`: put back the action that was
/// there before `faulthandler_register`. Returns 1 if `signum` was
/// registered, 0 if not.
#[no_mangle]
pub extern "C" fn faulthandler_unregister(signum: i32) -> i32 {
    status(catch_unwind(|| crate_::unregister(signum)), i32::from)
}

/// `int faulthandler_dump_traceback(int fd, int all_threads)`: write a
/// `Stack dump requested` report of the calling thread (and, with
/// `all_threads`, every other thread) to `fd` now. Frame `#0` is the
/// caller of this function.
#[no_mangle]
#[inline(never)]
pub extern "C" fn faulthandler_dump_traceback(fd: i32, all_threads: i32) -> i32 {
    // Only our callers' frames lie above this local (see
    // `dump_traceback_above`).
    let marker = 0u8;
    let sp_floor = std::hint::black_box(&marker) as *const u8 as usize;
    // SAFETY: F_GETFD only inspects the fd table.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return fail(libc::EBADF);
    }
    let r = catch_unwind(|| {
        // SAFETY: the caller guarantees `fd` stays open during the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        crate_::__private::dump_traceback_above(fd, all_threads != 0, sp_floor)
            .map_err(|e| crate_::Error::from_io("dump_traceback", e))
    });
    status(r, |()| 0)
}

/// `int faulthandler_dump_traceback_later(double timeout, int repeat, int
/// exit, int fd)`: arm the watchdog. After `timeout` seconds, write
/// `Timeout (H:MM:SS.mmm)!` and every thread's stack to `fd` (stderr when
/// negative; any other fd is duplicated); with `repeat`, again every
/// `timeout` until cancelled; with `exit`, then `_exit(1)`. Arming again
/// replaces the previous timer.
#[no_mangle]
pub extern "C" fn faulthandler_dump_traceback_later(
    timeout: f64,
    repeat: i32,
    exit: i32,
    fd: i32,
) -> i32 {
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 31_536_000.0) {
        return fail(libc::EINVAL);
    }
    let r = catch_unwind(|| {
        let mut w = crate_::Watchdog::new(Duration::from_secs_f64(timeout))
            .repeat(repeat != 0)
            .exit(exit != 0);
        if fd >= 0 {
            match dup_fd(fd) {
                Ok(d) => w = w.fd(d),
                Err(e) => {
                    return Err(crate_::Error::from_io(
                        "fd",
                        std::io::Error::from_raw_os_error(e),
                    ))
                }
            }
        }
        w.arm()
    });
    status(r, |()| 0)
}

/// `int faulthandler_cancel_dump_traceback_later(void)`: disarm the
/// watchdog; fine when nothing is armed.
#[no_mangle]
pub extern "C" fn faulthandler_cancel_dump_traceback_later() -> i32 {
    match catch_unwind(crate_::cancel_dump_traceback_later) {
        Ok(()) => 0,
        Err(_) => fail(libc::EIO),
    }
}
