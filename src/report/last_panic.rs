//! Async-signal-safe. The last Rust panic's text, for the `Last panic:`
//! line of a report for the `abort()` that follows a panic (`panic =
//! "abort"`, a panic in a function that cannot unwind, a panic while
//! panicking).
//!
//! The line is for the crashing thread's own panic, and only while that
//! panic is still going on: the record carries the panicking thread's
//! tid, and a report shows it only when the crashing thread is that
//! thread and `std::thread::panicking()` is true on it (std's panic count
//! stays raised while a panic unwinds and while it aborts; `catch_unwind`
//! lowers it). A panic caught earlier, or another thread's, is never
//! shown. The end of a panic cannot be seen from a hook (a drop guard in
//! the hook is dropped before unwinding even starts), which is why the
//! count is read at report time instead.
//!
//! A panic hook set after `enable()` that does not call the previous one
//! keeps the record from being written: that is detected, not chained
//! around (a hook cannot be wrapped from outside). When the crashing
//! thread is panicking and no record of this thread exists, the line says
//! the message is unknown and why. (A record of an earlier, caught panic
//! of the same thread could then still be taken for the current one; the
//! record is not cleared because nothing tells us the caught panic ended.)
//!
//! The text is written by the panic hook (`crate::panic_hook`, normal
//! context) and read by a handler. It is a sequence lock over atomic
//! bytes: the writer makes the sequence odd, stores the bytes, and makes
//! it even again; a reader copies the bytes and keeps them only if the
//! sequence was even and unchanged around the copy. Every access is
//! atomic, so a reader racing with a writer gets a clean miss, never a
//! mixture of two messages, and there is no data race.

use crate::runtime::fmt::Buf;
use core::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// Longest text kept.
pub(crate) const CAP: usize = 600;

static SEQ: AtomicU32 = AtomicU32::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);
/// The tid of the thread that panicked.
static TID: AtomicI32 = AtomicI32::new(0);
static TEXT: [AtomicU8; CAP] = [const { AtomicU8::new(0) }; CAP];

/// Copy the stored text into `out` (which must be empty), unless a writer
/// is at work; returns the panicking thread's tid when a complete text was
/// copied.
fn read_into<const N: usize>(out: &mut Buf<N>) -> Option<i32> {
    for _ in 0..4 {
        let before = SEQ.load(Ordering::Acquire);
        if !before.is_multiple_of(2) {
            continue;
        }
        out.clear();
        let len = LEN.load(Ordering::Relaxed).min(CAP);
        let tid = TID.load(Ordering::Relaxed);
        for b in TEXT.iter().take(len) {
            out.byte(b.load(Ordering::Relaxed));
        }
        fence(Ordering::Acquire);
        if SEQ.load(Ordering::Relaxed) == before {
            return (len > 0).then_some(tid);
        }
    }
    out.clear();
    None
}

/// Store a new text of thread `tid`'s panic: `text`, after the text that
/// thread stored so far and `; then: ` when `follow_up` (a panic that ends
/// in an abort is often the second one, and the first says more). A
/// writer that finds another at work keeps the other's text.
pub(crate) fn store(tid: i32, text: &[u8], follow_up: bool) {
    let mut new = Buf::<CAP>::new();
    if follow_up && read_into(&mut new) == Some(tid) {
        new.str("; then: ");
    } else {
        new.clear();
    }
    new.ascii(text);
    let seq = SEQ.load(Ordering::Relaxed);
    if !seq.is_multiple_of(2)
        || SEQ
            .compare_exchange(
                seq,
                seq.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
    {
        return;
    }
    // Keep the byte stores after the odd sequence number.
    fence(Ordering::Release);
    let bytes = new.as_bytes();
    for (cell, &b) in TEXT.iter().zip(bytes) {
        cell.store(b, Ordering::Relaxed);
    }
    LEN.store(bytes.len(), Ordering::Relaxed);
    TID.store(tid, Ordering::Relaxed);
    SEQ.store(seq.wrapping_add(2), Ordering::Release);
}

/// Forget the stored text.
#[cfg(test)]
pub(crate) fn clear() {
    let seq = SEQ.load(Ordering::Relaxed);
    if seq.is_multiple_of(2)
        && SEQ
            .compare_exchange(
                seq,
                seq.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        LEN.store(0, Ordering::Relaxed);
        SEQ.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// For a report on thread `tid`: append the text of that thread's panic
/// and return true when the thread is still panicking (see the module
/// docs), or a line saying the message is unknown when it panics with no
/// record; return false when it does not panic.
pub(crate) fn write_last_panic<const N: usize>(out: &mut Buf<N>, tid: i32) -> bool {
    let mut text = Buf::<CAP>::new();
    let recorded = read_into(&mut text) == Some(tid);
    // std's panic count: an atomic, then (only when some panic is going
    // on) a const-initialised thread-local without a destructor, which
    // needs no allocation to read.
    if !std::thread::panicking() {
        return false;
    }
    if recorded {
        out.push(text.as_bytes());
    } else {
        out.str(UNRECORDED);
    }
    true
}

/// The `Last panic:` text for a panic the hook did not see.
pub(crate) const UNRECORDED: &str =
    "(message unknown: a panic hook set after enable() did not call the one before it)";

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_up_keeps_the_first_text_in_front() {
        let _g = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let me = crate::runtime::sys::gettid();
        let text = || {
            let mut t = Buf::<CAP>::new();
            read_into(&mut t).map(|tid| (tid, t.as_bytes().to_vec()))
        };
        store(me, b"disk full on /var at src/a.rs:1:2", false);
        store(
            me,
            b"panic in a function that cannot unwind at x.rs:3:4",
            true,
        );
        assert_eq!(
            text(),
            Some((me, b"disk full on /var at src/a.rs:1:2; then: panic in a function that cannot unwind at x.rs:3:4".to_vec()))
        );
        // Another thread's first panic is not its follow-up.
        store(
            me + 1,
            b"panic in a function that cannot unwind at y.rs:1:1",
            true,
        );
        assert_eq!(
            text(),
            Some((
                me + 1,
                b"panic in a function that cannot unwind at y.rs:1:1".to_vec()
            ))
        );
        store(me, b"a new, unrelated panic", false);
        assert_eq!(text(), Some((me, b"a new, unrelated panic".to_vec())));
        // Not panicking: no line, whatever the record.
        let mut out = Buf::<CAP>::new();
        assert!(!write_last_panic(&mut out, me));
        clear();
        assert_eq!(text(), None);
    }

    #[test]
    fn a_reader_never_sees_a_mixture() {
        let _g = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let a = [b'a'; 300];
        let b = [b'b'; 500];
        let writer = std::thread::spawn(move || {
            for i in 0..20_000 {
                store(1, if i % 2 == 0 { &a } else { &b }, false);
            }
        });
        let mut out = Buf::<CAP>::new();
        while !writer.is_finished() {
            out.clear();
            if read_into(&mut out).is_some() {
                let t = out.as_bytes();
                assert!(t == &a[..] || t == &b[..], "a torn read: {} bytes", t.len());
            }
        }
        writer.join().unwrap();
    }
}
