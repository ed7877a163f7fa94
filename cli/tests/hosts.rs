//! Hosts that own crash signals: the program's own handler runs first, and
//! faulthandler reports only when the fault turns out fatal.
//!
//! Every case runs in child processes with a hard timeout, and is compared
//! with the same run without faulthandler: how it ends, the host's own
//! lines (what its handler saw, with its signal mask), and our report or
//! its absence.
//!
//! - Library mode: this binary is the host (the C handlers of
//!   `c-fixtures/lib_hosts.c`), with `enable()` called after the host's
//!   handler (it runs first) or before it (the host chains to ours).
//! - Rust std's own handler: a stack overflow on the main thread and on a
//!   std thread.

#[path = "../../tests/common/mod.rs"]
mod common;

use faulthandler_fixtures as _;

use common::{ensure, Case, Check, Ctx, End, Report, Run, CASE};
use std::time::Duration;

mod child {
    pub use crate::common::child::{announce_vfork_child, check, enable, enable_default, survived};
    use std::ffi::c_int;

    // c-fixtures/lib_hosts.c
    pub const FIX_PAGE: c_int = 1;
    pub const RESET_RETURN: c_int = 2;
    pub const EXIT: c_int = 3;
    pub const LONGJMP: c_int = 4;
    pub const ABORT: c_int = 5;
    pub const LOOP: c_int = 6;
    pub const RESETHAND: c_int = 7;
    pub const RETURN: c_int = 8;
    pub const EXIT_CODE: i32 = 47;
    pub const LOOP_EXIT_CODE: i32 = 46;

    extern "C" {
        fn fh_host_install(mode: c_int, chain: c_int) -> c_int;
        fn fh_host_mprotect_faults(n: c_int) -> c_int;
        fn fh_host_null_deref();
        fn fh_host_longjmp_fault() -> c_int;
        fn fh_host_vfork_child_faults(n: c_int) -> c_int;
    }

    /// The host's handler, then `enable()` (it runs first), or the other
    /// way round (it chains to ours).
    pub fn host(mode: c_int, enable_first: bool) {
        if enable_first {
            enable_default();
        }
        // SAFETY: installs the fixture's SIGSEGV handler.
        let r = unsafe { fh_host_install(mode, c_int::from(enable_first)) };
        check(r == 0, "install the host's handler");
        if !enable_first {
            enable_default();
        }
    }

    pub fn null_deref() -> ! {
        // SAFETY: it is not: the fixture writes to 0x10, the crash.
        unsafe { fh_host_null_deref() };
        survived()
    }

    pub fn mprotect(n: c_int) {
        // SAFETY: the fixture's page and handler.
        let fixed = unsafe { fh_host_mprotect_faults(n) };
        eprintln!("child: the host fixed {fixed} faults");
    }

    /// A vfork child (sharing our memory) makes `n` faults the host
    /// fixes, then one it gives up on.
    pub fn vfork_child_faults(n: c_int) {
        // SAFETY: the fixture's page and handler; it waits for the child.
        let status = unsafe { fh_host_vfork_child_faults(n) };
        announce_vfork_child(status);
    }

    pub fn longjmp_fault() {
        // SAFETY: the fixture recovers with siglongjmp.
        let back = unsafe { fh_host_longjmp_fault() };
        check(back == 1, "the host recovered");
        eprintln!("child: recovered by siglongjmp");
    }

    pub fn abort() -> ! {
        // SAFETY: abort takes no arguments.
        unsafe { libc::abort() }
    }
}

mod b {
    use super::child::*;

    pub fn mprotect_then_crash_host_first() {
        host(FIX_PAGE, false);
        mprotect(16);
        null_deref()
    }
    pub fn mprotect_then_crash_enable_first() {
        host(FIX_PAGE, true);
        mprotect(16);
        null_deref()
    }
    pub fn vfork_child_then_crash() {
        host(FIX_PAGE, false);
        vfork_child_faults(16);
        mprotect(16);
        null_deref()
    }
    pub fn reset_and_return() {
        host(RESET_RETURN, false);
        null_deref()
    }
    pub fn reset_and_return_enable_first() {
        host(RESET_RETURN, true);
        null_deref()
    }
    pub fn exits() {
        host(EXIT, false);
        null_deref()
    }
    pub fn longjmp_then_abort() {
        host(LONGJMP, false);
        longjmp_fault();
        abort()
    }
    pub fn longjmp_then_crash() {
        host(LONGJMP, false);
        longjmp_fault();
        null_deref()
    }
    pub fn aborts() {
        host(ABORT, false);
        null_deref()
    }
    pub fn loops() {
        host(LOOP, false);
        null_deref()
    }
    pub fn resethand() {
        host(RESETHAND, false);
        null_deref()
    }
    pub fn sent_signal() {
        host(RETURN, false);
        // SAFETY: kill with plain integers, to ourselves.
        check(
            unsafe { libc::kill(libc::getpid(), libc::SIGSEGV) } == 0,
            "kill",
        );
        survived()
    }
    pub fn report_first() {
        // SAFETY: installs the fixture's SIGSEGV handler.
        check(
            unsafe { super::child_ffi::fh_host_install(EXIT, 0) } == 0,
            "install",
        );
        enable(faulthandler::Config::new().report_first(true));
        null_deref()
    }

    /// Under the preload: no enable() here, the library's constructor
    /// did it (and std's init then installed its handler into the view).
    pub fn preloaded_mprotect_then_crash() {
        // SAFETY: installs the fixture's SIGSEGV handler.
        check(
            unsafe { super::child_ffi::fh_host_install(FIX_PAGE, 0) } == 0,
            "install",
        );
        mprotect(16);
        null_deref()
    }
    pub fn preloaded_c_thread_overflow() {
        // SAFETY: the fixture's thread overflows its stack: the crash.
        unsafe { super::child_ffi::fh_host_overflow_on_c_thread() };
        survived()
    }
    pub fn preloaded_usr2_shared() {
        // SAFETY: the fixture's SIGUSR2 handler, then raise.
        check(unsafe { super::child_ffi::fh_host_usr2() } == 0, "raise");
        // The dumper thread writes the dump.
        std::thread::sleep(std::time::Duration::from_millis(500));
        survived()
    }
    pub fn preloaded_std_overflow_main() {
        std::hint::black_box(recurse(0));
    }
    pub fn preloaded_std_overflow_thread() {
        let t = std::thread::Builder::new()
            .name("overflower".into())
            .spawn(|| std::hint::black_box(recurse(0)))
            .unwrap();
        let _ = t.join();
    }

    #[inline(never)]
    #[allow(unconditional_recursion)]
    fn recurse(n: u64) -> u64 {
        let pad = [n as u8; 256];
        std::hint::black_box(&pad);
        recurse(std::hint::black_box(n + 1)) + u64::from(pad[0])
    }
    pub fn std_overflow_main() {
        enable_default();
        std::hint::black_box(recurse(0));
    }
    /// A thread overflows while the symbol thread's warm-up holds the
    /// reporter claim (made to last 300 ms).
    pub fn std_overflow_thread_during_warm_up() {
        faulthandler::__bench::delay_warm_up(300);
        enable_default();
        std::thread::sleep(std::time::Duration::from_millis(60));
        let t = std::thread::Builder::new()
            .name("overflower".into())
            .spawn(|| std::hint::black_box(recurse(0)))
            .unwrap();
        let _ = t.join();
    }
    pub fn std_overflow_thread() {
        enable_default();
        let t = std::thread::Builder::new()
            .name("overflower".into())
            .spawn(|| std::hint::black_box(recurse(0)))
            .unwrap();
        let _ = t.join();
    }
}

mod child_ffi {
    extern "C" {
        pub fn fh_host_overflow_on_c_thread();
        pub fn fh_host_usr2() -> std::ffi::c_int;
        pub fn fh_host_install(mode: std::ffi::c_int, chain: std::ffi::c_int) -> std::ffi::c_int;
    }
}

const SEGV: Option<End> = Some(End::Signal {
    sig: libc::SIGSEGV,
    core: false,
});
const ABRT: Option<End> = Some(End::Signal {
    sig: libc::SIGABRT,
    core: false,
});
const NULL_FAULT: &str =
    "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address 0x0000000000000010";

/// The host's own lines (`host: ...`), which must be the same with and
/// without faulthandler.
fn host_lines(r: &Run) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("host: ") || l.starts_with("child: the host"))
        .collect()
}

fn same_host_lines(c: &Ctx) -> Check {
    let (a, b) = (host_lines(c.run()), host_lines(c.control()));
    ensure!(
        a == b,
        "the host saw something else with faulthandler:\n{a:#?}\nwithout:\n{b:#?}"
    );
    Ok(())
}

fn fatal_reports(r: &Run) -> Vec<Report> {
    r.reports()
        .into_iter()
        .filter(|r| r.first_line.starts_with("Fatal signal "))
        .collect()
}

fn no_report(c: &Ctx) -> Check {
    same_host_lines(c)?;
    let n = fatal_reports(c.run()).len();
    ensure!(
        n == 0,
        "{n} reports for a process the host kept alive or ended:\n{}",
        c.run().stderr
    );
    Ok(())
}

/// One report, of the null write, with frame #0 in the fixture, and
/// without a line about the host's handler.
fn one_null_report(c: &Ctx) -> Result<Report, String> {
    same_host_lines(c)?;
    let reps = fatal_reports(c.run());
    ensure!(
        reps.len() == 1,
        "{} reports:\n{}",
        reps.len(),
        c.run().stderr
    );
    let rep = reps.into_iter().next().unwrap();
    ensure!(
        rep.first_line == NULL_FAULT,
        "first line {:?}",
        rep.first_line
    );
    let cur = rep.current()?;
    ensure!(
        cur.frames
            .first()
            .is_some_and(|f| f.line.contains("fh_host_null_deref")),
        "frame #0 is not the fault:\n{}",
        rep.text
    );
    Ok(rep)
}

fn null_report_after_the_host(c: &Ctx) -> Check {
    let rep = one_null_report(c)?;
    ensure!(
        !rep.other.iter().any(|l| l.starts_with("The program's own")),
        "{:?}",
        rep.other
    );
    // The host's handler ran before the report.
    let err = &c.run().stderr;
    let last_host = err.rfind("host: caught").unwrap_or(0);
    ensure!(
        last_host < err.find("Fatal signal").unwrap_or(0),
        "the report came before the host's handler:\n{err}"
    );
    Ok(())
}

fn mprotect_host(c: &Ctx) -> Check {
    for r in [c.run(), c.control()] {
        ensure!(
            r.stderr.contains("child: the host fixed 16 faults"),
            "{}: the host did not fix its 16 faults",
            r.what
        );
    }
    null_report_after_the_host(c)
}

/// The vfork child's faults went to the host as without us, its last one
/// killed it with no report (its memory is ours), and ours is intact:
/// the parent's own faults and crash come out as in `mprotect_host`.
fn vfork_child_host(c: &Ctx) -> Check {
    for r in [c.run(), c.control()] {
        ensure!(
            r.stderr.contains("child: vfork child ended by signal 11\n"),
            "{}: the vfork child did not die of SIGSEGV:\n{}",
            r.what,
            r.stderr
        );
    }
    mprotect_host(c)
}

fn mprotect_host_enable_first(c: &Ctx) -> Check {
    for r in [c.run(), c.control()] {
        ensure!(
            r.stderr.contains("child: the host fixed 16 faults"),
            "{}: the host did not fix its 16 faults",
            r.what
        );
    }
    one_null_report(c).map(drop)
}

fn aborted(c: &Ctx) -> Check {
    let rep = one_null_report(c)?;
    ensure!(
        rep.other
            .iter()
            .any(|l| l
                == "The program's own SIGSEGV handler ran first, then called abort() (SIGABRT)"),
        "no line about the abort: {:?}",
        rep.other
    );
    Ok(())
}

fn loops(c: &Ctx) -> Check {
    same_host_lines(c)?;
    let reps = fatal_reports(c.run());
    ensure!(
        reps.len() == 1,
        "{} reports:\n{}",
        reps.len(),
        c.run().stderr
    );
    ensure!(reps[0].first_line == NULL_FAULT, "{:?}", reps[0].first_line);
    ensure!(
        reps[0].other.iter().any(
            |l| l.ends_with("handler returned, and the same fault came straight back 64 times")
        ),
        "{:?}",
        reps[0].other
    );
    Ok(())
}

fn after_longjmp_abort(c: &Ctx) -> Check {
    same_host_lines(c)?;
    let run = c.run();
    ensure!(
        run.stderr.contains("child: recovered by siglongjmp"),
        "no recovery"
    );
    let reps = fatal_reports(run);
    ensure!(reps.len() == 1, "{} reports:\n{}", reps.len(), run.stderr);
    ensure!(
        reps[0].first_line == "Fatal signal 6 (SIGABRT): abort() or raise() on this thread",
        "the abort is reported as itself, not as the old fault: {:?}",
        reps[0].first_line
    );
    ensure!(
        !reps[0]
            .other
            .iter()
            .any(|l| l.starts_with("The program's own")),
        "a stale note: {:?}",
        reps[0].other
    );
    Ok(())
}

fn after_longjmp_crash(c: &Ctx) -> Check {
    ensure!(
        c.run().stderr.contains("child: recovered by siglongjmp"),
        "no recovery"
    );
    null_report_after_the_host(c)
}

fn report_first(c: &Ctx) -> Check {
    same_host_lines(c)?;
    let reps = fatal_reports(c.run());
    ensure!(reps.len() == 1, "{} reports", reps.len());
    ensure!(reps[0].first_line == NULL_FAULT, "{:?}", reps[0].first_line);
    let err = &c.run().stderr;
    ensure!(
        err.find("Fatal signal").unwrap_or(usize::MAX) < err.find("host: caught").unwrap_or(0),
        "report_first: the report comes before the host's handler:\n{err}"
    );
    Ok(())
}

fn std_overflow(c: &Ctx) -> Check {
    for r in [c.run(), c.control()] {
        ensure!(
            r.stderr.contains("has overflowed its stack")
                && r.stderr.contains("fatal runtime error: stack overflow"),
            "{}: no message from std:\n{}",
            r.what,
            r.stderr
        );
    }
    let reps = fatal_reports(c.run());
    ensure!(
        reps.len() == 1,
        "{} reports:\n{}",
        reps.len(),
        c.run().stderr
    );
    ensure!(
        reps[0]
            .first_line
            .starts_with("Fatal signal 11 (SIGSEGV): stack overflow at address "),
        "{:?}",
        reps[0].first_line
    );
    let err = &c.run().stderr;
    ensure!(
        err.find("has overflowed its stack").unwrap_or(usize::MAX)
            < err.find("Fatal signal").unwrap_or(0),
        "std's message comes first:\n{err}"
    );
    Ok(())
}

// ---- Programs under the preload, each against the same run without it.

use common::runner::{self, Runner};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts")
}

/// `name` on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// A visible line for a row that cannot run here.
fn skipped(why: &str) -> Check {
    println!("    SKIPPED: {why}");
    runner::note(format!("SKIPPED: {why}"));
    Ok(())
}

/// `r` with the library preloaded and switched on.
fn preloaded(r: Runner) -> Runner {
    r.env("LD_PRELOAD", common::c_library())
        .env("FAULTHANDLER", "1")
}

fn preload_setup(r: Runner, control: bool) -> Runner {
    if control {
        r
    } else {
        preloaded(r)
    }
}

/// Both runs, at once: with the preload and without.
fn both(with: Runner, without: Runner) -> Result<(Run, Run), String> {
    runner::pair(preloaded(with), without)
}

fn one_fatal(r: &Run) -> Result<Report, String> {
    let reps = fatal_reports(r);
    ensure!(
        reps.len() == 1,
        "{}: {} reports:\n{}",
        r.what,
        reps.len(),
        r.stderr
    );
    Ok(reps.into_iter().next().unwrap())
}

fn none_fatal(r: &Run) -> Check {
    let n = fatal_reports(r).len();
    ensure!(
        n == 0,
        "{}: {n} reports for a healthy run:\n{}",
        r.what,
        r.stderr
    );
    Ok(())
}

fn both_say(runs: [&Run; 2], text: &str) -> Check {
    for r in runs {
        ensure!(
            r.stdout.contains(text) || r.stderr.contains(text),
            "{}: no {text:?} in its output:\n{}{}",
            r.what,
            r.stdout,
            r.stderr
        );
    }
    Ok(())
}

/// The JVM's fixture, built once: (java, class dir with libjnicrash.so).
fn jvm() -> Result<Option<(PathBuf, PathBuf)>, String> {
    static BUILT: OnceLock<Result<Option<(PathBuf, PathBuf)>, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let (Some(java), Some(javac)) = (which("java"), which("javac")) else {
                return Ok(None);
            };
            let dir = common::scratch_dir("hosts-jvm");
            let javac_real = std::fs::canonicalize(&javac).map_err(|e| e.to_string())?;
            let home = javac_real
                .parent()
                .and_then(Path::parent)
                .ok_or("no JDK home")?
                .to_path_buf();
            let o = Runner::program(
                &javac,
                &[
                    "-d",
                    dir.to_str().unwrap(),
                    sources().join("Crash.java").to_str().unwrap(),
                ],
            )
            .timeout(Duration::from_secs(120))
            .run()?;
            o.expect_code(0)?;
            let inc = home.join("include");
            let o = Runner::program(
                common::CC,
                &[
                    "-shared",
                    "-fPIC",
                    "-I",
                    inc.to_str().unwrap(),
                    "-I",
                    inc.join("linux").to_str().unwrap(),
                    sources().join("jni_crash.c").to_str().unwrap(),
                    "-o",
                    dir.join("libjnicrash.so").to_str().unwrap(),
                ],
            )
            .run()?;
            o.expect_code(0)?;
            Ok(Some((java, dir)))
        })
        .clone()
}

fn java(java: &Path, dir: &Path, errdir: &Path, arg: &str) -> Runner {
    let err = format!("-XX:ErrorFile={}/hs_err_%p.log", errdir.display());
    let lib = format!("-Djava.library.path={}", dir.display());
    Runner::program(
        java,
        &[&err, &lib, "-cp", dir.to_str().unwrap(), "Crash", arg],
    )
    .timeout(Duration::from_secs(90))
}

fn hs_err_in(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("hs_err_"))
    })
}

fn jvm_jni_crash(_: &Ctx) -> Check {
    let Some((java_bin, dir)) = jvm()? else {
        return skipped("java or javac is not installed");
    };
    let (a, b) = (dir.join("with"), dir.join("without"));
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let (run, control) = both(
        java(&java_bin, &dir, &a, "jni"),
        java(&java_bin, &dir, &b, "jni"),
    )?;
    run.expect_signal(libc::SIGABRT)?;
    both_say(
        [&run, &control],
        "# A fatal error has been detected by the Java Runtime Environment",
    )?;
    ensure!(hs_err_in(&a), "no hs_err file with faulthandler");
    ensure!(hs_err_in(&b), "no hs_err file without faulthandler");
    let rep = one_fatal(&run)?;
    ensure!(rep.first_line == NULL_FAULT, "{:?}", rep.first_line);
    ensure!(
        rep.other
            .iter()
            .any(|l| l
                == "The program's own SIGSEGV handler ran first, then called abort() (SIGABRT)"),
        "{:?}",
        rep.other
    );
    ensure!(
        rep.current()?
            .frames
            .first()
            .is_some_and(|f| f.line.contains("Java_Crash_crash")),
        "frame #0 is not the JNI function:\n{}",
        rep.text
    );
    Ok(())
}

fn jvm_healthy(_: &Ctx) -> Check {
    let Some((java_bin, dir)) = jvm()? else {
        return skipped("java or javac is not installed");
    };
    let errdir = dir.join("healthy");
    std::fs::create_dir_all(&errdir).unwrap();
    // One after the other, so that the times compare.
    let control = java(&java_bin, &dir, &errdir, "healthy").run()?;
    let run = preloaded(java(&java_bin, &dir, &errdir, "healthy")).run()?;
    for r in [&run, &control] {
        r.expect_code(0)?;
    }
    ensure!(
        run.stdout == control.stdout && run.stdout.starts_with("healthy: "),
        "the output differs: {:?} / {:?}",
        run.stdout,
        control.stdout
    );
    none_fatal(&run)?;
    let ratio = run.elapsed.as_secs_f64() / control.elapsed.as_secs_f64().max(1e-3);
    runner::note(format!(
        "jvm healthy: {:.2?} with faulthandler, {:.2?} without: {ratio:.2}x",
        run.elapsed, control.elapsed
    ));
    println!("    jvm healthy: {ratio:.2}x the time without faulthandler");
    // The goal is 1.1x; JVM start-up times vary more than that on a
    // shared CI machine, so only a gross slowdown fails here.
    let slow = ratio >= 2.0;
    ensure!(!slow, "{ratio:.2}x slower with faulthandler");
    Ok(())
}

/// A crate whose only test overflows its stack (no dependencies, so it
/// builds offline), in a scratch directory.
fn overflowing_crate() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("fh-cargo-overflow-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"overflow\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("src/lib.rs"),
        "#[inline(never)]\n#[allow(unconditional_recursion)]\npub fn down(n: u64) -> u64 {\n    let pad = [n; 64];\n    \
         std::hint::black_box(&pad);\n    down(n + 1) + pad[3]\n}\n\n#[test]\n\
         fn overflows() {\n    std::hint::black_box(down(0));\n}\n",
    )
    .map_err(|e| e.to_string())?;
    Ok(dir)
}

fn cargo_test_keeps_std_overflow_message(_: &Ctx) -> Check {
    let Some(_) = which("cargo") else {
        return skipped("cargo is not on the PATH");
    };
    let dir = overflowing_crate()?;
    let target = dir.join("target");
    let cargo = |r: Runner| {
        let mut r = r.timeout(std::time::Duration::from_secs(180));
        r.cmd().current_dir(&dir).env("CARGO_TARGET_DIR", &target);
        r
    };
    // Built once, outside both runs.
    let built = cargo(Runner::program(
        "cargo",
        &["test", "--offline", "-q", "--no-run"],
    ))
    .run()?;
    built.expect_code(0)?;
    let cli = common::cli();
    let with = cargo(Runner::program(
        &cli,
        &["run", "--", "cargo", "test", "--offline", "-q"],
    ));
    let without = cargo(Runner::program("cargo", &["test", "--offline", "-q"]));
    let (run, control) = runner::pair(with, without)?;
    let _ = std::fs::remove_dir_all(&dir);
    // cargo reports the test binary's SIGABRT and fails, with and without.
    ensure!(
        run.end == control.end,
        "{} vs {}",
        run.describe(),
        control.describe()
    );
    both_say([&run, &control], "thread 'overflows'")?;
    both_say([&run, &control], "has overflowed its stack")?;
    both_say([&run, &control], "SIGABRT")?;
    let reps = fatal_reports(&run);
    ensure!(
        reps.len() == 1 && reps[0].first_line.contains("stack overflow"),
        "our report of the overflow:\n{}",
        run.stderr
    );
    Ok(())
}

fn node_wasm_traps(_: &Ctx) -> Check {
    let Some(node) = which("node") else {
        return skipped("node is not installed");
    };
    let js = sources().join("wasm.js");
    let r = || Runner::program(&node, &[js.to_str().unwrap()]);
    let (run, control) = both(r(), r())?;
    run.expect_code(0)?;
    ensure!(
        run.stdout == control.stdout && run.stdout.trim() == "traps 1000",
        "{:?} / {:?}",
        run.stdout,
        control.stdout
    );
    none_fatal(&run)
}

fn node_kill_segv(_: &Ctx) -> Check {
    let Some(node) = which("node") else {
        return skipped("node is not installed");
    };
    let js = sources().join("wasm.js");
    let r = || Runner::program(&node, &[js.to_str().unwrap(), "kill"]);
    let (run, control) = both(r(), r())?;
    run.expect_signal(libc::SIGSEGV)?;
    both_say([&run, &control], "traps 1000")?;
    let rep = one_fatal(&run)?;
    ensure!(
        rep.first_line
            .starts_with("Fatal signal 11 (SIGSEGV): sent by pid "),
        "{:?}",
        rep.first_line
    );
    Ok(())
}

fn cpython_faulthandler(_: &Ctx) -> Check {
    let Some(py) = which("python3") else {
        return skipped("python3 is not installed");
    };
    let script = sources().join("crash.py");
    let r = || Runner::program(&py, &["-X", "faulthandler", script.to_str().unwrap()]);
    let (run, control) = both(r(), r())?;
    run.expect_signal(libc::SIGSEGV)?;
    both_say([&run, &control], "Fatal Python error: Segmentation fault")?;
    let rep = one_fatal(&run)?;
    // CPython re-raises the signal; our header keeps the original fault.
    ensure!(rep.first_line == NULL_FAULT, "{:?}", rep.first_line);
    let err = &run.stderr;
    ensure!(
        err.find("Fatal Python error").unwrap_or(usize::MAX)
            < err.find("Fatal signal").unwrap_or(0),
        "CPython's report comes first:\n{err}"
    );
    Ok(())
}

/// gcc's ASan runtime, and the fixture built with it.
fn asan() -> Result<Option<(PathBuf, PathBuf)>, String> {
    static BUILT: OnceLock<Result<Option<(PathBuf, PathBuf)>, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = common::scratch_dir("hosts-asan");
            let exe = dir.join("asan");
            let o = Runner::program(
                common::CC,
                &[
                    "-fsanitize=address",
                    "-g",
                    sources().join("asan.c").to_str().unwrap(),
                    "-o",
                    exe.to_str().unwrap(),
                ],
            )
            .run()?;
            if o.end != End::Exit(0) {
                return Ok(None);
            }
            let o = Runner::program(common::CC, &["-print-file-name=libasan.so"]).run()?;
            let rt = PathBuf::from(o.stdout.trim());
            Ok(rt.is_absolute().then_some((exe, rt)))
        })
        .clone()
}

fn asan_row(arg: &str, what: &str) -> Check {
    let Some((exe, rt)) = asan()? else {
        return skipped("the C compiler cannot build with -fsanitize=address");
    };
    // ASan's runtime must come first: `run` keeps it ahead of ours.
    let with = Runner::program(common::cli(), &["run", "--", exe.to_str().unwrap(), arg])
        .env("LD_PRELOAD", &rt);
    let without = Runner::program(&exe, &[arg]).env("LD_PRELOAD", &rt);
    let (run, control) = runner::pair(with, without)?;
    run.expect_code(1)?;
    both_say([&run, &control], what)?;
    ensure!(
        !run.stderr.contains("does not come first"),
        "ASan refused to start:\n{}",
        run.stderr
    );
    Ok(())
}

fn asan_heap_overflow(_: &Ctx) -> Check {
    asan_row("overflow", "ERROR: AddressSanitizer: heap-buffer-overflow")
}

fn asan_segv(_: &Ctx) -> Check {
    asan_row("segv", "ERROR: AddressSanitizer: SEGV on unknown address")
}

fn c_thread_overflow(c: &Ctx) -> Check {
    ensure!(
        fatal_reports(c.control()).is_empty(),
        "a report without faulthandler?"
    );
    let rep = one_fatal(c.run())?;
    ensure!(
        rep.first_line
            .starts_with("Fatal signal 11 (SIGSEGV): stack overflow at address "),
        "{:?}",
        rep.first_line
    );
    Ok(())
}

fn no_altstack_setup(r: Runner, control: bool) -> Runner {
    preload_setup(r, control).env("FAULTHANDLER_ALTSTACK", "0")
}

fn c_thread_overflow_without_altstack(c: &Ctx) -> Check {
    // As without us: no alternate stack, no room for any handler.
    none_fatal(c.run())
}

fn usr2_setup(r: Runner, control: bool) -> Runner {
    preload_setup(r, control).env("FAULTHANDLER_SIGNAL", "USR2")
}

fn dump_signal_shared(c: &Ctx) -> Check {
    both_say([c.run(), c.control()], "host: its own SIGUSR2 handler ran")?;
    ensure!(
        c.run()
            .stderr
            .contains("Dump requested by signal 12 (SIGUSR2) from pid "),
        "no dump:\n{}",
        c.run().stderr
    );
    Ok(())
}

/// The Go fixture (cgo), built once; Debian's golang-go is installed
/// when `go` is missing and apt-get can run (or the rows are skipped with
/// a visible line).
fn gohost() -> Result<Option<PathBuf>, String> {
    static BUILT: OnceLock<Result<Option<PathBuf>, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if which("go").is_none() {
                // SAFETY: geteuid cannot fail.
                if which("apt-get").is_none() || unsafe { libc::geteuid() } != 0 {
                    return Ok(None);
                }
                println!("    installing golang-go with apt-get for the Go rows");
                let o = Runner::program("apt-get", &["install", "-y", "golang-go"])
                    .timeout(Duration::from_secs(600))
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .run()?;
                if o.end != End::Exit(0) || which("go").is_none() {
                    return Ok(None);
                }
            }
            let dir = common::scratch_dir("hosts-go");
            let exe = dir.join("gohost");
            let o = Runner::program(
                which("go").unwrap(),
                &[
                    "build",
                    "-o",
                    exe.to_str().unwrap(),
                    sources().join("gohost.go").to_str().unwrap(),
                ],
            )
            .timeout(Duration::from_secs(300))
            .env("HOME", &dir)
            .env("GOCACHE", dir.join("cache"))
            .env("GO111MODULE", "off")
            .env("CGO_ENABLED", "1")
            .run()?;
            o.expect_code(0)?;
            Ok(Some(exe))
        })
        .clone()
}

fn go_nil_deref(_: &Ctx) -> Check {
    let Some(exe) = gohost()? else {
        return skipped("Go (golang-go) is not installed and could not be installed");
    };
    let (run, control) = both(
        Runner::program(&exe, &["nil"]),
        Runner::program(&exe, &["nil"]),
    )?;
    run.expect_code(2)?;
    both_say([&run, &control], "recovered: true")?;
    both_say(
        [&run, &control],
        "panic: runtime error: invalid memory address or nil pointer dereference",
    )?;
    none_fatal(&run)
}

fn go_c_crash(_: &Ctx) -> Check {
    let Some(exe) = gohost()? else {
        return skipped("Go (golang-go) is not installed and could not be installed");
    };
    let (run, control) = both(Runner::program(&exe, &["c"]), Runner::program(&exe, &["c"]))?;
    run.expect_code(2)?;
    both_say(
        [&run, &control],
        "fatal error: unexpected signal during runtime execution",
    )?;
    both_say([&run, &control], "goroutine 1 [")?;
    // Go's runtime ends the process itself (exit 2) from its handler:
    // no report of ours follows.
    none_fatal(&run)
}

const PROGRAMS: Case = Case {
    control: false,
    timeout: Duration::from_secs(120),
    ..CASE
};

const PRELOAD: Case = Case {
    setup: preload_setup,
    timeout: Duration::from_secs(20),
    ..CASE
};

const LIB: Case = Case {
    timeout: Duration::from_secs(20),
    ..CASE
};

#[rustfmt::skip]
static CASES: &[Case] = &[
    // A C host that fixes 16 mprotect faults itself, then crashes for real.
    Case { name: "lib_mprotect_host_handler_first", body: Some(b::mprotect_then_crash_host_first), expect: SEGV, check: mprotect_host, ..LIB },
    Case { name: "lib_mprotect_host_enable_first", body: Some(b::mprotect_then_crash_enable_first), expect: SEGV, check: mprotect_host_enable_first, ..LIB },
    // The same host in a vfork child, which shares our memory.
    Case { name: "lib_mprotect_host_in_vfork_child", body: Some(b::vfork_child_then_crash), expect: SEGV, check: vfork_child_host, ..LIB },
    // A crash reporter that puts back SIG_DFL and returns.
    Case { name: "lib_reporter_resets_and_returns", body: Some(b::reset_and_return), expect: SEGV, check: null_report_after_the_host, ..LIB },
    Case { name: "lib_reporter_resets_and_returns_enable_first", body: Some(b::reset_and_return_enable_first), expect: SEGV, check: |c| one_null_report(c).map(drop), ..LIB },
    // One that _exits: no report (documented).
    Case { name: "lib_handler_exits", body: Some(b::exits), expect: Some(End::Exit(child::EXIT_CODE)), check: no_report, ..LIB },
    // One that recovers with siglongjmp: nothing stale afterwards.
    Case { name: "lib_longjmp_then_abort", body: Some(b::longjmp_then_abort), expect: ABRT, check: after_longjmp_abort, ..LIB },
    Case { name: "lib_longjmp_then_crash", body: Some(b::longjmp_then_crash), expect: SEGV, check: after_longjmp_crash, ..LIB },
    // One that calls abort(): the report is the fault's.
    Case { name: "lib_handler_aborts", body: Some(b::aborts), expect: ABRT, check: aborted, ..LIB },
    // One that returns without fixing anything: the fault comes straight back.
    Case { name: "lib_handler_loops", body: Some(b::loops), expect: Some(End::Exit(child::LOOP_EXIT_CODE)), check: loops, ..LIB },
    // SA_RESETHAND: SIG_DFL once it ran.
    Case { name: "lib_resethand_returns", body: Some(b::resethand), expect: SEGV, check: null_report_after_the_host, ..LIB },
    // A sent SIGSEGV the host survives.
    Case { name: "lib_sent_signal_survived", body: Some(b::sent_signal), expect: Some(End::Exit(common::child::SURVIVED)), check: no_report, ..LIB },
    // report_first keeps the older order.
    Case { name: "lib_report_first", body: Some(b::report_first), expect: Some(End::Exit(child::EXIT_CODE)), check: report_first, ..LIB },
    // Rust std's own handler: its message, our report, SIGABRT.
    Case { name: "cargo_test_keeps_std_overflow_message", check: cargo_test_keeps_std_overflow_message, timeout: Duration::from_secs(400), ..PROGRAMS },
    Case { name: "rust_std_overflow_main", body: Some(b::std_overflow_main), expect: ABRT, check: std_overflow, ..LIB },
    Case { name: "rust_std_overflow_thread", body: Some(b::std_overflow_thread), expect: ABRT, check: std_overflow, ..LIB },
    Case { name: "rust_std_overflow_thread_during_warm_up", body: Some(b::std_overflow_thread_during_warm_up), expect: ABRT, check: std_overflow, ..LIB },
    // Under the preload (LD_PRELOAD=libfaulthandler.so FAULTHANDLER=1).
    Case { name: "preload_mprotect_host", body: Some(b::preloaded_mprotect_then_crash), expect: SEGV, check: mprotect_host, ..PRELOAD },
    Case { name: "preload_rust_std_overflow_main", body: Some(b::preloaded_std_overflow_main), expect: ABRT, check: std_overflow, ..PRELOAD },
    Case { name: "preload_rust_std_overflow_thread", body: Some(b::preloaded_std_overflow_thread), expect: ABRT, check: std_overflow, ..PRELOAD },
    // Every pthread_create'd thread gets an alternate stack.
    Case { name: "preload_c_thread_overflow", body: Some(b::preloaded_c_thread_overflow), expect: SEGV, check: c_thread_overflow, ..PRELOAD },
    Case { name: "preload_c_thread_overflow_altstack_off", body: Some(b::preloaded_c_thread_overflow), expect: SEGV, setup: no_altstack_setup, check: c_thread_overflow_without_altstack, ..PRELOAD },
    // The dump signal is shared: our dump and the program's own handler.
    Case { name: "preload_dump_signal_shared", body: Some(b::preloaded_usr2_shared), expect: Some(End::Exit(common::child::SURVIVED)), setup: usr2_setup, check: dump_signal_shared, ..PRELOAD },
    Case { name: "preload_jvm_jni_crash", check: jvm_jni_crash, ..PROGRAMS },
    Case { name: "preload_jvm_healthy_npe_and_stack_overflow_errors", check: jvm_healthy, ..PROGRAMS },
    Case { name: "preload_node_wasm_traps", check: node_wasm_traps, ..PROGRAMS },
    Case { name: "preload_node_kill_segv", check: node_kill_segv, ..PROGRAMS },
    Case { name: "preload_cpython_faulthandler", check: cpython_faulthandler, ..PROGRAMS },
    Case { name: "preload_go_nil_deref_stays_a_panic", check: go_nil_deref, ..PROGRAMS },
    Case { name: "preload_go_cgo_crash_keeps_go_fatal_error", check: go_c_crash, ..PROGRAMS },
    Case { name: "run_asan_heap_overflow", check: asan_heap_overflow, ..PROGRAMS },
    Case { name: "run_asan_segv", check: asan_segv, ..PROGRAMS },
];

fn main() {
    if std::env::var_os(common::runner::CHILD_ENV).is_some() {
        common::announce_process();
    }
    common::harness::main(CASES);
}
