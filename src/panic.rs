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

fn record(info: &std::panic::PanicHookInfo<'_>) {
    // Only one writer at a time; a concurrent panic keeps the first text.
    let prev = STATE.swap(WRITING, Ordering::Acquire);
    if prev == WRITING {
        return;
    }
    // SAFETY: the WRITING state excludes readers and other writers.
    let text = unsafe { TEXT.get_unsynchronized() };
    text.clear();
    let msg = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
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
