//! Async-signal-safe. The JSON-lines form of the report: for each line
//! writer of [`lines`](super::lines), the JSON field(s) that say the same
//! thing, written as a stream with no allocation.
//!
//! The composer ([`compose_header`](super::compose_header),
//! [`compose_body`](super::compose_body)) decides what a report says, in
//! the same order for both formats; each line writer hands over to the
//! function here of the same name when its [`Writer`] writes JSON fields.
//! Where a value goes follows from the JSON written so far, which the
//! writer tracks ([`Track`](crate::runtime::json::Track)): a thread heading
//! closes the previous thread and opens `"threads"` when needed, a frame
//! opens its thread's `"frames"`, and so on. Objects stay open until the
//! next item, so that what follows a frame (`repeated`, `not_shown`, and
//! later `file`, `line`, `inlined`) is added to it.
//!
//! Strings are escaped by `Buf::json` (ASCII out, a byte of 0x80 and
//! above as `\u00NN`), in pieces of 16 bytes; every buffer is on the stack
//! and small (the report stack, or an 8 KiB alternate stack for the
//! nested-fault note). The schema is in the crate docs, "JSON lines".

use super::lines::{DumpHeader, FatalHeader, ModulesSeen};
use crate::runtime::fmt::{Buf, HexInt};
use crate::runtime::modules::{self, Late};
use crate::runtime::procfs;
use crate::runtime::signals::{self, Origin};
use crate::runtime::sys;
use crate::runtime::writer::Writer;

/// Depth of the report object's members.
const TOP: usize = 1;
/// Depth of a thread object's members.
const THREAD: usize = 3;
/// Depth of a frame object's members.
const FRAME: usize = 5;

fn depth(w: &Writer) -> usize {
    w.json().map_or(0, |t| t.depth())
}

/// Close brackets until `depth` are open.
fn close_to(w: &mut Writer, depth: usize) {
    let mut guard = 0;
    while let Some(t) = w.json() {
        if t.depth() <= depth || guard > crate::runtime::json::MAX_DEPTH {
            break;
        }
        let close: &[u8] = if t.innermost() == b'{' { b"}" } else { b"]" };
        w.write(close);
        guard += 1;
    }
}

/// `"name":`, after a `,` when the container has a member already.
fn key(w: &mut Writer, name: &str) {
    if w.json().is_some_and(|t| t.needs_comma()) {
        w.write(b",");
    }
    w.write(b"\"");
    w.write(name.as_bytes());
    w.write(b"\":");
}

/// A `,` before an array element when one came before.
fn element(w: &mut Writer) {
    if w.json().is_some_and(|t| t.needs_comma()) {
        w.write(b",");
    }
}

/// A JSON string of any bytes (escaped by the writer, see
/// [`Writer::begin_text`]).
fn string(w: &mut Writer, text: &[u8]) {
    w.begin_text();
    w.write(text);
    w.end_text();
}

fn number(w: &mut Writer, v: u64) {
    let mut b = Buf::<24>::new();
    b.dec(v);
    w.write(b.as_bytes());
}

/// An address or offset: a string, `"0x"` and hex digits (`addr`: 16 of
/// them), since JSON numbers lose precision above 2^53.
fn hex(w: &mut Writer, v: usize, addr: bool) {
    let mut b = Buf::<24>::new();
    b.byte(b'"')
        .hex(v as u64, if addr { 16 } else { 1 })
        .byte(b'"');
    w.write(b.as_bytes());
}

fn field_number(w: &mut Writer, name: &str, v: u64) {
    key(w, name);
    number(w, v);
}

fn field_str(w: &mut Writer, name: &str, text: &[u8]) {
    key(w, name);
    string(w, text);
}

fn field_null(w: &mut Writer, name: &str) {
    key(w, name);
    w.write(b"null");
}

/// Start a report object: `{"kind":KIND`.
pub(crate) fn begin(w: &mut Writer, kind: &str) {
    close_to(w, 0);
    w.write(b"{");
    field_str(w, "kind", kind.as_bytes());
}

/// `"signal":{"number":N,"name":"SIGNAME"`, left open.
fn signal_object(w: &mut Writer, sig: i32) {
    key(w, "signal");
    w.write(b"{");
    field_number(w, "number", sig.max(0) as u64);
    let mut name = Buf::<32>::new();
    signals::write_name(&mut name, sig);
    field_str(w, "name", name.as_bytes());
}

/// The first lines of a crash: `"header"` (the text report's first lines,
/// as they read), then `"signal"`, `"last_panic"` and `"process"`.
pub(crate) fn fatal_header(w: &mut Writer, h: &FatalHeader) {
    begin(w, "fatal");
    key(w, "header");
    w.begin_text();
    super::lines::write_fatal_header(w, h);
    w.end_text();
    signal_object(w, h.sig);
    let (code, description, sender): (Option<&str>, &str, Option<(i32, u32)>) = match h.origin {
        Origin::Fault { desc, code_name } => (Some(code_name), desc, None),
        Origin::Sent { pid, uid } => (None, "sent", Some((pid, uid))),
        Origin::RaisedHere => (None, "abort() or raise() on this thread", None),
        Origin::Kernel => (Some("SI_KERNEL"), "raised by the kernel", None),
    };
    match code {
        Some(c) => field_str(w, "code", c.as_bytes()),
        None => field_null(w, "code"),
    }
    let description = if h.stack_overflow {
        "stack overflow"
    } else {
        description
    };
    field_str(w, "description", description.as_bytes());
    key(w, "stack_overflow");
    w.write(if h.stack_overflow { b"true" } else { b"false" });
    match h.fault_addr {
        Some(a) => {
            key(w, "address");
            hex(w, a, true);
        }
        None => field_null(w, "address"),
    }
    match sender {
        Some((pid, uid)) => {
            field_number(w, "sender_pid", pid.max(0) as u64);
            field_number(w, "sender_uid", u64::from(uid));
        }
        None => {
            field_null(w, "sender_pid");
            field_null(w, "sender_uid");
        }
    }
    w.write(b"}");
    let mut text = Buf::<256>::new();
    if super::last_panic::write_last_panic(&mut text, crate::runtime::sys::gettid()) {
        // The text is escaped for the text report already (`Buf::ascii`).
        field_str(w, "last_panic", text.as_bytes());
    } else {
        field_null(w, "last_panic");
    }
    process(w);
}

/// The first lines of a dump: `"header"`, then what the trigger was, then
/// `"process"`.
pub(crate) fn dump_header(w: &mut Writer, h: DumpHeader) {
    begin(
        w,
        match h {
            DumpHeader::Request { .. } => "dump_request",
            DumpHeader::Timeout { .. } => "timeout",
            DumpHeader::Code => "dump",
        },
    );
    key(w, "header");
    w.begin_text();
    super::lines::write_dump_header(w, h);
    w.end_text();
    match h {
        DumpHeader::Request { sig, pid } => {
            signal_object(w, sig);
            field_number(w, "sender_pid", pid.max(0) as u64);
            w.write(b"}");
        }
        DumpHeader::Timeout { ms } => field_number(w, "timeout_ms", ms),
        DumpHeader::Code => {}
    }
    process(w);
}

/// `"process":{"pid":PID,"name":"NAME"}`.
pub(crate) fn process(w: &mut Writer) {
    close_to(w, TOP);
    key(w, "process");
    w.write(b"{");
    field_number(w, "pid", sys::getpid().max(0) as u64);
    let mut path = [0u8; 512];
    field_str(w, "name", procfs::read_exe_name(&mut path));
    w.write(b"}");
}

/// A thread's object in `"threads"`: `{"tid":TID,"name":"NAME",
/// "current":BOOL`, left open for its frames.
pub(crate) fn thread_heading(w: &mut Writer, tid: i32, current: bool, known: Option<&[u8; 16]>) {
    open_thread(w, tid, known);
    key(w, "current");
    w.write(if current { b"true" } else { b"false" });
}

fn open_thread(w: &mut Writer, tid: i32, known: Option<&[u8; 16]>) {
    if depth(w) >= 2 {
        close_to(w, 2);
    } else {
        close_to(w, TOP);
        key(w, "threads");
        w.write(b"[");
    }
    element(w);
    w.write(b"{");
    field_number(w, "tid", tid.max(0) as u64);
    let known = known.map(|n| {
        let len = n.iter().position(|&b| b == 0).unwrap_or(n.len());
        n.get(..len).unwrap_or(&[])
    });
    let mut name = [0u8; 32];
    match known {
        Some(n) if !n.is_empty() => field_str(w, "name", n),
        _ => field_str(w, "name", procfs::read_thread_name(tid, &mut name)),
    }
}

/// A frame, `{"n":N,"addr":"0x...","name":"NAME"|null,"offset":"0x..."|null,
/// "module":"PATH"|null,"module_offset":"0x..."|null`, left open (for
/// `repeated`, `not_shown`, and the lines that follow a frame).
/// `name` is the symbol and the address's offset into it; `module` the
/// module's path and the address minus its load bias.
pub(crate) fn frame(
    w: &mut Writer,
    n: usize,
    ip: usize,
    name: Option<(&[u8], usize)>,
    module: Option<(&[u8], usize)>,
) {
    match depth(w) {
        THREAD => {
            key(w, "frames");
            w.write(b"[");
        }
        d if d > 4 => close_to(w, 4),
        _ => {}
    }
    element(w);
    w.write(b"{");
    field_number(w, "n", n as u64);
    key(w, "addr");
    hex(w, ip, true);
    match name {
        Some((name, off)) => {
            field_str(w, "name", name);
            key(w, "offset");
            hex(w, off, false);
        }
        None => {
            field_null(w, "name");
            field_null(w, "offset");
        }
    }
    match module {
        Some((path, off)) => {
            field_str(w, "module", path);
            key(w, "module_offset");
            hex(w, off, false);
        }
        None => {
            field_null(w, "module");
            field_null(w, "module_offset");
        }
    }
}

/// On the frame that ends a repeated run: `"repeated":{"frames":K,
/// "more":N}` (the K frames up to this one come N more times).
pub(crate) fn repeated(w: &mut Writer, period: usize, more: usize) {
    close_to(w, FRAME);
    key(w, "repeated");
    w.write(b"{");
    field_number(w, "frames", period.max(1) as u64);
    field_number(w, "more", more as u64);
    w.write(b"}");
}

/// Frames left out: `"not_shown":{"count":N|null,"max_frames":M}` on the
/// last frame shown before them (on the thread when it shows none), or
/// with `"reason"` instead of `"max_frames"`.
pub(crate) fn not_shown(w: &mut Writer, count: Option<usize>, max_frames: usize, reason: &[u8]) {
    if depth(w) >= FRAME {
        close_to(w, FRAME);
    } else {
        close_to(w, THREAD);
    }
    key(w, "not_shown");
    w.write(b"{");
    match count {
        Some(n) => field_number(w, "count", n as u64),
        None => field_null(w, "count"),
    }
    if reason.is_empty() {
        field_number(w, "max_frames", max_frames as u64);
    } else {
        field_str(w, "reason", reason);
    }
    w.write(b"}");
}

/// A thread without a stack: `{"tid":TID,"name":"NAME","current":BOOL,
/// "no_stack":"REASON"}` in `"threads"`.
pub(crate) fn no_stack(w: &mut Writer, tid: i32, current: bool, reason: &[u8], ms: u64) {
    thread_heading(w, tid, current, None);
    key(w, "no_stack");
    w.begin_text();
    w.write(reason);
    if ms != 0 {
        number(w, ms);
        w.write(b" ms");
    }
    w.end_text();
    w.write(b"}");
}

/// `"threads_not_shown":{"count":N,"max_threads":M}`.
pub(crate) fn threads_cut(w: &mut Writer, more: usize, max_threads: usize) {
    close_to(w, TOP);
    key(w, "threads_not_shown");
    w.write(b"{");
    field_number(w, "count", more as u64);
    field_number(w, "max_threads", max_threads as u64);
    w.write(b"}");
}

/// `"others_not_shown":"REASON"`: the other threads were not collected.
pub(crate) fn others_not_shown(w: &mut Writer, reason: &[u8]) {
    close_to(w, TOP);
    field_str(w, "others_not_shown", reason);
}

/// `"modules":[{"start":"0x...","end":"0x...","path":"PATH",
/// "build_id":"HEX"|null},...]`, every module seen (an empty list when no
/// frame referred to one).
pub(crate) fn modules(w: &mut Writer, late: &mut Late, seen: &ModulesSeen) {
    close_to(w, TOP);
    key(w, "modules");
    w.write(b"[");
    for &start in seen.starts() {
        let Some(m) = modules::lookup(start, late) else {
            continue;
        };
        element(w);
        w.write(b"{\"start\":");
        hex(w, m.start, true);
        key(w, "end");
        hex(w, m.end, true);
        field_str(w, "path", m.path());
        let id = m.build_id();
        if id.is_empty() {
            field_null(w, "build_id");
        } else {
            key(w, "build_id");
            w.write(b"\"");
            for &b in id {
                w.write(HexInt::new(u64::from(b), 2).as_bytes());
            }
            w.write(b"\"");
        }
        w.write(b"}");
    }
    w.write(b"]");
}

/// End the report: close it, and end its line.
pub(crate) fn end(w: &mut Writer) {
    close_to(w, 0);
    w.write(b"\n");
}

/// A report that our own handler's fault cut short: complete what was
/// open, add frame #0 (`pc`, when the walk faulted) to the current thread,
/// the modules known so far, and `"cut_short":"signal N (SIGNAME) inside
/// the handler"`.
pub(crate) fn nested_fault(
    w: &mut Writer,
    late: &mut Late,
    seen: &mut ModulesSeen,
    pc: usize,
    sig: i32,
) {
    let now = depth(w);
    w.close_json(now, b"");
    if depth(w) == 0 {
        begin(w, "fatal");
    }
    if pc != 0 && depth(w) == THREAD {
        let module = modules::lookup(pc, late).map(|m| {
            seen.note(m);
            (m.path(), pc.wrapping_sub(m.bias))
        });
        frame(w, 0, pc, None, module);
    }
    close_to(w, TOP);
    modules(w, late, seen);
    let mut reason = Buf::<64>::new();
    reason.str("signal ").dec(sig.max(0) as u64).str(" (");
    signals::write_name(&mut reason, sig);
    reason.str(") inside the handler");
    w.close_json(0, reason.as_bytes());
}

/// [`frame`], with the lookups the text frame line makes: the module
/// (noted in `seen`) and the symbol, at the pc itself for `is_pc` and
/// inside the call instruction (address - 1) for a return address.
pub(crate) fn frame_lookup(
    w: &mut Writer,
    late: &mut Late,
    symbols: &mut crate::symbolize::lookup::Session<'_>,
    seen: &mut ModulesSeen,
    n: usize,
    ip: usize,
    is_pc: bool,
) {
    let probe = if is_pc { ip } else { ip.wrapping_sub(1) };
    match modules::lookup(probe, late) {
        Some(m) => {
            seen.note(m);
            let module = Some((m.path(), ip.wrapping_sub(m.bias)));
            match symbols.lookup(m, probe) {
                Some(f) => frame(w, n, ip, Some((f.name, ip.wrapping_sub(f.start))), module),
                None => frame(w, n, ip, None, module),
            }
            frame_lines(w, symbols, m, probe);
        }
        None => frame(w, n, ip, None, None),
    }
}

/// On the open frame: `"file"` and `"line"` when its line is known (as
/// the text's ` at FILE:LINE`), and `"inlined":[{"name":..,"file":..,
/// "line":..}]`, innermost first, when calls are inlined at the address.
fn frame_lines(
    w: &mut Writer,
    symbols: &mut crate::symbolize::lookup::Session<'_>,
    m: &crate::runtime::modules::Module,
    probe: usize,
) {
    use crate::symbolize::lines::MAX_INLINE;
    let Some(t) = symbols.line_table(m) else {
        return;
    };
    let vaddr = probe.wrapping_sub(m.bias) as u64;
    let mut chain = [0u32; MAX_INLINE];
    let inlined = t.inline_chain(vaddr, &mut chain);
    let own = match inlined.checked_sub(1) {
        Some(outer) => chain.get(outer).and_then(|&c| t.call_site(c)),
        None => t.location(vaddr),
    };
    if let Some(loc) = own {
        field_str(w, "file", loc.file);
        field_number(w, "line", u64::from(loc.line));
    }
    if inlined == 0 {
        return;
    }
    key(w, "inlined");
    w.write(b"[");
    let mut loc = t.location(vaddr);
    for &c in chain.get(..inlined).unwrap_or(&[]) {
        element(w);
        w.write(b"{");
        match symbols.inlined_name(m, t.inline_name(c)) {
            Some(name) if !name.is_empty() => field_str(w, "name", name),
            _ => field_null(w, "name"),
        }
        match loc {
            Some(l) => {
                field_str(w, "file", l.file);
                field_number(w, "line", u64::from(l.line));
            }
            None => {
                field_null(w, "file");
                field_null(w, "line");
            }
        }
        w.write(b"}");
        loc = t.call_site(c);
    }
    w.write(b"]");
}

/// The stale-fd note, as a line of its own: `{"kind":"note","message":
/// "..."}` (it is not a report).
pub(crate) fn stale_fd_note(w: &mut Writer, stale: i32) {
    begin(w, "note");
    let mut line = Buf::<160>::new();
    line.str("fd ")
        .dec(stale.max(0) as u64)
        .str(" is no longer the report's file given at enable() (closed, or another file now): the report goes to stderr");
    field_str(w, "message", line.as_bytes());
    end(w);
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
    use super::super::lines::*;
    use super::*;

    /// Run `f` on a JSON-lines writer to a pipe and return what it wrote.
    fn written(f: impl FnOnce(&mut Writer)) -> String {
        String::from_utf8(crate::runtime::writer::written_to_pipe(true, f)).unwrap()
    }

    #[test]
    fn a_dump_as_one_json_line() {
        let tid = sys::gettid();
        let t = written(|w| {
            write_dump_header(w, DumpHeader::Request { sig: 10, pid: 77 });
            write_thread_heading(w, tid, true, None);
            frame(
                w,
                0,
                0x1234,
                Some((b"f\"oo\xff", 0x14)),
                Some((b"/bin/x", 0x234)),
            );
            frame(w, 1, 0x2000, None, None);
            repeated(w, 1, 28);
            not_shown(w, Some(5), 100, b"");
            write_thread_heading(w, tid, false, None);
            not_shown(
                w,
                None,
                100,
                b"the unwinder could not walk past the signal frame",
            );
            write_no_stack_line(w, tid, true, b"no answer within ", 100);
            write_threads_cut_line(w, 37, false, 100);
            modules(w, &mut Late::new(), &ModulesSeen::new());
            end(w);
        });
        assert_eq!(t.matches('\n').count(), 1, "{t}");
        assert!(t.ends_with("}\n"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
        assert_eq!(v["kind"], "dump_request");
        assert!(v["header"]
            .as_str()
            .unwrap()
            .starts_with("Dump requested by signal 10 (SIGUSR1) from pid 77\nProcess "));
        assert_eq!(v["signal"]["name"], "SIGUSR1");
        assert_eq!(v["signal"]["sender_pid"], 77);
        assert_eq!(v["process"]["pid"], std::process::id());
        let threads = v["threads"].as_array().unwrap();
        assert_eq!(threads.len(), 3);
        assert_eq!(threads[0]["tid"], tid);
        assert_eq!(threads[0]["current"], true);
        let frames = threads[0]["frames"].as_array().unwrap();
        assert_eq!(frames[0]["addr"], "0x0000000000001234");
        assert_eq!(frames[0]["name"], "f\"oo\u{ff}");
        assert_eq!(frames[0]["offset"], "0x14");
        assert_eq!(frames[0]["module"], "/bin/x");
        assert_eq!(frames[0]["module_offset"], "0x234");
        assert_eq!(frames[1]["name"], serde_json::Value::Null);
        assert_eq!(frames[1]["repeated"]["more"], 28);
        assert_eq!(frames[1]["not_shown"]["count"], 5);
        assert_eq!(frames[1]["not_shown"]["max_frames"], 100);
        assert_eq!(threads[1]["not_shown"]["count"], serde_json::Value::Null);
        assert_eq!(threads[2]["no_stack"], "no answer within 100 ms");
        assert_eq!(threads[2]["current"], false);
        assert_eq!(v["threads_not_shown"]["count"], 37);
        assert_eq!(v["modules"], serde_json::json!([]));
    }

    #[test]
    fn a_cut_report_still_parses() {
        let t = written(|w| {
            write_dump_header(w, DumpHeader::Timeout { ms: 1500 });
            write_thread_heading(w, sys::gettid(), true, None);
            // A fault in the middle of a frame's name.
            frame(w, 0, 0x1234, None, None);
            key(w, "name2");
            w.write(b"\"half");
            nested_fault(w, &mut Late::new(), &mut ModulesSeen::new(), 0, 11);
        });
        let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
        assert_eq!(v["kind"], "timeout");
        assert_eq!(v["timeout_ms"], 1500);
        assert_eq!(v["threads"][0]["frames"][0]["name2"], "half");
        assert_eq!(v["cut_short"], "signal 11 (SIGSEGV) inside the handler");
        assert_eq!(v["modules"], serde_json::json!([]));
    }
}
