//! Crash and hang reports for native programs, written from inside the
//! signal handler with async-signal-safe code only.
//!
//! Call [`enable`] at the start of `main`. When the process later dies of
//! `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` or `SIGABRT`, a report with the
//! crashing thread's backtrace, then every other thread's, is written to
//! stderr (or the fd you chose), and then the signal is handed to whatever
//! handler was installed before, so the process ends with the same signal,
//! exit status and core dump as it would have without faulthandler.
//!
//! Every thread's stack can also be dumped while the process goes on
//! running:
//! - on a signal: [`register()`] (`kill -USR1 PID`), undone by
//!   [`unregister`]; [`Register`] for the fd and chaining;
//! - from code: [`dump_traceback`];
//! - when the program hangs: [`dump_traceback_later`] arms a watchdog
//!   ([`Watchdog`] for the fd), [`cancel_dump_traceback_later`] disarms it.
//!
//! ```no_run
//! fn main() -> Result<(), faulthandler::Error> {
//!     faulthandler::enable()?;
//!     // ... the program; a crash now prints a report ...
//!     Ok(())
//! }
//! ```
//!
//! # The report
//!
//! The report's text is a contract that people and scripts rely on. It is
//! ASCII, one item per line, and ends with a newline. Addresses are `0x`
//! and 16 hex digits.
//!
//! ```text
//! Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address 0x0000000000000008
//! Process 4242 "myprog" at 2026-12-01T21:22:58.123Z, up 3.204 s
//! Command line: /usr/bin/myprog --port 8080
//!
//! Current thread 4242 "myprog" (most recent call first):
//!   #0  0x000055d1c2a3b1f4 in crash_level3+0x14 at src/parse.c:41 (/usr/bin/myprog +0x3b1f4)
//!       (inlined) read_field at src/parse.c:17
//!   #1  0x000055d1c2a3b2a0 in myprog::level2+0x20 at src/main.rs:88 (/usr/bin/myprog +0x3b2a0)
//!   #2  0x00007f3a1c2b3c4d in ?? (/usr/lib/x86_64-linux-gnu/libfoo.so.1 +0x1c4d)
//!   ... 412 more frames not shown (max_frames 100)
//!
//! Thread 4243 "worker-1" (most recent call first):
//!   #0  0x00007f3a1c0a1b2c in ?? (/usr/lib/x86_64-linux-gnu/libc.so.6 +0x8ab2c)
//!   #1  0x000055d1c2a3c010 in ?? (/usr/bin/myprog +0x3c010)
//!
//! Thread 4250 "db-pool": no stack: the thread blocks the dump signal
//! Thread 4251 "io": no stack: no answer within 100 ms
//!
//! ... 37 more threads not shown (max_threads 100)
//!
//! Modules:
//!   0x000055d1c2a00000-0x000055d1c2b40000 /usr/bin/myprog build-id 3f2a9c...
//! ```
//!
//! - The first line is `Fatal signal N (SIGNAME): DESCRIPTION`, then
//!   ` at address 0x...` when the kernel gives a fault address. The
//!   description is the meaning of `si_code` and its name (`address not
//!   mapped to object (SEGV_MAPERR)`), `stack overflow` for a fault in the
//!   guard area below a stack, `abort() or raise() on this thread` for a
//!   signal the crashing thread sent itself (`SI_TKILL` from our own pid,
//!   with the thread's registers still holding that `tgkill` call), or
//!   `sent by pid P uid U` for a signal sent otherwise (`kill`, another
//!   process, another thread).
//! - After an abort during a Rust panic of the crashing thread (one that
//!   is still unwinding or aborting: `panic = "abort"`, a panic in a
//!   function that cannot unwind, a panic while panicking), the line `Last
//!   panic: MESSAGE at FILE:LINE:COL` comes next, with `; then: ...` for
//!   the panic that followed. A panic that `catch_unwind` caught, or
//!   another thread's, never gives the line. A panic hook set after
//!   [`enable`] that does not call the previous hook is detected, not
//!   chained around: the line then reads `Last panic: (message unknown: a
//!   panic hook set after enable() did not call the one before it)`.
//! - `Process PID "NAME" at TIME, up S.mmm s`, with the executable's file
//!   name, the UTC time of the report (ISO 8601 with milliseconds,
//!   `2026-12-01T21:22:58.123Z`, from `CLOCK_REALTIME`, computed without
//!   `localtime`) and the time since the process started (`CLOCK_BOOTTIME`
//!   minus the start time in `/proc/self/stat`, read at [`enable`]; left
//!   out when nothing read it yet).
//! - `Command line: ARGS`: `/proc/self/cmdline` as read at [`enable`] (or
//!   the first dump), its arguments separated by spaces and escaped like
//!   names; at most 1024 bytes, followed by ` ... (cut: K of N bytes
//!   shown)` when it was longer. An argument that holds a space reads
//!   like two.
//! - With [`Config::registers`] (`FAULTHANDLER_REGISTERS=1`; off by
//!   default, since reports are often shared): `Registers:`, the crashing
//!   thread's general registers from the signal's context, four a line
//!   (`  rax 0x...  rbx 0x...`; x0-x30, sp, pc, pstate on aarch64), then
//!   `Code around pc 0x... (16 bytes before it, 16 from it):` and one line
//!   of 32 hex bytes with ` > ` before the pc's byte. The bytes are read
//!   with `process_vm_readv`, so an unmapped pc gives `??`, never a fault.
//! - The crashing thread's block, headed `Current thread TID "NAME" (most
//!   recent call first):`, where NAME is the kernel's thread name (comm).
//!   Frame `#0` is the faulting instruction; the handler's own frames and
//!   the signal trampoline are not shown.
//! - Names and paths are escaped: `"` as `\"`, `\` as `\\`, and bytes
//!   outside printable ASCII as `\xNN`.
//! - Frame lines read `  #N  0xADDR in NAME+0xOFF at FILE:LINE (MODULE
//!   +0xMODOFF)`, where NAME is the function's symbol (Rust names
//!   demangled, without the hash; C++ names as `c++filt` prints them), OFF the address's offset into it, and
//!   MODOFF the address minus the module's load bias, which is what
//!   `addr2line -e MODULE` takes. An unknown name is `??` (a stripped
//!   binary without a debug file, or a lookup that ran out of time), an
//!   unknown module `(??)`. ` at FILE:LINE` is there when the line is
//!   known: the line in NAME itself (for code inlined into NAME, the line
//!   of the outermost inlined call).
//! - Calls inlined at a frame's address follow it, innermost first, one
//!   line each: `      (inlined) NAME at FILE:LINE`; the innermost is at
//!   the line of the code itself, each other one at the line where it
//!   makes the next inner call.
//! - Lines come from memory, in the handler: the background thread
//!   `fh-symbols` reads each module's DWARF (2 to 5, compressed sections
//!   too), or its separate debug file found by build-id or
//!   `.gnu_debuglink` under [`Config::debug_dir`] and `/usr/lib/debug`
//!   (which also names a stripped module's functions), into tables of its
//!   own, from 200 ms after [`enable`] on (at once for a crash). It never
//!   calls `malloc` (zlib and zstd sections included), so glibc gives it
//!   no arena: about 4 MB of address space in all. A crash before they
//!   are ready waits for them at most 500 ms, then names its frames
//!   without lines; a module whose debug info is over
//!   [`Config::line_budget`] gets names only, and the `Modules:` block
//!   says so under it: `    (no source lines for this module: its
//!   debug info, N MiB, is over the budget of M MiB)`. Split DWARF
//!   (`.dwo`) is not read. See [`offline`] for adding lines afterwards
//!   with `faulthandler symbolize`.
//! - When `max_frames` cuts a stack: `  ... N more frames not shown
//!   (max_frames M)`, or without N when the walk itself had to stop.
//! - Then every other thread (with `all_threads`, the default), each in a
//!   block headed `Thread TID "NAME" (most recent call first):`, in the
//!   order of `/proc/self/task`. A thread that gave no stack gets one line
//!   that says why: `Thread TID "NAME": no stack: the thread blocks the
//!   dump signal` (it masks the real-time signal used to ask it, so it is
//!   not waited for), `no answer within N ms` (it did not answer before
//!   the one deadline for the whole collection, `thread_timeout`: a thread
//!   stuck in the kernel, for instance), `too little stack room` (it was
//!   inside a signal handler on an alternate stack with too little room
//!   left to walk its stack) or `the dump signal could not be sent`. A
//!   thread that exits meanwhile is left out. Frame `#0` of each
//!   is the instruction the thread was interrupted at. faulthandler's own
//!   helper threads (`fh-dumper`, `fh-watchdog`) are never listed.
//! - When a process has more threads than `max_threads` (100 by default),
//!   the list ends with `... N more threads not shown (max_threads M)`.
//! - A report whose writing ran out of time ends with `(the report was cut
//!   short: the write deadline passed)`, where the fd still takes a line;
//!   one cut by a fault inside the handler ends with `(the report was cut
//!   short: signal N (SIGNAME) inside the handler)`.
//! - `Modules:` lists every module a frame referred to: its address range,
//!   path and GNU build-id, so the report can be symbolized later even for
//!   a stripped binary.
//!
//! Reports that are not crashes have another first line and go on as
//! above (threads, then modules), and end with a blank line, so that
//! successive reports on one fd stand apart:
//! - a dump requested by a signal ([`register()`]): `Dump requested by signal
//!   N (SIGNAME) from pid P`, the process lines, then every thread;
//! - the watchdog ([`dump_traceback_later`]): `Timeout (H:MM:SS.mmm)!`
//!   (the timeout), the process lines, then every thread;
//! - [`dump_traceback`]: `Stack dump requested`, the process lines, then
//!   the threads, starting with the caller's, headed `Current thread`,
//!   whose frame `#0` is the caller of `dump_traceback` (of
//!   `faulthandler_dump_traceback` in the C API).
//!
//! A request or watchdog dump that was given no fd of its own goes where
//! crash reports go when [`Config::file`] made a report file: to the file
//! (and to stderr, unless [`Config::also_stderr`] said no); to stderr
//! otherwise. No thread's stack shows faulthandler's own frames: the
//! thread that took a request signal is walked after our handler (and
//! whatever it chains to) has returned.
//!
//! # JSON lines
//!
//! With [`Config::format`]`(`[`Format::JsonLines`]`)`,
//! `FAULTHANDLER_FORMAT=json` (the environment, the preload library) or
//! `faulthandler run --format json`, and `faulthandler_set_format` in C,
//! each report (a crash, a dump on a signal, from the watchdog, from
//! [`dump_traceback`]) is written as one JSON object on one line, for log
//! collectors. It says what the text report says, in the same order, and
//! is written from the signal handler the same way: streamed, without
//! allocation, through the same deadline-bounded writer.
//!
//! ```json
//! {"kind":"fatal","header":"Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address 0x0000000000000008\nProcess 4242 \"myprog\"\n",
//!  "signal":{"number":11,"name":"SIGSEGV","code":"SEGV_MAPERR","description":"address not mapped to object","stack_overflow":false,"address":"0x0000000000000008","sender_pid":null,"sender_uid":null},
//!  "last_panic":null,"process":{"pid":4242,"name":"myprog"},
//!  "threads":[{"tid":4242,"name":"myprog","current":true,"frames":[
//!    {"n":0,"addr":"0x000055d1c2a3b1f4","name":"crash_level3","offset":"0x14","module":"/usr/bin/myprog","module_offset":"0x3b1f4"},
//!    {"n":1,"addr":"0x000055d1c2a3b300","name":"myprog::recurse","offset":"0x10","module":"/usr/bin/myprog","module_offset":"0x3b300","repeated":{"frames":1,"more":28}},
//!    {"n":30,"addr":"0x00007f3a1c2b3c4d","name":null,"offset":null,"module":"/usr/lib/x86_64-linux-gnu/libfoo.so.1","module_offset":"0x1c4d","not_shown":{"count":412,"max_frames":100}}]},
//!   {"tid":4250,"name":"db-pool","current":false,"no_stack":"the thread blocks the dump signal"}],
//!  "threads_not_shown":{"count":37,"max_threads":100},
//!  "modules":[{"start":"0x000055d1c2a00000","end":"0x000055d1c2b40000","path":"/usr/bin/myprog","build_id":"3f2a9c..."}]}
//! ```
//!
//! (shown on several lines here; a report is one line, and ends with a
//! newline.) The schema, which stays stable (new fields may be added):
//!
//! - `kind`: `"fatal"` (a crash), `"dump_request"` (a signal, with
//!   [`register()`]), `"timeout"` (the watchdog) or `"dump"`
//!   ([`dump_traceback`]).
//! - `header`: the text report's first lines, exactly as they read there,
//!   each ended by `\n` (so a consumer that only shows text has them).
//! - `signal`, for `fatal`: `number`, `name`, `code` (the `si_code` name,
//!   or `null` for a sent signal), `description` (its meaning, `stack
//!   overflow`, or `sent`), `stack_overflow`, `address` (the fault
//!   address, or `null`), `sender_pid` and `sender_uid` (a sent signal's
//!   sender, or `null`). For `dump_request`: `number`, `name`,
//!   `sender_pid`. A `timeout` report has `timeout_ms` instead.
//! - `last_panic` (`fatal`): the `Last panic:` line's text (escaped as in
//!   the text report), or `null`.
//! - `process`: `pid` and `name` (the executable's file name).
//! - `threads`: the current thread first (`current: true`; there is none
//!   in a dump on a signal), then the others. Each has `tid`, `name` (the
//!   kernel's thread name) and `current`, then either `frames`, or
//!   `no_stack` (why it gave none, in the text report's words).
//! - A frame: `n` (its true number), `addr`, `name` (the symbol, or
//!   `null`) with `offset` (the address's offset into it), `module` (its
//!   path, or `null`) with `module_offset` (the address minus the
//!   module's load bias, what `addr2line -e MODULE` takes). What the text
//!   report writes after a frame line is added to that frame:
//!   `repeated: {frames: K, more: N}` (the K frames up to this one come N
//!   more times), `not_shown: {count: N|null, max_frames: M}` (frames left
//!   out after this one; `count` is `null` when unknown, and `reason`
//!   replaces `max_frames` when the walk could not go on), and, where
//!   known, `file`, `line` and `inlined`. A `not_shown` on the thread
//!   itself means it shows no frame before the gap.
//! - `threads_not_shown: {count, max_threads}` when `max_threads` cut the
//!   list; `others_not_shown` (a reason) when the other threads could not
//!   be collected.
//! - `modules`: every module a frame referred to, `start`, `end`, `path`
//!   and `build_id` (hex, or `null`).
//! - `cut_short`: only in a report cut short, why (`the write deadline
//!   passed`, or `signal N (SIGNAME) inside the handler`). Whatever was
//!   open then is closed where the fd still takes it, so the line is
//!   still one valid JSON object: an open string is ended, a key without
//!   its value gets `null`, an array cut after a `,` ends with `null`.
//!
//! Addresses and offsets are strings (`"0x"` and hex digits; addresses
//! with 16), since JSON numbers lose precision above 2^53. Strings are
//! ASCII: `"` and `\` are escaped, newline is `\n`, and every other byte
//! outside printable ASCII is `\u00NN`, the byte's value as the code point
//! (a name that is not UTF-8 is still valid JSON; taking each character
//! as one byte, Latin-1, gives the original bytes back). Dumps are not
//! followed by a blank line: one report, one line. When the report's fd
//! was given to another file (a daemon closed it and opened its own), the
//! crash report goes to stderr after a line of its own that says so,
//! `{"kind":"note","message":"..."}`.
//!
//! ```
//! use std::io::Read;
//! use std::os::fd::AsFd;
//! faulthandler::Config::new()
//!     .format(faulthandler::Format::JsonLines)
//!     .enable()?;
//! let (mut reader, writer) = std::io::pipe()?;
//! faulthandler::dump_traceback(writer.as_fd(), false)?;
//! drop(writer);
//! let mut line = String::new();
//! reader.read_to_string(&mut line)?;
//! let report: serde_json::Value = serde_json::from_str(&line)?;
//! assert_eq!(report["kind"], "dump");
//! assert_eq!(report["threads"][0]["current"], true);
//! assert_eq!(line.matches('\n').count(), 1);
//! # faulthandler::disable();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How the other threads' stacks are collected
//!
//! Each thread walks its own stack: the reporter sends every thread a
//! real-time signal (the first of `SIGRTMIN+n` that was `SIG_DFL` at
//! install time) with `rt_tgsigqueueinfo`, each thread unwinds itself into
//! a slot reserved in advance, and the reporter waits for all of them
//! against one deadline. At crash time all of it is async-signal-safe. The
//! dumps on request, from the watchdog and from code run the same
//! collection from a normal thread. Only one report is written at a time;
//! a crash during another dump still gets its report (it waits for the
//! dump, at most as long as the dump may take, or takes over at once when
//! it crashed inside the dump itself).
//!
//! # Signal safety
//!
//! Everything a handler can reach lives in modules whose documentation
//! starts with "Async-signal-safe.": no allocation, no locks, no `std::io`,
//! no formatting machinery, no panics. `errno` is preserved. Writes loop on
//! `EINTR` and short writes, wait with `poll` against one deadline, and
//! never let `SIGPIPE` kill the process.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "linux"))]
compile_error!("faulthandler supports Linux only, for now");

// The import graph is a DAG, from the API down:
//
//   API (config, env, dump, register, watchdog, report_file, altstack,
//        panic_hook, offline)         normal context
//     -> setup (index, collector, helpers, process)   normal context
//     -> indexer (run, symbols, lines, dwarf, file, modules, mem)
//                                       normal context, malloc-free
//     -> signal (fatal, collector, request, claim, table)   async-signal-safe
//     -> report (lines, last_panic)                    async-signal-safe
//     -> symbolize (lookup, index, demangle, stack)    async-signal-safe
//     -> runtime (sys, fmt, writer, procfs, elf, modules, unwind, racy)
//     -> settings (published atomics, limits, validators)

// Normal-context code: the public API and what it installs.
mod altstack;
mod config;
mod dump;
pub mod env;
mod error;
mod indexer;
#[cfg(feature = "symbolize")]
pub mod offline;
mod panic_hook;
mod register;
mod report_file;
mod setup;
mod watchdog;

// Async-signal-safe code: everything a handler can reach.
mod report;
mod runtime;
pub mod settings;
mod signal;
mod symbolize;

/// Serialises the unit tests that use the report's shared storage.
#[cfg(test)]
static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[doc(hidden)]
#[path = "bench_support.rs"]
pub mod __bench;

pub use config::{disable, enable, install_thread_altstack, is_enabled, Config};
pub use dump::dump_traceback;
pub use error::{Error, ErrorKind};
pub use settings::Format;

/// Parse a signal given by name or number, as the `FAULTHANDLER_SIGNAL`
/// variable and the CLI take it: `QUIT`, `SIGQUIT`, `sigusr1`,
/// `RTMIN+2`, `SIGRTMIN+2` or `3`.
///
/// ```
/// assert_eq!(faulthandler::parse_signal("QUIT"), Some(libc::SIGQUIT));
/// assert_eq!(faulthandler::parse_signal("SIGUSR2"), Some(libc::SIGUSR2));
/// assert_eq!(faulthandler::parse_signal("10"), Some(10));
/// assert_eq!(faulthandler::parse_signal("NOPE"), None);
/// ```
pub fn parse_signal(spec: &str) -> Option<i32> {
    runtime::signals::parse(spec)
}

/// The conventional name of a standard signal, as reports spell it.
///
/// ```
/// assert_eq!(faulthandler::signal_name(libc::SIGSEGV), Some("SIGSEGV"));
/// assert_eq!(faulthandler::signal_name(1000), None);
/// ```
pub fn signal_name(sig: i32) -> Option<&'static str> {
    runtime::signals::name(sig)
}
pub use register::{register, unregister, Register};
pub use watchdog::{cancel_dump_traceback_later, dump_traceback_later, Watchdog};

/// For faulthandler's own packages (`faulthandler-c`, `faulthandler-cli`):
/// not part of the API, may change at any time.
#[doc(hidden)]
#[allow(unsafe_code)]
pub mod __private {
    use core::sync::atomic::Ordering;
    use std::ffi::CStr;

    /// Set the report format now, for every report (the C API's
    /// `faulthandler_set_format`; `Config::format` sets it at enable).
    pub fn set_format(format: crate::Format) {
        crate::settings::FORMAT.store(format as u8, Ordering::Release);
    }

    /// `len` bytes (a multiple of the page size) of private read-write
    /// memory above a guard page, which no mapping of the program's
    /// merges with (see `runtime::sys::map_apart`). For the preload's
    /// alternate stacks.
    pub fn map_fenced(len: usize) -> Option<usize> {
        crate::runtime::sys::map_apart(len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_NORESERVE)
            .ok()
    }

    /// Unmap a [`map_fenced`] mapping, with its guard page.
    ///
    /// # Safety
    ///
    /// `addr` and `len` are what [`map_fenced`] returned and was given,
    /// and nothing uses that memory any more.
    pub unsafe fn unmap_fenced(addr: usize, len: usize) {
        // SAFETY: the caller's contract is `unmap_apart`'s.
        unsafe { crate::runtime::sys::unmap_apart(addr, len) }
    }

    /// `dump_traceback` for a wrapper (the C API's): the report's current
    /// thread starts at the frames above `sp_floor`, the address of a
    /// local of the wrapper, so frame `#0` is the wrapper's caller.
    pub fn dump_traceback_above(
        fd: std::os::fd::BorrowedFd<'_>,
        all_threads: bool,
        sp_floor: usize,
    ) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        crate::dump::write_dump(
            fd.as_raw_fd(),
            -1,
            crate::report::DumpHeader::Code,
            Some(crate::dump::Current { sp_floor, skip: 0 }),
            all_threads,
            0,
        )
    }

    /// What the preload objects' ELF constructors run: enable faulthandler
    /// from the environment when `FAULTHANDLER` asks for it, once however
    /// often it is called. Only in a shared object (see
    /// `in_shared_library`).
    pub fn preload_init() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Inside dlopen the loader lock is held: never wait for a new
            // thread here.
            crate::settings::IN_CONSTRUCTOR.store(true, Ordering::Release);
            let _ = std::panic::catch_unwind(|| {
                let env = crate::env::Env::read();
                if !env.wanted || !in_shared_library() {
                    return;
                }
                for w in env.apply() {
                    let line = format!("{w}\n");
                    // SAFETY: writing our own buffer to stderr.
                    unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len()) };
                }
            });
            crate::settings::IN_CONSTRUCTOR.store(false, Ordering::Release);
        });
    }

    /// Where the crate's own `sigaction` calls go when the preload
    /// library interposes the symbol: the C library's (from
    /// `dlsym(RTLD_NEXT)`). Set it before anything else.
    pub fn set_raw_sigaction(
        f: unsafe extern "C" fn(
            libc::c_int,
            *const libc::sigaction,
            *mut libc::sigaction,
        ) -> libc::c_int,
    ) {
        crate::runtime::sys::set_raw_sigaction(f);
    }

    /// Turn the program's view of the crash signals on: from now on,
    /// [`interposed_sigaction`] answers for them.
    pub fn start_interposing() {
        crate::runtime::signals::set_interposed();
    }

    /// The interposed `sigaction` for a crash signal, while our handler
    /// is installed: the program reads and sets its own view (what it
    /// installed, `SIG_DFL` at first), which our handler runs first and
    /// chains to, while the kernel keeps ours. `None`: not ours to answer
    /// (another signal, or not interposing); call the C library's.
    /// Async-signal-safe (a program's handler may call it).
    ///
    /// # Safety
    ///
    /// As `sigaction(2)`: `act` null or valid, `old` null or writable.
    pub unsafe fn interposed_sigaction(
        sig: libc::c_int,
        act: *const libc::sigaction,
        old: *mut libc::sigaction,
    ) -> Option<libc::c_int> {
        if !crate::runtime::signals::interposed() {
            return None;
        }
        if crate::runtime::signals::fatal(sig).is_none() {
            // SAFETY: the caller's contract, passed on.
            return unsafe { dump_signal_sigaction(sig, act, old) };
        }
        if !crate::runtime::signals::enabled() {
            return None;
        }
        let f = crate::runtime::signals::fatal(sig)?;
        let cur = f
            .previous()
            .unwrap_or_else(crate::runtime::sys::Action::default_action);
        if !old.is_null() {
            // SAFETY: the caller's contract.
            unsafe { *old = cur.raw() };
        }
        if !act.is_null() {
            // SAFETY: the caller's contract.
            let new = unsafe { *act };
            f.set_program_view(crate::runtime::sys::Action::from_raw(new));
        }
        Some(0)
    }

    /// The interposed `sigaction` for a dump signal whose handler is ours
    /// (`FAULTHANDLER_SIGNAL`): the program's own handler is kept as its
    /// view and runs after each dump request is noted, so that both act
    /// (node's `SIGUSR1` inspector, the JVM's `SIGQUIT` thread dump).
    ///
    /// # Safety
    ///
    /// As `sigaction(2)`.
    unsafe fn dump_signal_sigaction(
        sig: libc::c_int,
        act: *const libc::sigaction,
        old: *mut libc::sigaction,
    ) -> Option<libc::c_int> {
        let st = crate::signal::request::state(sig)?;
        if !st.active.load(Ordering::Acquire)
            || !crate::signal::request::is_ours(&crate::runtime::sys::query_action(sig))
        {
            return None;
        }
        let cur = st
            .previous()
            .unwrap_or_else(crate::runtime::sys::Action::default_action);
        if !old.is_null() {
            // SAFETY: the caller's contract.
            unsafe { *old = cur.raw() };
        }
        if !act.is_null() {
            // SAFETY: the caller's contract.
            let new = unsafe { *act };
            st.set_program_view(crate::runtime::sys::Action::from_raw(new));
        }
        Some(0)
    }

    /// `Config::report_first` for the C API, in force at once.
    pub fn set_report_first(on: bool) {
        crate::settings::REPORT_FIRST.store(on, Ordering::Release);
    }

    /// Whether this code runs from one of the preload objects
    /// (`libfaulthandler*.so*`, `faulthandler-preload`), not from a
    /// program that links the crate.
    fn in_shared_library() -> bool {
        // SAFETY: an all-zero Dl_info is a valid value to fill in.
        let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
        // SAFETY: the address is our own function; `info` is writable.
        let ok = unsafe { libc::dladdr(preload_init as *const () as *const _, &mut info) };
        if ok == 0 || info.dli_fname.is_null() {
            return false;
        }
        // SAFETY: dladdr returned a NUL-terminated path.
        let path = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        (name.starts_with(b"libfaulthandler") && name.windows(3).any(|w| w == b".so")
            || name.starts_with(b"faulthandler-preload"))
            && std::fs::read_link("/proc/self/exe")
                .map(|exe| exe.as_os_str().as_encoded_bytes() != path)
                .unwrap_or(true)
    }
}
