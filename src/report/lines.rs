//! Async-signal-safe. Composes the report text, as `report-format.md` and
//! the crate docs specify it: the header line, the process line, a block per
//! thread, and the modules block.
//!
//! Each function writes through a [`Writer`] and formats into stack
//! buffers. Module lookups may fall back to the late-module cache, which
//! the caller lends from the claim's scratch; the symbolizer's storage is
//! the claim holder's too.

use super::process::{three, two};
use crate::runtime::fmt::Buf;
use crate::runtime::modules::{self, Late, Module};
use crate::runtime::procfs;
use crate::runtime::signals::{self, Origin};
use crate::runtime::sys;
use crate::runtime::writer::Writer;
use crate::symbolize::index::{self, Lines};
use crate::symbolize::lines::{LineTable, Loc, MAX_INLINE};
use crate::symbolize::{frame_text, lookup};

/// Everything the header of a fatal report needs.
pub(crate) struct FatalHeader {
    pub sig: i32,
    pub origin: Origin,
    pub fault_addr: Option<usize>,
    pub stack_overflow: bool,
    /// What the program's own handler did after it ran first.
    pub then: Then,
}

/// The line after the first one that says what the program's own handler
/// for the fault did, when it ran before the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// Nothing to say: no program handler ran first, or it returned and
    /// the fault is fatal now.
    Nothing,
    /// The program's handler for the fault raised signal `sig` (`abort()`
    /// is `SIGABRT`) before it returned.
    Raised { sig: i32 },
    /// The program's handler returned, and the same fault came straight
    /// back this many times.
    Looping { times: u32 },
}

/// Which modules the frames referred to, for the modules block.
pub(crate) struct ModulesSeen {
    starts: [usize; 64],
    count: usize,
}

impl ModulesSeen {
    pub(crate) const fn new() -> Self {
        ModulesSeen {
            starts: [0; 64],
            count: 0,
        }
    }

    /// Forget every module (for storage that is reused).
    pub(crate) fn clear(&mut self) {
        self.count = 0;
    }

    /// The start addresses of the modules noted.
    pub(crate) fn starts(&self) -> &[usize] {
        self.starts.get(..self.count).unwrap_or(&[])
    }

    pub(crate) fn note(&mut self, m: &Module) {
        let seen = self.starts.get(..self.count).unwrap_or(&[]);
        if seen.contains(&m.start) {
            return;
        }
        if let Some(slot) = self.starts.get_mut(self.count) {
            *slot = m.start;
            self.count += 1;
        }
    }
}

/// `Fatal signal 11 (SIGSEGV): DESCRIPTION [at address 0x...]`, the
/// `Last panic:` line when there is one, and the `Process` line.
pub(crate) fn write_fatal_header(w: &mut Writer, h: &FatalHeader) {
    if w.json_fields() {
        return super::json::fatal_header(w, h);
    }
    let mut line = Buf::<256>::new();
    line.str("Fatal signal ").dec(h.sig as u64).str(" (");
    signals::write_name(&mut line, h.sig);
    line.str("): ");
    if h.stack_overflow {
        line.str("stack overflow");
    } else {
        match h.origin {
            Origin::Fault { desc, code_name } => {
                line.str(desc).str(" (").str(code_name).str(")");
            }
            Origin::Sent { pid, uid } => {
                line.str("sent by pid ")
                    .dec(pid as u64)
                    .str(" uid ")
                    .dec(u64::from(uid));
            }
            Origin::RaisedHere => {
                line.str("abort() or raise() on this thread");
            }
            Origin::Kernel => {
                line.str("raised by the kernel (SI_KERNEL)");
            }
        }
    }
    if let Some(a) = h.fault_addr {
        line.str(" at address ").addr(a);
    }
    line.byte(b'\n');
    w.write(line.as_bytes());
    line.clear();
    match h.then {
        Then::Nothing => {}
        Then::Raised { sig } => {
            line.str("The program's own ");
            signals::write_name(&mut line, h.sig);
            line.str(" handler ran first, then ");
            if sig == libc::SIGABRT {
                line.str("called abort() (SIGABRT)\n");
            } else {
                line.str("raised ");
                signals::write_name(&mut line, sig);
                line.byte(b'\n');
            }
        }
        Then::Looping { times } => {
            line.str("The program's own ");
            signals::write_name(&mut line, h.sig);
            line.str(" handler returned, and the same fault came straight back ")
                .dec(u64::from(times))
                .str(" times\n");
        }
    }
    w.write(line.as_bytes());
    line.clear();
    if super::last_panic::write_last_panic(&mut line, sys::gettid()) {
        w.write(b"Last panic: ");
        w.write(line.as_bytes());
        w.write(b"\n");
    }
    write_process_line(w);
}

/// `Process PID "NAME" at TIME, up UPTIME` and `Command line: ...` (see
/// `report::process`).
pub(crate) fn write_process_line(w: &mut Writer) {
    if w.json_fields() {
        return super::json::process(w);
    }
    super::process::write_process_lines(w);
}

/// A thread's heading: `Current thread TID "NAME" (most recent call first):`
/// or `Thread TID "NAME" (most recent call first):`.
pub(crate) fn write_thread_heading(
    w: &mut Writer,
    tid: i32,
    current: bool,
    known: Option<&[u8; 16]>,
) {
    if w.json_fields() {
        return super::json::thread_heading(w, tid, current, known);
    }
    // Room for a 15-byte name escaped to 60.
    let mut line = Buf::<128>::new();
    line.str(if current {
        "\nCurrent thread "
    } else {
        "\nThread "
    })
    .dec(tid as u64)
    .str(" \"");
    let known = known.map(|n| {
        let len = n.iter().position(|&b| b == 0).unwrap_or(n.len());
        n.get(..len).unwrap_or(&[])
    });
    match known {
        Some(name) if !name.is_empty() => {
            line.ascii(name);
        }
        _ => procfs::write_thread_name(&mut line, tid),
    }
    line.str("\" (most recent call first):\n");
    w.write(line.as_bytes());
}

/// The frame lines of one stack, and the truncation line.
///
/// `frames[0]` is the interrupted instruction when `first_is_pc` (look it
/// up as is); every other frame is a return address (look it up at
/// address - 1, which lies inside the call instruction).
///
/// Each frame is named `NAME+0xOFF` by the in-handler symbolizer
/// (`symbolize::lookup`), or `??`; its lookups are bounded in time, so a
/// frame it cannot name in time is `??` too.
///
/// `symbols` is the claim's symbolizer storage.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_frames(
    w: &mut Writer,
    late: &mut Late,
    symbols: &mut lookup::Storage,
    frames: &[usize],
    first_is_pc: bool,
    total: usize,
    cut: bool,
    bottom: usize,
    max_frames: usize,
    seen: &mut ModulesSeen,
) {
    let mut symbols = lookup::Session::for_frames(symbols, frames, first_is_pc);
    // The last `bottom` frames are the bottom of a deeper stack: the line
    // that says how many were not shown goes before them, and they keep
    // their true numbers.
    let bottom = bottom.min(frames.len());
    let top = frames.len() - bottom;
    let hidden = total.saturating_sub(frames.len());
    let mut k = 0;
    while k < frames.len() {
        if k == top && bottom > 0 {
            write_not_shown(w, Some(hidden), max_frames);
        }
        // Repetition is folded within the top part and within the bottom.
        let end = if k < top { top } else { frames.len() };
        let (period, more) = repetition(frames.get(k..end).unwrap_or(&[]));
        let shown = period.max(1);
        for j in k..(k + shown).min(frames.len()) {
            let n = if j < top { j } else { j + hidden };
            let ip = frames.get(j).copied().unwrap_or(0);
            write_frame(w, late, &mut symbols, seen, n, ip, n == 0 && first_is_pc);
        }
        if more > 0 {
            write_repeated(w, period, more);
        }
        k += shown.saturating_mul(more + 1);
    }
    drop(symbols);
    if bottom == 0 && (hidden > 0 || cut) {
        write_not_shown(w, if cut { None } else { Some(hidden) }, max_frames);
    }
}

/// The frames a stack repeats from its start: the shortest cycle (of at
/// most [`MAX_PERIOD`] frames) that comes again right after itself, and
/// how many more times it does. `(0, 0)` when the first frame starts no
/// repetition.
pub(crate) fn repetition(frames: &[usize]) -> (usize, usize) {
    for period in 1..=MAX_PERIOD {
        let Some(cycle) = frames.get(..period) else {
            break;
        };
        let more = frames
            .get(period..)
            .unwrap_or(&[])
            .chunks_exact(period)
            .take_while(|c| *c == cycle)
            .count();
        if more > 0 {
            return (period, more);
        }
    }
    (0, 0)
}

/// Cycles up to this many frames long are folded.
pub(crate) const MAX_PERIOD: usize = 4;

/// `  ... previous frame repeated N more times`, or `previous K frames`.
fn write_repeated(w: &mut Writer, period: usize, more: usize) {
    if w.json_fields() {
        return super::json::repeated(w, period, more);
    }
    let mut line = Buf::<96>::new();
    line.str("  ... previous ");
    if period == 1 {
        line.str("frame");
    } else {
        line.dec(period as u64).str(" frames");
    }
    line.str(" repeated ").dec(more as u64).str(" more times\n");
    w.write(line.as_bytes());
}

/// One frame line: `#N`, the address, the name, the module. Names and
/// paths go to the writer directly: the line buffer holds the rest (the
/// handler may run on an 8 KiB alternate stack).
fn write_frame(
    w: &mut Writer,
    late: &mut Late,
    symbols: &mut lookup::Session<'_>,
    seen: &mut ModulesSeen,
    n: usize,
    ip: usize,
    is_pc: bool,
) {
    if w.json_fields() {
        return super::json::frame_lookup(w, late, symbols, seen, n, ip, is_pc);
    }
    let mut line = Buf::<128>::new();
    line.str("  #").dec(n as u64).str("  ").addr(ip).str(" in ");
    w.write(line.as_bytes());
    line.clear();
    // A return address is looked up inside its call instruction.
    let probe = if is_pc { ip } else { ip.wrapping_sub(1) };
    // The rest of the line (and its inlined calls) depends on nothing but
    // the address: a frame already written in this report is copied.
    let key = frame_text::key(ip, is_pc);
    let cacheable = w.is_text();
    if cacheable {
        if let Some(text) = symbols.frame_text(key) {
            if let Some(m) = modules::lookup(probe, late) {
                seen.note(m);
            }
            w.write(text);
            return;
        }
        w.tee_begin();
    }
    let lasting = write_frame_rest(w, late, symbols, seen, ip, probe);
    if cacheable {
        if let Some(text) = w.tee_end() {
            symbols.remember_frame_text(key, text, lasting);
        }
    }
}

/// A frame's line after `in `, and its inlined calls. Returns whether
/// the text may outlast the report: the frame is named, from an index,
/// in a module of the snapshot (nothing in it came from a lookup that
/// may turn out otherwise next time: a late module, a bounded scan, a
/// file that could not be opened).
fn write_frame_rest(
    w: &mut Writer,
    late: &mut Late,
    symbols: &mut lookup::Session<'_>,
    seen: &mut ModulesSeen,
    ip: usize,
    probe: usize,
) -> bool {
    let mut line = Buf::<128>::new();
    let mut lasting = false;
    match modules::lookup(probe, late) {
        Some(m) => {
            seen.note(m);
            let settled = modules::lookup_in_snapshot(probe).is_some() && symbols.indexed(m);
            match symbols.lookup(m, probe) {
                Some(f) => {
                    lasting = settled;
                    w.write(line.as_bytes());
                    w.write(f.name);
                    line.clear();
                    line.byte(b'+').hex(ip.wrapping_sub(f.start) as u64, 1);
                }
                None => {
                    line.str("??");
                }
            }
            let vaddr = probe.wrapping_sub(m.bias) as u64;
            let table = symbols.line_table(m);
            let mut chain = [0u32; MAX_INLINE];
            let inlined = table.map_or(0, |t| t.inline_chain(vaddr, &mut chain));
            // The frame's own line: where its outermost inlined call is
            // made, or else the line of the code itself.
            let own = match (table, inlined.checked_sub(1)) {
                (Some(t), Some(outer)) => chain.get(outer).and_then(|&c| t.call_site(c)),
                (Some(t), None) => t.location(vaddr),
                (None, _) => None,
            };
            if let Some(loc) = own {
                w.write(line.as_bytes());
                line.clear();
                write_location(w, loc);
            }
            line.str(" (");
            // 16 bytes a piece: escaped, a piece is at most 64.
            for part in m.path().chunks(16) {
                w.write(line.as_bytes());
                line.clear();
                line.ascii(part);
            }
            line.str(" +")
                .hex(ip.wrapping_sub(m.bias) as u64, 1)
                .str(")\n");
            w.write(line.as_bytes());
            if let Some(t) = table.filter(|_| inlined > 0) {
                lasting &= write_inlined(w, symbols, m, t, vaddr);
            }
        }
        None => {
            w.write(b"?? (??)\n");
        }
    }
    lasting
}

/// `  ... N frames not shown (max_frames M)`, or `... more frames not
/// shown` when the count is unknown (the walk stopped early).
fn write_not_shown(w: &mut Writer, count: Option<usize>, max_frames: usize) {
    if w.json_fields() {
        return super::json::not_shown(w, count, max_frames, b"");
    }
    let mut line = Buf::<96>::new();
    line.str("  ... ");
    match count {
        Some(n) => {
            line.dec(n as u64).str(" frames not shown (max_frames ");
        }
        None => {
            line.str("more frames not shown (max_frames ");
        }
    }
    line.dec(max_frames as u64).str(")\n");
    w.write(line.as_bytes());
}

/// ` at FILE:LINE`.
fn write_location(w: &mut Writer, loc: Loc) {
    w.write(b" at ");
    write_ascii(w, loc.file);
    let mut n = Buf::<16>::new();
    n.byte(b':').dec(u64::from(loc.line));
    w.write(n.as_bytes());
}

/// The inlined calls at `vaddr` in a module with line tables `t`, one
/// line each, innermost first: `      (inlined) NAME at FILE:LINE`. The
/// innermost is at the line of the code itself; each other one at the
/// line where it makes the next inner call.
#[inline(never)]
/// Returns whether every name could be read (a `??` for a name DWARF
/// does not give counts as read).
fn write_inlined(
    w: &mut Writer,
    symbols: &mut lookup::Session<'_>,
    m: &Module,
    t: &LineTable,
    vaddr: u64,
) -> bool {
    let mut chain = [0u32; MAX_INLINE];
    let n = t.inline_chain(vaddr, &mut chain);
    let mut loc = t.location(vaddr);
    let mut all_read = true;
    for &c in chain.get(..n).unwrap_or(&[]) {
        w.write(b"      (inlined) ");
        match symbols.inlined_name(m, t.inline_name(c)) {
            Some(name) if !name.is_empty() => write_ascii(w, name),
            found => {
                all_read &= found.is_some();
                w.write(b"??");
            }
        }
        if let Some(l) = loc {
            write_location(w, l);
        }
        w.write(b"\n");
        loc = t.call_site(c);
    }
    all_read
}

/// The `Modules:` block: range, path and build-id of every module seen.
pub(crate) fn write_modules(w: &mut Writer, late: &mut Late, seen: &ModulesSeen) {
    if w.json_fields() {
        return super::json::modules(w, late, seen);
    }
    if seen.count == 0 {
        return;
    }
    w.write(b"\nModules:\n");
    // Written piece by piece: a path can be 480 bytes, and this runs on
    // alternate stacks as small as 8 KiB.
    let mut range = Buf::<48>::new();
    for &start in seen.starts.get(..seen.count).unwrap_or(&[]) {
        let Some(m) = modules::lookup(start, late) else {
            continue;
        };
        range.clear();
        range
            .str("  ")
            .addr(m.start)
            .byte(b'-')
            .addr(m.end)
            .byte(b' ');
        w.write(range.as_bytes());
        write_ascii(w, m.path());
        let id = m.build_id();
        if !id.is_empty() {
            w.write(b" build-id ");
            for &b in id {
                w.write(crate::runtime::fmt::HexInt::new(u64::from(b), 2).as_bytes());
            }
        }
        w.write(b"\n");
        if let Some(Lines::OverBudget { size, budget }) = index::find(m).map(|ix| ix.lines) {
            let mut l = Buf::<160>::new();
            l.str("    (no source lines for this module: its debug info, ")
                .dec(size.div_ceil(1 << 20))
                .str(" MiB, is over the budget of ")
                .dec(budget >> 20)
                .str(" MiB)\n");
            w.write(l.as_bytes());
        }
    }
}

/// Write a name or path, escaped (see `Buf::ascii`).
pub(crate) fn write_ascii(w: &mut Writer, text: &[u8]) {
    // 16 bytes a piece: escaped, a piece is at most 64.
    for chunk in text.chunks(16) {
        let mut b = Buf::<64>::new();
        b.ascii(chunk);
        w.write(b.as_bytes());
    }
}

/// A thread that gave no stack: `Thread TID "NAME": no stack: REASON`,
/// with ` N ms` appended when `ms` is not 0. A blank line separates it
/// from a stack block before it (`after_block`).
pub(crate) fn write_no_stack_line(
    w: &mut Writer,
    tid: i32,
    after_block: bool,
    reason: &[u8],
    ms: u64,
) {
    if w.json_fields() {
        return super::json::no_stack(w, tid, false, reason, ms);
    }
    let mut line = Buf::<192>::new();
    if after_block {
        line.byte(b'\n');
    }
    line.str("Thread ").dec(tid as u64).str(" \"");
    procfs::write_thread_name(&mut line, tid);
    line.str("\": no stack: ").push(reason);
    if ms != 0 {
        line.dec(ms).str(" ms");
    }
    line.byte(b'\n');
    w.write(line.as_bytes());
}

/// `... N more threads not shown (max_threads M)`.
pub(crate) fn write_threads_cut_line(
    w: &mut Writer,
    more: usize,
    after_block: bool,
    max_threads: usize,
) {
    if w.json_fields() {
        return super::json::threads_cut(w, more, max_threads);
    }
    let mut line = Buf::<96>::new();
    if after_block {
        line.byte(b'\n');
    }
    line.str("... ")
        .dec(more as u64)
        .str(" more threads not shown (max_threads ")
        .dec(max_threads as u64)
        .str(")\n");
    w.write(line.as_bytes());
}

/// The first line of a report that is not a crash.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DumpHeader {
    /// `Dump requested by signal N (SIGNAME) from pid P`.
    Request { sig: i32, pid: i32 },
    /// `Timeout (H:MM:SS.mmm)!`.
    Timeout { ms: u64 },
    /// `Stack dump requested`.
    Code,
}

/// Write the first line of a non-crash report, and the process lines.
pub(crate) fn write_dump_header(w: &mut Writer, h: DumpHeader) {
    if w.json_fields() {
        return super::json::dump_header(w, h);
    }
    let mut line = Buf::<128>::new();
    match h {
        DumpHeader::Request { sig, pid } => {
            line.str("Dump requested by signal ")
                .dec(sig as u64)
                .str(" (");
            signals::write_name(&mut line, sig);
            line.str(") from pid ").dec(pid.max(0) as u64);
        }
        DumpHeader::Timeout { ms } => {
            let s = ms / 1000;
            line.str("Timeout (")
                .dec(s / 3600)
                .byte(b':')
                .push(two(s / 60 % 60).as_slice())
                .byte(b':')
                .push(two(s % 60).as_slice())
                .byte(b'.')
                .push(three(ms % 1000).as_slice())
                .str(")!");
        }
        DumpHeader::Code => {
            line.str("Stack dump requested");
        }
    }
    line.byte(b'\n');
    w.write(line.as_bytes());
    write_process_line(w);
}

#[cfg(test)]
#[allow(unsafe_code)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod tests {
    use super::*;

    /// Run `f` on a writer to a pipe and return what it wrote.
    fn written(f: impl FnOnce(&mut Writer)) -> String {
        String::from_utf8_lossy(&crate::runtime::writer::written_to_pipe(false, f)).into_owned()
    }

    #[inline(never)]
    fn here_one() -> usize {
        std::hint::black_box(here_one as *const () as usize + 4)
    }

    #[inline(never)]
    fn here_two() -> usize {
        std::hint::black_box(here_two as *const () as usize + 4)
    }

    /// A frame seen again in the same report is copied from the frame
    /// text cache: its text is the first one's, byte for byte.
    #[test]
    fn a_frame_seen_again_reads_the_same() {
        let _g = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        crate::indexer::modules::snapshot();
        crate::runtime::stack::prepare();
        let (a, b) = (here_one(), here_two());
        let mut claim = crate::signal::claim::Claim::dump(sys::gettid(), 1000).expect("claim");
        let crate::signal::claim::Scratch {
            seen,
            late,
            symbols,
            ..
        } = claim.scratch();
        let frames = [a, b, a, a + 1, b];
        let t = written(|w| {
            seen.clear();
            lookup::begin_report(symbols, u64::MAX, None);
            write_frames(w, late, symbols, &frames, false, 5, false, 0, 100, seen);
        });
        let frame_lines: Vec<&str> = t.lines().filter(|l| l.starts_with("  #")).collect();
        assert_eq!(frame_lines.len(), 5, "{t}");
        let first: Vec<&str> = frame_lines
            .iter()
            .map(|l| l.split_once(" in ").unwrap().1)
            .collect();
        assert!(first[0].contains("here_one"), "{t}");
        assert!(first[1].contains("here_two"), "{t}");
        assert_eq!(first[0], first[2], "{t}");
        assert_eq!(first[1], first[4], "{t}");
        // Another address in the same function is another frame.
        assert_ne!(first[0], first[3], "{t}");
        assert!(frame_lines[2].starts_with("  #2  "), "{t}");
        assert_eq!(seen.starts().len(), 1, "the module is noted");
        // And the cache holds what was written.
        let s = lookup::Session::new(symbols);
        let kept = s.frame_text(frame_text::key(a, false)).expect("kept");
        assert!(String::from_utf8_lossy(kept).starts_with(first[0]), "{t}");
    }

    /// A dump in an unchanged process copies the frames an earlier dump
    /// named (a module of the snapshot, named from its index); a library
    /// loaded in between, or a report that cannot tell, names afresh.
    #[test]
    fn frames_outlast_a_report_while_nothing_is_loaded() {
        let _g = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        crate::indexer::modules::snapshot();
        crate::runtime::stack::prepare();
        crate::indexer::run::build_missing();
        let (a, b) = (here_one(), here_two());
        let mut claim = crate::signal::claim::Claim::dump(sys::gettid(), 1000).expect("claim");
        let crate::signal::claim::Scratch {
            seen,
            late,
            symbols,
            ..
        } = claim.scratch();
        let (loads, unloads) = crate::indexer::modules::loader_counts().expect("glibc counts");
        let world = lookup::world(loads, unloads);
        let frames = [a, b];
        let mut report = |symbols: &mut lookup::Storage, w: Option<frame_text::World>| {
            written(|wr| {
                seen.clear();
                lookup::begin_report(symbols, u64::MAX, w);
                write_frames(wr, late, symbols, &frames, false, 2, false, 0, 100, seen);
            })
        };
        let first = report(symbols, Some(world));
        assert!(
            first.contains("here_one") && first.contains("here_two"),
            "{first}"
        );
        let kept = |symbols: &mut lookup::Storage| {
            lookup::Session::new(symbols)
                .frame_text(frame_text::key(a, false))
                .is_some()
        };
        // The next report in the same world starts with both frames known,
        // and writes them exactly as the first did.
        lookup::begin_report(symbols, u64::MAX, Some(world));
        assert!(kept(symbols));
        let second = report(symbols, Some(world));
        assert_eq!(first, second);
        // A library loaded since: nothing is kept.
        let moved = frame_text::World {
            loads: loads + 1,
            ..world
        };
        lookup::begin_report(symbols, u64::MAX, Some(moved));
        assert!(!kept(symbols));
        // A report in a world nobody vouches for keeps nothing either.
        lookup::begin_report(symbols, u64::MAX, Some(world));
        let _ = report(symbols, Some(world));
        lookup::begin_report(symbols, u64::MAX, None);
        assert!(!kept(symbols));
    }

    #[test]
    fn dump_headers() {
        let t = written(|w| write_dump_header(w, DumpHeader::Timeout { ms: 3_723_500 }));
        assert!(t.starts_with("Timeout (1:02:03.500)!\nProcess "), "{t}");
        let t = written(|w| write_dump_header(w, DumpHeader::Timeout { ms: 200 }));
        assert!(t.starts_with("Timeout (0:00:00.200)!\n"), "{t}");
        let t = written(|w| write_dump_header(w, DumpHeader::Request { sig: 3, pid: 77 }));
        assert!(
            t.starts_with("Dump requested by signal 3 (SIGQUIT) from pid 77\nProcess "),
            "{t}"
        );
        let t = written(|w| write_dump_header(w, DumpHeader::Code));
        assert!(t.starts_with("Stack dump requested\nProcess "), "{t}");
        assert!(t.contains("\nCommand line: "), "{t}");
    }

    #[test]
    fn thread_lines() {
        let tid = sys::gettid();
        let t = written(|w| {
            write_no_stack_line(w, tid, true, b"the thread blocks the dump signal", 0);
            write_no_stack_line(w, tid, false, b"no answer within ", 100);
            write_threads_cut_line(w, 37, false, 100);
        });
        let mut name = Buf::<32>::new();
        procfs::write_thread_name(&mut name, tid);
        let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
        assert_eq!(
            t,
            format!(
                "\nThread {tid} \"{name}\": no stack: the thread blocks the dump signal\n\
                 Thread {tid} \"{name}\": no stack: no answer within 100 ms\n\
                 ... 37 more threads not shown (max_threads 100)\n"
            )
        );
    }
}
