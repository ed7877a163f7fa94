//! Async-signal-safe. Writes report text to a file descriptor.
//!
//! The writer is built for the worst moment: the reader may be gone (a pipe
//! whose reader exited), stuck (a full pipe nobody drains), the fd may be
//! non-blocking, closed, or interrupted by signals. So it:
//! - buffers into a fixed array and writes with `write(2)` in chunks of at
//!   most `PIPE_BUF`, looping on `EINTR` and short writes;
//! - waits with `poll(POLLOUT)` before every chunk, against a time budget
//!   per destination (the write timeout each), so a stuck reader cannot
//!   hang a dying process, a stuck copy (stderr nobody reads) never costs
//!   the report file a byte, and `EAGAIN` on a non-blocking fd is answered
//!   without touching the shared `O_NONBLOCK` flag;
//! - gives up on a destination for good at its first hard error or when
//!   its budget is spent, and then ends it with a line that says so, if
//!   the fd still takes one;
//! - never lets `SIGPIPE` kill the process ([`SigpipeGuard`]).
#![allow(unsafe_code)]

use crate::runtime::json::Track;
use crate::runtime::sys;

/// Writes no more than this at once: a pipe that polled writable takes this
/// much without blocking.
const CHUNK: usize = 4096;

/// A buffered, deadline-bounded writer to one fd, and optionally a copy to
/// a second one (a report file and stderr).
pub(crate) struct Writer {
    fds: [i32; 2],
    failed: [bool; 2],
    /// Time left to wait on each destination, in milliseconds.
    budget_ms: [u64; 2],
    buf: [u8; CHUNK],
    len: usize,
    written: usize,
    /// A JSON-lines report: the syntax of everything queued (`queued`)
    /// and of everything flushed (`sent`), so that a destination cut
    /// short can be ended as a valid JSON object.
    json: bool,
    queued: Track,
    sent: Track,
    /// Inside a JSON string that takes report text: every byte written is
    /// escaped (see [`Writer::begin_text`]).
    text: bool,
    /// A copy of what is written since [`Writer::tee_begin`] (a frame's
    /// text, to be remembered), and its length; `None` when off or when
    /// it did not fit.
    tee: [u8; TEE],
    tee_len: Option<usize>,
}

/// The most [`Writer::tee_begin`] copies.
pub(crate) const TEE: usize = 4096;

impl Writer {
    /// A writer to `fd` that stops writing `timeout_ms` from now.
    /// A negative fd discards everything (used to warm the code path up).
    /// (Tests only: the writer is 8 KiB; reports use the claim's, in
    /// static storage, through [`Writer::reset`].)
    #[cfg(test)]
    pub(crate) fn new(fd: i32, timeout_ms: u64) -> Self {
        Self::with_copy(fd, -1, timeout_ms)
    }

    /// A writer to `fd` and to `copy` (when `copy` is not negative), each
    /// with `timeout_ms` to spend waiting for its reader. A failure on one
    /// does not stop the other.
    #[cfg(test)]
    pub(crate) fn with_copy(fd: i32, copy: i32, timeout_ms: u64) -> Self {
        let mut w = Writer::IDLE;
        w.reset(fd, copy, timeout_ms);
        w
    }

    /// A writer that writes nothing, for static storage; [`Writer::reset`]
    /// points it at an fd.
    pub(crate) const IDLE: Writer = Writer {
        fds: [-1, -1],
        failed: [true, true],
        budget_ms: [0, 0],
        buf: [0; CHUNK],
        len: 0,
        written: 0,
        json: false,
        queued: Track::new(),
        sent: Track::new(),
        text: false,
        tee: [0; TEE],
        tee_len: None,
    };

    /// Start over, writing to `fd` and to `copy` (when `copy` is not
    /// negative), each with `timeout_ms` to spend waiting for its reader,
    /// in place: a writer in static storage never passes through the
    /// (small, alternate) stack.
    pub(crate) fn reset(&mut self, fd: i32, copy: i32, timeout_ms: u64) {
        self.fds = [fd, copy];
        self.failed = [fd < 0, copy < 0 || copy == fd];
        self.budget_ms = [timeout_ms, timeout_ms];
        self.len = 0;
        self.written = 0;
        self.json = false;
        self.queued = Track::new();
        self.sent = Track::new();
        self.text = false;
        self.tee_len = None;
    }

    /// Whether this is a plain text report (not JSON lines), whose bytes
    /// depend on nothing but what is written.
    pub(crate) fn is_text(&self) -> bool {
        !self.json
    }

    /// Start copying what is written (up to [`TEE`] bytes).
    pub(crate) fn tee_begin(&mut self) {
        self.tee_len = Some(0);
    }

    /// Stop copying: what was written since [`Writer::tee_begin`], or
    /// `None` when it was longer than [`TEE`].
    pub(crate) fn tee_end(&mut self) -> Option<&[u8]> {
        let n = self.tee_len.take()?;
        self.tee.get(..n)
    }

    /// Write JSON lines (`true`) or text from now on; read once per
    /// report, right after [`Writer::reset`].
    pub(crate) fn set_json(&mut self, json: bool) {
        self.json = json;
    }

    /// The syntax state of a JSON-lines report (everything queued so
    /// far), or `None` for a text report.
    pub(crate) fn json(&self) -> Option<&Track> {
        self.json.then_some(&self.queued)
    }

    /// Whether a line writer writes JSON fields (a JSON-lines report, and
    /// not inside [`Writer::begin_text`]) rather than its text line.
    pub(crate) fn json_fields(&self) -> bool {
        self.json && !self.text
    }

    /// Open a JSON string that takes report text: from now until
    /// [`Writer::end_text`], the text lines written go into it, escaped
    /// (see `Buf::json`). Nothing happens in a text report.
    pub(crate) fn begin_text(&mut self) {
        if self.json && !self.text {
            self.write(b"\"");
            self.text = true;
        }
    }

    /// Close the string [`Writer::begin_text`] opened.
    pub(crate) fn end_text(&mut self) {
        if self.text {
            self.text = false;
            self.write(b"\"");
        }
    }

    /// End the JSON text queued so far down to `depth` open brackets (see
    /// [`Track::close`]): 0 ends the report with `"cut_short":"REASON"`.
    pub(crate) fn close_json(&mut self, depth: usize, reason: &[u8]) {
        if !self.json {
            return;
        }
        self.text = false;
        let mut track = self.queued;
        track.close(depth, reason, &mut |s| self.write_raw(s));
    }

    /// Allow at least `ms` more on each destination (for a last line).
    pub(crate) fn extend_deadline(&mut self, ms: u64) {
        for b in &mut self.budget_ms {
            *b = (*b).max(ms);
        }
    }

    /// Queue bytes, flushing as the buffer fills.
    pub(crate) fn write(&mut self, data: &[u8]) {
        if self.text {
            // 16 bytes a piece: escaped, a piece is at most 96.
            for piece in data.chunks(16) {
                let mut b = crate::runtime::fmt::Buf::<96>::new();
                b.json(piece);
                self.write_raw(b.as_bytes());
            }
        } else {
            self.write_raw(data);
        }
    }

    fn write_raw(&mut self, mut data: &[u8]) {
        if self.json {
            self.queued.feed(data);
        }
        if let Some(n) = self.tee_len {
            self.tee_len = match self.tee.get_mut(n..n + data.len()) {
                Some(dst) => {
                    dst.copy_from_slice(data);
                    Some(n + data.len())
                }
                None => None,
            };
        }
        while !data.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let room = self.buf.len() - self.len;
            let n = room.min(data.len());
            if let (Some(dst), Some(src)) =
                (self.buf.get_mut(self.len..self.len + n), data.get(..n))
            {
                dst.copy_from_slice(src);
            }
            self.len += n;
            data = data.get(n..).unwrap_or(&[]);
        }
    }

    /// Write everything queued so far.
    pub(crate) fn flush(&mut self) {
        let len = self.len;
        self.len = 0;
        let data = self.buf.get(..len).unwrap_or(&[]);
        let sent = self.sent;
        self.sent = self.queued;
        for i in 0..2 {
            if self.failed[i] {
                continue;
            }
            let start = sys::monotonic_ms();
            let deadline = start.saturating_add(self.budget_ms[i]);
            let mut done = 0;
            let r = write_counted(self.fds[i], data, deadline, &mut done);
            let spent = sys::monotonic_ms().saturating_sub(start);
            self.budget_ms[i] = self.budget_ms[i].saturating_sub(spent);
            match r {
                Ok(()) if i == 0 => self.written += len,
                Ok(()) => {}
                Err(stuck) => {
                    self.failed[i] = true;
                    if stuck {
                        // Say so, where the fd still takes a line.
                        let deadline = sys::monotonic_ms().saturating_add(CUT_LINE_MS);
                        if self.json {
                            // End the JSON where the fd stopped taking it.
                            let mut track = sent;
                            track.feed(data.get(..done).unwrap_or(&[]));
                            let fd = self.fds[i];
                            track.close(0, CUT_REASON, &mut |s| {
                                let _ = write_all(fd, s, deadline);
                            });
                        } else {
                            let _ = write_all(self.fds[i], CUT_LINE, deadline);
                        }
                    }
                }
            }
        }
    }

    /// Whether every byte so far reached the fd.
    pub(crate) fn ok(&self) -> bool {
        !self.failed[0]
    }

    /// Bytes that reached the first fd.
    #[cfg(test)]
    pub(crate) fn written(&self) -> usize {
        self.written
    }
}

/// Tests: run `f` on a writer to a pipe (JSON lines with `json`) and
/// return the bytes it wrote.
#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
pub(crate) fn written_to_pipe(json: bool, f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let mut w = Writer::new(fds[1], 1000);
    w.set_json(json);
    f(&mut w);
    w.flush();
    let mut buf = vec![0u8; 65536];
    // SAFETY: reading into a local buffer, then closing our fds.
    let n = unsafe {
        let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
        libc::close(fds[0]);
        libc::close(fds[1]);
        n
    };
    buf.truncate(n.max(0) as usize);
    buf
}

/// The line that ends a report whose writing ran out of time.
const CUT_LINE: &[u8] = b"\n(the report was cut short: the write deadline passed)\n";
/// Its words, as a JSON-lines report's `cut_short`.
const CUT_REASON: &[u8] = b"the write deadline passed";
/// How long that line may wait.
const CUT_LINE_MS: u64 = 20;

/// Write all of `data` to `fd` before `deadline_ms` (monotonic), or fail:
/// `Err(true)` when the deadline passed, `Err(false)` on an error.
pub(crate) fn write_all(fd: i32, data: &[u8], deadline_ms: u64) -> Result<(), bool> {
    write_counted(fd, data, deadline_ms, &mut 0)
}

/// [`write_all`], counting in `done` the bytes that were written.
fn write_counted(fd: i32, mut data: &[u8], deadline_ms: u64, done: &mut usize) -> Result<(), bool> {
    while !data.is_empty() {
        wait_writable(fd, deadline_ms)?;
        let chunk = data.len().min(CHUNK);
        // SAFETY: `data` is valid for `chunk` bytes.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), chunk) };
        if n > 0 {
            *done += n as usize;
            data = data.get(n as usize..).unwrap_or(&[]);
            continue;
        }
        if n == 0 {
            return Err(false);
        }
        match sys::errno() {
            libc::EINTR | libc::EAGAIN => continue,
            _ => return Err(false),
        }
    }
    Ok(())
}

/// Poll `fd` for writability until the deadline: `Err(true)` when it
/// passed, `Err(false)` when the fd is broken.
fn wait_writable(fd: i32, deadline_ms: u64) -> Result<(), bool> {
    loop {
        let now = sys::monotonic_ms();
        if now >= deadline_ms {
            return Err(true);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let wait = (deadline_ms - now).min(i32::MAX as u64) as i32;
        // SAFETY: `pfd` is one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, wait) };
        if r < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            return Err(false);
        }
        if r == 0 {
            return Err(true);
        }
        if pfd.revents & (libc::POLLNVAL | libc::POLLERR) != 0 {
            return Err(false);
        }
        // POLLHUP: the reader is gone. The write will fail with EPIPE, which
        // the SigpipeGuard keeps from killing us.
        return Ok(());
    }
}

/// Keeps `SIGPIPE` from killing the process while the report is written.
///
/// Blocks `SIGPIPE` on the calling thread; when dropped, consumes a
/// `SIGPIPE` that our writes made pending (but not one that was already
/// pending before) and restores the thread's mask. Adding `SIGPIPE` to
/// `sa_mask` alone is not enough: the signal would be delivered as soon as
/// the handler returns.
pub(crate) struct SigpipeGuard {
    old_mask: libc::sigset_t,
    was_pending: bool,
}

impl SigpipeGuard {
    /// Block `SIGPIPE` for the calling thread.
    pub(crate) fn new() -> Self {
        let set = sys::sigset_of(&[libc::SIGPIPE]);
        let old_mask = sys::thread_sigmask(libc::SIG_BLOCK, &set);
        SigpipeGuard {
            old_mask,
            was_pending: sigpipe_pending(),
        }
    }
}

impl Drop for SigpipeGuard {
    fn drop(&mut self) {
        if !self.was_pending && sigpipe_pending() {
            let set = sys::sigset_of(&[libc::SIGPIPE]);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `set` and `zero` are valid; a null siginfo pointer is
            // allowed. sigtimedwait is async-signal-safe.
            unsafe { libc::sigtimedwait(&set, core::ptr::null_mut(), &zero) };
        }
        sys::thread_sigmask(libc::SIG_SETMASK, &self.old_mask);
    }
}

fn sigpipe_pending() -> bool {
    // SAFETY: an all-zero sigset_t is valid, and sigpending writes into it.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe { libc::sigpending(&mut set) };
    sys::sigset_has(&set, libc::SIGPIPE)
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

    fn pipe() -> (i32, i32) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two fds.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        (fds[0], fds[1])
    }

    #[test]
    fn writes_everything_in_order() {
        let (r, w) = pipe();
        let mut wr = Writer::new(w, 1000);
        for i in 0..100u8 {
            wr.write(&[b'a' + i % 26; 10]);
        }
        wr.flush();
        assert!(wr.ok());
        assert_eq!(wr.written(), 1000);
        let mut buf = [0u8; 2000];
        // SAFETY: `buf` is writable.
        let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(n, 1000);
        assert_eq!(&buf[..10], b"aaaaaaaaaa");
        assert_eq!(&buf[990..1000], &[b'a' + 99 % 26; 10]);
        // SAFETY: closing fds we own.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }

    #[test]
    fn full_pipe_gives_up_at_the_deadline() {
        let (r, w) = pipe();
        // SAFETY: plain fcntl on our own fd.
        unsafe { libc::fcntl(w, libc::F_SETFL, libc::O_NONBLOCK) };
        let big = [b'x'; 8192];
        let start = sys::monotonic_ms();
        let mut wr = Writer::new(w, 200);
        for _ in 0..64 {
            wr.write(&big);
        }
        wr.flush();
        let took = sys::monotonic_ms() - start;
        assert!(!wr.ok());
        assert!(wr.written() >= 4096, "wrote {}", wr.written());
        assert!(took >= 150, "gave up after {took} ms");
        // SAFETY: closing fds we own.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }

    #[test]
    fn copies_to_a_second_fd_even_when_the_first_fails() {
        let (r, w) = pipe();
        let mut wr = Writer::with_copy(987_654, w, 1000);
        wr.write(b"report\n");
        wr.flush();
        assert!(!wr.ok());
        let mut buf = [0u8; 16];
        // SAFETY: `buf` is writable.
        let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(&buf[..n as usize], b"report\n");
        // SAFETY: closing fds we own.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }

    #[test]
    fn closed_fd_fails_without_hanging() {
        let mut wr = Writer::new(987_654, 1000);
        wr.write(b"hello");
        wr.flush();
        assert!(!wr.ok());
    }
}
