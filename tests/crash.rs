//! Crash tests: one crash per child process.
//!
//! This is a `harness = false` test. Run without `FH_CHILD`, it is the
//! runner: every case spawns this same executable (or a C fixture) with
//! `FH_CHILD=<scenario>`, waits for it with a hard timeout, and checks how
//! it died and what it wrote to stderr. Run with `FH_CHILD`, it is the
//! child: it enables faulthandler (unless `FH_CONTROL` is set, which makes
//! the control run that shows how the same program dies without us), says
//! what the parent needs to know on stderr (`child: ...` lines), and
//! crashes.
//!
//! Every case compares the run with faulthandler against the control run:
//! same terminating signal and exit status. Where a report is expected, it
//! is checked line by line against the contract (`report-format.md`): one
//! `Fatal signal` line with the exact first line, the `Process` line, the
//! `Current thread TID "NAME"` heading naming the thread that crashed, a
//! frame inside the faulting function (its range comes from the ELF symbol
//! table), `+0xOFF` offsets relative to the load bias, the truncation line
//! where it applies, ASCII text with every line terminated, and a
//! `Modules:` block listing the executable with its 40-digit build-id.
//!
//! Children print `child: ...` lines on stderr before they crash (pid,
//! uid, the crashing thread's tid and comm, the faulting function's
//! address), so the parent knows what to expect. The C fixtures live in
//! `c-fixtures/` (see `build.rs`): `lib_crash.c` is linked in,
//! `so_malloc_spy.so` is LD_PRELOADed to catch allocations made on an
//! alternate signal stack, and `exe_c_host` loads `libfaulthandler.so`
//! from a C program.
//!
//! Usage follows libtest loosely: `cargo test --test crash -- [FILTER]
//! [--exact] [--list] [--nocapture]`; `--nocapture` also prints every
//! child's output. Other libtest flags are accepted and ignored.

use faulthandler_fixtures as _;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

fn main() {
    if let Ok(scenario) = std::env::var("FH_CHILD") {
        child::run(&scenario);
    }
    runner::main();
}

// ---------------------------------------------------------------------------
// The child side.
// ---------------------------------------------------------------------------

mod child {
    use std::ffi::c_int;
    use std::hint::black_box;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    extern "C" {
        // c-fixtures/lib_crash.c
        fn fh_c_divide_by_zero(dividend: c_int) -> c_int;
        fn fh_c_install_recording_handler() -> c_int;
        fn fh_c_install_malloc_handler() -> c_int;
        fn fh_c_install_plain_handler() -> c_int;
        fn fh_c_install_abrt_handler() -> c_int;
    }

    /// The address the null-pointer crashes read.
    pub const NULL_ADDR: usize = 0x10;

    /// Exit code of a child whose own checks failed (before crashing).
    const CHECK_FAILED: i32 = 98;
    /// Exit code of a child that survived its crash.
    const SURVIVED: i32 = 97;

    fn check(ok: bool, what: &str) {
        if !ok {
            eprintln!("child: CHECK FAILED: {what}");
            std::process::exit(CHECK_FAILED);
        }
    }

    fn control() -> bool {
        std::env::var_os("FH_CONTROL").is_some()
    }

    fn gettid() -> i64 {
        // SAFETY: gettid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) }
    }

    fn announce_process() {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        eprintln!("child: pid={} uid={uid}", std::process::id());
    }

    fn announce_thread() {
        let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
        eprintln!("child: thread tid={} comm={}", gettid(), comm.trim_end());
    }

    fn announce_fn(name: &str, addr: usize) {
        eprintln!("child: fn={name} addr={addr:#x}");
    }

    /// Enable faulthandler with `config`, unless this is the control run.
    fn enable(config: faulthandler::Config) {
        if control() {
            return;
        }
        if let Err(e) = config.enable() {
            eprintln!("child: enable failed: {e}");
            std::process::exit(CHECK_FAILED);
        }
        check(faulthandler::is_enabled(), "is_enabled() after enable()");
    }

    fn enable_default() {
        enable(faulthandler::Config::new());
    }

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_null_deref(p: *const u32) -> u32 {
        // SAFETY: it is not safe: `p` is a tiny address that is never
        // mapped, and the fault is what the test wants.
        unsafe { std::ptr::read_volatile(p) }
    }

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_read_byte(p: *const u8) -> u8 {
        // SAFETY: not safe on purpose: `p` points into a mapping whose file
        // was truncated, so the read raises SIGBUS.
        unsafe { std::ptr::read_volatile(p) }
    }

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_illegal_instruction() {
        // SAFETY: the instruction is architecturally undefined and raises
        // SIGILL; it touches no memory and no registers.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("ud2", options(nomem, nostack))
        };
        // SAFETY: as above.
        #[cfg(target_arch = "aarch64")]
        unsafe {
            std::arch::asm!("udf #0", options(nomem, nostack))
        };
    }

    /// Points the stack pointer at unmapped memory, then executes an
    /// undefined instruction: the unwinder, walking from that context,
    /// faults inside the handler.
    #[cfg(target_arch = "x86_64")]
    #[no_mangle]
    #[inline(never)]
    fn fh_rust_bad_stack_ud2() -> ! {
        // SAFETY: not safe on purpose, and it never returns: the process
        // dies of the SIGILL. Nothing uses the stack after rsp moves.
        unsafe { std::arch::asm!("mov rsp, 0x1000", "ud2", options(noreturn)) }
    }

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_abort() -> ! {
        black_box(());
        std::process::abort()
    }

    #[no_mangle]
    #[inline(never)]
    #[allow(unconditional_recursion)]
    fn fh_rust_recurse(depth: u64) -> u64 {
        let pad = black_box([depth; 32]);
        black_box(fh_rust_recurse(black_box(depth + 1))).wrapping_add(pad[3])
    }

    /// `depth` frames of recursion, then a null dereference.
    #[no_mangle]
    #[inline(never)]
    fn fh_rust_deep(depth: u32) -> u32 {
        if black_box(depth) == 0 {
            fh_rust_null_deref(black_box(NULL_ADDR as *const u32))
        } else {
            black_box(fh_rust_deep(depth - 1)).wrapping_add(1)
        }
    }

    #[inline(never)]
    fn fh_rust_panic(n: u32) {
        if black_box(n) == 7 {
            panic!("fh test panic {n}");
        }
    }

    fn null_deref() -> ! {
        announce_thread();
        announce_fn(
            "fh_rust_null_deref",
            fh_rust_null_deref as *const () as usize,
        );
        black_box(fh_rust_null_deref(black_box(NULL_ADDR as *const u32)));
        survived()
    }

    fn abort() -> ! {
        announce_thread();
        announce_fn("fh_rust_abort", fh_rust_abort as *const () as usize);
        fh_rust_abort()
    }

    fn survived() -> ! {
        eprintln!("child: survived the crash");
        std::process::exit(SURVIVED)
    }

    fn pipe(flags: c_int) -> (OwnedFd, OwnedFd) {
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for the two fds pipe2 writes.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), flags | libc::O_CLOEXEC) };
        check(r == 0, "pipe2");
        // SAFETY: both fds were just created and nothing else owns them.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    pub fn run(scenario: &str) -> ! {
        announce_process();
        match scenario {
            "segv" => {
                enable_default();
                null_deref()
            }
            "bus" => {
                enable_default();
                sigbus()
            }
            "ill" => {
                enable_default();
                announce_thread();
                announce_fn(
                    "fh_rust_illegal_instruction",
                    fh_rust_illegal_instruction as *const () as usize,
                );
                fh_rust_illegal_instruction();
                survived()
            }
            "fpe" => {
                enable_default();
                announce_thread();
                announce_fn(
                    "fh_c_divide_by_zero",
                    fh_c_divide_by_zero as *const () as usize,
                );
                // SAFETY: a plain C function taking an int; the division
                // by zero inside it is the crash under test.
                black_box(unsafe { fh_c_divide_by_zero(black_box(7)) });
                survived()
            }
            "abort" => {
                enable_default();
                abort()
            }
            "overflow-main" => {
                enable_default();
                announce_thread();
                announce_fn("fh_rust_recurse", fh_rust_recurse as *const () as usize);
                black_box(fh_rust_recurse(0));
                survived()
            }
            "overflow-thread" | "overflow-thread-std-altstack" => {
                enable_default();
                let own_altstack = scenario == "overflow-thread";
                let t = std::thread::Builder::new()
                    .name("fh-overflow".into())
                    .spawn(move || {
                        if own_altstack && !control() {
                            check(
                                faulthandler::install_thread_altstack().is_ok(),
                                "install_thread_altstack",
                            );
                        }
                        announce_thread();
                        announce_fn("fh_rust_recurse", fh_rust_recurse as *const () as usize);
                        black_box(fh_rust_recurse(0))
                    })
                    .expect("spawn");
                let _ = t.join();
                survived()
            }
            "truncate" => {
                enable(faulthandler::Config::new().max_frames(5));
                announce_thread();
                announce_fn(
                    "fh_rust_null_deref",
                    fh_rust_null_deref as *const () as usize,
                );
                black_box(fh_rust_deep(black_box(40)));
                survived()
            }
            "disable-segv" | "disable-abort" => {
                if !control() {
                    check(!faulthandler::is_enabled(), "is_enabled() before enable()");
                    enable_default();
                    check(
                        faulthandler::disable(),
                        "disable() returns true when enabled",
                    );
                    check(!faulthandler::is_enabled(), "is_enabled() after disable()");
                    check(!faulthandler::disable(), "disable() again returns false");
                    eprintln!("child: enabled then disabled");
                }
                if scenario == "disable-segv" {
                    null_deref()
                } else {
                    abort()
                }
            }
            "chain" => {
                // SAFETY: installs a SIGSEGV handler from the C fixture.
                check(
                    unsafe { fh_c_install_recording_handler() } == 0,
                    "install the recording handler",
                );
                enable_default();
                null_deref()
            }
            "chain-twice" | "chain-reenable" => {
                // SAFETY: installs a SIGSEGV handler from the C fixture.
                check(
                    unsafe { fh_c_install_recording_handler() } == 0,
                    "install the recording handler",
                );
                enable_default();
                if scenario == "chain-reenable" && !control() {
                    check(faulthandler::disable(), "disable()");
                }
                // Reconfigure (or enable again): must not stack our handler
                // on top of itself, nor lose the previous one.
                enable(faulthandler::Config::new().max_frames(3));
                null_deref()
            }
            "ignored-segv" => {
                // SAFETY: ignoring SIGSEGV before faulthandler sees it.
                unsafe { libc::signal(libc::SIGSEGV, libc::SIG_IGN) };
                enable_default();
                null_deref()
            }
            "altstack-usage" => altstack_usage(),
            #[cfg(target_arch = "x86_64")]
            "bad-stack" => {
                enable_default();
                announce_thread();
                announce_fn(
                    "fh_rust_bad_stack_ud2",
                    fh_rust_bad_stack_ud2 as *const () as usize,
                );
                fh_rust_bad_stack_ud2()
            }
            "chain-plain" => {
                // SAFETY: installs a SIGSEGV handler from the C fixture.
                check(
                    unsafe { fh_c_install_plain_handler() } == 0,
                    "install the plain handler",
                );
                enable_default();
                null_deref()
            }
            "chain-abort" => {
                // SAFETY: installs a SIGABRT handler from the C fixture.
                check(
                    unsafe { fh_c_install_abrt_handler() } == 0,
                    "install the SIGABRT handler",
                );
                enable_default();
                abort()
            }
            "sent-segv" => {
                // A SIGSEGV sent with kill(2): nothing faults again when a
                // handler returns, so whether the process survives depends
                // on the previous handler only (Rust std's resets the
                // action and returns: it survives).
                enable_default();
                announce_thread();
                // SAFETY: kill with plain integers, to ourselves.
                check(
                    unsafe { libc::kill(libc::getpid(), libc::SIGSEGV) } == 0,
                    "kill",
                );
                if std::env::var_os("FH_CONTROL").is_none() {
                    // The process lives on: dumps must still work, at once.
                    let t = std::time::Instant::now();
                    let r = faulthandler::dump_traceback(
                        std::os::fd::AsFd::as_fd(&std::io::stderr()),
                        false,
                    );
                    eprintln!(
                        "child: dump after surviving: {} in {} ms",
                        if r.is_ok() { "ok" } else { "failed" },
                        t.elapsed().as_millis()
                    );
                }
                survived()
            }
            "pipe-closed" => {
                // A C host's SIGPIPE disposition; Rust's runtime sets SIG_IGN.
                // SAFETY: setting a signal's default disposition.
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
                let (r, w) = pipe(0);
                drop(r);
                enable(faulthandler::Config::new().fd(w));
                null_deref()
            }
            "socket-closed" => {
                // Unlike a pipe's, a stream socket whose peer is gone polls
                // writable, so the report's write(2) really fails with EPIPE
                // and raises SIGPIPE.
                // SAFETY: setting a signal's default disposition.
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
                let mut fds = [0 as c_int; 2];
                // SAFETY: `fds` has room for the two fds socketpair writes.
                let r = unsafe {
                    libc::socketpair(
                        libc::AF_UNIX,
                        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                        0,
                        fds.as_mut_ptr(),
                    )
                };
                check(r == 0, "socketpair");
                // SAFETY: both fds were just created and nothing else owns them.
                let (a, b) =
                    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
                drop(b);
                enable(faulthandler::Config::new().fd(a));
                null_deref()
            }
            "report-to-file" => {
                let path = std::env::var_os("FH_REPORT_PATH").expect("FH_REPORT_PATH");
                let file = std::fs::File::create(path).expect("create the report file");
                enable(faulthandler::Config::new().fd(file.into()));
                null_deref()
            }
            "panic-abort" => {
                enable_default();
                let caught = std::panic::catch_unwind(|| fh_rust_panic(black_box(7)));
                check(caught.is_err(), "the panic was caught");
                abort()
            }
            "fd-closed" => {
                // Then an fd that the program closes behind our back.
                let (r, w) = pipe(0);
                let raw = w.as_raw_fd();
                enable(faulthandler::Config::new().fd(w));
                if !control() {
                    // SAFETY: deliberately breaks faulthandler's ownership
                    // of `raw` to simulate a buggy program. Nothing opens
                    // an fd after this (so the number is not reused) and
                    // the process dies before the OwnedFd could be dropped.
                    check(unsafe { libc::close(raw) } == 0, "close behind its back");
                }
                drop(r);
                null_deref()
            }
            "pipe-full" => {
                let (r, w) = pipe(libc::O_NONBLOCK);
                let chunk = [b'x'; 4096];
                let mut total = 0usize;
                loop {
                    // SAFETY: writing from a valid buffer to our own fd.
                    let n =
                        unsafe { libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
                    if n <= 0 {
                        break;
                    }
                    total += n as usize;
                }
                eprintln!("child: pipe full after {total} bytes");
                enable(faulthandler::Config::new().fd(w));
                // The reader stays open and is never read.
                std::mem::forget(r);
                null_deref()
            }
            "threads8" => {
                enable_default();
                announce_fn(
                    "fh_rust_null_deref",
                    fh_rust_null_deref as *const () as usize,
                );
                let barrier = Arc::new(Barrier::new(8));
                let handles: Vec<_> = (0..8)
                    .map(|i| {
                        let b = Arc::clone(&barrier);
                        std::thread::Builder::new()
                            .name(format!("crasher-{i}"))
                            .spawn(move || {
                                announce_thread();
                                b.wait();
                                fh_rust_null_deref(black_box(NULL_ADDR as *const u32))
                            })
                            .expect("spawn")
                    })
                    .collect();
                for h in handles {
                    let _ = h.join();
                }
                survived()
            }
            "spy-control" => {
                // SAFETY: installs a SIGSEGV handler from the C fixture.
                check(
                    unsafe { fh_c_install_malloc_handler() } == 0,
                    "install the malloc handler",
                );
                null_deref()
            }
            "other-thread" => {
                std::thread::Builder::new()
                    .name("fh-enabler".into())
                    .spawn(enable_default)
                    .expect("spawn")
                    .join()
                    .expect("enable thread");
                if !control() {
                    check(faulthandler::is_enabled(), "is_enabled() on main");
                }
                null_deref()
            }
            other => {
                eprintln!("child: unknown scenario {other:?}");
                std::process::exit(CHECK_FAILED)
            }
        }
    }

    static ALT_LO: AtomicUsize = AtomicUsize::new(0);
    static ALT_HI: AtomicUsize = AtomicUsize::new(0);
    const ALT_FILL: u8 = 0xa5;
    /// Exit code of the alt-stack measuring handler.
    pub const MEASURED: i32 = 46;

    /// Runs on the main stack after faulthandler chained to it: how much
    /// of the alternate stack did the report (and the kernel's signal
    /// frame) use? Writes `child: altstack used=N size=S` and exits.
    extern "C" fn measure_handler(_: c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        let (lo, hi) = (ALT_LO.load(Ordering::SeqCst), ALT_HI.load(Ordering::SeqCst));
        // The alternate stack is no longer in use: this handler runs on the
        // main stack.
        let p = hi - used(lo, hi);
        let mut line = [0u8; 96];
        let mut n = 0;
        for part in [
            &b"child: altstack used="[..],
            dec(hi - p).as_slice(),
            b" size=",
            dec(hi - lo).as_slice(),
            b"\n",
        ] {
            line[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        // SAFETY: writing our stack buffer to stderr, then exiting.
        unsafe {
            libc::write(2, line.as_ptr().cast(), n);
            libc::_exit(MEASURED);
        }
    }

    /// Decimal digits of `v`. (It allocates, but only after the report
    /// is done, on the main stack: it cannot disturb the measurement.)
    fn dec(mut v: usize) -> Vec<u8> {
        let mut d = Vec::with_capacity(20);
        loop {
            d.push(b'0' + (v % 10) as u8);
            v /= 10;
            if v == 0 {
                break;
            }
        }
        d.reverse();
        d
    }

    extern "C" fn noop_handler(_: c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

    /// Fill the calling thread's alternate stack with [`ALT_FILL`] and
    /// remember where it is.
    fn fill_altstack() -> (usize, usize) {
        // SAFETY: an all-zero stack_t is valid to overwrite.
        let mut ss: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: a null new stack only queries.
        let r = unsafe { libc::sigaltstack(std::ptr::null(), &mut ss) };
        check(
            r == 0 && ss.ss_flags & libc::SS_DISABLE == 0,
            "an alternate stack",
        );
        let lo = ss.ss_sp as usize;
        ALT_LO.store(lo, Ordering::SeqCst);
        ALT_HI.store(lo + ss.ss_size, Ordering::SeqCst);
        // SAFETY: the alternate stack is mapped and not in use (we are not
        // in a handler).
        unsafe { std::ptr::write_bytes(ss.ss_sp.cast::<u8>(), ALT_FILL, ss.ss_size) };
        (lo, lo + ss.ss_size)
    }

    fn used(lo: usize, hi: usize) -> usize {
        let mut p = lo;
        // SAFETY: [lo, hi) is an alternate stack that is not in use.
        while p < hi && unsafe { std::ptr::read_volatile(p as *const u8) } == ALT_FILL {
            p += 1;
        }
        hi - p
    }

    fn altstack_usage() -> ! {
        // The kernel's signal frame alone: a handler that does nothing, on
        // the alternate stack Rust std gave the main thread.
        // SAFETY: an all-zero sigaction is valid to fill in.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = noop_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: installing a handler with the matching signature.
        let r = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
        check(r == 0, "install the no-op handler");
        let (lo, hi) = fill_altstack();
        // SAFETY: raise runs the no-op handler before it returns.
        check(unsafe { libc::raise(libc::SIGUSR1) } == 0, "raise");
        eprintln!("child: kernel frame={}", used(lo, hi));
        // The handler that measures the report, on the main stack.
        sa.sa_sigaction = measure_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        // SAFETY: installing a handler with the matching signature.
        let r = unsafe { libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()) };
        check(r == 0, "install the measuring handler");
        enable_default();
        fill_altstack();
        null_deref()
    }

    fn sigbus() -> ! {
        use std::fs::OpenOptions;
        let path = std::env::temp_dir().join(format!("fh-sigbus-{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("create the SIGBUS file");
        file.set_len(4096).expect("grow");
        // SAFETY: a fresh shared read-only mapping of our own file.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        check(map != libc::MAP_FAILED, "mmap");
        file.set_len(0).expect("truncate");
        let _ = std::fs::remove_file(&path);
        announce_thread();
        announce_fn("fh_rust_read_byte", fh_rust_read_byte as *const () as usize);
        eprintln!("child: fault addr={:#x}", map as usize);
        black_box(fh_rust_read_byte(map.cast::<u8>()));
        survived()
    }
}

// ---------------------------------------------------------------------------
// The runner.
// ---------------------------------------------------------------------------

/// Hard limit for one child process.
const CHILD_TIMEOUT: Duration = Duration::from_secs(20);
/// "Dies within a few seconds" (bad fds, concurrent crashes): a generous
/// bound that only a hang can exceed.
const BAD_FD_LIMIT: Duration = Duration::from_secs(10);

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// How a child ended and what it wrote.
struct Run {
    what: String,
    status: ExitStatus,
    stderr: String,
    stdout: String,
    elapsed: Duration,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "--- {} ({}, {:.2?}) stderr:\n{}--- stdout:\n{}",
            self.what,
            describe_status(&self.status),
            self.elapsed,
            self.stderr,
            self.stdout
        )
    }
}

fn describe_status(s: &ExitStatus) -> String {
    match (s.signal(), s.code()) {
        (Some(sig), _) => format!("killed by signal {sig}"),
        (None, Some(c)) => format!("exit code {c}"),
        _ => format!("{s:?}"),
    }
}

thread_local! {
    /// What every child of the current case wrote, shown when it fails.
    static TRANSCRIPT: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A running child.
struct Spawned {
    what: String,
    child: std::process::Child,
    start: Instant,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn spawn(mut cmd: Command, what: String) -> Result<Spawned, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs between fork and exec and only calls
    // setrlimit, an async-signal-safe system call: no core files, and an
    // 8 MiB main stack so that the overflow cases end the same way under
    // `ulimit -s unlimited`.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            let mut stack = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_STACK, &mut stack) == 0 {
                stack.rlim_cur = stack.rlim_max.min(8 << 20);
                libc::setrlimit(libc::RLIMIT_STACK, &stack);
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{what}: cannot spawn: {e}"))?;
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    Ok(Spawned {
        what,
        child,
        start,
        out,
        err,
    })
}

/// Keep a child's output for the failure message of the current case.
fn record(run: &Result<Run, String>) {
    if let Ok(run) = run {
        TRANSCRIPT.with(|t| t.borrow_mut().push(run.describe()));
    }
}

/// Wait for two children at once, so each one's elapsed time is its own.
fn finish_pair(a: Spawned, b: Spawned) -> Result<(Run, Run), String> {
    let (ra, rb) = std::thread::scope(|s| {
        let hb = s.spawn(|| b.wait());
        let ra = a.wait();
        (
            ra,
            hb.join().unwrap_or_else(|_| Err("waiter panicked".into())),
        )
    });
    record(&ra);
    record(&rb);
    Ok((ra?, rb?))
}

impl Spawned {
    fn finish(self) -> Result<Run, String> {
        let r = self.wait();
        record(&r);
        r
    }

    fn wait(mut self) -> Result<Run, String> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) => {}
                Err(e) => return Err(format!("{}: wait: {e}", self.what)),
            }
            if self.start.elapsed() > CHILD_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = self.err.join().unwrap_or_default();
                return Err(format!(
                    "{}: still running after {CHILD_TIMEOUT:?}, killed; stderr:\n{}",
                    self.what,
                    String::from_utf8_lossy(&err)
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = self.start.elapsed();
        let stderr = self.err.join().unwrap_or_default();
        let stdout = self.out.join().unwrap_or_default();
        let run = Run {
            what: self.what,
            status,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            elapsed,
        };
        Ok(run)
    }
}

fn self_exe() -> PathBuf {
    std::env::current_exe().expect("current_exe")
}

fn fixture(name: &str) -> PathBuf {
    faulthandler_fixtures::fixture(name)
}

/// A command that runs this executable as child `scenario`.
fn self_cmd(scenario: &str, control: bool, preload: bool) -> Command {
    let mut cmd = Command::new(self_exe());
    cmd.env("FH_CHILD", scenario)
        .env_remove("FH_CONTROL")
        .env_remove("LD_PRELOAD")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_MIN_STACK");
    if control {
        cmd.env("FH_CONTROL", "1");
    }
    if preload {
        cmd.env("LD_PRELOAD", fixture("so_malloc_spy.so"));
    }
    cmd
}

/// Run `scenario` with faulthandler and without (the control), at once.
fn run_pair(scenario: &str, preload: bool) -> Result<(Run, Run), String> {
    let main = spawn(
        self_cmd(scenario, false, preload),
        format!("child {scenario}"),
    )?;
    let control = spawn(
        self_cmd(scenario, true, preload),
        format!("control child {scenario}"),
    )?;
    finish_pair(main, control)
}

/// What the child said about itself on its `child: ...` lines.
#[derive(Default, Debug)]
struct ChildInfo {
    pid: Option<i32>,
    uid: Option<u32>,
    /// (tid, comm) of each announced thread.
    threads: Vec<(i32, String)>,
    /// (name, runtime address) of the faulting function.
    func: Option<(String, usize)>,
    fault_addr: Option<usize>,
}

fn parse_hex(s: &str) -> Option<usize> {
    usize::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

impl ChildInfo {
    fn parse(stderr: &str) -> ChildInfo {
        let mut info = ChildInfo::default();
        for line in stderr.lines() {
            let Some(rest) = line.strip_prefix("child: ") else {
                continue;
            };
            let kv: HashMap<&str, &str> =
                rest.split(' ').filter_map(|t| t.split_once('=')).collect();
            if let Some(p) = kv.get("pid") {
                info.pid = p.parse().ok();
                info.uid = kv.get("uid").and_then(|u| u.parse().ok());
            } else if rest.starts_with("thread ") {
                if let (Some(t), Some(c)) = (kv.get("tid"), kv.get("comm")) {
                    if let Ok(t) = t.parse() {
                        info.threads.push((t, c.to_string()));
                    }
                }
            } else if let (Some(f), Some(a)) = (kv.get("fn"), kv.get("addr")) {
                info.func = parse_hex(a).map(|a| (f.to_string(), a));
            } else if rest.starts_with("fault ") {
                info.fault_addr = kv.get("addr").and_then(|a| parse_hex(a));
            }
        }
        info
    }

    fn pid(&self) -> Result<i32, String> {
        self.pid
            .ok_or_else(|| "the child did not print its pid".into())
    }
}

/// Function sizes from an ELF file's symbol table.
mod elf {
    use super::*;

    fn u16_at(b: &[u8], o: usize) -> Option<u64> {
        Some(u64::from(u16::from_le_bytes(
            b.get(o..o + 2)?.try_into().ok()?,
        )))
    }
    fn u32_at(b: &[u8], o: usize) -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            b.get(o..o + 4)?.try_into().ok()?,
        )))
    }
    fn u64_at(b: &[u8], o: usize) -> Option<u64> {
        Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
    }

    /// (link-time address, size) of every function symbol whose name starts
    /// with `fh_` or `host_`.
    fn parse(b: &[u8]) -> Option<HashMap<String, (u64, u64)>> {
        if b.get(..5)? != b"\x7fELF\x02" {
            return None;
        }
        let shoff = u64_at(b, 0x28)? as usize;
        let shentsize = u16_at(b, 0x3a)? as usize;
        let shnum = u16_at(b, 0x3c)? as usize;
        let sh = |i: usize| shoff + i * shentsize;
        let mut out = HashMap::new();
        for want in [2u64, 11] {
            // SHT_SYMTAB, then SHT_DYNSYM.
            for i in 0..shnum {
                if u32_at(b, sh(i) + 4)? != want {
                    continue;
                }
                let off = u64_at(b, sh(i) + 24)? as usize;
                let size = u64_at(b, sh(i) + 32)? as usize;
                let link = u32_at(b, sh(i) + 40)? as usize;
                let str_off = u64_at(b, sh(link) + 24)? as usize;
                for s in (off..off + size).step_by(24) {
                    let info = *b.get(s + 4)?;
                    if info & 0xf != 2 {
                        continue; // not STT_FUNC
                    }
                    let name_off = str_off + u32_at(b, s)? as usize;
                    let end = name_off + b.get(name_off..)?.iter().position(|&c| c == 0)?;
                    let name = std::str::from_utf8(b.get(name_off..end)?).ok()?;
                    if name.starts_with("fh_") || name.starts_with("host_") {
                        out.insert(name.to_string(), (u64_at(b, s + 8)?, u64_at(b, s + 16)?));
                    }
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        Some(out)
    }

    type Table = Arc<HashMap<String, (u64, u64)>>;

    /// The symbol table of `path`, parsed once.
    pub fn functions(path: &Path) -> Result<Table, String> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Table>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(t) = cache.lock().unwrap().get(path) {
            return Ok(Arc::clone(t));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let table = Arc::new(
            parse(&bytes).ok_or_else(|| format!("cannot parse the ELF file {}", path.display()))?,
        );
        cache
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), Arc::clone(&table));
        Ok(table)
    }
}

/// The faulting function's runtime address range `[start, end)`, from the
/// address the child printed and the symbol's size in `exe`.
///
/// Also returns the executable's load bias (runtime address minus ELF
/// virtual address), which the frame lines' `+0xOFF` must be relative to.
fn fn_range(info: &ChildInfo, exe: &Path) -> Result<(usize, usize, usize), String> {
    let (name, addr) = info
        .func
        .clone()
        .ok_or("the child did not print its faulting function")?;
    let table = elf::functions(exe)?;
    let &(value, size) = table
        .get(&name)
        .ok_or_else(|| format!("no symbol {name} in {}", exe.display()))?;
    ensure!(size > 0, "symbol {name} has size 0");
    ensure!(
        (addr as u64).wrapping_sub(value) % 4096 == 0,
        "{name}: runtime address {addr:#x} and symbol value {value:#x} differ by more than a load bias"
    );
    Ok((
        addr,
        addr + size as usize,
        addr.wrapping_sub(value as usize),
    ))
}

/// A report, cut out of a child's stderr and split into its parts.
#[derive(Debug)]
struct Report<'a> {
    /// Every `Fatal signal` line in the whole output.
    fatal_lines: Vec<&'a str>,
    /// The report's lines (from the first `Fatal signal` line to the end of
    /// the modules block), each with its `\n` (the last one may lack it).
    lines: Vec<&'a str>,
}

impl<'a> Report<'a> {
    fn find(stderr: &'a str) -> Result<Report<'a>, String> {
        let all: Vec<&str> = stderr.split_inclusive('\n').collect();
        let fatal_lines: Vec<&str> = all
            .iter()
            .filter(|l| l.starts_with("Fatal signal "))
            .map(|l| l.trim_end_matches('\n'))
            .collect();
        let start = all
            .iter()
            .position(|l| l.starts_with("Fatal signal "))
            .ok_or("no report (no `Fatal signal` line)")?;
        let mut end = all.len();
        let mut in_modules = false;
        for (i, l) in all.iter().enumerate().skip(start) {
            if l.trim_end() == "Modules:" {
                in_modules = true;
            } else if in_modules && !l.starts_with("  ") {
                end = i;
                break;
            }
        }
        Ok(Report {
            fatal_lines,
            lines: all[start..end].to_vec(),
        })
    }

    fn line(&self, i: usize) -> &'a str {
        self.lines.get(i).map_or("", |l| l.trim_end_matches('\n'))
    }

    fn first(&self) -> &'a str {
        self.line(0)
    }

    /// The lines of the current thread's block, heading excluded.
    fn current_block(&self) -> Result<(&'a str, Vec<&'a str>), String> {
        let h = self
            .lines
            .iter()
            .position(|l| l.starts_with("Current thread "))
            .ok_or("no `Current thread` line")?;
        let body = self.lines[h + 1..]
            .iter()
            .map(|l| l.trim_end_matches('\n'))
            .take_while(|l| !l.is_empty())
            .collect();
        Ok((self.line(h), body))
    }

    /// The frame addresses of the current thread, checking each line's
    /// shape: `  #N  0x<16 hex> in NAME (MODULE +0xOFF)`.
    fn frames(&self) -> Result<Vec<usize>, String> {
        let (_, body) = self.current_block()?;
        let mut out = Vec::new();
        for l in body.iter().filter(|l| l.starts_with("  #")) {
            let prefix = format!("  #{}  0x", out.len());
            let rest = l
                .strip_prefix(&prefix)
                .ok_or_else(|| format!("frame line out of order or malformed: {l:?}"))?;
            let hex = rest
                .get(..16)
                .ok_or_else(|| format!("short frame line {l:?}"))?;
            ensure!(
                hex.bytes().all(|c| c.is_ascii_hexdigit()) && rest[16..].starts_with(" in "),
                "malformed frame line {l:?}"
            );
            ensure!(
                l.ends_with(')') && (l.contains(" +0x") || l.ends_with("(??)")),
                "frame line without `(MODULE +0xOFF)`: {l:?}"
            );
            out.push(usize::from_str_radix(hex, 16).unwrap());
        }
        Ok(out)
    }

    fn frame_lines(&self) -> Result<Vec<&'a str>, String> {
        let (_, body) = self.current_block()?;
        Ok(body.into_iter().filter(|l| l.starts_with("  #")).collect())
    }

    fn truncation(&self) -> Result<Option<&'a str>, String> {
        let (_, body) = self.current_block()?;
        Ok(body.into_iter().find(|l| l.starts_with("  ... ")))
    }
}

fn signame(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "?",
    }
}

fn expect_signal(run: &Run, sig: i32) -> Check {
    ensure!(
        run.status.signal() == Some(sig),
        "{} should die of {sig} ({}), but: {}",
        run.what,
        signame(sig),
        describe_status(&run.status)
    );
    Ok(())
}

/// The run with faulthandler ended exactly as the control run did.
fn expect_same_end(run: &Run, control: &Run) -> Check {
    ensure!(
        run.status.signal() == control.status.signal()
            && run.status.code() == control.status.code(),
        "with faulthandler: {}; without: {}",
        describe_status(&run.status),
        describe_status(&control.status)
    );
    ensure!(
        !control.stderr.contains("Fatal signal"),
        "the control run printed a report"
    );
    ensure!(
        !control.stderr.contains("child: CHECK FAILED") && !run.stderr.contains("CHECK FAILED"),
        "a child's own check failed"
    );
    Ok(())
}

/// Which frames a report must contain.
enum FrameCheck {
    /// Frame #0 is the faulting instruction inside the function.
    Top,
    /// Some frame lies inside the function (frame #0 as an instruction,
    /// deeper ones as return addresses).
    Any,
}

/// The checks every report must pass: one report, its first line, the
/// process line, the current thread's tid and name, a frame inside the
/// faulting function, well-formed frame lines, and the modules block with
/// the executable and its build-id; ASCII and newline-terminated.
fn expect_report<'a>(
    run: &'a Run,
    exe: &Path,
    first: &str,
    frames: FrameCheck,
) -> Result<Report<'a>, String> {
    let info = ChildInfo::parse(&run.stderr);
    let pid = info.pid()?;
    ensure!(
        !run.stderr.contains("the report was cut short"),
        "the handler faulted while reporting"
    );
    let rep = Report::find(&run.stderr)?;
    ensure!(
        rep.fatal_lines.len() == 1,
        "expected one `Fatal signal` line, got {}",
        rep.fatal_lines.len()
    );
    ensure!(
        rep.first() == first,
        "first line\n  is:     {:?}\n  wanted: {first:?}",
        rep.first()
    );
    let exe_name = exe.file_name().unwrap().to_string_lossy();
    let process = format!("Process {pid} \"{exe_name}\"");
    ensure!(
        rep.lines.iter().any(|l| l.trim_end() == process),
        "no line {process:?}"
    );
    // The current thread: one the child announced, by tid and comm.
    let (heading, _) = rep.current_block()?;
    let ok = info.threads.iter().any(|(tid, comm)| {
        heading == format!("Current thread {tid} \"{comm}\" (most recent call first):")
    });
    ensure!(
        ok,
        "heading {heading:?} does not name an announced thread {:?}",
        info.threads
    );
    let addrs = rep.frames()?;
    ensure!(!addrs.is_empty(), "no frame lines");
    let (start, end, bias) = fn_range(&info, exe)?;
    let inside = match frames {
        FrameCheck::Top => (start..end).contains(&addrs[0]),
        FrameCheck::Any => addrs.iter().enumerate().any(|(i, &a)| {
            if i == 0 {
                (start..end).contains(&a)
            } else {
                // A return address: the call lies before it.
                start < a && a <= end
            }
        }),
    };
    ensure!(
        inside,
        "no frame inside {} [{start:#x}, {end:#x}): {addrs:x?}",
        info.func.as_ref().unwrap().0
    );
    // Frames in the executable give their offset from its load bias, which
    // is what `addr2line -e EXE` takes.
    let exe_canon = std::fs::canonicalize(exe).map_err(|e| e.to_string())?;
    let exe_mod = format!("({} +0x", exe_canon.display());
    let mut checked = 0;
    for (l, &a) in rep.frame_lines()?.iter().zip(&addrs) {
        if let Some(i) = l.find(&exe_mod) {
            let off = l[i + exe_mod.len()..].trim_end_matches(')');
            let off = usize::from_str_radix(off, 16).map_err(|_| format!("bad offset in {l:?}"))?;
            ensure!(
                off == a.wrapping_sub(bias),
                "{l:?}: offset {off:#x}, but address - load bias is {:#x}",
                a.wrapping_sub(bias)
            );
            checked += 1;
        }
    }
    ensure!(checked > 0, "no frame in {}", exe_canon.display());
    // The whole report: ASCII, every line terminated.
    for l in &rep.lines {
        ensure!(l.is_ascii(), "non-ASCII report line {l:?}");
        ensure!(l.ends_with('\n'), "report line without a newline: {l:?}");
    }
    // The modules block lists the executable with a 40-digit build-id.
    let exe_path = std::fs::canonicalize(exe).map_err(|e| e.to_string())?;
    let m = rep
        .lines
        .iter()
        .position(|l| l.trim_end() == "Modules:")
        .ok_or("no `Modules:` block")?;
    let want_path = format!(" {} build-id ", exe_path.display());
    let mut found = false;
    for l in &rep.lines[m + 1..] {
        let l = l.trim_end();
        ensure!(
            l.len() > 40 && l.starts_with("  0x") && l.as_bytes()[20] == b'-',
            "malformed module line {l:?}"
        );
        if l.contains(&want_path) {
            let id = l.rsplit(' ').next().unwrap();
            ensure!(
                id.len() == 40 && id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "build-id {id:?} is not 40 lowercase hex digits"
            );
            found = true;
        }
    }
    ensure!(
        found,
        "the modules block does not list {}",
        exe_path.display()
    );
    Ok(rep)
}

fn segv_first_line(addr: usize) -> String {
    format!(
        "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address {addr:#018x}"
    )
}

fn abort_first_line(run: &Run) -> Result<String, String> {
    let info = ChildInfo::parse(&run.stderr);
    Ok(format!(
        "Fatal signal 6 (SIGABRT): sent by pid {} uid {}",
        info.pid()?,
        info.uid.ok_or("no uid")?
    ))
}

fn expect_no_truncation(rep: &Report) -> Check {
    if let Some(t) = rep.truncation()? {
        return Err(format!("unexpected truncation line {t:?}"));
    }
    Ok(())
}

// --- The cases. -------------------------------------------------------------

fn case_null_deref() -> Check {
    let (run, control) = run_pair("segv", false)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    let rep = expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    expect_no_truncation(&rep)?;
    ensure!(
        run.stderr.ends_with('\n'),
        "the output does not end with a newline"
    );
    Ok(())
}

fn case_sigbus() -> Check {
    let (run, control) = run_pair("bus", false)?;
    expect_signal(&run, libc::SIGBUS)?;
    expect_same_end(&run, &control)?;
    let addr = ChildInfo::parse(&run.stderr)
        .fault_addr
        .ok_or("no fault address from the child")?;
    let first = format!(
        "Fatal signal 7 (SIGBUS): nonexistent physical address (BUS_ADRERR) at address {addr:#018x}"
    );
    expect_report(&run, &self_exe(), &first, FrameCheck::Top)?;
    Ok(())
}

fn case_sigill() -> Check {
    let (run, control) = run_pair("ill", false)?;
    expect_signal(&run, libc::SIGILL)?;
    expect_same_end(&run, &control)?;
    // si_addr is the faulting instruction, which is also frame #0.
    let rep = Report::find(&run.stderr)?;
    let pc = *rep.frames()?.first().ok_or("no frames")?;
    // Linux reports x86's #UD as ILL_ILLOPN, and arm64's UDF as ILL_ILLOPC.
    #[cfg(target_arch = "x86_64")]
    let code = "illegal operand (ILL_ILLOPN)";
    #[cfg(not(target_arch = "x86_64"))]
    let code = "illegal opcode (ILL_ILLOPC)";
    let first = format!("Fatal signal 4 (SIGILL): {code} at address {pc:#018x}");
    expect_report(&run, &self_exe(), &first, FrameCheck::Top)?;
    Ok(())
}

fn case_sigfpe() -> Check {
    let (run, control) = run_pair("fpe", false)?;
    expect_signal(&run, libc::SIGFPE)?;
    expect_same_end(&run, &control)?;
    let rep = Report::find(&run.stderr)?;
    let pc = *rep.frames()?.first().ok_or("no frames")?;
    let first = format!(
        "Fatal signal 8 (SIGFPE): integer divide by zero (FPE_INTDIV) at address {pc:#018x}"
    );
    expect_report(&run, &self_exe(), &first, FrameCheck::Top)?;
    Ok(())
}

fn case_abort() -> Check {
    let (run, control) = run_pair("abort", false)?;
    expect_signal(&run, libc::SIGABRT)?;
    expect_same_end(&run, &control)?;
    let first = abort_first_line(&run)?;
    expect_report(&run, &self_exe(), &first, FrameCheck::Any)?;
    Ok(())
}

fn case_panic_then_abort() -> Check {
    let (run, control) = run_pair("panic-abort", false)?;
    expect_signal(&run, libc::SIGABRT)?;
    expect_same_end(&run, &control)?;
    let first = abort_first_line(&run)?;
    let rep = expect_report(&run, &self_exe(), &first, FrameCheck::Any)?;
    // `Last panic: MESSAGE at FILE:LINE:COL`, right after the first line.
    let line = rep.line(1);
    let loc = line
        .strip_prefix("Last panic: fh test panic 7 at tests/crash.rs:")
        .ok_or_else(|| format!("second line {line:?}"))?;
    let ok = loc
        .split_once(':')
        .is_some_and(|(l, c)| l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok());
    ensure!(ok, "no LINE:COL in {line:?}");
    Ok(())
}

fn case_report_to_file() -> Check {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let path = dir.join(format!("fh-report-{pid}-{n}"));
    let control_path = dir.join(format!("fh-report-{pid}-{}", n + 1));
    let mut cmd = self_cmd("report-to-file", false, false);
    cmd.env("FH_REPORT_PATH", &path);
    let mut control = self_cmd("report-to-file", true, false);
    control.env("FH_REPORT_PATH", &control_path);
    let run = spawn(cmd, "child report-to-file".into())?;
    let control = spawn(control, "control child report-to-file".into())?;
    let (run, control) = finish_pair(run, control)?;
    let report = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&control_path);
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    ensure!(
        !run.stderr.contains("Fatal signal"),
        "the report went to stderr, not to the file"
    );
    let report = report.map_err(|e| format!("cannot read the report file: {e}"))?;
    // The child's `child:` lines are on stderr, the report in the file.
    let both = Run {
        what: run.what.clone(),
        status: run.status,
        stderr: format!("{}{report}", run.stderr),
        stdout: String::new(),
        elapsed: run.elapsed,
    };
    expect_report(
        &both,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    ensure!(
        report.starts_with("Fatal signal ") && report.ends_with('\n'),
        "the file holds more or less than one report"
    );
    Ok(())
}

fn check_overflow(scenario: &str) -> Check {
    let (run, control) = run_pair(scenario, false)?;
    // Whatever the program dies of without us (Rust std prints its message
    // and aborts), it must die of with us.
    expect_same_end(&run, &control)?;
    expect_signal(&control, libc::SIGABRT)?;
    ensure!(
        control.stderr.contains("has overflowed its stack"),
        "the control run did not go through std's overflow handler"
    );
    ensure!(
        run.stderr.contains("has overflowed its stack"),
        "std's overflow handler did not run after the report"
    );
    let rep = Report::find(&run.stderr)?;
    let first = rep.first();
    ensure!(
        first.starts_with("Fatal signal 11 (SIGSEGV): stack overflow at address 0x"),
        "first line {first:?}"
    );
    let rep = expect_report(&run, &self_exe(), first, FrameCheck::Top)?;
    let t = rep.truncation()?.ok_or("no truncation line")?;
    ensure!(
        t.starts_with("  ... ") && t.ends_with(" more frames not shown (max_frames 100)"),
        "truncation line {t:?}"
    );
    Ok(())
}

fn case_stack_overflow_main() -> Check {
    check_overflow("overflow-main")
}

fn case_stack_overflow_thread() -> Check {
    check_overflow("overflow-thread")?;
    Ok(())
}

fn case_stack_overflow_thread_std_altstack() -> Check {
    // No install_thread_altstack(): the report must fit in the alternate
    // stack Rust std gave the thread (max(SIGSTKSZ, AT_MINSIGSTKSZ)).
    check_overflow("overflow-thread-std-altstack")
}

/// The unwinder faults inside the handler (the stack pointer is garbage):
/// the report is cut short with one line, nothing loops or hangs, and the
/// process still dies of its own signal.
#[cfg(target_arch = "x86_64")]
fn case_fault_inside_handler() -> Check {
    let (run, control) = run_pair("bad-stack", false)?;
    expect_signal(&run, libc::SIGILL)?;
    expect_same_end(&run, &control)?;
    ensure!(
        run.elapsed < BAD_FD_LIMIT,
        "took {:.2?} to die",
        run.elapsed
    );
    let info = ChildInfo::parse(&run.stderr);
    let (start, end, _) = fn_range(&info, &self_exe())?;
    let rep = Report::find(&run.stderr)?;
    ensure!(
        rep.fatal_lines.len() == 1,
        "{} reports",
        rep.fatal_lines.len()
    );
    let first = rep.first();
    let addr = first
        .strip_prefix("Fatal signal 4 (SIGILL): illegal operand (ILL_ILLOPN) at address ")
        .and_then(parse_hex)
        .ok_or_else(|| format!("first line {first:?}"))?;
    ensure!(
        (start..end).contains(&addr),
        "fault address {addr:#x} outside [{start:#x}, {end:#x})"
    );
    let cut = "(the report was cut short: signal 11 (SIGSEGV) inside the handler)";
    let n = run.stderr.lines().filter(|l| *l == cut).count();
    ensure!(n == 1, "{n} lines {cut:?}");
    // The walk faulted, but frame #0 (the faulting instruction) is shown.
    let frame0 = format!("  #0  0x{addr:016x} in ?? (");
    ensure!(
        run.stderr.lines().any(|l| l.starts_with(&frame0)),
        "no {frame0:?} line in:\n{}",
        run.stderr
    );
    Ok(())
}

fn case_truncation() -> Check {
    let (run, control) = run_pair("truncate", false)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    let rep = expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    ensure!(
        rep.frames()?.len() == 5,
        "{} frames shown, not 5",
        rep.frames()?.len()
    );
    let t = rep.truncation()?.ok_or("no truncation line")?;
    let n: usize = t
        .strip_prefix("  ... ")
        .and_then(|r| r.strip_suffix(" more frames not shown (max_frames 5)"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("truncation line {t:?}"))?;
    ensure!(n >= 30, "only {n} frames cut from a 40-deep recursion");
    Ok(())
}

fn check_disabled(scenario: &str, sig: i32) -> Check {
    let (run, control) = run_pair(scenario, false)?;
    expect_signal(&run, sig)?;
    expect_same_end(&run, &control)?;
    ensure!(
        run.stderr.contains("child: enabled then disabled"),
        "the child did not get through enable/disable"
    );
    ensure!(
        !run.stderr.contains("Fatal signal"),
        "a report after disable()"
    );
    Ok(())
}

fn case_disable_segv() -> Check {
    check_disabled("disable-segv", libc::SIGSEGV)
}

fn case_disable_abort() -> Check {
    check_disabled("disable-abort", libc::SIGABRT)
}

fn case_chaining() -> Check {
    let (run, control) = run_pair("chain", false)?;
    let prev_line = format!("prev-handler: sig=11 si_addr={:#x}", child::NULL_ADDR);
    for r in [&run, &control] {
        ensure!(
            r.status.code() == Some(42),
            "{}: the previous handler's exit code 42 expected, got {}",
            r.what,
            describe_status(&r.status)
        );
        ensure!(
            r.stderr.lines().any(|l| l == prev_line),
            "{}: no line {prev_line:?}",
            r.what
        );
    }
    expect_same_end(&run, &control)?;
    expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    // The previous handler runs after the report.
    let report_at = run.stderr.find("Fatal signal").unwrap();
    let prev_at = run.stderr.find(&prev_line).unwrap();
    ensure!(
        prev_at > report_at,
        "the previous handler ran before the report"
    );
    Ok(())
}

fn check_chain_after_enable_again(scenario: &str) -> Check {
    let (run, control) = run_pair(scenario, false)?;
    let prev_line = format!("prev-handler: sig=11 si_addr={:#x}", child::NULL_ADDR);
    for r in [&run, &control] {
        ensure!(
            r.status.code() == Some(42),
            "{}: the previous handler's exit code 42 expected",
            r.what
        );
        ensure!(
            r.stderr.lines().any(|l| l == prev_line),
            "{}: no line {prev_line:?}",
            r.what
        );
    }
    expect_same_end(&run, &control)?;
    let rep = expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    // The second configuration is the one in force.
    ensure!(
        rep.frames()?.len() == 3,
        "{} frames, not 3",
        rep.frames()?.len()
    );
    let t = rep.truncation()?.unwrap_or("");
    ensure!(t.ends_with("(max_frames 3)"), "truncation line {t:?}");
    Ok(())
}

fn case_enable_twice_keeps_chain() -> Check {
    check_chain_after_enable_again("chain-twice")
}

fn case_disable_then_enable_keeps_chain() -> Check {
    check_chain_after_enable_again("chain-reenable")
}

fn case_previously_ignored_sigsegv() -> Check {
    // A real fault whose action was SIG_IGN: the kernel forces SIG_DFL.
    let (run, control) = run_pair("ignored-segv", false)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    Ok(())
}

fn case_altstack_usage() -> Check {
    // How much alternate stack a report takes (the kernel's signal frame
    // included), against what Rust std gives each thread on this machine:
    // max(SIGSTKSZ, AT_MINSIGSTKSZ). Threads that never called
    // install_thread_altstack() report on std's stack.
    let run = spawn(
        self_cmd("altstack-usage", false, false),
        "child altstack-usage".into(),
    )?
    .finish()?;
    ensure!(
        run.status.code() == Some(child::MEASURED),
        "the measuring handler did not run: {}",
        describe_status(&run.status)
    );
    expect_complete_report(&run)?;
    let line = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("child: altstack used="))
        .ok_or("no measurement")?;
    let (used, size) = line.split_once(" size=").ok_or("bad measurement line")?;
    let used: usize = used.parse().map_err(|_| "bad number")?;
    let size: usize = size.parse().map_err(|_| "bad number")?;
    // SAFETY: getauxval only reads the auxiliary vector.
    let min = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    let std_size = (libc::SIGSTKSZ).max(min);
    let frame: usize = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("child: kernel frame="))
        .and_then(|f| f.parse().ok())
        .ok_or("no kernel frame measurement")?;
    let note = format!(
        "altstack: a report used {used} of {size} bytes ({frame} of them the kernel's \
         signal frame); Rust std gives threads {std_size}"
    );
    TRANSCRIPT.with(|t| t.borrow_mut().push(note));
    ensure!(
        used < size,
        "the report used the whole alternate stack ({used} bytes)"
    );
    ensure!(used > 1024, "implausibly small measurement: {used} bytes");
    // Rust std gives 8 KiB (SIGSTKSZ) on hosts whose signal frame is
    // small (about 1.4 KiB with AVX2 state): the report alone must leave
    // room for a 2 KiB frame in 8 KiB, whatever this host's frame is.
    ensure!(
        used.saturating_sub(frame) + 2048 <= libc::SIGSTKSZ,
        "the report itself needs {} bytes of alternate stack: with a 2 KiB signal frame it \
         would overflow the {} bytes Rust std gives threads on hosts without AVX-512",
        used.saturating_sub(frame),
        libc::SIGSTKSZ
    );
    ensure!(
        used < std_size,
        "a report needs {used} bytes of alternate stack, but Rust std gives threads only {std_size}"
    );
    Ok(())
}

fn case_chaining_plain_handler() -> Check {
    // The previous handler was installed without SA_SIGINFO.
    let (run, control) = run_pair("chain-plain", false)?;
    for r in [&run, &control] {
        ensure!(
            r.status.code() == Some(44),
            "{}: the previous handler's exit code 44 expected",
            r.what
        );
        ensure!(
            r.stderr.lines().any(|l| l == "prev-plain-handler: sig=11"),
            "{}: the previous handler did not run",
            r.what
        );
    }
    expect_same_end(&run, &control)?;
    expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    Ok(())
}

fn case_chaining_abort() -> Check {
    // abort() is a sent signal: it is queued again to the previous SIGABRT
    // handler with its original siginfo (SI_TKILL from our own pid).
    let (run, control) = run_pair("chain-abort", false)?;
    let pid = ChildInfo::parse(&run.stderr).pid()?;
    let control_pid = ChildInfo::parse(&control.stderr).pid()?;
    for (r, pid) in [(&run, pid), (&control, control_pid)] {
        let want = format!(
            "prev-abrt-handler: sig=6 si_code={} si_pid={pid}",
            libc::SI_TKILL
        );
        ensure!(
            r.status.code() == Some(45),
            "{}: the previous handler's exit code 45 expected",
            r.what
        );
        ensure!(
            r.stderr.lines().any(|l| l == want),
            "{}: no line {want:?}",
            r.what
        );
    }
    expect_same_end(&run, &control)?;
    expect_report(&run, &self_exe(), &abort_first_line(&run)?, FrameCheck::Any)?;
    Ok(())
}

fn case_sent_sigsegv() -> Check {
    let (run, control) = run_pair("sent-segv", false)?;
    expect_same_end(&run, &control)?;
    let info = ChildInfo::parse(&run.stderr);
    let first = format!(
        "Fatal signal 11 (SIGSEGV): sent by pid {} uid {}",
        info.pid()?,
        info.uid.ok_or("no uid")?
    );
    let rep = Report::find(&run.stderr)?;
    ensure!(
        rep.fatal_lines.len() == 1,
        "{} reports",
        rep.fatal_lines.len()
    );
    ensure!(
        rep.first() == first,
        "first line {:?}, wanted {first:?}",
        rep.first()
    );
    expect_complete_report(&run)?;
    // Surviving the crash leaves no stale claim: a dump works at once.
    let line = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("child: dump after surviving: "))
        .ok_or("no dump after surviving")?;
    let ms: u64 = line
        .strip_prefix("ok in ")
        .and_then(|r| r.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("dump after surviving: {line}"))?;
    ensure!(ms < 2000, "the dump waited {ms} ms for a stale claim");
    ensure!(
        run.stderr.contains("\nStack dump requested\n"),
        "no dump in:\n{}",
        run.stderr
    );
    Ok(())
}

fn check_bad_fd(scenario: &str) -> Check {
    let (run, control) = run_pair(scenario, false)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    ensure!(
        run.elapsed < BAD_FD_LIMIT,
        "took {:.2?} to die (limit {BAD_FD_LIMIT:?})",
        run.elapsed
    );
    ensure!(
        !run.stderr.contains("Fatal signal"),
        "the report went to stderr instead of the configured fd"
    );
    Ok(())
}

fn case_bad_fd_closed_pipe() -> Check {
    check_bad_fd("pipe-closed")
}

fn case_bad_fd_closed_socket() -> Check {
    check_bad_fd("socket-closed")
}

fn case_bad_fd_closed_fd() -> Check {
    check_bad_fd("fd-closed")
}

fn case_bad_fd_full_pipe() -> Check {
    check_bad_fd("pipe-full")
}

fn case_eight_threads() -> Check {
    let (run, control) = run_pair("threads8", false)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    ensure!(
        run.elapsed < BAD_FD_LIMIT,
        "took {:.2?} to die (limit {BAD_FD_LIMIT:?})",
        run.elapsed
    );
    let info = ChildInfo::parse(&run.stderr);
    ensure!(
        info.threads.len() == 8,
        "{} threads announced",
        info.threads.len()
    );
    expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    Ok(())
}

const SPY_ACTIVE: &str = "malloc-spy: active";
const SPY_VIOLATION: &str = "malloc-spy: VIOLATION";

fn check_zero_malloc(scenario: &str, sig: i32) -> Check {
    let (run, control) = run_pair(scenario, true)?;
    expect_signal(&run, sig)?;
    expect_same_end(&run, &control)?;
    ensure!(
        run.stderr.contains(SPY_ACTIVE),
        "the malloc spy was not loaded"
    );
    ensure!(
        !run.stderr.contains(SPY_VIOLATION),
        "an allocation on the alternate stack"
    );
    expect_complete_report(&run)
}

/// A report was written to the end: its header and its modules block.
fn expect_complete_report(run: &Run) -> Check {
    let rep = Report::find(&run.stderr)?;
    ensure!(
        rep.lines.iter().any(|l| l.trim_end() == "Modules:"),
        "the report has no modules block"
    );
    Ok(())
}

fn case_zero_malloc_segv() -> Check {
    check_zero_malloc("segv", libc::SIGSEGV)
}

fn case_zero_malloc_abort() -> Check {
    check_zero_malloc("abort", libc::SIGABRT)
}

fn case_zero_malloc_stack_overflow() -> Check {
    // Std's own overflow handler runs on the alternate stack too; it must
    // not allocate either, or this test could not tell who did.
    check_zero_malloc("overflow-thread", libc::SIGABRT)
}

fn case_zero_malloc_eight_threads() -> Check {
    check_zero_malloc("threads8", libc::SIGSEGV)
}

fn case_zero_malloc_c_host() -> Check {
    let host = fixture("exe_c_host");
    let spy = fixture("so_malloc_spy.so");
    let mut with = Command::new(&host);
    with.arg(cdylib_path()?).env("LD_PRELOAD", &spy);
    let mut without = Command::new(&host);
    without.env("LD_PRELOAD", &spy);
    let run = spawn(with, "exe_c_host".into())?;
    let control = spawn(without, "control exe_c_host".into())?;
    let (run, control) = finish_pair(run, control)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    ensure!(
        run.stderr.contains(SPY_ACTIVE),
        "the malloc spy was not loaded"
    );
    ensure!(
        !run.stderr.contains(SPY_VIOLATION),
        "an allocation on the alternate stack"
    );
    expect_complete_report(&run)
}

fn case_zero_malloc_spy_catches() -> Check {
    let run = spawn(
        self_cmd("spy-control", true, true),
        "child spy-control".into(),
    )?
    .finish()?;
    ensure!(
        run.status.code() == Some(43),
        "the malloc handler's exit code 43 expected"
    );
    ensure!(
        run.stderr.contains(SPY_ACTIVE),
        "the malloc spy was not loaded"
    );
    ensure!(
        run.stderr
            .contains("malloc-spy: VIOLATION malloc on the alternate signal stack"),
        "the spy missed a malloc on the alternate stack"
    );
    Ok(())
}

fn case_enabled_from_other_thread() -> Check {
    let (run, control) = run_pair("other-thread", false)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    let rep = expect_report(
        &run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    // The crash is on main, whose tid is the pid.
    let pid = ChildInfo::parse(&run.stderr).pid()?;
    let (heading, _) = rep.current_block()?;
    ensure!(
        heading.starts_with(&format!("Current thread {pid} ")),
        "not the main thread: {heading:?}"
    );
    Ok(())
}

fn cdylib_path() -> Result<PathBuf, String> {
    // This test is target/<profile>/deps/crash-HASH. `cargo test` builds the
    // library (rlib and cdylib) next to it in deps/; `cargo build` puts a
    // copy one level up.
    let exe = self_exe();
    let deps = exe.parent().ok_or("no deps dir")?;
    let candidates = [
        deps.to_path_buf(),
        deps.parent().unwrap_or(deps).to_path_buf(),
    ];
    candidates
        .iter()
        .map(|d| d.join("libfaulthandler.so"))
        .find(|p| p.exists())
        .ok_or_else(|| format!("libfaulthandler.so was not built next to {}", exe.display()))
}

fn case_cdylib_c_host() -> Check {
    let host = fixture("exe_c_host");
    let mut with = Command::new(&host);
    with.arg(cdylib_path()?).env_remove("LD_PRELOAD");
    let mut without = Command::new(&host);
    without.env_remove("LD_PRELOAD");
    let run = spawn(with, "exe_c_host".into())?;
    let control = spawn(without, "control exe_c_host".into())?;
    let (run, control) = finish_pair(run, control)?;
    expect_signal(&run, libc::SIGSEGV)?;
    expect_same_end(&run, &control)?;
    expect_report(
        &run,
        &host,
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )?;
    Ok(())
}

// --- Running them. ----------------------------------------------------------

struct Case {
    name: &'static str,
    run: fn() -> Check,
}

macro_rules! cases {
    ($($f:ident),* $(,)?) => {
        vec![$(Case { name: stringify!($f).trim_start_matches("case_"), run: $f }),*]
    };
}

fn all_cases() -> Vec<Case> {
    #[allow(unused_mut)]
    let mut v = cases![
        // The slowest first (it waits out the 3 s write timeout).
        case_bad_fd_full_pipe,
        case_null_deref,
        case_sigbus,
        case_sigill,
        case_abort,
        case_panic_then_abort,
        case_report_to_file,
        case_stack_overflow_main,
        case_stack_overflow_thread,
        case_stack_overflow_thread_std_altstack,
        case_altstack_usage,
        case_truncation,
        case_disable_segv,
        case_disable_abort,
        case_chaining,
        case_chaining_plain_handler,
        case_enable_twice_keeps_chain,
        case_disable_then_enable_keeps_chain,
        case_previously_ignored_sigsegv,
        case_chaining_abort,
        case_sent_sigsegv,
        case_bad_fd_closed_pipe,
        case_bad_fd_closed_socket,
        case_bad_fd_closed_fd,
        case_eight_threads,
        case_zero_malloc_segv,
        case_zero_malloc_abort,
        case_zero_malloc_stack_overflow,
        case_zero_malloc_eight_threads,
        case_zero_malloc_c_host,
        case_zero_malloc_spy_catches,
        case_enabled_from_other_thread,
        case_cdylib_c_host,
    ];
    // Integer division by zero traps on x86_64 only.
    #[cfg(target_arch = "x86_64")]
    v.push(Case {
        name: "sigfpe",
        run: case_sigfpe,
    });
    #[cfg(target_arch = "x86_64")]
    v.push(Case {
        name: "fault_inside_handler",
        run: case_fault_inside_handler,
    });
    v
}

mod runner {
    use super::*;

    /// libtest options that take a value as the next argument.
    const WITH_VALUE: &[&str] = &[
        "--test-threads",
        "--skip",
        "--format",
        "--color",
        "--logfile",
        "--report-time",
        "-Z",
    ];

    pub fn main() {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let mut filter: Option<String> = None;
        let mut skip: Vec<String> = Vec::new();
        let (mut exact, mut list, mut ignored_only, mut show) = (false, false, false, false);
        let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
        while let Some(a) = it.next() {
            match a.as_str() {
                "--exact" => exact = true,
                "--list" => list = true,
                "--ignored" => ignored_only = true,
                "--nocapture" | "--show-output" => show = true,
                "--skip" => skip.extend(it.next()),
                a if WITH_VALUE.contains(&a) => {
                    it.next();
                }
                a if a.starts_with('-') => {}
                a => {
                    if filter.is_none() {
                        filter = Some(a.to_string());
                    }
                }
            }
        }
        let cases = all_cases();
        let total = cases.len();
        let selected: Vec<Case> = cases
            .into_iter()
            .filter(|_| !ignored_only)
            .filter(|c| match &filter {
                None => true,
                Some(f) if exact => c.name == f,
                Some(f) => c.name.contains(f.as_str()),
            })
            .filter(|c| !skip.iter().any(|s| c.name.contains(s.as_str())))
            .collect();
        let filtered_out = total - selected.len();
        if list {
            for c in &selected {
                println!("{}: test", c.name);
            }
            println!("\n{} tests, 0 benchmarks", selected.len());
            return;
        }
        println!("\nrunning {} tests", selected.len());
        let start = Instant::now();
        let queue = Mutex::new(selected.iter());
        let failures: Mutex<Vec<(&str, String)>> = Mutex::new(Vec::new());
        let passed = Mutex::new(0usize);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| loop {
                    let Some(case) = queue.lock().unwrap().next() else {
                        break;
                    };
                    TRANSCRIPT.with(|t| t.borrow_mut().clear());
                    let result = std::panic::catch_unwind(case.run)
                        .unwrap_or_else(|_| Err("the case panicked".into()));
                    match result {
                        Ok(()) => {
                            println!("test {} ... ok", case.name);
                            if show {
                                TRANSCRIPT.with(|t| println!("{}", t.borrow().join("\n")));
                            }
                            *passed.lock().unwrap() += 1;
                        }
                        Err(e) => {
                            println!("test {} ... FAILED", case.name);
                            let children = TRANSCRIPT.with(|t| t.borrow_mut().join("\n"));
                            failures
                                .lock()
                                .unwrap()
                                .push((case.name, format!("{e}\n{children}")));
                        }
                    }
                });
            }
        });
        let failures = failures.into_inner().unwrap();
        let passed = passed.into_inner().unwrap();
        if !failures.is_empty() {
            println!("\nfailures:\n");
            for (name, e) in &failures {
                println!("---- {name} ----\n{e}\n");
            }
            println!("failures:");
            for (name, _) in &failures {
                println!("    {name}");
            }
        }
        println!(
            "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
            if failures.is_empty() { "ok" } else { "FAILED" },
            failures.len(),
            start.elapsed().as_secs_f64()
        );
        println!("{passed} passed, {} failed", failures.len());
        if !failures.is_empty() {
            std::process::exit(101);
        }
    }
}
