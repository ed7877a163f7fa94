//! Async-signal-safe. The last Rust panic's text, for the `Last panic:`
//! line of a report for the `abort()` that follows a panic (`panic =
//! "abort"`, a panic in a function that cannot unwind, a panic while
//! panicking).
//!
//! The text is written by the panic hook (`crate::panic_hook`, normal
//! context) and read by a handler. It is a sequence lock over atomic
//! bytes: the writer makes the sequence odd, stores the bytes, and makes
//! it even again; a reader copies the bytes and keeps them only if the
//! sequence was even and unchanged around the copy. Every access is
//! atomic, so a reader racing with a writer gets a clean miss, never a
//! mixture of two messages, and there is no data race.

use crate::runtime::fmt::Buf;
use core::sync::atomic::{fence, AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// Longest text kept.
pub(crate) const CAP: usize = 600;

static SEQ: AtomicU32 = AtomicU32::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);
static TEXT: [AtomicU8; CAP] = [const { AtomicU8::new(0) }; CAP];

/// Copy the stored text into `out` (which must be empty), unless a writer
/// is at work; returns whether a complete text was copied.
fn read_into<const N: usize>(out: &mut Buf<N>) -> bool {
    for _ in 0..4 {
        let before = SEQ.load(Ordering::Acquire);
        if !before.is_multiple_of(2) {
            continue;
        }
        out.clear();
        let len = LEN.load(Ordering::Relaxed).min(CAP);
        for b in TEXT.iter().take(len) {
            out.byte(b.load(Ordering::Relaxed));
        }
        fence(Ordering::Acquire);
        if SEQ.load(Ordering::Relaxed) == before {
            return len > 0;
        }
    }
    out.clear();
    false
}

/// Store a new text: `text`, after the text stored so far and `; then: `
/// when `follow_up` (a panic that ends in an abort is often the second
/// one, and the first says more). A writer that finds another at work
/// keeps the other's text.
pub(crate) fn store(text: &[u8], follow_up: bool) {
    let mut new = Buf::<CAP>::new();
    if follow_up && read_into(&mut new) {
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

/// Append the last panic's text to `out` and return true, or return false
/// when there was none (or it is being written).
pub(crate) fn write_last_panic<const N: usize>(out: &mut Buf<N>) -> bool {
    let mut text = Buf::<CAP>::new();
    if !read_into(&mut text) {
        return false;
    }
    out.push(text.as_bytes());
    true
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

    #[test]
    fn a_follow_up_keeps_the_first_text_in_front() {
        let _g = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        store(b"disk full on /var at src/a.rs:1:2", false);
        store(b"panic in a function that cannot unwind at x.rs:3:4", true);
        let mut out = Buf::<CAP>::new();
        assert!(write_last_panic(&mut out));
        assert_eq!(
            out.as_bytes(),
            b"disk full on /var at src/a.rs:1:2; then: panic in a function that cannot unwind at x.rs:3:4"
        );
        store(b"a new, unrelated panic", false);
        out.clear();
        assert!(write_last_panic(&mut out));
        assert_eq!(out.as_bytes(), b"a new, unrelated panic");
        clear();
        out.clear();
        assert!(!write_last_panic(&mut out));
    }

    #[test]
    fn a_reader_never_sees_a_mixture() {
        let _g = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let a = [b'a'; 300];
        let b = [b'b'; 500];
        let writer = std::thread::spawn(move || {
            for i in 0..20_000 {
                store(if i % 2 == 0 { &a } else { &b }, false);
            }
        });
        let mut out = Buf::<CAP>::new();
        while !writer.is_finished() {
            out.clear();
            if write_last_panic(&mut out) {
                let t = out.as_bytes();
                assert!(t == &a[..] || t == &b[..], "a torn read: {} bytes", t.len());
            }
        }
        writer.join().unwrap();
    }
}
