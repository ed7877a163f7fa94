//! Async-signal-safe. [`RacyCell`]: static storage that a signal handler can
//! use without locks, because some *other* mechanism guarantees a single
//! user at a time.
//!
//! # Safety
//!
//! `RacyCell` hands out raw access; every user documents the invariant that
//! makes it exclusive (for the crash report: only the thread that won the
//! reporter compare-and-swap touches the report's scratch storage).
#![allow(unsafe_code)]

use core::cell::UnsafeCell;

/// An `UnsafeCell` that may live in a `static`.
pub(crate) struct RacyCell<T>(UnsafeCell<T>);

// SAFETY: users guarantee exclusive access by other means (see module docs);
// the cell itself adds no sharing.
unsafe impl<T: Send> Sync for RacyCell<T> {}

impl<T> RacyCell<T> {
    /// Wrap a value.
    pub(crate) const fn new(v: T) -> Self {
        RacyCell(UnsafeCell::new(v))
    }

    /// A raw pointer to the value (for readers that go through the
    /// kernel, which reads it).
    pub(crate) fn as_ptr(&self) -> *const T {
        self.0.get()
    }

    /// Raw access to the value.
    ///
    /// # Safety
    ///
    /// The caller must hold whatever guarantees that nobody else touches
    /// the value while the returned reference lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_unsynchronized(&self) -> &mut T {
        // SAFETY: exclusivity is the caller's contract.
        unsafe { &mut *self.0.get() }
    }
}
