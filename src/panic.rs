//! Remembers the last Rust panic, so that a report for the `abort()` that
//! follows a panic (`panic = "abort"`, a panic in a function that cannot
//! unwind, a panic while panicking) can say why: `Last panic: MESSAGE at
//! FILE:LINE:COL`.
//!
//! The hook runs in normal context and chains to the previous hook. The
//! reading side, [`write_last_panic`], is async-signal-safe: the text lives
//! in static storage guarded by a state flag, so a handler never sees a
//! half-written message.
#![allow(unsafe_code)]

use crate::fmt::Buf;
use crate::racy::RacyCell;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(EMPTY);
static TEXT: RacyCell<Buf<600>> = RacyCell::new(Buf::new());
static HOOKED: AtomicBool = AtomicBool::new(false);

/// Install the recording hook (once per process), keeping the previous
/// hook in the chain.
pub(crate) fn install_hook_once() {
    if HOOKED.swap(true, Ordering::AcqRel) || std::thread::panicking() {
        return;
    }
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        record(info);
        prev(info);
    }));
}

/// std's messages for a panic that follows another one and ends in an
/// abort; the first panic says more, so it is kept in front.
const FOLLOW_UPS: [&str; 3] = [
    "panic in a function that cannot unwind",
    "panic in a destructor during cleanup",
    "panicked while processing panic",
];

fn record(info: &std::panic::PanicHookInfo<'_>) {
    // Only one writer at a time; a concurrent panic keeps the first text.
    let prev = STATE.swap(WRITING, Ordering::Acquire);
    if prev == WRITING {
        return;
    }
    // SAFETY: the WRITING state excludes readers and other writers.
    let text = unsafe { TEXT.get_unsynchronized() };
    let msg = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    if prev == READY && FOLLOW_UPS.iter().any(|f| msg.starts_with(f)) {
        text.str("; then: ");
    } else {
        text.clear();
    }
    text.ascii(msg.as_bytes());
    if let Some(loc) = info.location() {
        text.str(" at ")
            .ascii(loc.file().as_bytes())
            .byte(b':')
            .dec(u64::from(loc.line()))
            .byte(b':')
            .dec(u64::from(loc.column()));
    }
    STATE.store(READY, Ordering::Release);
}

/// Async-signal-safe. Append the last panic's text to `out` and return true,
/// or return false when there was none (or it is being written).
pub(crate) fn write_last_panic<const N: usize>(out: &mut Buf<N>) -> bool {
    if STATE.load(Ordering::Acquire) != READY {
        return false;
    }
    // SAFETY: READY text is never written again until a new panic swaps
    // the state to WRITING; a reader racing with that sees at worst a
    // mixture of two panic messages, never out-of-bounds memory.
    let text = unsafe { TEXT.get_unsynchronized() };
    out.push(text.as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_panic_before_a_follow_up() {
        install_hook_once();
        let _ = std::panic::catch_unwind(|| panic!("disk full on /var"));
        let _ = std::panic::catch_unwind(|| panic!("panic in a function that cannot unwind"));
        let mut out = Buf::<600>::new();
        assert!(write_last_panic(&mut out));
        let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
        assert!(
            text.starts_with("disk full on /var at src/panic.rs:"),
            "{text}"
        );
        assert!(
            text.contains("; then: panic in a function that cannot unwind at src/panic.rs:"),
            "{text}"
        );
        let _ = std::panic::catch_unwind(|| panic!("a new, unrelated panic"));
        out.clear();
        assert!(write_last_panic(&mut out));
        assert!(out.as_bytes().starts_with(b"a new, unrelated panic at "));
    }
}
