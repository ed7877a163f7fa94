//! The C API, exported from `libfaulthandler.so` and `libfaulthandler.a`.
//!
//! Every function returns 0 on success, or -1 with `errno` set; none lets a
//! Rust panic cross into C.
//!
//! # Safety
//!
//! The functions are `extern "C"` entry points with unmangled names; they
//! take only integers, so there are no pointers to validate.
#![allow(unsafe_code)]

use crate::sys;
use std::os::fd::{FromRawFd, OwnedFd};
use std::panic::catch_unwind;

fn fail(errno: i32) -> i32 {
    sys::set_errno(errno);
    -1
}

fn errno_of(e: &crate::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EINVAL)
}

/// `int faulthandler_enable(int fd, int all_threads, size_t max_frames)`:
/// install the crash handlers. `fd < 0` means stderr; any other fd is
/// duplicated, so the caller keeps its own. `max_frames` 0 means the
/// default (100).
#[no_mangle]
pub extern "C" fn faulthandler_enable(fd: i32, all_threads: i32, max_frames: usize) -> i32 {
    let r = catch_unwind(|| {
        let mut c = crate::Config::new().all_threads(all_threads != 0);
        if max_frames != 0 {
            c = c.max_frames(max_frames);
        }
        if fd >= 0 {
            // SAFETY: F_DUPFD_CLOEXEC takes an fd and a minimum number.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if dup < 0 {
                return Err(sys::errno());
            }
            // SAFETY: `dup` is a fresh fd that nothing else owns.
            c = c.fd(unsafe { OwnedFd::from_raw_fd(dup) });
        }
        c.enable().map_err(|e| errno_of(&e))
    });
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(e),
        Err(_) => fail(libc::EIO),
    }
}

/// `int faulthandler_disable(void)`: remove the crash handlers. Returns 1
/// if they were enabled, 0 if not.
#[no_mangle]
pub extern "C" fn faulthandler_disable() -> i32 {
    catch_unwind(crate::disable).map_or_else(|_| fail(libc::EIO), i32::from)
}

/// `int faulthandler_is_enabled(void)`: 1 if the crash handlers are
/// installed, else 0.
#[no_mangle]
pub extern "C" fn faulthandler_is_enabled() -> i32 {
    i32::from(crate::is_enabled())
}

/// `int faulthandler_install_thread_altstack(void)`: give the calling
/// thread a 64 KiB alternate signal stack.
#[no_mangle]
pub extern "C" fn faulthandler_install_thread_altstack() -> i32 {
    match catch_unwind(crate::install_thread_altstack) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(errno_of(&e)),
        Err(_) => fail(libc::EIO),
    }
}
