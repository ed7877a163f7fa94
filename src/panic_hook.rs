//! The panic hook that records each panic's message, location and thread
//! for the `Last panic:` line (stored by `report::last_panic`, which also
//! says when a record is shown). It runs in normal context and chains to
//! the previous hook. Installed once, by `enable()`. A hook set later that
//! does not call ours is detected at report time, not chained around.

use crate::report::last_panic;
use core::sync::atomic::{AtomicBool, Ordering};

static HOOKED: AtomicBool = AtomicBool::new(false);

/// std's messages for a panic that follows another one and ends in an
/// abort; the first panic says more, so it is kept in front.
const FOLLOW_UPS: [&str; 3] = [
    "panic in a function that cannot unwind",
    "panic in a destructor during cleanup",
    "panicked while processing panic",
];

/// Install the recording hook (once per process), keeping the previous
/// hook in the chain.
pub(crate) fn install_once() {
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
    let msg = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let text = match info.location() {
        Some(loc) => format!("{msg} at {}:{}:{}", loc.file(), loc.line(), loc.column()),
        None => msg.to_string(),
    };
    let follow_up = FOLLOW_UPS.iter().any(|f| msg.starts_with(f));
    last_panic::store(crate::runtime::sys::gettid(), text.as_bytes(), follow_up);
}
