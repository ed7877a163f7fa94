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
use crate::symbolize::lookup;

/// Everything the header of a fatal report needs.
pub(crate) struct FatalHeader {
    pub sig: i32,
    pub origin: Origin,
    pub fault_addr: Option<usize>,
    pub stack_overflow: bool,
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

    fn note(&mut self, m: &Module) {
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
    super::process::write_process_lines(w);
}

/// A thread's heading: `Current thread TID "NAME" (most recent call first):`
/// or `Thread TID "NAME" (most recent call first):`.
pub(crate) fn write_thread_heading(w: &mut Writer, tid: i32, current: bool) {
    // Room for a 15-byte name escaped to 60.
    let mut line = Buf::<128>::new();
    line.str(if current {
        "\nCurrent thread "
    } else {
        "\nThread "
    })
    .dec(tid as u64)
    .str(" \"");
    procfs::write_thread_name(&mut line, tid);
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
    max_frames: usize,
    seen: &mut ModulesSeen,
) {
    // Names and paths go to the writer directly: the line buffer holds the
    // rest (the handler may run on an 8 KiB alternate stack).
    let mut line = Buf::<128>::new();
    let mut symbols = lookup::Session::for_frames(symbols, frames, first_is_pc);
    for (n, &ip) in frames.iter().enumerate() {
        line.clear();
        line.str("  #").dec(n as u64).str("  ").addr(ip).str(" in ");
        // A return address is looked up inside its call instruction.
        let probe = if n == 0 && first_is_pc {
            ip
        } else {
            ip.wrapping_sub(1)
        };
        match modules::lookup(probe, late) {
            Some(m) => {
                seen.note(m);
                match symbols.lookup(m, probe) {
                    Some(f) => {
                        w.write(line.as_bytes());
                        w.write(f.name);
                        line.clear();
                        line.byte(b'+').hex(ip.wrapping_sub(f.start) as u64, 1);
                    }
                    None => {
                        line.str("??");
                    }
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
                    .byte(b')');
            }
            None => {
                line.str("?? (??)");
            }
        }
        line.byte(b'\n');
        w.write(line.as_bytes());
    }
    drop(symbols);
    let shown = frames.len();
    if total > shown || cut {
        line.clear();
        line.str("  ... ");
        if cut {
            line.str("more frames not shown (max_frames ");
        } else {
            line.dec((total - shown) as u64)
                .str(" more frames not shown (max_frames ");
        }
        line.dec(max_frames as u64).str(")\n");
        w.write(line.as_bytes());
    }
}

/// The `Modules:` block: range, path and build-id of every module seen.
pub(crate) fn write_modules(w: &mut Writer, late: &mut Late, seen: &ModulesSeen) {
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
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut w = Writer::new(fds[1], 1000);
        f(&mut w);
        w.flush();
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a local buffer, then closing our fds.
        let n = unsafe {
            let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
            libc::close(fds[0]);
            libc::close(fds[1]);
            n
        };
        String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned()
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
