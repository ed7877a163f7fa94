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
//! Process 4242 "myprog"
//!
//! Current thread 4242 "myprog" (most recent call first):
//!   #0  0x000055d1c2a3b1f4 in crash_level3+0x14 (/usr/bin/myprog +0x3b1f4)
//!   #1  0x000055d1c2a3b2a0 in myprog::level2+0x20 (/usr/bin/myprog +0x3b2a0)
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
//!   guard area below a stack, or `sent by pid P uid U` for a signal that
//!   another process (or `abort()`, `raise()`, `kill`) sent.
//! - After an abort that followed a Rust panic, the line `Last panic:
//!   MESSAGE at FILE:LINE:COL` comes next.
//! - `Process PID "NAME"`, with the executable's file name.
//! - The crashing thread's block, headed `Current thread TID "NAME" (most
//!   recent call first):`, where NAME is the kernel's thread name (comm).
//!   Frame `#0` is the faulting instruction; the handler's own frames and
//!   the signal trampoline are not shown.
//! - Frame lines read `  #N  0xADDR in NAME+0xOFF (MODULE +0xMODOFF)`,
//!   where NAME is the function's symbol (Rust names demangled, without
//!   the hash), OFF the address's offset into it, and MODOFF the address
//!   minus the module's load bias, which is what `addr2line -e MODULE`
//!   takes. An unknown name is `??` (a stripped binary, or a lookup that
//!   ran out of time), an unknown module `(??)`. See [`symbolize`] for how
//!   names are found, and for adding ` at FILE:LINE` offline with
//!   `faulthandler symbolize`.
//! - When `max_frames` cuts a stack: `  ... N more frames not shown
//!   (max_frames M)`, or without N when the walk itself had to stop.
//! - Then every other thread (with `all_threads`, the default), each in a
//!   block headed `Thread TID "NAME" (most recent call first):`, in the
//!   order of `/proc/self/task`. A thread that gave no stack gets one line
//!   that says why: `Thread TID "NAME": no stack: the thread blocks the
//!   dump signal` (it masks the real-time signal used to ask it, so it is
//!   not waited for), `no answer within N ms` (it did not answer before
//!   the one deadline for the whole collection, `thread_timeout`: a thread
//!   stuck in the kernel, for instance) or `the dump signal could not be
//!   sent`. A thread that exits meanwhile is left out. Frame `#0` of each
//!   is the instruction the thread was interrupted at. faulthandler's own
//!   helper threads (`fh-dumper`, `fh-watchdog`) are never listed.
//! - When a process has more threads than `max_threads` (100 by default),
//!   the list ends with `... N more threads not shown (max_threads M)`.
//! - `Modules:` lists every module a frame referred to: its address range,
//!   path and GNU build-id, so the report can be symbolized later even for
//!   a stripped binary.
//!
//! Reports that are not crashes have another first line and go on as
//! above (threads, then modules):
//! - a dump requested by a signal ([`register()`]): `Dump requested by signal
//!   N (SIGNAME) from pid P`, the `Process` line, then every thread;
//! - the watchdog ([`dump_traceback_later`]): `Timeout (H:MM:SS.mmm)!`
//!   (the timeout), the `Process` line, then every thread;
//! - [`dump_traceback`]: `Stack dump requested`, then the threads only,
//!   starting with the caller's, headed `Current thread`, whose frame `#0`
//!   is the caller of `dump_traceback`.
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

// Normal-context code: the public API and what it installs.
mod altstack;
mod capi;
mod config;
mod dump;
mod error;
mod modules;
mod panic;
mod preload;
mod register;
mod report_file;
mod watchdog;

// Async-signal-safe code: everything a handler can reach.
mod fmt;
mod handler;
mod procfs;
mod racy;
mod report;
mod signals;
pub mod symbolize;
mod sys;
mod threads;
mod unwind;
mod writer;

#[doc(hidden)]
#[path = "bench_support.rs"]
pub mod __bench;

pub use config::{disable, enable, install_thread_altstack, is_enabled, Config};
pub use dump::dump_traceback;
pub use error::{Error, ErrorKind};

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
    signals::parse(spec)
}

/// The conventional name of a standard signal, as reports spell it.
///
/// ```
/// assert_eq!(faulthandler::signal_name(libc::SIGSEGV), Some("SIGSEGV"));
/// assert_eq!(faulthandler::signal_name(1000), None);
/// ```
pub fn signal_name(sig: i32) -> Option<&'static str> {
    signals::name(sig)
}
pub use register::{register, unregister, Register};
pub use watchdog::{cancel_dump_traceback_later, dump_traceback_later, Watchdog};
