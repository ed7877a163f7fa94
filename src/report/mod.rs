//! Async-signal-safe. The report's text, every line of the format in
//! `report-format.md` and the crate docs: [`compose_header`] and
//! [`compose_body`] write a whole report (any header kind, the current
//! thread, the other threads, the modules),
//! [`lines`] each kind of line, [`last_panic`] the `Last panic:` line.
//!
//! Everything here writes with storage lent from the reporter claim's
//! scratch ([`Parts`]), so only the claim's holder writes a report.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub(crate) mod json;
pub(crate) mod last_panic;
pub(crate) mod lines;
pub(crate) mod process;
pub(crate) mod registers;

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
    /// How many of `frames`, at the end, are the bottom of a deeper stack
    /// (see `unwind::Walk::bottom`).
    pub bottom: usize,
    /// Whether the walk found its start frame; when it did not, only
    /// `frames[0]` (the pc) is shown, with a line that says why.
    pub found_start: bool,
    /// Whether the block's heading is still to be written (a crash report
    /// writes it with the first lines, before the walk).
    pub heading: bool,
    /// The thread's name when already known (NUL-padded), else it is read
    /// for the heading.
    pub name: Option<[u8; 16]>,
}

impl<'a> Current<'a> {
    /// The stack a handler walked from the interrupted pc into `frames`
    /// (of which at most `max` are shown), for thread `tid`: `frames[0]`
    /// is the pc, alone when the walk did not find it.
    pub(crate) fn from_handler_walk(
        tid: i32,
        frames: &'a [usize],
        walk: crate::runtime::unwind::Walk,
        max: usize,
        heading: bool,
    ) -> Current<'a> {
        Current {
            tid,
            frames: frames.get(..walk.stored.max(1).min(max)).unwrap_or(&[]),
            first_is_pc: true,
            total: walk.total,
            cut: walk.cut,
            bottom: walk.bottom,
            found_start: walk.found_start,
            heading,
            name: None,
        }
    }
}

/// What the collection found for one other thread.
pub(crate) enum Thread<'a> {
    /// Its stack.
    Stack(Current<'a>),
    /// No stack, and why.
    NoStack {
        /// The thread.
        tid: i32,
        /// Why.
        why: NoStack,
    },
    /// The thread limit cut the list: `more` threads were left out.
    Cut {
        /// Threads not shown.
        more: usize,
        /// The limit.
        max_threads: usize,
    },
    /// The stack collector was never installed.
    NoCollector,
}

/// The stack collector, as the composer calls it: it hands each other
/// thread's outcome to the function it is given.
pub(crate) type Others<'a> = &'a mut dyn FnMut(&mut dyn FnMut(Thread<'_>));

/// Why a thread gave no stack.
#[derive(Clone, Copy)]
pub(crate) enum NoStack {
    /// It blocks the collection signal.
    Blocked,
    /// The collection signal could not be sent to it.
    NotSent,
    /// It did not answer before the deadline.
    NoAnswer {
        /// The deadline, in milliseconds.
        ms: u64,
    },
    /// Every slot was taken (by late answers).
    NoFreeSlot,
    /// It was inside a signal handler on an alternate stack with too
    /// little room left to walk its stack.
    NoRoom,
    /// The unwinder faulted on its corrupt stack (the fault was caught).
    UnwinderFaulted,
    /// It crashed too, at the same moment, and waits in the fatal handler.
    Crashed {
        /// Its signal.
        sig: i32,
    },
}

/// What the composer writes with: lent from the reporter claim's scratch.
pub(crate) struct Parts<'a> {
    /// The writer.
    pub w: &'a mut Writer,
    /// The modules the frames referred to.
    pub seen: &'a mut ModulesSeen,
    /// Modules found after the snapshot.
    pub late: &'a mut Late,
    /// The symbolizer's storage.
    pub symbols: &'a mut lookup::Storage,
}

/// The first lines of any report. Written (and flushed) before the stack
/// walk, the riskiest step, so they are out even if the walk faults.
pub(crate) fn compose_header(p: &mut Parts<'_>, header: &Header<'_>) {
    p.seen.clear();
    match header {
        Header::Fatal(h) => write_fatal_header(p.w, h),
        Header::Dump(h) => write_dump_header(p.w, *h),
        Header::WarmUp => {
            if p.w.json_fields() {
                json::begin(p.w, "warm_up");
            }
            write_process_line(p.w)
        }
    }
}

/// The rest of a report, in the format's order: the current thread's
/// block, every other thread's (written by `others`, the stack
/// collector), then the modules.
///
/// The parts are the reporter claim's, so only its holder composes.
pub(crate) fn compose_body(
    p: &mut Parts<'_>,
    current: Option<&Current<'_>>,
    max_frames: usize,
    others: Option<Others<'_>>,
) {
    if let Some(c) = current {
        if c.heading {
            write_thread_heading(p.w, c.tid, true, c.name.as_ref());
        }
        write_stack(p, c, max_frames);
    }
    if let Some(others) = others {
        p.w.flush();
        // Whether the line before is a stack block's (a blank line then
        // separates a "no stack" line from it).
        let mut after_block = true;
        others(&mut |t| match t {
            Thread::Stack(c) => {
                write_thread_heading(p.w, c.tid, false, c.name.as_ref());
                write_stack(p, &c, max_frames);
                after_block = true;
            }
            Thread::NoStack { tid, why } => {
                let mut crashed = crate::runtime::fmt::Buf::<64>::new();
                if let NoStack::Crashed { sig } = why {
                    crashed
                        .str("it crashed too, with signal ")
                        .dec(sig.max(0) as u64)
                        .str(" (");
                    crate::runtime::signals::write_name(&mut crashed, sig);
                    crashed.str(")");
                }
                let (reason, ms): (&[u8], u64) = match why {
                    NoStack::Blocked => (b"the thread blocks the dump signal", 0),
                    NoStack::NotSent => (b"the dump signal could not be sent", 0),
                    NoStack::NoAnswer { ms } => (b"no answer within ", ms),
                    NoStack::NoFreeSlot => (b"no free slot", 0),
                    NoStack::NoRoom => (b"too little stack room", 0),
                    NoStack::UnwinderFaulted => (b"the unwinder faulted", 0),
                    NoStack::Crashed { .. } => (crashed.as_bytes(), 0),
                };
                write_no_stack_line(p.w, tid, after_block, reason, ms);
                after_block = false;
            }
            Thread::Cut { more, max_threads } => {
                write_threads_cut_line(p.w, more, after_block, max_threads);
            }
            Thread::NoCollector if p.w.json_fields() => {
                json::others_not_shown(p.w, b"the stack collector is not installed");
            }
            Thread::NoCollector => {
                p.w.write(b"\n(other threads not shown: the stack collector is not installed)\n");
            }
        });
    }
    write_modules(p.w, p.late, p.seen);
    if p.w.json_fields() {
        json::end(p.w);
    }
    p.w.flush();
}

/// The line that tells why a crash report comes on stderr: fd `stale`,
/// the report's fd at `enable()`, now belongs to another file (a daemon
/// closed it and opened its own), which must not get our report.
pub(crate) fn write_stale_fd_note(w: &mut Writer, stale: i32) {
    if w.json_fields() {
        return json::stale_fd_note(w, stale);
    }
    let mut line = crate::runtime::fmt::Buf::<160>::new();
    line.str("faulthandler: fd ")
        .dec(stale as u64)
        .str(" is no longer the report's file given at enable() (closed, or another file now): the report goes to stderr\n");
    w.write(line.as_bytes());
}

/// The current thread's block when our own walk of it faulted on a
/// corrupt frame chain (and the fault was caught).
pub(crate) fn write_unwinder_faulted(w: &mut Writer, tid: i32) {
    if w.json_fields() {
        return json::no_stack(w, tid, true, b"the unwinder faulted", 0);
    }
    write_thread_heading(w, tid, true, None);
    w.write(b"  (no stack: the unwinder faulted)\n");
}

/// End a report that the process survives (a dump) with a blank line, so
/// that successive reports on one fd stand apart.
pub(crate) fn end_dump(p: &mut Parts<'_>) {
    if !p.w.json_fields() {
        p.w.write(b"\n");
    }
    p.w.flush();
}

/// The frame lines of one stack: all of them, or the pc alone with a line
/// saying why when the walk could not cross the signal frame.
fn write_stack(p: &mut Parts<'_>, c: &Current<'_>, max_frames: usize) {
    if c.found_start {
        write_frames(
            p.w,
            p.late,
            p.symbols,
            c.frames,
            c.first_is_pc,
            c.total,
            c.cut,
            c.bottom,
            max_frames,
            p.seen,
        );
    } else {
        let pc = c.frames.first().map_or(&[][..], core::slice::from_ref);
        write_frames(
            p.w, p.late, p.symbols, pc, true, 1, false, 0, max_frames, p.seen,
        );
        if p.w.json_fields() {
            json::not_shown(p.w, None, max_frames, UNWINDER_STOPPED);
        } else {
            p.w.write(
                b"  ... more frames not shown (the unwinder could not walk past the signal frame)\n",
            );
        }
    }
}

/// Why a stack shows its pc alone (the JSON `not_shown` reason).
const UNWINDER_STOPPED: &[u8] = b"the unwinder could not walk past the signal frame";

/// Start a report's naming: it gets the symbolizer's whole budget, and
/// keeps the frames named in an unchanged `world` (see
/// `symbolize::frame_text`).
pub(crate) fn begin_naming(
    symbols: &mut lookup::Storage,
    max_scan_reads: u64,
    world: Option<crate::symbolize::frame_text::World>,
) {
    lookup::begin_report(symbols, max_scan_reads, world);
}

/// Warm the symbolizer's own paths up (its stack switch, the demangler).
pub(crate) fn warm_up_naming(symbols: &mut lookup::Storage) {
    lookup::warm_up(symbols);
}
