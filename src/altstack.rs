//! Alternate signal stacks: 64 KiB, `mmap`ed, with a guard page below.
//!
//! A handler for a stack overflow cannot run on the stack that overflowed,
//! so the kernel must switch to an alternate stack (`SA_ONSTACK`). Rust std
//! gives its threads 8 KiB ones (`SIGSTKSZ`), which a report nearly fills
//! and a thread that used AMX state overflows; threads created with raw
//! `pthread_create`, and every thread of a C host, have none.
//!
//! Each thread's stack is owned by a thread-local guard: it is installed by
//! `enable()` (for the calling thread) and by
//! [`install_thread_altstack`](crate::install_thread_altstack), and it is
//! disabled and unmapped when the thread exits, or by `disable()` on the
//! calling thread. A stack that is already at least as large is left alone.
//!
//! This module runs in normal context only; nothing here is reachable from a
//! handler.
//!
//! # Safety
//!
//! `sigaltstack` is given pointers to stack_t values on our stack; the
//! memory it installs is our own mapping, unmapped only after the kernel has
//! been told to stop using it.
#![allow(unsafe_code)]

use crate::error::Error;
use crate::runtime::sys::GuardedMap;
use core::cell::RefCell;
use core::ffi::c_void;

/// Usable size of the stacks we install.
pub(crate) const ALT_STACK_SIZE: usize = 64 * 1024;

fn current() -> Result<libc::stack_t, Error> {
    // SAFETY: an all-zero stack_t is a valid value to overwrite.
    let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: a null new stack only queries; `cur` is writable.
    if unsafe { libc::sigaltstack(core::ptr::null(), &mut cur) } != 0 {
        return Err(Error::os("sigaltstack"));
    }
    Ok(cur)
}

/// One installed alternate stack and the one it replaced.
struct AltStack {
    map: GuardedMap,
    prev: libc::stack_t,
}

impl AltStack {
    fn install() -> Result<Option<AltStack>, Error> {
        let cur = current()?;
        if cur.ss_flags & libc::SS_ONSTACK != 0 {
            // Running on the alternate stack right now: leave it be.
            return Ok(None);
        }
        if cur.ss_flags & libc::SS_DISABLE == 0 && cur.ss_size >= ALT_STACK_SIZE {
            return Ok(None);
        }
        let map = GuardedMap::new(ALT_STACK_SIZE)
            .map_err(|e| Error::from_raw_os("mmap of the alternate signal stack", e))?;
        let (base, len) = map.usable();
        // SS_AUTODISARM (Linux 4.7): while a handler runs on it, the
        // stack is not armed, so that a signal raised from a program's
        // handler that we run on the interrupted stack lands there, not on
        // top of our frames (see `signal::program`); sigreturn arms it
        // again. Older kernels refuse the flag: then without it.
        let mut new = libc::stack_t {
            ss_sp: base as *mut c_void,
            ss_flags: SS_AUTODISARM,
            ss_size: len,
        };
        // SAFETY: an all-zero stack_t is a valid value to overwrite.
        let mut prev: libc::stack_t = unsafe { core::mem::zeroed() };
        // SAFETY: `new` describes memory we own for as long as it is
        // installed (`map` is dropped only after it is uninstalled).
        if unsafe { libc::sigaltstack(&new, &mut prev) } != 0 {
            new.ss_flags = 0;
            // SAFETY: as above.
            if unsafe { libc::sigaltstack(&new, &mut prev) } != 0 {
                return Err(Error::os("sigaltstack"));
            }
        }
        Ok(Some(AltStack { map, prev }))
    }
}

/// `SS_AUTODISARM` (`<sys/signal.h>`, Linux 4.7).
pub(crate) const SS_AUTODISARM: i32 = 1 << 31;

impl Drop for AltStack {
    fn drop(&mut self) {
        let ours = self.map.usable().0 as *mut c_void;
        if let Ok(cur) = current() {
            if cur.ss_sp == ours && cur.ss_flags & libc::SS_ONSTACK == 0 {
                // Put back what was there before us, or nothing.
                // SAFETY: `prev` is what the kernel gave us; if it was
                // disabled, restoring it disables the alternate stack.
                unsafe { libc::sigaltstack(&self.prev, core::ptr::null_mut()) };
            } else if cur.ss_sp == ours {
                // Still running on it (cannot happen in normal context):
                // keep the memory mapped.
                let map = core::mem::replace(&mut self.map, GuardedMap::dangling());
                let _ = map.leak();
            }
        }
        // `map` is unmapped when dropped: the kernel no longer uses it.
    }
}

/// An alternate stack for the calling thread, owned by the caller (a
/// frame that outlives everything the thread runs) rather than by the
/// thread-local that [`ensure_current_thread`] uses: registering a
/// thread-local's destructor `calloc`s (`__cxa_thread_atexit_impl`), and
/// our helper threads must not allocate. Uninstalled when dropped.
pub(crate) struct OwnedAltStack {
    /// Dropped with it: uninstalls and unmaps the stack.
    _stack: Option<AltStack>,
}

impl OwnedAltStack {
    /// Install one of ours unless the thread has one large enough (or is
    /// running on one). Allocates only when that fails (the error's text,
    /// dropped): then the thread goes on without.
    pub(crate) fn install() -> OwnedAltStack {
        OwnedAltStack {
            _stack: AltStack::install().ok().flatten(),
        }
    }
}

thread_local! {
    static THREAD_STACK: RefCell<Option<AltStack>> = const { RefCell::new(None) };
}

/// Make sure the calling thread has an alternate stack of at least
/// [`ALT_STACK_SIZE`]. Returns true when one was installed now.
pub(crate) fn ensure_current_thread() -> Result<bool, Error> {
    THREAD_STACK.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_some() {
            return Ok(false);
        }
        let s = AltStack::install()?;
        let installed = s.is_some();
        *slot = s;
        Ok(installed)
    })
}

/// Put back the calling thread's previous alternate stack, if we replaced
/// it. Returns true when there was one of ours.
pub(crate) fn release_current_thread() -> bool {
    THREAD_STACK
        .try_with(|slot| slot.borrow_mut().take().is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_and_restores() {
        std::thread::spawn(|| {
            let before = current().unwrap();
            assert!(ensure_current_thread().unwrap());
            let now = current().unwrap();
            assert_eq!(now.ss_size, ALT_STACK_SIZE);
            assert_eq!(now.ss_flags & libc::SS_DISABLE, 0);
            assert!(!ensure_current_thread().unwrap(), "idempotent");
            assert!(release_current_thread());
            let after = current().unwrap();
            assert_eq!(after.ss_sp, before.ss_sp);
            assert_eq!(after.ss_size, before.ss_size);
            assert!(!release_current_thread());
        })
        .join()
        .unwrap();
    }
}
