//! Crash tests: one crash per child process, each compared with the same
//! child run without faulthandler (the control), in `tests/common`'s
//! harness (`harness = false`; `cargo test --test crash -- [FILTER]
//! [--exact] [--list] [--nocapture]`).
//!
//! Each case of [`CASES`] names its child body (in [`child`]), how the
//! child must end (with and without faulthandler alike), and its checks of
//! the report against the contract (`report-format.md`): one `Fatal
//! signal` line with the exact first line, the `Process` line, the
//! `Current thread TID "NAME"` heading naming the thread that crashed, a
//! frame inside the faulting function (its range comes from the ELF symbol
//! table), `+0xOFF` offsets relative to the load bias, the truncation line
//! where it applies, ASCII text with every line terminated, and a
//! `Modules:` block listing the executable with its build-id.
//!
//! Children print `child: ...` lines on stderr before they crash (pid,
//! uid, the crashing thread's tid and comm, the faulting function's
//! address), so the parent knows what to expect. The C fixtures live in
//! `c-fixtures/`: `lib_crash.c` is linked in, `so_malloc_spy.so` is
//! LD_PRELOADed to catch heap calls made inside a handler, and
//! (C hosts that load `libfaulthandler.so` are in cli/tests/dropin.rs.)

mod common;

use faulthandler_fixtures as _;

use common::child::Info;
use common::report::{self, Report};
use common::runner::{self, End, Run, Runner};
use common::{ensure, self_exe, Case, Check, Ctx, CASE};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod child {
    pub use crate::common::child::{
        announce_fn, announce_thread, announce_vfork_child, check, control, enable, enable_default,
        survived,
    };
    use std::ffi::c_int;
    use std::hint::black_box;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    extern "C" {
        // c-fixtures/lib_crash.c
        fn fh_c_divide_by_zero(dividend: c_int) -> c_int;
        fn fh_c_install_recording_handler() -> c_int;
        fn fh_c_install_chaining_handler() -> c_int;
        fn fh_c_install_malloc_handler() -> c_int;
        fn fh_c_install_malloc_mask_handler() -> c_int;
        fn fh_c_install_plain_handler() -> c_int;
        fn fh_c_install_abrt_handler() -> c_int;
        fn fh_c_vfork_child_crashes() -> c_int;
        // The crate's C API (src/capi.rs).
    }

    /// The address the null-pointer crashes read.
    pub const NULL_ADDR: usize = 0x10;

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_null_deref(p: *const u32) -> u32 {
        // SAFETY: it is not safe: `p` is a tiny address that is never
        // mapped, and the fault is what the test wants. The load is
        // written out, so the faulting instruction is in this function
        // whatever the optimisation level (read_volatile is a call at
        // opt-level 0).
        unsafe { load_u32(p) }
    }

    /// One 32-bit load, in the caller's own code.
    #[inline(always)]
    unsafe fn load_u32(p: *const u32) -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            let v: u32;
            // SAFETY: the caller's; a plain load.
            unsafe {
                std::arch::asm!("mov {v:e}, dword ptr [{p}]", v = out(reg) v, p = in(reg) p,
                    options(nostack, readonly, preserves_flags))
            };
            v
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: the caller's.
        unsafe {
            std::ptr::read_volatile(p)
        }
    }

    /// One byte load, in the caller's own code.
    #[inline(always)]
    unsafe fn load_u8(p: *const u8) -> u8 {
        #[cfg(target_arch = "x86_64")]
        {
            let v: u32;
            // SAFETY: the caller's; a plain load.
            unsafe {
                std::arch::asm!("movzx {v:e}, byte ptr [{p}]", v = out(reg) v, p = in(reg) p,
                    options(nostack, readonly, preserves_flags))
            };
            v as u8
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: the caller's.
        unsafe {
            std::ptr::read_volatile(p)
        }
    }

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_read_byte(p: *const u8) -> u8 {
        // SAFETY: not safe on purpose: `p` points into a mapping whose file
        // was truncated, so the read raises SIGBUS.
        unsafe { load_u8(p) }
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

    /// Mutual recursion, `depth` calls deep, then a null dereference: a
    /// cycle of two frames.
    #[no_mangle]
    #[inline(never)]
    fn fh_rust_ping(depth: u32) -> u32 {
        if black_box(depth) == 0 {
            fh_rust_null_deref(black_box(NULL_ADDR as *const u32))
        } else {
            black_box(fh_rust_pong(depth - 1)).wrapping_add(1)
        }
    }

    #[no_mangle]
    #[inline(never)]
    fn fh_rust_pong(depth: u32) -> u32 {
        black_box(fh_rust_ping(black_box(depth))).wrapping_add(2)
    }

    pub fn fold_period_1() {
        enable_default();
        announce_thread();
        announce_fn(
            "fh_rust_null_deref",
            fh_rust_null_deref as *const () as usize,
        );
        black_box(fh_rust_deep(black_box(30)));
        survived()
    }

    pub fn fold_period_2() {
        enable_default();
        announce_thread();
        announce_fn(
            "fh_rust_null_deref",
            fh_rust_null_deref as *const () as usize,
        );
        black_box(fh_rust_ping(black_box(12)));
        survived()
    }

    #[inline(never)]
    fn fh_rust_panic(n: u32) {
        if black_box(n) == 7 {
            panic!("fh test panic {n}");
        }
    }

    /// A panic out of a function that cannot unwind: std aborts.
    #[no_mangle]
    #[inline(never)]
    extern "C" fn fh_rust_panic_nounwind(n: u32) {
        fh_rust_panic(n)
    }

    fn panic_nounwind() -> ! {
        announce_thread();
        announce_fn(
            "fh_rust_panic_nounwind",
            fh_rust_panic_nounwind as *const () as usize,
        );
        fh_rust_panic_nounwind(black_box(7));
        survived()
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

    fn pipe(flags: c_int) -> (OwnedFd, OwnedFd) {
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for the two fds pipe2 writes.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), flags | libc::O_CLOEXEC) };
        check(r == 0, "pipe2");
        // SAFETY: both fds were just created and nothing else owns them.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    pub fn segv() {
        enable_default();
        null_deref()
    }

    /// A crash before `enable()`'s symbol thread has run (it is made to
    /// start 5 s late): the report reads the process lines itself and
    /// finds the executable in `/proc/self/maps`. This thread only, so
    /// that the collection does not wait for the late thread.
    pub fn segv_before_symbol_thread() {
        faulthandler::__bench::delay_helper_start(5000);
        enable(faulthandler::Config::new().all_threads(false));
        null_deref()
    }

    /// A crash with line tables: in a small dlopened library
    /// (`so_lines_inline.so`), inside a call inlined into its entry point,
    /// with the tables built first, on this thread. The budget keeps the
    /// big modules (this binary, libc) to names only, so the build is
    /// quick at every optimisation level, under the malloc spy too.
    pub fn segv_with_lines() {
        let format = if std::env::var_os("FH_JSON").is_some() {
            faulthandler::Format::JsonLines
        } else {
            faulthandler::Format::Text
        };
        enable(
            faulthandler::Config::new()
                .line_budget(1 << 20)
                .format(format),
        );
        let path = format!(
            "{}\0",
            crate::common::fixture("so_lines_inline.so").display()
        );
        // SAFETY: our own fixture library, without constructors; its
        // entry point has this C type.
        let f = unsafe {
            let h = libc::dlopen(path.as_ptr().cast(), libc::RTLD_NOW);
            check(!h.is_null(), "dlopen so_lines_inline.so");
            let f = libc::dlsym(h, c"fh_inl_entry".as_ptr());
            check(!f.is_null(), "dlsym fh_inl_entry");
            std::mem::transmute::<*mut libc::c_void, extern "C" fn(*mut i32) -> i32>(f)
        };
        if !control() {
            faulthandler::__bench::build_index_now();
            check(faulthandler::__bench::lines_ready(), "lines ready");
        }
        let r = f(black_box(std::ptr::null_mut()));
        eprintln!("child: no crash ({r})");
    }

    /// A null dereference, reported as JSON lines (`Config::format`).
    pub fn segv_json() {
        enable(faulthandler::Config::new().format(faulthandler::Format::JsonLines));
        null_deref()
    }

    /// A null dereference, with the settings of the `FAULTHANDLER*`
    /// variables (the case sets `FAULTHANDLER_FORMAT`); each warning on a
    /// line of its own.
    pub fn segv_env() {
        let env = faulthandler::env::Env::read();
        for w in &env.warnings {
            eprintln!("{w}");
        }
        enable(env.config());
        null_deref()
    }

    /// A fault inside the handler, reported as JSON lines.
    #[cfg(target_arch = "x86_64")]
    pub fn bad_stack_json() {
        enable(faulthandler::Config::new().format(faulthandler::Format::JsonLines));
        bad_stack_fault()
    }

    pub fn bus() {
        enable_default();
        sigbus()
    }

    pub fn ill() {
        enable_default();
        announce_thread();
        announce_fn(
            "fh_rust_illegal_instruction",
            fh_rust_illegal_instruction as *const () as usize,
        );
        fh_rust_illegal_instruction();
        survived()
    }

    pub fn fpe() {
        enable_default();
        announce_thread();
        announce_fn(
            "fh_c_divide_by_zero",
            fh_c_divide_by_zero as *const () as usize,
        );
        // SAFETY: a plain C function taking an int; the division by zero
        // inside it is the crash under test.
        black_box(unsafe { fh_c_divide_by_zero(black_box(7)) });
        survived()
    }

    pub fn abort_() {
        enable_default();
        abort()
    }

    /// Calls the C++ chain's entry point (a frame of the executable).
    #[no_mangle]
    #[inline(never)]
    fn fh_rust_call_cxx(f: extern "C" fn(c_int) -> c_int) -> c_int {
        black_box(f(black_box(1)))
    }

    /// A C++ chain (namespaces, a template, operators, a lambda, std::
    /// types, in `so_cxx.so`, dlopened) that reads address 0x10.
    pub fn cxx_chain() {
        let path = format!("{}\0", crate::common::fixture("so_cxx.so").display());
        // SAFETY: loading our own fixture library (its constructors are
        // libstdc++'s) and looking up its C entry point, whose type is
        // `int (int)`.
        let f: extern "C" fn(c_int) -> c_int = unsafe {
            let h = libc::dlopen(path.as_ptr().cast(), libc::RTLD_NOW);
            check(!h.is_null(), "dlopen so_cxx.so");
            let f = libc::dlsym(h, c"fh_cxx_crash".as_ptr());
            check(!f.is_null(), "dlsym fh_cxx_crash");
            std::mem::transmute::<*mut libc::c_void, extern "C" fn(c_int) -> c_int>(f)
        };
        enable_default();
        announce_thread();
        announce_fn("fh_rust_call_cxx", fh_rust_call_cxx as *const () as usize);
        black_box(fh_rust_call_cxx(f));
        survived()
    }

    pub fn overflow_main() {
        enable_default();
        announce_thread();
        announce_fn("fh_rust_recurse", fh_rust_recurse as *const () as usize);
        black_box(fh_rust_recurse(0));
        survived()
    }

    fn overflow_thread_with(own_altstack: bool) {
        enable_default();
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

    pub fn overflow_thread() {
        overflow_thread_with(true)
    }

    pub fn overflow_thread_std_altstack() {
        overflow_thread_with(false)
    }

    pub fn truncate() {
        enable(faulthandler::Config::new().max_frames(5));
        announce_thread();
        announce_fn(
            "fh_rust_null_deref",
            fh_rust_null_deref as *const () as usize,
        );
        black_box(fh_rust_deep(black_box(40)));
        survived()
    }

    fn enable_then_disable() {
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
    }

    pub fn disable_segv() {
        enable_then_disable();
        null_deref()
    }

    pub fn disable_abort() {
        enable_then_disable();
        abort()
    }

    fn install_recording_handler() {
        // SAFETY: installs a SIGSEGV handler from the C fixture.
        check(
            unsafe { fh_c_install_recording_handler() } == 0,
            "install the recording handler",
        );
    }

    /// The report first, then the program's handler from before (which
    /// `_exit`s): `report_first` keeps that order.
    fn enable_report_first() {
        enable(faulthandler::Config::new().report_first(true));
    }

    pub fn chain() {
        install_recording_handler();
        enable_report_first();
        null_deref()
    }

    fn chain_again(reenable: bool) {
        install_recording_handler();
        enable_report_first();
        if reenable && !control() {
            check(faulthandler::disable(), "disable()");
        }
        // Reconfigure (or enable again): must not stack our handler on top
        // of itself, nor lose the previous one.
        enable(faulthandler::Config::new().max_frames(3).report_first(true));
        null_deref()
    }

    pub fn chain_twice() {
        chain_again(false)
    }

    pub fn chain_reenable() {
        chain_again(true)
    }

    /// enable(); a library installs a handler that chains to ours;
    /// disable(); enable(); crash. The crash used to loop forever between
    /// the two handlers (re-enable saved the library's handler as the one
    /// to chain to, and it calls ours back).
    pub fn reenable_over_a_chaining_library() {
        enable_default();
        // SAFETY: installs a SIGSEGV handler from the C fixture.
        check(
            unsafe { fh_c_install_chaining_handler() } == 0,
            "install the chaining handler",
        );
        if !control() {
            check(faulthandler::disable(), "disable() after enable()");
            check(faulthandler::enable().is_ok(), "enable() again");
        }
        null_deref()
    }

    /// SIGSEGV ignored before enable(); a sent SIGSEGV is ignored (no
    /// report, nothing disabled), and the real fault later is reported.
    pub fn ignored_segv_sent_first() {
        // SAFETY: ignoring SIGSEGV before faulthandler sees it.
        unsafe { libc::signal(libc::SIGSEGV, libc::SIG_IGN) };
        enable_default();
        // SAFETY: raise takes a signal number.
        check(unsafe { libc::raise(libc::SIGSEGV) } == 0, "raise(SIGSEGV)");
        eprintln!("child: survived the sent SIGSEGV");
        null_deref()
    }

    pub fn ignored_segv() {
        // SAFETY: ignoring SIGSEGV before faulthandler sees it.
        unsafe { libc::signal(libc::SIGSEGV, libc::SIG_IGN) };
        enable_default();
        null_deref()
    }

    #[cfg(target_arch = "x86_64")]
    pub fn bad_stack() {
        enable_default();
        bad_stack_fault()
    }

    #[cfg(target_arch = "x86_64")]
    fn bad_stack_fault() -> ! {
        announce_thread();
        announce_fn(
            "fh_rust_bad_stack_ud2",
            fh_rust_bad_stack_ud2 as *const () as usize,
        );
        fh_rust_bad_stack_ud2()
    }

    pub fn chain_plain() {
        // SAFETY: installs a SIGSEGV handler from the C fixture.
        check(
            unsafe { fh_c_install_plain_handler() } == 0,
            "install the plain handler",
        );
        enable_report_first();
        null_deref()
    }

    pub fn chain_abort() {
        // SAFETY: installs a SIGABRT handler from the C fixture.
        check(
            unsafe { fh_c_install_abrt_handler() } == 0,
            "install the SIGABRT handler",
        );
        enable_report_first();
        abort()
    }

    pub fn sent_segv() {
        // A SIGSEGV sent with kill(2): nothing faults again when a handler
        // returns, so whether the process survives depends on the previous
        // handler only (Rust std's resets the action and returns: it
        // survives). Reported first, then handed on (`report_first`); by
        // default std's handler runs first and there is no report (the
        // `sent_sigsegv_program_first` case).
        if std::env::var_os("FH_PROGRAM_FIRST").is_some() {
            enable_default();
        } else {
            enable_report_first();
        }
        announce_thread();
        // SAFETY: kill with plain integers, to ourselves.
        check(
            unsafe { libc::kill(libc::getpid(), libc::SIGSEGV) } == 0,
            "kill",
        );
        if !control() {
            // The process lives on: dumps must still work, at once.
            let t = std::time::Instant::now();
            let r =
                faulthandler::dump_traceback(std::os::fd::AsFd::as_fd(&std::io::stderr()), false);
            eprintln!(
                "child: dump after surviving: {} in {} ms",
                if r.is_ok() { "ok" } else { "failed" },
                t.elapsed().as_millis()
            );
        }
        survived()
    }

    pub fn pipe_closed() {
        // A C host's SIGPIPE disposition; Rust's runtime sets SIG_IGN.
        // SAFETY: setting a signal's default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let (r, w) = pipe(0);
        drop(r);
        enable(faulthandler::Config::new().fd(w));
        null_deref()
    }

    pub fn socket_closed() {
        // Unlike a pipe's, a stream socket whose peer is gone polls
        // writable, so the report's write(2) really fails with EPIPE and
        // raises SIGPIPE.
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
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(b);
        enable(faulthandler::Config::new().fd(a));
        null_deref()
    }

    pub fn report_to_file() {
        let path = std::env::var_os("FH_REPORT_PATH").expect("FH_REPORT_PATH");
        let file = std::fs::File::create(path).expect("create the report file");
        enable(faulthandler::Config::new().fd(file.into()));
        null_deref()
    }

    /// A daemon's habit: close every fd above 2, then open its own log,
    /// which gets the number our report fd had.
    pub fn daemon_reuses_the_report_fd() {
        let path = std::env::var_os("FH_REPORT_PATH").expect("FH_REPORT_PATH");
        let file = std::fs::File::create(&path).expect("create the report file");
        let number = file.as_raw_fd();
        enable(faulthandler::Config::new().fd(file.try_clone().expect("dup").into()));
        drop(file);
        if !control() {
            // Our background indexer keeps files open while it reads them;
            // let it finish before the fds are closed under it.
            faulthandler::__bench::build_index_now();
            crate::common::child::wait_for_builder(
                Duration::from_secs(60),
                faulthandler::__bench::lines_ready,
            );
            // The builder thread closes its last file right after.
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut log = path.clone();
        log.push(".daemon-log");
        let daemon = std::fs::File::create(&log).expect("create the daemon's log");
        // SAFETY: closing every fd from 3 up, as a daemon does, then giving
        // the daemon's log the lowest number (the report fd's, given first).
        unsafe {
            for fd in 3..1024 {
                if fd != daemon.as_raw_fd() {
                    libc::close(fd);
                }
            }
            let lowest = libc::dup(daemon.as_raw_fd());
            check(lowest >= 0, "dup");
            eprintln!("child: daemon log fd={lowest} (report fd was {number})");
        }
        std::mem::forget(daemon);
        null_deref()
    }

    pub fn registers() {
        enable(faulthandler::Config::new().registers(true));
        null_deref()
    }

    /// A call through a null function pointer: the pc is unmapped.
    pub fn registers_unmapped_pc() {
        enable(faulthandler::Config::new().registers(true));
        announce_thread();
        // SAFETY: not safe on purpose: the call jumps to address 0.
        let f: extern "C" fn() = unsafe { std::mem::transmute(black_box(0usize)) };
        f();
        survived()
    }

    /// Config::from_env(): the variables the preload reads.
    pub fn from_env() {
        enable(faulthandler::Config::from_env());
        null_deref()
    }

    /// A report file, and a copy to stderr that nobody reads (a full
    /// pipe): the file must get the whole report anyway.
    pub fn file_with_stuck_stderr() {
        let path = std::env::var_os("FH_REPORT_PATH").expect("FH_REPORT_PATH");
        let file = std::fs::File::create(path).expect("create the report file");
        announce_thread();
        announce_fn(
            "fh_rust_null_deref",
            fh_rust_null_deref as *const () as usize,
        );
        enable(
            faulthandler::Config::new()
                .fd(file.into())
                .also_stderr(true)
                .write_timeout(Duration::from_millis(500)),
        );
        // stderr becomes a pipe that is full and never read.
        let (r, w) = pipe(libc::O_NONBLOCK);
        let chunk = [b'x'; 4096];
        // SAFETY: writes from our own buffer to our own pipe, until full.
        while unsafe { libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) } > 0 {}
        // SAFETY: fd 2 becomes the full pipe; both fds are ours.
        check(
            unsafe { libc::dup2(w.as_raw_fd(), 2) } == 2,
            "dup2 onto stderr",
        );
        std::mem::forget(r);
        black_box(fh_rust_null_deref(black_box(NULL_ADDR as *const u32)));
    }

    /// A report file; a forked child exits cleanly (its atexit handlers
    /// run); then the parent crashes: its report must land in the file.
    pub fn fork_child_exits_then_parent_crashes() {
        let path = std::env::var_os("FH_REPORT_PATH").expect("FH_REPORT_PATH");
        enable(faulthandler::Config::new().file(&path).also_stderr(false));
        // SAFETY: fork in a process whose other threads hold no lock the
        // child needs: the child only calls exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: a clean exit of the child, atexit handlers included.
            unsafe { libc::exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        check(
            unsafe { libc::waitpid(pid, &mut status, 0) } == pid,
            "waitpid",
        );
        check(libc::WIFEXITED(status), "the child exited");
        null_deref()
    }

    /// A child forked while another thread writes a dump (stuck on a full
    /// pipe for 2 s) crashes at once: its report must not wait for a dump
    /// that does not exist in the child.
    pub fn fork_during_a_dump() {
        enable(faulthandler::Config::new().write_timeout(Duration::from_secs(2)));
        if !control() {
            let (r, w) = pipe(libc::O_NONBLOCK);
            let chunk = [b'x'; 4096];
            // SAFETY: writes from our own buffer to our own pipe, until full.
            while unsafe { libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) } > 0 {}
            std::mem::forget(r);
            std::thread::spawn(move || {
                let _ = faulthandler::dump_traceback(std::os::fd::AsFd::as_fd(&w), true);
            });
            // Let the dump take the claim and block on the pipe.
            std::thread::sleep(Duration::from_millis(200));
        }
        let start = std::time::Instant::now();
        // SAFETY: the child only crashes.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            black_box(fh_rust_null_deref(black_box(NULL_ADDR as *const u32)));
            // SAFETY: not reached.
            unsafe { libc::_exit(3) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        check(
            unsafe { libc::waitpid(pid, &mut status, 0) } == pid,
            "waitpid",
        );
        let sig = if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        };
        eprintln!(
            "child: forked child died of signal {sig} after {} ms",
            start.elapsed().as_millis()
        );
        // SAFETY: a prompt exit, with the dump thread still stuck.
        unsafe { libc::_exit(0) };
    }

    /// Wait, boundedly, for `ready` (at once in the control run, which
    /// has no faulthandler); returns whether it came.
    fn wait_until(limit: Duration, ready: fn() -> bool) -> bool {
        control() || crate::common::child::wait_for_builder(limit, ready)
    }

    /// No crash: `enable()`, then the symbol thread's warm-up and index
    /// build run to their end in a process whose threads have Rust std's
    /// 8 KiB alternate stacks (std's own handlers are installed), then a
    /// clean exit.
    pub fn warm_up_then_exit() {
        enable_default();
        let ready = wait_until(Duration::from_secs(10), faulthandler::__bench::index_ready);
        eprintln!("child: index ready: {ready}");
        std::process::exit(0);
    }

    /// A child forked while `enable()`'s symbol thread warms up (made to
    /// hold the claim for 3 s) and its builder builds, enables again and
    /// crashes: nothing may wait for a warm-up or a build that does not
    /// exist in the child, the warm-up's `SIGVTALRM` action is not left
    /// in it, and it builds its own index.
    pub fn fork_during_the_warm_up() {
        faulthandler::__bench::delay_warm_up(3000);
        enable_default();
        // Let the symbol thread take the warm-up's claim.
        std::thread::sleep(Duration::from_millis(300));
        let start = std::time::Instant::now();
        // SAFETY: the child only enables, looks at an action and crashes.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            faulthandler::__bench::delay_warm_up(0);
            let enabling = std::time::Instant::now();
            enable_default();
            eprintln!(
                "child: forked child's enable() took {} ms",
                enabling.elapsed().as_millis()
            );
            // Its own builder builds (slowly at opt-level 0): wait for it,
            // boundedly; the parent's would never come.
            wait_until(Duration::from_secs(12), faulthandler::__bench::lines_ready);
            eprintln!(
                "child: forked child's line tables ready: {}",
                faulthandler::__bench::lines_ready()
            );
            // SAFETY: querying an action into a zeroed struct.
            let vtalrm = unsafe {
                let mut a: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGVTALRM, std::ptr::null(), &mut a);
                a.sa_sigaction
            };
            eprintln!("child: forked child's SIGVTALRM action {vtalrm:#x}");
            black_box(fh_rust_null_deref(black_box(NULL_ADDR as *const u32)));
            // SAFETY: not reached.
            unsafe { libc::_exit(3) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        check(
            unsafe { libc::waitpid(pid, &mut status, 0) } == pid,
            "waitpid",
        );
        let sig = if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        };
        eprintln!(
            "child: forked child died of signal {sig} after {} ms",
            start.elapsed().as_millis()
        );
        // SAFETY: a prompt exit, with the warm-up still holding on.
        unsafe { libc::_exit(0) };
    }

    extern "C" fn crash_at_exit() {
        black_box(fh_rust_null_deref(black_box(NULL_ADDR as *const u32)));
    }

    /// An atexit handler registered before enable() crashes, after ours
    /// removed the (empty) report file: the report must land in it anyway.
    pub fn crash_in_an_earlier_atexit_handler() {
        // SAFETY: registering a plain extern "C" fn.
        check(unsafe { libc::atexit(crash_at_exit) } == 0, "atexit");
        let path = std::env::var_os("FH_REPORT_PATH").expect("FH_REPORT_PATH");
        enable(faulthandler::Config::new().file(&path).also_stderr(false));
        announce_thread();
        std::process::exit(0)
    }

    pub fn panic_abort() {
        enable_default();
        let caught = std::panic::catch_unwind(|| fh_rust_panic(black_box(7)));
        check(caught.is_err(), "the panic was caught");
        abort()
    }

    pub fn panic_nounwind_abort() {
        enable_default();
        panic_nounwind()
    }

    /// A panic hook set after enable() that does not call ours.
    pub fn panic_hook_replaced() {
        enable_default();
        std::panic::set_hook(Box::new(|_| eprintln!("child: the replacing hook ran")));
        panic_nounwind()
    }

    /// SIGABRT sent to the main thread by another thread of the process.
    pub fn abort_from_another_thread() {
        enable_default();
        announce_thread();
        // SAFETY: pthread_self cannot fail.
        let main = unsafe { libc::pthread_self() };
        let t = std::thread::spawn(move || {
            // SAFETY: the main thread lives: it waits in join below.
            unsafe { libc::pthread_kill(main, libc::SIGABRT) };
        });
        let _ = t.join();
        std::thread::sleep(Duration::from_secs(5));
        survived()
    }

    pub fn fd_closed() {
        // (The C API's refusal of an fd that is not open is checked by
        // c-fixtures/capi_user.c, in the drop-in suite.)
        // An fd that the program closes behind our back.
        let (r, w) = pipe(0);
        let raw = w.as_raw_fd();
        enable(faulthandler::Config::new().fd(w));
        if !control() {
            // SAFETY: deliberately breaks faulthandler's ownership of `raw`
            // to simulate a buggy program. Nothing opens an fd after this
            // (so the number is not reused) and the process dies before
            // the OwnedFd could be dropped.
            check(unsafe { libc::close(raw) } == 0, "close behind its back");
        }
        drop(r);
        null_deref()
    }

    pub fn pipe_full() {
        let (r, w) = pipe(libc::O_NONBLOCK);
        let chunk = [b'x'; 4096];
        let mut total = 0usize;
        loop {
            // SAFETY: writing from a valid buffer to our own fd.
            let n = unsafe { libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
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

    pub fn threads8() {
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

    pub fn spy_control() {
        // SAFETY: installs a SIGSEGV handler from the C fixture.
        check(
            unsafe { fh_c_install_malloc_handler() } == 0,
            "install the malloc handler",
        );
        null_deref()
    }

    pub fn spy_control_own_stack() {
        // SAFETY: installs a SIGSEGV handler from the C fixture.
        check(
            unsafe { fh_c_install_malloc_mask_handler() } == 0,
            "install the malloc handler",
        );
        null_deref()
    }

    /// A thread sleeps in `nanosleep`; main crashes. The collection must
    /// not end the sleep: the thread says so, and exits, if it does.
    pub fn sleeper_then_crash() {
        enable_default();
        announce_thread();
        announce_fn(
            "fh_rust_null_deref",
            fh_rust_null_deref as *const () as usize,
        );
        let ready = Arc::new(Barrier::new(2));
        let r = Arc::clone(&ready);
        std::thread::Builder::new()
            .name("sleeper".into())
            .spawn(move || {
                announce_thread();
                r.wait();
                let req = libc::timespec {
                    tv_sec: 30,
                    tv_nsec: 0,
                };
                // SAFETY: a plain nanosleep with a valid timespec.
                let rc = unsafe { libc::nanosleep(&req, std::ptr::null_mut()) };
                if rc != 0 {
                    let msg = b"child: the sleeper woke early (EINTR)\n";
                    // SAFETY: writing a static buffer to stderr.
                    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                }
            })
            .expect("spawn");
        ready.wait();
        std::thread::sleep(Duration::from_millis(30));
        fh_rust_null_deref(black_box(NULL_ADDR as *const u32));
        survived()
    }

    /// Another thread, with every signal blocked (so the crash's
    /// collection cannot stop it), calls `enable()` over and over while
    /// main crashes and reports.
    pub fn enable_during_a_crash() {
        enable_default();
        let ready = Arc::new(Barrier::new(2));
        let r = Arc::clone(&ready);
        std::thread::Builder::new()
            .name("enabler".into())
            .spawn(move || {
                // SAFETY: blocking every signal on this thread only.
                unsafe {
                    let mut all: libc::sigset_t = std::mem::zeroed();
                    libc::sigfillset(&mut all);
                    libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
                }
                r.wait();
                loop {
                    if !control() {
                        let _ = faulthandler::Config::new().enable();
                    } else {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
            })
            .expect("spawn");
        ready.wait();
        std::thread::sleep(Duration::from_millis(5));
        null_deref()
    }

    /// A vfork child crashes (sharing our memory until it dies); then we
    /// crash ourselves.
    pub fn vfork_child_crashes_then_parent() {
        enable_default();
        // SAFETY: the fixture vforks a child that faults and waits for it.
        let status = unsafe { fh_c_vfork_child_crashes() };
        announce_vfork_child(status);
        check(
            control() || faulthandler::is_enabled(),
            "still enabled after the vfork child's crash",
        );
        null_deref()
    }

    pub fn other_thread() {
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

    pub fn altstack_usage() {
        measure_altstack_usage()
    }

    /// The same crash before the symbol thread's warm-up ran: the first
    /// walk of the process (binding libgcc_s's calls) must not be made on
    /// the alternate stack.
    pub fn altstack_usage_before_the_warm_up() {
        faulthandler::__bench::delay_helper_start(5000);
        measure_altstack_usage()
    }

    fn measure_altstack_usage() -> ! {
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
        // The report runs before the measuring handler.
        enable_report_first();
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
// The parent side: checks shared by the cases.
// ---------------------------------------------------------------------------

/// "Dies within a few seconds" (bad fds, concurrent crashes): a generous
/// bound that only a hang can exceed.
const BAD_FD_LIMIT: Duration = Duration::from_secs(10);

const SEGV: Option<End> = Some(End::Signal {
    sig: libc::SIGSEGV,
    core: false,
});
const ABRT: Option<End> = Some(End::Signal {
    sig: libc::SIGABRT,
    core: false,
});
const fn exit(code: i32) -> Option<End> {
    Some(End::Exit(code))
}
const fn signal(sig: i32) -> Option<End> {
    Some(End::Signal { sig, core: false })
}

/// The faulting function's runtime address range `[start, end)`, from the
/// address the child printed and the symbol's size in `exe`, and the
/// executable's load bias (runtime address minus ELF address), which the
/// frame lines' `+0xOFF` must be relative to.
fn fn_range(info: &Info, exe: &Path) -> Result<(u64, u64, u64), String> {
    let (name, addr) = info
        .func
        .clone()
        .ok_or("the child did not print its faulting function")?;
    let addr = addr as u64;
    let table = common::elf::functions(exe)?;
    let &(value, size) = table
        .get(&name)
        .ok_or_else(|| format!("no symbol {name} in {}", exe.display()))?;
    ensure!(size > 0, "symbol {name} has size 0");
    ensure!(
        addr.wrapping_sub(value) % 4096 == 0,
        "{name}: runtime address {addr:#x} and symbol value {value:#x} differ by more than a load bias"
    );
    Ok((addr, addr + size, addr.wrapping_sub(value)))
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
/// faulting function, well-formed frame lines with offsets from the load
/// bias, and the modules block with the executable and its build-id;
/// ASCII and newline-terminated.
fn expect_report(run: &Run, exe: &Path, first: &str, frames: FrameCheck) -> Result<Report, String> {
    let info = Info::parse(&run.stderr);
    let pid = info.pid()?;
    ensure!(
        !run.stderr.contains("the report was cut short"),
        "the handler faulted while reporting"
    );
    let fatal = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("Fatal signal "))
        .count();
    ensure!(fatal == 1, "expected one `Fatal signal` line, got {fatal}");
    let rep = run.report()?;
    ensure!(
        rep.first_line == first,
        "first line\n  is:     {:?}\n  wanted: {first:?}",
        rep.first_line
    );
    ensure!(rep.kind.is_some(), "first line not understood: {first:?}");
    let exe_name = exe.file_name().unwrap().to_string_lossy();
    // `Process PID "NAME" at TIME, up UPTIME s`, then `Command line:`
    // with the child's argv (its program path alone).
    let argv0 = run.argv.join(" ");
    rep.check_process_lines(pid as u32, &exe_name, &argv0, run.elapsed)?;
    // The current thread: one the child announced, by tid and comm.
    let cur = rep.current()?;
    ensure!(
        info.threads
            .iter()
            .any(|(tid, comm)| cur.tid == *tid as u32 && cur.name == *comm),
        "heading {:?} does not name an announced thread {:?}",
        cur.heading,
        info.threads
    );
    ensure!(!cur.frames.is_empty(), "no frame lines");
    // Frames are numbered from 0 up: folded repetitions and the frames
    // not shown before the bottom of a deep stack keep their numbers.
    for (f, want) in cur.frames.iter().zip(cur.expected_numbers()) {
        ensure!(f.index == want, "frame line out of order: {:?}", f.line);
        ensure!(
            f.line.starts_with(&format!("  #{want}  0x")),
            "malformed frame line {:?}",
            f.line
        );
    }
    // Every line of the current block is a frame or the truncation line.
    ensure!(
        cur.other.is_empty() && cur.frames.iter().all(|f| f.extra.is_empty()),
        "unknown lines in the current thread's block: {:?}",
        cur.other
    );
    let addrs = cur.addrs();
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
    let exe_path = exe_canon.to_string_lossy().into_owned();
    let mut checked = 0;
    for f in cur
        .frames
        .iter()
        .filter(|f| f.module.as_deref() == Some(&exe_path))
    {
        let off = f.module_offset.ok_or("no module offset")?;
        ensure!(
            off == f.addr.wrapping_sub(bias),
            "{:?}: offset {off:#x}, but address - load bias is {:#x}",
            f.line,
            f.addr.wrapping_sub(bias)
        );
        checked += 1;
    }
    ensure!(checked > 0, "no frame in {exe_path}");
    // The whole report: ASCII, every line terminated.
    ensure!(rep.text.is_ascii(), "non-ASCII report");
    ensure!(rep.text.ends_with('\n'), "report line without a newline");
    // The modules block lists the executable with a 40-digit build-id.
    ensure!(rep.has_modules_block, "no `Modules:` block");
    ensure!(
        rep.other.iter().all(|l| !l.starts_with("  ")),
        "malformed module lines: {:?}",
        rep.other
    );
    let m = rep
        .module(&exe_path)
        .ok_or_else(|| format!("the modules block does not list {exe_path}"))?;
    ensure!(
        m.line.len() > 40 && m.line.as_bytes()[20] == b'-' && m.start < m.end,
        "malformed module line {:?}",
        m.line
    );
    let id = m.build_id.as_deref().unwrap_or("");
    ensure!(
        id.len() == 40 && id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "build-id {id:?} is not 40 lowercase hex digits"
    );
    ensure!(
        id == common::elf::build_id_hex(&exe_canon)?,
        "build-id {id} is not the executable's"
    );
    Ok(rep)
}

fn segv_first_line(addr: usize) -> String {
    format!(
        "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address {addr:#018x}"
    )
}

/// `abort()` (or `raise()`) on the crashing thread.
fn abort_first_line(_run: &Run) -> Result<String, String> {
    Ok("Fatal signal 6 (SIGABRT): abort() or raise() on this thread".into())
}

fn expect_no_truncation(rep: &Report) -> Check {
    if let Some(t) = &rep.current()?.truncation {
        return Err(format!("unexpected truncation line {:?}", t.line));
    }
    Ok(())
}

/// The standard SIGSEGV report, frame #0 in the faulting function.
fn segv_report(run: &Run) -> Result<Report, String> {
    expect_report(
        run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Top,
    )
}

/// A report was written to the end: its header and its modules block.
fn expect_complete_report(run: &Run) -> Check {
    let rep = Report::first(&run.stderr)?;
    ensure!(rep.has_modules_block, "the report has no modules block");
    Ok(())
}

// --- The cases' checks. -----------------------------------------------------

fn check_null_deref(c: &Ctx) -> Check {
    let run = c.run();
    let rep = segv_report(run)?;
    ensure!(
        !rep.text.contains("Registers:") && !rep.text.contains("Code around pc"),
        "registers shown without being asked for"
    );
    expect_no_truncation(&rep)?;
    ensure!(
        run.stderr.ends_with('\n'),
        "the output does not end with a newline"
    );
    Ok(())
}

/// The C++ chain's frames are named as `c++filt` names their symbols.
fn check_cxx_chain(c: &Ctx) -> Check {
    let run = c.run();
    let rep = expect_report(
        run,
        &self_exe(),
        &segv_first_line(child::NULL_ADDR),
        FrameCheck::Any,
    )?;
    // The fixture's symbols (namespace `acc`), demangled by c++filt.
    let so = std::fs::canonicalize(common::fixture("so_cxx.so")).map_err(|e| e.to_string())?;
    let table = common::elf::functions(&so)?;
    let mut mangled: Vec<String> = table
        .keys()
        .filter(|n| n.starts_with("_Z") && n.contains("3acc"))
        .cloned()
        .collect();
    mangled.sort();
    let mut child = std::process::Command::new("c++filt")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run c++filt: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin
            .write_all((mangled.join("\n") + "\n").as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let demangled: std::collections::HashMap<&str, &str> = mangled
        .iter()
        .map(String::as_str)
        .zip(text.lines())
        .collect();
    let cur = rep.current()?;
    let names: Vec<&str> = cur.frames.iter().map(|f| f.name.as_str()).collect();
    ensure!(
        !names.iter().any(|n| n.starts_with("_Z")),
        "a mangled name in the report: {names:#?}"
    );
    // The chain, innermost first, each frame as c++filt names it.
    let chain = [
        "_ZN3acc6WidgetIiE4pokeEiPKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
        "_ZN3acc6WidgetIiElsEi",
        "_ZN3acc7Derived4stepEi",
        "_ZZN3acc3runEiENKUliE_clEi",
        "_ZN3acc6detail5applyIZNS_3runEiEUliE_EEiT_i",
        "_ZN3acc6detail11through_stdERSt6vectorIiSaIiEEPSt3mapINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiSt4lessISB_ESaISt4pairIKSB_iEEERKSt8functionIFiiEE",
        "_ZN3acc3runEi",
    ];
    let mut at = 0;
    for m in chain {
        let want = *demangled
            .get(m)
            .ok_or_else(|| format!("{m} is not in so_cxx.so"))?;
        ensure!(want != m, "c++filt does not demangle {m}");
        let i = names[at..]
            .iter()
            .position(|n| *n == want)
            .ok_or_else(|| format!("no frame {want:?} after #{at}: {names:#?}"))?;
        at += i + 1;
    }
    ensure!(
        names.first() == demangled.get(chain[0]),
        "frame #0 is not acc::Widget<int>::poke: {names:#?}"
    );
    Ok(())
}

/// Arguments with a quote, a backslash and a control byte, and one long
/// enough that the kept command line (1024 bytes) is cut.
fn setup_long_command_line(mut r: Runner, _control: bool) -> Runner {
    r.cmd().arg("--name=q\"\\\x01").arg("x".repeat(1500));
    r
}

fn check_command_line(c: &Ctx) -> Check {
    let run = c.run();
    let rep = run.report()?;
    let line = rep
        .command_line
        .as_deref()
        .ok_or("no `Command line:` line")?;
    // argv[0], then the arguments separated by spaces, escaped, cut at
    // 1024 bytes of the NUL-separated original.
    let exe = &run.argv[0];
    let total = exe.len() + 1 + "--name=q\"\\\x01".len() + 1 + 1500 + 1;
    let kept = 1024 - exe.len() - 1 - "--name=q\"\\\x01".len() - 1;
    let want = format!(
        "{exe} --name=q\\\"\\\\\\x01 {} ... (cut: 1024 of {total} bytes shown)",
        "x".repeat(kept)
    );
    ensure!(
        line == want,
        "command line\n  is:     {line:?}\n  wanted: {want:?}"
    );
    segv_report_without_argv(run)
}

/// [`segv_report`] for a child whose command line was cut.
fn segv_report_without_argv(run: &Run) -> Check {
    let rep = run.report()?;
    let p = rep.process.as_ref().ok_or("no `Process` line")?;
    ensure!(
        p.time.is_some() && p.uptime_ms.is_some(),
        "process line {p:?}"
    );
    Ok(())
}

fn check_sigbus(c: &Ctx) -> Check {
    let run = c.run();
    let addr = Info::parse(&run.stderr)
        .fault_addr
        .ok_or("no fault address from the child")?;
    let first = format!(
        "Fatal signal 7 (SIGBUS): nonexistent physical address (BUS_ADRERR) at address {addr:#018x}"
    );
    expect_report(run, &self_exe(), &first, FrameCheck::Top)?;
    Ok(())
}

/// Frame #0 of the current thread: the faulting instruction.
fn pc_of(run: &Run) -> Result<u64, String> {
    let rep = run.report()?;
    let pc = rep.current()?.frames.first().ok_or("no frames")?.addr;
    Ok(pc)
}

fn check_sigill(c: &Ctx) -> Check {
    // si_addr is the faulting instruction, which is also frame #0.
    let pc = pc_of(c.run())?;
    // Linux reports x86's #UD as ILL_ILLOPN, and arm64's UDF as ILL_ILLOPC.
    #[cfg(target_arch = "x86_64")]
    let code = "illegal operand (ILL_ILLOPN)";
    #[cfg(not(target_arch = "x86_64"))]
    let code = "illegal opcode (ILL_ILLOPC)";
    let first = format!("Fatal signal 4 (SIGILL): {code} at address {pc:#018x}");
    expect_report(c.run(), &self_exe(), &first, FrameCheck::Top)?;
    Ok(())
}

fn check_sigfpe(c: &Ctx) -> Check {
    let pc = pc_of(c.run())?;
    let first = format!(
        "Fatal signal 8 (SIGFPE): integer divide by zero (FPE_INTDIV) at address {pc:#018x}"
    );
    expect_report(c.run(), &self_exe(), &first, FrameCheck::Top)?;
    Ok(())
}

fn check_abort(c: &Ctx) -> Check {
    let first = abort_first_line(c.run())?;
    expect_report(c.run(), &self_exe(), &first, FrameCheck::Any)?;
    Ok(())
}

/// A panic caught by `catch_unwind`, then `abort()`: the panic is over,
/// so no `Last panic:` line.
fn check_panic_then_abort(c: &Ctx) -> Check {
    let first = abort_first_line(c.run())?;
    let rep = expect_report(c.run(), &self_exe(), &first, FrameCheck::Any)?;
    ensure!(
        rep.last_panic.is_none() && !rep.text.contains("Last panic"),
        "a caught panic shown: {:?}",
        rep.last_panic
    );
    Ok(())
}

/// A panic out of an `extern "C"` function: `Last panic: MESSAGE at
/// FILE:LINE:COL; then: panic in a function that cannot unwind at ...`,
/// right after the first line.
fn check_panic_nounwind(c: &Ctx) -> Check {
    let first = abort_first_line(c.run())?;
    let rep = expect_report(c.run(), &self_exe(), &first, FrameCheck::Any)?;
    let line = rep.lines().nth(1).unwrap_or("");
    ensure!(
        rep.last_panic.as_deref() == line.strip_prefix("Last panic: "),
        "second line {line:?}"
    );
    let rest = line
        .strip_prefix("Last panic: fh test panic 7 at tests/crash.rs:")
        .ok_or_else(|| format!("second line {line:?}"))?;
    let (loc, then) = rest
        .split_once("; then: panic in a function that cannot unwind")
        .ok_or_else(|| format!("no follow-up in {line:?}"))?;
    let ok = loc
        .split_once(':')
        .is_some_and(|(l, c)| l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok());
    ensure!(ok && then.starts_with(" at "), "no LINE:COL in {line:?}");
    Ok(())
}

/// The same with a later hook that does not chain: the line says the
/// message is unknown, and why.
fn check_panic_hook_replaced(c: &Ctx) -> Check {
    let run = c.run();
    ensure!(
        run.stderr.contains("child: the replacing hook ran"),
        "the replacing hook did not run"
    );
    let rep = expect_report(run, &self_exe(), &abort_first_line(run)?, FrameCheck::Any)?;
    let want = "Last panic: (message unknown: a panic hook set after enable() did not call the one before it)";
    ensure!(
        rep.lines().nth(1) == Some(want),
        "second line {:?}, wanted {want:?}",
        rep.lines().nth(1)
    );
    Ok(())
}

/// SIGABRT from another thread: sent, not raised here.
fn check_abort_from_another_thread(c: &Ctx) -> Check {
    let run = c.run();
    let info = Info::parse(&run.stderr);
    let rep = run.report()?;
    let want = format!(
        "Fatal signal 6 (SIGABRT): sent by pid {} uid {}",
        info.pid()?,
        info.uid()?
    );
    ensure!(
        rep.first_line == want,
        "first line {:?}, wanted {want:?}",
        rep.first_line
    );
    ensure!(rep.last_panic.is_none(), "a `Last panic:` line");
    expect_complete_report(run)
}

/// The report file of case `case` (one per case: cases run in parallel).
fn case_report_path(case: &str, control: bool) -> PathBuf {
    std::env::temp_dir().join(format!(
        "fh-report-{}-{case}-{}",
        std::process::id(),
        if control { "control" } else { "main" }
    ))
}

fn setup_report_file(r: Runner, control: bool) -> Runner {
    let case = r.scenario_name().unwrap_or_default();
    let path = case_report_path(&case, control);
    let _ = std::fs::remove_file(&path);
    r.env("FH_REPORT_PATH", path)
}

/// The registers block's lines, right after the process lines: names
/// and values (four a line), then the code line's 16 + 16 bytes (`None`
/// for `??`).
/// (name, value) of each register, the pc, the 32 code bytes.
type RegistersBlock = (Vec<(String, u64)>, usize, Vec<Option<u8>>);

fn registers_block(rep: &Report) -> Result<RegistersBlock, String> {
    let lines: Vec<&str> = rep.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Command line: "))
        .ok_or("no command line")?;
    ensure!(
        lines.get(at + 1) == Some(&"Registers:"),
        "no `Registers:` after the process lines: {:?}",
        lines.get(at + 1)
    );
    let mut regs = Vec::new();
    let mut i = at + 2;
    while let Some(l) = lines
        .get(i)
        .filter(|l| l.starts_with("  ") && !l.starts_with("  .."))
    {
        let toks: Vec<&str> = l.split_whitespace().collect();
        ensure!(
            toks.len().is_multiple_of(2) && toks.len() <= 8,
            "register line {l:?}"
        );
        for p in toks.chunks(2) {
            let v = common::child::parse_hex(p[1]).ok_or_else(|| format!("value in {l:?}"))?;
            ensure!(p[1].len() == 18, "value not 16 digits in {l:?}");
            regs.push((p[0].to_string(), v as u64));
        }
        i += 1;
    }
    let head = lines.get(i).copied().unwrap_or_default();
    let pc = head
        .strip_prefix("Code around pc ")
        .and_then(|r| r.strip_suffix(" (16 bytes before it, 16 from it):"))
        .and_then(common::child::parse_hex)
        .ok_or_else(|| format!("code heading {head:?}"))?;
    let code = lines.get(i + 1).copied().unwrap_or_default();
    let (before, after) = code
        .strip_prefix("  ")
        .and_then(|c| c.split_once(" > "))
        .ok_or_else(|| format!("code line {code:?}"))?;
    let bytes = |s: &str| -> Vec<Option<u8>> {
        s.split(' ')
            .map(|b| u8::from_str_radix(b, 16).ok())
            .collect()
    };
    let mut all = bytes(before);
    all.extend(bytes(after));
    ensure!(
        all.len() == 32
            && before
                .split(' ')
                .chain(after.split(' '))
                .all(|b| b.len() == 2),
        "code line {code:?}"
    );
    ensure!(
        lines.get(i + 2) == Some(&""),
        "the current thread's block does not follow: {:?}",
        lines.get(i + 2)
    );
    Ok((regs, pc, all))
}

fn check_registers(c: &Ctx) -> Check {
    let run = c.run();
    let rep = segv_report(run)?;
    let (regs, pc, code) = registers_block(&rep)?;
    let f0 = rep.current()?.frames[0].addr as usize;
    ensure!(pc == f0, "code at {pc:#x}, frame #0 at {f0:#x}");
    let names: Vec<&str> = regs.iter().map(|r| r.0.as_str()).collect();
    #[cfg(target_arch = "x86_64")]
    {
        ensure!(
            names
                == [
                    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10",
                    "r11", "r12", "r13", "r14", "r15", "rip", "eflags"
                ],
            "register names {names:?}"
        );
        ensure!(regs[16].1 as usize == pc, "rip {:#x}", regs[16].1);
        // The faulting load: `mov r32, dword ptr [reg]` is 8b.
        ensure!(code[16] == Some(0x8b), "code at the pc: {:x?}", &code[16..]);
        // The register the load reads through holds the null address.
        ensure!(
            regs.iter().any(|r| r.1 == child::NULL_ADDR as u64),
            "no register holds {:#x}",
            child::NULL_ADDR
        );
    }
    #[cfg(target_arch = "aarch64")]
    ensure!(
        names.len() == 34 && names[32] == "pc",
        "register names {names:?}"
    );
    ensure!(
        code.iter().all(Option::is_some),
        "unreadable code: {code:?}"
    );
    Ok(())
}

fn check_registers_unmapped_pc(c: &Ctx) -> Check {
    let run = c.run();
    let rep = run.report()?;
    ensure!(
        rep.first_line.starts_with("Fatal signal 11 (SIGSEGV): "),
        "first line {:?}",
        rep.first_line
    );
    ensure!(
        rep.cut_short.is_none(),
        "the handler faulted: {:?}",
        rep.cut_short
    );
    let (_, pc, code) = registers_block(&rep)?;
    ensure!(pc == 0, "pc {pc:#x}");
    ensure!(
        code.iter().all(Option::is_none),
        "bytes read at 0: {code:?}"
    );
    ensure!(rep.current().is_ok(), "no current thread block");
    Ok(())
}

/// The FAULTHANDLER* variables for `Config::from_env`: a file template,
/// a frame limit, the other settings, and one bad value.
fn setup_from_env(r: Runner, control: bool) -> Runner {
    let case = r.scenario_name().unwrap_or_default();
    let path = case_report_path(&case, control);
    let _ = std::fs::remove_file(&path);
    r.env("FAULTHANDLER_FILE", path)
        .env("FAULTHANDLER_MAX_FRAMES", "5")
        .env("FAULTHANDLER_MAX_THREADS", "7")
        .env("FAULTHANDLER_THREAD_TIMEOUT", "0.2")
        .env("FAULTHANDLER_REPORT_FIRST", "1")
        .env("FAULTHANDLER_WRITE_TIMEOUT", "never")
}

fn check_from_env(c: &Ctx) -> Check {
    let run = c.run();
    let report = std::fs::read_to_string(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, true));
    let report = report.map_err(|e| format!("cannot read the report file: {e}"))?;
    let want = "faulthandler: ignoring FAULTHANDLER_WRITE_TIMEOUT=\"never\": expected a number of seconds from 0.001 to 3600";
    ensure!(
        run.stderr.lines().any(|l| l == want),
        "no warning {want:?} in:\n{}",
        run.stderr
    );
    let rep = Report::find_one(&report)?;
    ensure!(
        rep.first_line == segv_first_line(child::NULL_ADDR),
        "first line {:?}",
        rep.first_line
    );
    let cur = rep.current()?;
    let t = cur.truncation.as_ref().ok_or("no truncation line")?;
    ensure!(
        cur.frames.len() == 5 && t.max_frames == Some(5),
        "max_frames 5 not applied: {} frames, {:?}",
        cur.frames.len(),
        t.line
    );
    // The same report on stderr (a file made from a template keeps the
    // copy there).
    ensure!(run.stderr.contains(&rep.first_line), "no copy on stderr");
    Ok(())
}

fn check_file_with_stuck_stderr(c: &Ctx) -> Check {
    let run = c.run();
    let report = std::fs::read_to_string(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, true));
    let report = report.map_err(|e| format!("cannot read the report file: {e}"))?;
    let rep = Report::find_one(&report)?;
    ensure!(
        rep.first_line.starts_with("Fatal signal 11 (SIGSEGV)") && rep.has_modules_block,
        "the file lost the report to the stuck stderr ({} bytes):\n{report}",
        report.len()
    );
    ensure!(
        rep.current().is_ok_and(|t| !t.frames.is_empty()),
        "no frames in the file:\n{report}"
    );
    // Each destination had its own 0.5 s: the stuck one costs at most that.
    ensure!(
        run.elapsed < Duration::from_millis(2500),
        "took {:?}",
        run.elapsed
    );
    Ok(())
}

/// The report file exists and holds exactly one crash report (SIGSEGV).
fn check_report_in_file(c: &Ctx) -> Check {
    let report = std::fs::read_to_string(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, true));
    let report =
        report.map_err(|e| format!("the report file is gone: {e}; stderr:\n{}", c.run().stderr))?;
    let rep = Report::find_one(&report)?;
    ensure!(
        rep.first_line.starts_with("Fatal signal 11 (SIGSEGV)") && rep.has_modules_block,
        "not a whole report in the file:\n{report}"
    );
    Ok(())
}

fn check_fork_during_a_dump(c: &Ctx) -> Check {
    let line = |r: &Run| {
        r.stderr
            .lines()
            .find_map(|l| l.strip_prefix("child: forked child died of signal "))
            .map(str::to_owned)
    };
    let (Some(with), Some(without)) = (line(c.run()), line(c.control())) else {
        return Err(format!("no child outcome:\n{}", c.run().stderr));
    };
    let (sig, ms) = with.split_once(" after ").ok_or("bad line")?;
    let ms: u64 = ms.trim_end_matches(" ms").parse().map_err(|_| "bad ms")?;
    ensure!(
        sig == "11" && without.starts_with("11 "),
        "the child died of {sig} (control: {without})"
    );
    // It reported at once: no 4 s wait for the parent's dump.
    ensure!(ms < 1500, "the forked child took {ms} ms to die");
    ensure!(
        c.run().stderr.contains("Fatal signal 11 (SIGSEGV)"),
        "no report from the child:\n{}",
        c.run().stderr
    );
    Ok(())
}

fn check_warm_up_then_exit(c: &Ctx) -> Check {
    let err = &c.run().stderr;
    ensure!(
        err.contains("child: index ready: true"),
        "the index was not built:\n{err}"
    );
    ensure!(
        !err.contains("Fatal signal") && !err.contains("Current thread"),
        "a report with no crash:\n{err}"
    );
    Ok(())
}

fn check_fork_during_the_warm_up(c: &Ctx) -> Check {
    let err = &c.run().stderr;
    let field = |r: &Run, prefix: &str| {
        r.stderr
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
    };
    let died = "child: forked child died of signal ";
    let (Some(with), Some(without)) = (field(c.run(), died), field(c.control(), died)) else {
        return Err(format!("no child outcome:\n{err}"));
    };
    ensure!(
        with.starts_with("11 ") && without.starts_with("11 "),
        "the child died of {with} (control: {without})"
    );
    ensure!(
        err.contains("Fatal signal 11 (SIGSEGV)"),
        "no report from the child:\n{err}"
    );
    // Its enable() did not wait for the parent's warm-up (3 s).
    let took = field(c.run(), "child: forked child's enable() took ")
        .and_then(|ms| ms.trim_end_matches(" ms").parse::<u64>().ok())
        .ok_or_else(|| format!("no enable() time:\n{err}"))?;
    ensure!(took < 1500, "the child's enable() took {took} ms");
    ensure!(
        err.contains("child: forked child's line tables ready: true\n"),
        "the child's index was never built:\n{err}"
    );
    ensure!(
        err.contains("child: forked child's SIGVTALRM action 0x0\n"),
        "the warm-up's action stayed in the child:\n{err}"
    );
    // The parent was building its index when it forked: the child built
    // its own, so its report has source lines.
    ensure!(
        err.lines().any(|l| l.contains(" in fh_rust_null_deref+")
            && l.contains(" at ")
            && l.contains("crash.rs:")),
        "no source line for the child's frame #0:\n{err}"
    );
    Ok(())
}

fn check_report_to_file(c: &Ctx) -> Check {
    let run = c.run();
    let report = std::fs::read_to_string(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, false));
    let _ = std::fs::remove_file(case_report_path(c.case.name, true));
    ensure!(
        !run.stderr.contains("Fatal signal"),
        "the report went to stderr, not to the file"
    );
    let report = report.map_err(|e| format!("cannot read the report file: {e}"))?;
    // The child's `child:` lines are on stderr, the report in the file.
    let both = Run {
        stderr: format!("{}{report}", run.stderr),
        ..run.clone()
    };
    segv_report(&both)?;
    ensure!(
        report.starts_with("Fatal signal ") && report.ends_with('\n'),
        "the file holds more or less than one report"
    );
    ensure!(
        Report::find_one(&report)?.text == report,
        "the file holds more than the report"
    );
    Ok(())
}

fn check_daemon_reused_fd(c: &Ctx) -> Check {
    let log_of = |control: bool| {
        let mut p = case_report_path(c.case.name, control).into_os_string();
        p.push(".daemon-log");
        PathBuf::from(p)
    };
    let log = std::fs::read_to_string(log_of(false)).map_err(|e| format!("the log: {e}"));
    let control_log = std::fs::read_to_string(log_of(true)).unwrap_or_default();
    for control in [false, true] {
        let _ = std::fs::remove_file(log_of(control));
        let _ = std::fs::remove_file(case_report_path(c.case.name, control));
    }
    let log = log?;
    ensure!(
        log == control_log,
        "the daemon's log differs from the control's: {log:?}"
    );
    ensure!(
        log.is_empty(),
        "our report went into the daemon's file: {log:?}"
    );
    let run = c.run();
    ensure!(
        run.stderr
            .contains("is no longer the report's file given at enable()"),
        "no line says why the report is on stderr:\n{}",
        run.stderr
    );
    segv_report(run).map(drop)
}

fn check_overflow(c: &Ctx) -> Check {
    let (run, control) = (c.run(), c.control());
    // Whatever the program dies of without us (Rust std prints its message
    // and aborts), it must die of with us.
    control.expect_signal(libc::SIGABRT)?;
    ensure!(
        control.stderr.contains("has overflowed its stack"),
        "the control run did not go through std's overflow handler"
    );
    ensure!(
        run.stderr.contains("has overflowed its stack"),
        "std's overflow handler did not run after the report"
    );
    let rep = run.report()?;
    let first = rep.first_line.clone();
    ensure!(
        first.starts_with("Fatal signal 11 (SIGSEGV): stack overflow at address 0x"),
        "first line {first:?}"
    );
    // The overflow may fault in a callee of the recursion (at opt-level 0,
    // `black_box` is a call): a frame inside it, not necessarily #0.
    let rep = expect_report(run, &self_exe(), &first, FrameCheck::Any)?;
    let t = rep
        .current()?
        .truncation
        .as_ref()
        .ok_or("no truncation line")?;
    ensure!(
        t.line.starts_with("  ... ")
            && t.line.ends_with(" frames not shown (max_frames 100)")
            && t.count.is_some(),
        "truncation line {:?}",
        t.line
    );
    // The bottom of the stack is there too: the last 10 frames, the
    // thread's entry last (`_start` on main, the thread start routine in
    // libc on a spawned thread), after the recursion's start.
    let cur = rep.current()?;
    let hidden = t.count.unwrap_or(0) as usize;
    ensure!(hidden > 1000, "only {hidden} frames hidden in an overflow");
    let after = cur.truncation_after.ok_or("no truncation position")?;
    let bottom: Vec<_> = cur.frames.get(after..).unwrap_or(&[]).iter().collect();
    // 100 frames walked into the report: the last one is number
    // 100 + hidden - 1 (repetitions in the bottom are folded).
    let last = bottom
        .last()
        .ok_or_else(|| format!("no bottom frames:\n{}", rep.text))?;
    ensure!(
        last.index == 100 + hidden - 1,
        "the last frame is #{}, not #{}:\n{}",
        last.index,
        100 + hidden - 1,
        rep.text
    );
    let names: Vec<&str> = bottom.iter().map(|f| f.name.as_str()).collect();
    let entry = if c.case.name == "stack_overflow_main" {
        // `_start`, in the executable (named or not).
        names.last().is_some_and(|n| n.starts_with("_start"))
            || bottom
                .last()
                .is_some_and(|f| f.module.as_deref().map(Path::new) == Some(self_exe().as_path()))
    } else {
        bottom
            .last()
            .is_some_and(|f| f.module.as_deref().is_some_and(|m| m.contains("libc.so")))
    };
    ensure!(
        entry,
        "the bottom does not end at the thread's entry: {names:?}"
    );
    Ok(())
}

/// The unwinder faults inside the handler (the stack pointer is garbage):
/// the report is cut short with one line, nothing loops or hangs, and the
/// process still dies of its own signal.
#[cfg(target_arch = "x86_64")]
fn check_fault_inside_handler(c: &Ctx) -> Check {
    let run = c.run();
    ensure!(
        run.elapsed < BAD_FD_LIMIT,
        "took {:.2?} to die",
        run.elapsed
    );
    let info = Info::parse(&run.stderr);
    let (start, end, _) = fn_range(&info, &self_exe())?;
    let rep = run.report()?;
    let Some(report::Kind::Fatal {
        signo: 4,
        description,
        address: Some(addr),
        ..
    }) = &rep.kind
    else {
        return Err(format!("first line {:?}", rep.first_line));
    };
    ensure!(
        description == "illegal operand (ILL_ILLOPN)",
        "first line {:?}",
        rep.first_line
    );
    ensure!(
        (start..end).contains(addr),
        "fault address {addr:#x} outside [{start:#x}, {end:#x})"
    );
    let cut = "(the report was cut short: signal 11 (SIGSEGV) inside the handler)";
    let n = run.stderr.lines().filter(|l| *l == cut).count();
    ensure!(n == 1, "{n} lines {cut:?}");
    ensure!(rep.cut_short.as_deref() == Some(cut), "{:?}", rep.cut_short);
    // The walk faulted, but frame #0 (the faulting instruction) is shown,
    // named.
    let f0 = rep.current()?.frames.first().ok_or("no frame #0")?;
    ensure!(
        f0.index == 0 && f0.addr == *addr && f0.name == "fh_rust_bad_stack_ud2",
        "frame #0 {:?}",
        f0.line
    );
    // The modules known so far are listed, the executable among them, so
    // that the frame can be symbolized later.
    ensure!(rep.has_modules_block, "no Modules block:\n{}", run.stderr);
    let exe = self_exe();
    ensure!(
        rep.modules.iter().any(|m| Path::new(&m.path) == exe),
        "the executable is not in the Modules block:\n{}",
        run.stderr
    );
    Ok(())
}

fn check_truncation(c: &Ctx) -> Check {
    let rep = segv_report(c.run())?;
    let cur = rep.current()?;
    ensure!(
        cur.frames.len() == 5,
        "{} frames shown, not 5",
        cur.frames.len()
    );
    let t = cur.truncation.as_ref().ok_or("no truncation line")?;
    let n = t
        .line
        .strip_prefix("  ... ")
        .and_then(|r| r.strip_suffix(" frames not shown (max_frames 5)"))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| format!("truncation line {:?}", t.line))?;
    ensure!(t.count == Some(n) && t.max_frames == Some(5), "{t:?}");
    ensure!(n >= 30, "only {n} frames cut from a 40-deep recursion");
    // The top (3 frames) and the bottom (2), numbered as they are: the
    // bottom's numbers go on after the ones not shown, down to the entry.
    let numbers: Vec<usize> = cur.frames.iter().map(|f| f.index).collect();
    let n = n as usize;
    ensure!(
        numbers == [0, 1, 2, 3 + n, 4 + n],
        "frame numbers {numbers:?} around {n} not shown"
    );
    let at = rep
        .lines()
        .position(|l| l == t.line)
        .ok_or("truncation line not found")?;
    let f2 = rep
        .lines()
        .position(|l| l == cur.frames[2].line)
        .unwrap_or(0);
    let f3 = rep
        .lines()
        .position(|l| l == cur.frames[3].line)
        .unwrap_or(0);
    ensure!(
        f2 < at && at < f3,
        "the truncation line is not between top and bottom"
    );
    let last = &cur.frames[4];
    ensure!(
        last.name.starts_with("_start"),
        "the bottom does not end at the thread's entry: {:?}",
        last.line
    );
    Ok(())
}

/// A recursion shows its frame once, then the fold line; numbers stay
/// true (the shared report check verifies them from the fold).
fn check_folded(c: &Ctx) -> Check {
    let rep = segv_report(c.run())?;
    let cur = rep.current()?;
    let (period, name, more) = if c.case.name.ends_with("period_1") {
        (1, "fh_rust_deep", 29)
    } else {
        (2, "fh_rust_pong", 11)
    };
    let &(after, p, m) = cur
        .folds
        .first()
        .ok_or_else(|| format!("no fold line:\n{}", rep.text))?;
    ensure!(
        p == period && m >= more,
        "fold of period {p}, {m} more times; wanted period {period}, at least {more}:\n{}",
        rep.text
    );
    // The folded frames are the recursion's: by address (names may be
    // `??` when the symbolizer ran out of time), against the ELF symbol.
    let exe = self_exe();
    let table = common::elf::functions(&exe)?;
    let &(value, size) = table.get(name).ok_or_else(|| format!("no symbol {name}"))?;
    let folded = &cur.frames[after - p..after];
    ensure!(
        folded.iter().any(|f| {
            f.module.as_deref().map(Path::new) == Some(exe.as_path())
                && f.module_offset
                    .is_some_and(|o| o > value && o <= value + size)
        }),
        "the folded frames are not inside {name}:\n{}",
        rep.text
    );
    let line = format!(
        "  ... previous {} repeated {m} more times",
        if p == 1 {
            "frame".to_string()
        } else {
            format!("{p} frames")
        }
    );
    ensure!(
        rep.lines().any(|l| l == line),
        "no line {line:?}:\n{}",
        rep.text
    );
    Ok(())
}

fn check_disabled(c: &Ctx) -> Check {
    let run = c.run();
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

fn prev_handler_line() -> String {
    format!("prev-handler: sig=11 si_addr={:#x}", child::NULL_ADDR)
}

/// Both runs printed `line` (the previous handler ran in both).
fn both_print(c: &Ctx, line: &str) -> Check {
    for r in [c.run(), c.control()] {
        ensure!(
            r.stderr.lines().any(|l| l == line),
            "{}: no line {line:?}",
            r.what
        );
    }
    Ok(())
}

fn check_chaining(c: &Ctx) -> Check {
    let run = c.run();
    both_print(c, &prev_handler_line())?;
    segv_report(run)?;
    // The previous handler runs after the report.
    let report_at = run.stderr.find("Fatal signal").unwrap();
    let prev_at = run.stderr.find(&prev_handler_line()).unwrap();
    ensure!(
        prev_at > report_at,
        "the previous handler ran before the report"
    );
    Ok(())
}

fn check_ignored_sent_then_fault(c: &Ctx) -> Check {
    let run = c.run();
    for r in [run, c.control()] {
        ensure!(
            r.stderr.contains("child: survived the sent SIGSEGV"),
            "the sent SIGSEGV was not ignored:\n{}",
            r.stderr
        );
    }
    ensure!(
        run.stderr.matches("Fatal signal ").count() == 1,
        "one report, of the real fault, expected:\n{}",
        run.stderr
    );
    let at = |needle: &str| run.stderr.find(needle).unwrap_or(usize::MAX);
    ensure!(
        at("child: survived") < at("Fatal signal 11 (SIGSEGV): address not mapped"),
        "the report must be the real fault's:\n{}",
        run.stderr
    );
    segv_report(run).map(drop)
}

fn check_reenable_over_a_chaining_library(c: &Ctx) -> Check {
    let run = c.run();
    let rep = segv_report(run)?;
    ensure!(
        run.stderr.matches("Fatal signal ").count() == 1,
        "one report expected:\n{}",
        run.stderr
    );
    // The library's handler runs once, after the report, and the chain
    // ends in the default action: no second round.
    ensure!(
        run.stderr.matches("chaining-handler: called").count() == 1,
        "the library's handler should run once:\n{}",
        run.stderr
    );
    ensure!(
        run.stderr.find("Fatal signal").unwrap_or(usize::MAX)
            < run.stderr.find("chaining-handler: called").unwrap_or(0),
        "the report should come first:\n{}",
        run.stderr
    );
    ensure!(
        c.control()
            .stderr
            .matches("chaining-handler: called")
            .count()
            == 1,
        "the control's library handler should run once"
    );
    drop(rep);
    Ok(())
}

fn check_chain_after_enable_again(c: &Ctx) -> Check {
    both_print(c, &prev_handler_line())?;
    let rep = segv_report(c.run())?;
    // The second configuration is the one in force.
    let cur = rep.current()?;
    ensure!(cur.frames.len() == 3, "{} frames, not 3", cur.frames.len());
    let t = cur.truncation.as_ref().map_or("", |t| t.line.as_str());
    ensure!(t.ends_with("(max_frames 3)"), "truncation line {t:?}");
    Ok(())
}

fn check_segv_report(c: &Ctx) -> Check {
    segv_report(c.run()).map(drop)
}

fn check_altstack_usage(c: &Ctx) -> Check {
    // How much alternate stack a report takes (the kernel's signal frame
    // included), against what Rust std gives each thread on this machine:
    // max(SIGSTKSZ, AT_MINSIGSTKSZ). Threads that never called
    // install_thread_altstack() report on std's stack.
    let run = c.run();
    expect_complete_report(run)?;
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
    common::runner::note(format!(
        "altstack: a report used {used} of {size} bytes ({frame} of them the kernel's \
         signal frame); Rust std gives threads {std_size}"
    ));
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

fn check_chaining_plain_handler(c: &Ctx) -> Check {
    both_print(c, "prev-plain-handler: sig=11")?;
    segv_report(c.run()).map(drop)
}

fn check_chaining_abort(c: &Ctx) -> Check {
    // abort() is a sent signal: it is queued again to the previous SIGABRT
    // handler with its original siginfo (SI_TKILL from our own pid).
    for r in [c.run(), c.control()] {
        let pid = Info::parse(&r.stderr).pid()?;
        let want = format!(
            "prev-abrt-handler: sig=6 si_code={} si_pid={pid}",
            libc::SI_TKILL
        );
        ensure!(
            r.stderr.lines().any(|l| l == want),
            "{}: no line {want:?}",
            r.what
        );
    }
    expect_report(
        c.run(),
        &self_exe(),
        &abort_first_line(c.run())?,
        FrameCheck::Any,
    )?;
    Ok(())
}

fn program_first(r: Runner, _: bool) -> Runner {
    r.env("FH_PROGRAM_FIRST", "1")
}

fn check_sent_sigsegv_program_first(c: &Ctx) -> Check {
    let run = c.run();
    ensure!(
        !run.stderr.contains("Fatal signal"),
        "a report for a signal the program survived:\n{}",
        run.stderr
    );
    ensure!(
        run.stderr.contains("child: dump after surviving: ok"),
        "no dump after surviving:\n{}",
        run.stderr
    );
    Ok(())
}

fn check_sent_sigsegv(c: &Ctx) -> Check {
    let run = c.run();
    let info = Info::parse(&run.stderr);
    let first = format!(
        "Fatal signal 11 (SIGSEGV): sent by pid {} uid {}",
        info.pid()?,
        info.uid()?
    );
    let reports = run.reports();
    let fatal: Vec<&Report> = reports
        .iter()
        .filter(|r| matches!(r.kind, Some(report::Kind::Fatal { .. })))
        .collect();
    ensure!(fatal.len() == 1, "{} reports", fatal.len());
    ensure!(
        fatal[0].first_line == first,
        "first line {:?}, wanted {first:?}",
        fatal[0].first_line
    );
    expect_complete_report(run)?;
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
        run.stderr.contains("\nStack dump requested\n")
            && reports
                .iter()
                .any(|r| r.kind == Some(report::Kind::StackDump)),
        "no dump in:\n{}",
        run.stderr
    );
    Ok(())
}

fn check_bad_fd(c: &Ctx) -> Check {
    let run = c.run();
    ensure!(
        run.elapsed < BAD_FD_LIMIT,
        "took {:.2?} to die (limit {BAD_FD_LIMIT:?})",
        run.elapsed
    );
    if c.case.name == "bad_fd_closed_fd" {
        // The fd is no longer the one given at enable(): the report goes
        // to stderr, with a line that says why.
        ensure!(
            run.stderr.contains("faulthandler: fd ")
                && run
                    .stderr
                    .contains("is no longer the report's file given at enable()"),
            "no line says why the report is on stderr:\n{}",
            run.stderr
        );
        return segv_report(run).map(drop);
    }
    ensure!(
        !run.stderr.contains("Fatal signal"),
        "the report went to stderr instead of the configured fd"
    );
    Ok(())
}

fn check_eight_threads(c: &Ctx) -> Check {
    let run = c.run();
    ensure!(
        run.elapsed < BAD_FD_LIMIT,
        "took {:.2?} to die (limit {BAD_FD_LIMIT:?})",
        run.elapsed
    );
    let info = Info::parse(&run.stderr);
    ensure!(
        info.threads.len() == 8,
        "{} threads announced",
        info.threads.len()
    );
    // Threads that crashed at the same moment wait in the fatal handler
    // (which blocks the collection signal): they are said to have crashed
    // too, with their signal, never to block the dump signal.
    ensure!(
        !run.stderr
            .contains("no stack: the thread blocks the dump signal"),
        "a crashed thread reported as blocking the dump signal:\n{}",
        run.stderr
    );
    for line in run.stderr.lines().filter(|l| l.contains(": no stack: ")) {
        ensure!(
            line.ends_with(": no stack: it crashed too, with signal 11 (SIGSEGV)"),
            "{line}"
        );
    }
    segv_report(run).map(drop)
}

const SPY_ACTIVE: &str = "malloc-spy: active";
const SPY_VIOLATION: &str = "malloc-spy: VIOLATION";

fn spy(r: Runner, _: bool) -> Runner {
    r.malloc_spy()
}

/// The spy ran in the child and flagged nothing; a whole report.
fn spy_clean(run: &Run) -> Check {
    ensure!(
        run.stderr.contains(SPY_ACTIVE),
        "the malloc spy was not loaded"
    );
    ensure!(
        !run.stderr.contains(SPY_VIOLATION),
        "a heap call inside a handler"
    );
    expect_complete_report(run)
}

fn check_zero_malloc(c: &Ctx) -> Check {
    spy_clean(c.run())?;
    // The control proves the spy has nothing against the program itself.
    ensure!(
        !c.control().stderr.contains(SPY_VIOLATION),
        "a heap call flagged in the control run"
    );
    Ok(())
}

/// As [`check_zero_malloc`], and frame #0 has its source line and its
/// inlined call, so the spy watched both being written.
fn json_setup(r: Runner, _: bool) -> Runner {
    r.env("FH_JSON", "1")
}

/// JSON frames carry `file`, `line` and `inlined` as the text lines do.
fn check_json_frames_with_lines(c: &Ctx) -> Check {
    let out = &c.run().stderr;
    let reps = common::json::reports(out)?;
    let rep = reps
        .first()
        .ok_or_else(|| format!("no JSON report:\n{out}"))?;
    let cur = common::json::current_thread(rep)?;
    let f0 = &cur["frames"][0];
    let src = include_str!("../c-fixtures/so_lines_inline.c");
    let line = |m: &str| {
        src.lines()
            .position(|l| l.trim_end().ends_with(&format!("/* @{m} */")))
            .map(|i| i as u64 + 1)
    };
    ensure!(f0["name"] == "fh_inl_entry", "frame #0 {f0}");
    ensure!(
        f0["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("c-fixtures/so_lines_inline.c"))
            && f0["line"].as_u64() == line("inl_call"),
        "frame #0 not at @inl_call: {f0}"
    );
    let inl = &f0["inlined"][0];
    ensure!(
        inl["name"].as_str().is_some_and(|n| !n.is_empty()) && inl["line"].as_u64().is_some(),
        "no inlined call on frame #0: {f0}"
    );
    Ok(())
}

fn check_zero_malloc_with_lines(c: &Ctx) -> Check {
    check_zero_malloc(c)?;
    let rep = Report::first(&c.run().stderr)?;
    let src = include_str!("../c-fixtures/so_lines_inline.c");
    let line = |m: &str| {
        src.lines()
            .position(|l| l.trim_end().ends_with(&format!("/* @{m} */")))
            .map(|i| i as u32 + 1)
    };
    let f0 = rep.current()?.frames.first().ok_or("no frames")?;
    ensure!(f0.name == "fh_inl_entry", "frame #0 {:?}", f0.line);
    let at = f0.file_line();
    ensure!(
        at.is_some_and(
            |(f, l)| f.ends_with("c-fixtures/so_lines_inline.c") && Some(l) == line("inl_call")
        ),
        "frame #0 not at @inl_call: {:?}",
        f0.line
    );
    let inl = f0
        .inlined
        .first()
        .ok_or_else(|| format!("no inlined call:\n{}", rep.text))?;
    ensure!(
        inl.name == "fh_inl_store" && inl.file_line().map(|f| f.1) == line("inl_store"),
        "inlined {:?}",
        inl.line
    );
    Ok(())
}

fn check_zero_malloc_spy_catches(c: &Ctx) -> Check {
    for run in [c.run(), c.control()] {
        ensure!(
            run.stderr.contains(SPY_ACTIVE),
            "the malloc spy was not loaded"
        );
        ensure!(
            run.stderr
                .contains("malloc-spy: VIOLATION malloc on the alternate signal stack"),
            "the spy missed a malloc on the alternate stack"
        );
    }
    Ok(())
}

fn check_zero_malloc_spy_catches_own_stack(c: &Ctx) -> Check {
    for run in [c.run(), c.control()] {
        ensure!(
            run.stderr
                .contains("malloc-spy: VIOLATION malloc with the crash signals blocked"),
            "the spy missed a malloc in a handler on the thread's own stack"
        );
    }
    Ok(())
}

fn json_env(r: Runner, _: bool) -> Runner {
    r.env("FAULTHANDLER_FORMAT", "json")
}

fn bad_format_env(r: Runner, _: bool) -> Runner {
    r.env("FAULTHANDLER_FORMAT", "yaml")
}

/// The JSON-lines crash report of a null dereference: one object on one
/// line, nothing else of ours on stderr, and every field as the crash was.
fn json_segv_report(run: &Run) -> Result<serde_json::Value, String> {
    let rep = common::json::report(&run.stderr)?;
    let info = Info::parse(&run.stderr);
    let (start, end, _) = fn_range(&info, &self_exe())?;
    common::json::check_fatal(
        &rep,
        libc::SIGSEGV,
        "SIGSEGV",
        Some(b::NULL_ADDR),
        &info,
        (start, end),
        &self_exe(),
    )?;
    ensure!(rep["signal"]["code"] == "SEGV_MAPERR", "{rep}");
    ensure!(
        rep["signal"]["description"] == "address not mapped to object",
        "{rep}"
    );
    ensure!(rep["last_panic"].is_null(), "{rep}");
    // The text report's lines are not there: only the child's own lines
    // and the one JSON line.
    for line in run.stderr.lines() {
        ensure!(
            line.starts_with("child: ") || line.starts_with('{'),
            "a line that is neither the child's nor the report: {line:?}"
        );
    }
    ensure!(
        run.stderr.ends_with("}\n"),
        "the report does not end its line"
    );
    Ok(rep)
}

fn check_json_segv(c: &Ctx) -> Check {
    json_segv_report(c.run()).map(drop)
}

fn check_json_zero_malloc(c: &Ctx) -> Check {
    let run = c.run();
    ensure!(
        run.stderr.contains(SPY_ACTIVE),
        "the malloc spy was not loaded"
    );
    ensure!(
        !run.stderr.contains(SPY_VIOLATION),
        "a heap call inside a handler"
    );
    let rep = common::json::report(&run.stderr)?;
    ensure!(rep["kind"] == "fatal", "{rep}");
    common::json::current_thread(&rep)?;
    ensure!(rep.get("cut_short").is_none(), "{rep}");
    Ok(())
}

fn check_bad_format_env(c: &Ctx) -> Check {
    let run = c.run();
    let warning =
        "faulthandler: ignoring FAULTHANDLER_FORMAT=\"yaml\": expected text or json (reports stay text)";
    ensure!(
        run.stderr.lines().filter(|l| *l == warning).count() == 1,
        "no warning {warning:?} in:\n{}",
        run.stderr
    );
    // The report stays text.
    segv_report(run).map(drop)
}

#[cfg(target_arch = "x86_64")]
fn check_json_fault_inside_handler(c: &Ctx) -> Check {
    let run = c.run();
    let rep = common::json::report(&run.stderr)?;
    ensure!(rep["kind"] == "fatal", "{rep}");
    ensure!(rep["signal"]["name"] == "SIGILL", "{rep}");
    ensure!(
        rep["cut_short"] == "signal 11 (SIGSEGV) inside the handler",
        "{rep}"
    );
    let info = Info::parse(&run.stderr);
    let (start, end, _) = fn_range(&info, &self_exe())?;
    let addr = common::json::addr(&rep["signal"]["address"])? as u64;
    ensure!((start..end).contains(&addr), "fault address {addr:#x}");
    // The walk faulted, but frame #0 (the faulting instruction) is shown,
    // and the executable is among the modules known so far.
    let cur = common::json::current_thread(&rep)?;
    let f0 = &cur["frames"][0];
    ensure!(
        f0["n"] == 0 && common::json::addr(&f0["addr"])? as u64 == addr,
        "{f0}"
    );
    let exe = self_exe();
    ensure!(
        rep["modules"].as_array().is_some_and(|m| m
            .iter()
            .any(|m| m["path"] == exe.to_string_lossy().as_ref())),
        "{rep}"
    );
    Ok(())
}

/// How many times the racy cases run their child (the first run is the
/// harness's own).
const RACE_RUNS: usize = 6;

/// Run the case's child `RACE_RUNS` times in all and check each run.
fn each_run(c: &Ctx, mut check: impl FnMut(&Run) -> Check) -> Check {
    check(c.run()).map_err(|e| format!("run 1: {e}"))?;
    for i in 2..=RACE_RUNS {
        let run = c.runner(false).run()?;
        run.expect(SEGV.expect("a signal"))
            .map_err(|e| format!("run {i}: {e}"))?;
        check(&run).map_err(|e| format!("run {i}: {e}"))?;
    }
    Ok(())
}

fn check_sleeper_stays_asleep(c: &Ctx) -> Check {
    each_run(c, |run| {
        ensure!(
            !run.stderr.contains("woke early"),
            "the crash ended another thread's sleep:\n{}",
            run.stderr
        );
        let rep = segv_report(run)?;
        let info = Info::parse(&run.stderr);
        let sleeper = info
            .threads
            .iter()
            .find(|t| t.1 == "sleeper")
            .ok_or("no sleeper announced")?;
        let t = rep
            .threads
            .iter()
            .find(|t| t.tid as i32 == sleeper.0)
            .ok_or_else(|| format!("the sleeper {} is not in the report", sleeper.0))?;
        ensure!(
            !t.frames.is_empty(),
            "the sleeper has no stack: {}",
            t.heading
        );
        Ok(())
    })
}

fn check_enable_during_a_crash(c: &Ctx) -> Check {
    each_run(c, |run| {
        let reports = run.reports();
        ensure!(
            reports.len() == 1,
            "{} reports:\n{}",
            reports.len(),
            run.stderr
        );
        let rep = segv_report(run)?;
        ensure!(rep.cut_short.is_none(), "cut short: {:?}", rep.cut_short);
        ensure!(rep.has_modules_block, "no modules block:\n{}", run.stderr);
        ensure!(
            rep.threads.iter().any(|t| t.name == "enabler"),
            "the enabler thread is not listed:\n{}",
            run.stderr
        );
        Ok(())
    })
}

fn check_vfork_child_crash(c: &Ctx) -> Check {
    for run in [c.run(), c.control()] {
        ensure!(
            run.stderr
                .contains("child: vfork child ended by signal 11\n"),
            "the vfork child did not die of SIGSEGV:\n{}",
            run.stderr
        );
    }
    let reports = c.run().reports();
    ensure!(
        reports.len() == 1,
        "{} reports:\n{}",
        reports.len(),
        c.run().stderr
    );
    segv_report(c.run()).map(drop)
}

fn check_enabled_from_other_thread(c: &Ctx) -> Check {
    let run = c.run();
    let rep = segv_report(run)?;
    // The crash is on main, whose tid is the pid.
    let pid = Info::parse(&run.stderr).pid()?;
    ensure!(
        rep.current()?.tid == pid as u32,
        "not the main thread: {:?}",
        rep.current()?.heading
    );
    Ok(())
}

// --- The table. -------------------------------------------------------------

use child as b;

#[rustfmt::skip]
static CASES: &[Case] = &[
    // The slowest first (it waits out the 3 s write timeout).
    Case { name: "bad_fd_full_pipe", body: Some(b::pipe_full), expect: SEGV, check: check_bad_fd, ..CASE },
    Case { name: "null_deref", body: Some(b::segv), expect: SEGV, check: check_null_deref, ..CASE },
    Case { name: "command_line_escaped_and_cut", body: Some(b::segv), expect: SEGV, setup: setup_long_command_line, check: check_command_line, ..CASE },
    Case { name: "null_deref_before_symbol_thread", body: Some(b::segv_before_symbol_thread), expect: SEGV, check: check_null_deref, ..CASE },
    Case { name: "command_line_cut_before_symbol_thread", body: Some(b::segv_before_symbol_thread), expect: SEGV, setup: setup_long_command_line, check: check_command_line, ..CASE },
    Case { name: "sigbus", body: Some(b::bus), expect: signal(libc::SIGBUS), check: check_sigbus, ..CASE },
    Case { name: "sigill", body: Some(b::ill), expect: signal(libc::SIGILL), check: check_sigill, ..CASE },
    // Integer division by zero traps on x86_64 only.
    #[cfg(target_arch = "x86_64")]
    Case { name: "sigfpe", body: Some(b::fpe), expect: signal(libc::SIGFPE), check: check_sigfpe, ..CASE },
    Case { name: "abort", body: Some(b::abort_), expect: ABRT, check: check_abort, ..CASE },
    Case { name: "cxx_chain_demangled", body: Some(b::cxx_chain), expect: SEGV, check: check_cxx_chain, ..CASE },
    Case { name: "panic_then_abort", body: Some(b::panic_abort), expect: ABRT, check: check_panic_then_abort, ..CASE },
    Case { name: "panic_nounwind_abort", body: Some(b::panic_nounwind_abort), expect: ABRT, check: check_panic_nounwind, ..CASE },
    Case { name: "panic_hook_replaced", body: Some(b::panic_hook_replaced), expect: ABRT, check: check_panic_hook_replaced, ..CASE },
    Case { name: "abort_from_another_thread", body: Some(b::abort_from_another_thread), expect: ABRT, check: check_abort_from_another_thread, ..CASE },
    Case { name: "registers", body: Some(b::registers), expect: SEGV, check: check_registers, ..CASE },
    Case { name: "registers_unmapped_pc", body: Some(b::registers_unmapped_pc), expect: SEGV, check: check_registers_unmapped_pc, ..CASE },
    Case { name: "from_env", body: Some(b::from_env), expect: SEGV, setup: setup_from_env, check: check_from_env, ..CASE },
    Case { name: "report_to_file", body: Some(b::report_to_file), expect: SEGV, setup: setup_report_file, check: check_report_to_file, ..CASE },
    Case { name: "report_file_survives_a_forked_child_that_exits", body: Some(b::fork_child_exits_then_parent_crashes), expect: SEGV, setup: setup_report_file, check: check_report_in_file, ..CASE },
    Case { name: "report_file_comes_back_for_a_crash_in_an_atexit_handler", body: Some(b::crash_in_an_earlier_atexit_handler), expect: SEGV, setup: setup_report_file, check: check_report_in_file, ..CASE },
    // The warm-up's report path (lazy binding in libgcc_s) on the symbol
    // thread takes more than std's 8 KiB alternate stack: it has ours.
    Case { name: "the_warm_up_on_the_symbol_thread_ends_cleanly", body: Some(b::warm_up_then_exit), expect: Some(End::Exit(0)), timeout: Duration::from_secs(20), check: check_warm_up_then_exit, ..CASE },
    Case { name: "a_child_forked_during_the_warm_up_reports_at_once", body: Some(b::fork_during_the_warm_up), expect: Some(End::Exit(0)), timeout: Duration::from_secs(20), check: check_fork_during_the_warm_up, ..CASE },
    Case { name: "a_child_forked_during_a_dump_reports_at_once", body: Some(b::fork_during_a_dump), expect: Some(End::Exit(0)), timeout: Duration::from_secs(20), check: check_fork_during_a_dump, ..CASE },
    Case { name: "report_fd_taken_by_a_daemons_file", body: Some(b::daemon_reuses_the_report_fd), expect: SEGV, setup: setup_report_file, check: check_daemon_reused_fd, ..CASE },
    Case { name: "report_file_with_a_stuck_stderr", body: Some(b::file_with_stuck_stderr), expect: SEGV, setup: setup_report_file, check: check_file_with_stuck_stderr, ..CASE },
    Case { name: "stack_overflow_main", body: Some(b::overflow_main), expect: ABRT, check: check_overflow, ..CASE },
    Case { name: "stack_overflow_thread", body: Some(b::overflow_thread), expect: ABRT, check: check_overflow, ..CASE },
    // No install_thread_altstack(): the report must fit in the alternate
    // stack Rust std gave the thread (max(SIGSTKSZ, AT_MINSIGSTKSZ)).
    Case { name: "stack_overflow_thread_std_altstack", body: Some(b::overflow_thread_std_altstack), expect: ABRT, check: check_overflow, ..CASE },
    Case { name: "altstack_usage", body: Some(b::altstack_usage), expect: exit(b::MEASURED), check: check_altstack_usage, ..CASE },
    Case { name: "altstack_usage_before_the_warm_up", body: Some(b::altstack_usage_before_the_warm_up), expect: exit(b::MEASURED), check: check_altstack_usage, ..CASE },
    Case { name: "repetition_folded_period_1", body: Some(b::fold_period_1), expect: SEGV, check: check_folded, ..CASE },
    Case { name: "repetition_folded_period_2", body: Some(b::fold_period_2), expect: SEGV, check: check_folded, ..CASE },
    Case { name: "truncation", body: Some(b::truncate), expect: SEGV, check: check_truncation, ..CASE },
    Case { name: "disable_segv", body: Some(b::disable_segv), expect: SEGV, check: check_disabled, ..CASE },
    Case { name: "disable_abort", body: Some(b::disable_abort), expect: ABRT, check: check_disabled, ..CASE },
    Case { name: "chaining", body: Some(b::chain), expect: exit(common::FH_PREV_HANDLER_EXIT), check: check_chaining, ..CASE },
    // The previous handler was installed without SA_SIGINFO.
    Case { name: "chaining_plain_handler", body: Some(b::chain_plain), expect: exit(common::FH_PLAIN_HANDLER_EXIT), check: check_chaining_plain_handler, ..CASE },
    Case { name: "enable_twice_keeps_chain", body: Some(b::chain_twice), expect: exit(common::FH_PREV_HANDLER_EXIT), check: check_chain_after_enable_again, ..CASE },
    Case { name: "reenable_over_a_chaining_library", body: Some(b::reenable_over_a_chaining_library), expect: SEGV, timeout: Duration::from_secs(10), check: check_reenable_over_a_chaining_library, ..CASE },
    Case { name: "disable_then_enable_keeps_chain", body: Some(b::chain_reenable), expect: exit(common::FH_PREV_HANDLER_EXIT), check: check_chain_after_enable_again, ..CASE },
    // A real fault whose action was SIG_IGN: the kernel forces SIG_DFL.
    Case { name: "previously_ignored_sigsegv", body: Some(b::ignored_segv), expect: SEGV, check: check_segv_report, ..CASE },
    Case { name: "ignored_sigsegv_sent_then_a_real_fault", body: Some(b::ignored_segv_sent_first), expect: SEGV, check: check_ignored_sent_then_fault, ..CASE },
    Case { name: "chaining_abort", body: Some(b::chain_abort), expect: exit(common::FH_ABRT_HANDLER_EXIT), check: check_chaining_abort, ..CASE },
    Case { name: "sent_sigsegv", body: Some(b::sent_segv), expect: exit(common::child::SURVIVED), check: check_sent_sigsegv, ..CASE },
    // By default Rust std's handler runs first: it survives, and no report.
    Case { name: "sent_sigsegv_program_first", body: Some(b::sent_segv), expect: exit(common::child::SURVIVED), setup: program_first, check: check_sent_sigsegv_program_first, ..CASE },
    Case { name: "bad_fd_closed_pipe", body: Some(b::pipe_closed), expect: SEGV, check: check_bad_fd, ..CASE },
    Case { name: "bad_fd_closed_socket", body: Some(b::socket_closed), expect: SEGV, check: check_bad_fd, ..CASE },
    Case { name: "bad_fd_closed_fd", body: Some(b::fd_closed), expect: SEGV, check: check_bad_fd, ..CASE },
    Case { name: "eight_threads", body: Some(b::threads8), expect: SEGV, check: check_eight_threads, ..CASE },
    Case { name: "zero_malloc_segv", body: Some(b::segv), expect: SEGV, setup: spy, check: check_zero_malloc, ..CASE },
    Case { name: "json_frames_with_lines", body: Some(b::segv_with_lines), expect: SEGV, setup: json_setup, check: check_json_frames_with_lines, ..CASE },
    Case { name: "zero_malloc_segv_with_lines", body: Some(b::segv_with_lines), expect: SEGV, setup: spy, check: check_zero_malloc_with_lines, ..CASE },
    Case { name: "zero_malloc_registers", body: Some(b::registers), expect: SEGV, setup: spy, check: check_zero_malloc, ..CASE },
    Case { name: "zero_malloc_panic_nounwind", body: Some(b::panic_nounwind_abort), expect: ABRT, setup: spy, check: check_zero_malloc, ..CASE },
    Case { name: "zero_malloc_abort", body: Some(b::abort_), expect: ABRT, setup: spy, check: check_zero_malloc, ..CASE },
    // Std's own overflow handler runs on the alternate stack too; it must
    // not allocate either, or this test could not tell who did.
    Case { name: "zero_malloc_stack_overflow", body: Some(b::overflow_thread), expect: ABRT, setup: spy, check: check_zero_malloc, ..CASE },
    Case { name: "zero_malloc_eight_threads", body: Some(b::threads8), expect: SEGV, setup: spy, check: check_zero_malloc, ..CASE },
    // The control case: a handler that does allocate is caught.
    Case { name: "zero_malloc_spy_catches", body: Some(b::spy_control), expect: exit(common::FH_MALLOC_HANDLER_EXIT), setup: spy, check: check_zero_malloc_spy_catches, ..CASE },
    // The same, for a handler on the thread's own stack (the signal mask).
    Case { name: "zero_malloc_spy_catches_own_stack", body: Some(b::spy_control_own_stack), expect: exit(common::FH_MALLOC_HANDLER_EXIT), setup: spy, check: check_zero_malloc_spy_catches_own_stack, ..CASE },
    Case { name: "a_crash_does_not_end_another_threads_sleep", body: Some(b::sleeper_then_crash), expect: SEGV, timeout: Duration::from_secs(20), check: check_sleeper_stays_asleep, ..CASE },
    Case { name: "enable_during_a_crash_leaves_the_report_whole", body: Some(b::enable_during_a_crash), expect: SEGV, timeout: Duration::from_secs(20), check: check_enable_during_a_crash, ..CASE },
    Case { name: "a_crashing_vfork_child_leaves_the_parent_enabled", body: Some(b::vfork_child_crashes_then_parent), expect: SEGV, check: check_vfork_child_crash, ..CASE },
    Case { name: "enabled_from_other_thread", body: Some(b::other_thread), expect: SEGV, check: check_enabled_from_other_thread, ..CASE },
    #[cfg(target_arch = "x86_64")]
    Case { name: "fault_inside_handler", body: Some(b::bad_stack), expect: signal(libc::SIGILL), check: check_fault_inside_handler, ..CASE },
    // JSON lines, through the Rust API and through the environment.
    Case { name: "json_null_deref", body: Some(b::segv_json), expect: SEGV, check: check_json_segv, ..CASE },
    Case { name: "json_from_the_environment", body: Some(b::segv_env), expect: SEGV, setup: json_env, check: check_json_segv, ..CASE },
    Case { name: "json_bad_format_value_warns", body: Some(b::segv_env), expect: SEGV, setup: bad_format_env, check: check_bad_format_env, ..CASE },
    Case { name: "json_zero_malloc_segv", body: Some(b::segv_json), expect: SEGV, setup: spy, check: check_json_zero_malloc, ..CASE },
    #[cfg(target_arch = "x86_64")]
    Case { name: "json_fault_inside_handler", body: Some(b::bad_stack_json), expect: signal(libc::SIGILL), check: check_json_fault_inside_handler, ..CASE },
];

fn main() {
    if std::env::var_os(runner::CHILD_ENV).is_some() {
        common::announce_process();
    }
    common::harness::main(CASES);
}
