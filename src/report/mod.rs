//! Async-signal-safe. The report's text, every line of the format in
//! `report-format.md` and the crate docs: [`compose_header`] and
//! [`compose_body`] write a whole report (any header kind, the current
//! thread, the other threads, the modules),
//! [`lines`] each kind of line, [`last_panic`] the `Last panic:` line.
//!
//! # Safety
//!
//! The `unsafe fn`s here use the symbolizer's storage, which the reporter
//! claim guards: only its holder calls them.
#![allow(unsafe_code)]
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub(crate) mod last_panic;
pub(crate) mod lines;

pub(crate) use lines::*;

use crate::runtime::modules::Late;
use crate::runtime::writer::Writer;
use crate::symbolize::lookup;

/// What a report is about: its first lines.
pub(crate) enum Header<'a> {
    /// A crash: `Fatal signal ...`, `Last panic:`, `Process ...`.
    Fatal(&'a FatalHeader),
    /// A dump: `Dump requested ...`, `Timeout ...!` or `Stack dump
    /// requested`, then `Process ...` where the format has it.
    Dump(DumpHeader),
    /// The warm-up at `enable()`: the `Process` line only (nothing is
    /// written anywhere; the path runs once before any crash).
    WarmUp,
}

/// The current thread's stack, walked by the caller.
pub(crate) struct Current<'a> {
    /// Its tid.
    pub tid: i32,
    /// The frames kept.
    pub frames: &'a [usize],
    /// Whether `frames[0]` is the interrupted instruction (a handler's
    /// walk) rather than a return address.
    pub first_is_pc: bool,
    /// Frames seen in all.
    pub total: usize,
    /// Whether the walk stopped early.
    pub cut: bool,
    /// Whether the walk found its start frame; when it did not, only
    /// `frames[0]` (the pc) is shown, with a line that says why.
    pub found_start: bool,
}

/// What the composer writes with: lent from the reporter claim's scratch.
pub(crate) struct Parts<'a> {
    /// The writer.
    pub w: &'a mut Writer,
    /// The modules the frames referred to.
    pub seen: &'a mut ModulesSeen,
    /// Modules found after the snapshot.
    pub late: &'a mut Late,
}

/// The first lines of any report. Written (and flushed) before the stack
/// walk, the riskiest step, so they are out even if the walk faults.
pub(crate) fn compose_header(p: &mut Parts<'_>, header: &Header<'_>) {
    p.seen.clear();
    match header {
        Header::Fatal(h) => write_fatal_header(p.w, h),
        Header::Dump(h) => write_dump_header(p.w, *h),
        Header::WarmUp => write_process_line(p.w),
    }
}

/// The rest of a report, in the format's order: the current thread's
/// block, every other thread's (written by `others`, the stack
/// collector), then the modules.
///
/// # Safety
///
/// Only the holder of the reporter claim may call this (the symbolizer's
/// storage is used without further locking).
pub(crate) unsafe fn compose_body(
    p: &mut Parts<'_>,
    current: Option<&Current<'_>>,
    max_frames: usize,
    others: Option<&mut dyn FnMut(&mut Parts<'_>)>,
) {
    if let Some(c) = current {
        write_thread_heading(p.w, c.tid, true);
        // SAFETY: the caller holds the claim.
        unsafe {
            if c.found_start {
                write_frames_unsynchronized(
                    p.w,
                    p.late,
                    c.frames,
                    c.first_is_pc,
                    c.total,
                    c.cut,
                    max_frames,
                    p.seen,
                );
            } else {
                let pc = c.frames.first().map_or(&[][..], core::slice::from_ref);
                write_frames_unsynchronized(p.w, p.late, pc, true, 1, false, max_frames, p.seen);
                p.w.write(
                    b"  ... more frames not shown (the unwinder could not walk past the signal frame)\n",
                );
            }
        }
    }
    if let Some(others) = others {
        p.w.flush();
        others(p);
    }
    write_modules(p.w, p.late, p.seen);
    p.w.flush();
}

/// Start a report's naming: every report gets the full symbol budget.
///
/// # Safety
///
/// Only the holder of the reporter claim may call this.
pub(crate) unsafe fn begin_naming(max_scan_reads: u64) {
    // SAFETY: the caller holds the claim.
    unsafe { lookup::begin_report(max_scan_reads) };
}

/// Warm the symbolizer's own paths up (its stack switch, its scanner).
///
/// # Safety
///
/// Only the holder of the reporter claim may call this.
pub(crate) unsafe fn warm_up_naming() {
    // SAFETY: the caller holds the claim.
    unsafe { lookup::warm_up_unsynchronized() };
}
