//! Drop-in use: the `faulthandler run` and `dump` commands, LD_PRELOAD
//! settings from the environment, per-crash files, readiness, and a C
//! program that uses the C API through its header.
//!
//! Every scenario runs in child processes; each asserts the exact exit code
//! or terminating signal and the report's lines.

#[path = "../../tests/common/mod.rs"]
mod common;

use faulthandler_fixtures as _;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use common::{cli, fixture, Case, Check, Ctx, End, Report, Run, Runner, CASE};

fn library() -> PathBuf {
    common::c_library()
}

fn stderr(o: &Run) -> String {
    o.stderr.clone()
}

fn run_cli(args: &[&str]) -> Run {
    Runner::program(cli(), args).run().unwrap()
}

fn scratch_dir(tag: &str) -> PathBuf {
    common::scratch_dir(&format!("dropin-{tag}"))
}

/// `program ARGS` through the runner.
fn prog(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Runner {
    Runner::program(program, args)
}

/// A pipe (read end, write end), both close-on-exec.
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just created and nothing else owns them.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

fn signal(o: &Run) -> Option<i32> {
    o.end.signal()
}

fn code(o: &Run) -> Option<i32> {
    o.end.code()
}

/// The first line of the report, and a frame in the fixture's module.
fn assert_segv_report(err: &str, module: &str, addr: &str) {
    let rep = Report::first(err).unwrap_or_else(|e| panic!("{e} in:\n{err}"));
    assert_eq!(
        rep.first_line,
        format!(
            "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address {addr}"
        )
    );
    assert!(err.contains("\nCurrent thread "), "{err}");
    let f0 = &rep.current().unwrap().frames[0];
    assert!(
        f0.index == 0 && f0.line.starts_with("  #0  0x") && f0.line.contains(module),
        "frame #0 should be in {module}:\n{err}"
    );
    assert!(
        rep.has_modules_block && err.contains("\nModules:\n"),
        "{err}"
    );
}

const SPY_ACTIVE: &str = "malloc-spy: active";
const SPY_VIOLATION: &str = "malloc-spy: VIOLATION";

/// `exe_c_host` loading the library (and, the control, not loading it), at
/// once; both must end alike, of SIGSEGV.
fn c_host_pair(spy: bool) -> Result<(Run, Run), String> {
    let host = fixture("exe_c_host");
    let lib = library();
    let mut with = prog(&host, &[lib.to_str().unwrap()]);
    with.cmd().env_remove("LD_PRELOAD");
    let mut without = prog(&host, &[]);
    without.cmd().env_remove("LD_PRELOAD");
    let (with, without) = if spy {
        (with.malloc_spy(), without.malloc_spy())
    } else {
        (with, without)
    };
    let (run, control) = common::runner::pair(with, without)?;
    run.expect_signal(libc::SIGSEGV)?;
    Ok((run, control))
}

fn a_c_host_that_loads_the_library_gets_a_report(_: &Ctx) -> Check {
    let (run, _) = c_host_pair(false)?;
    assert_segv_report(&run.stderr, "exe_c_host +0x", "0x0000000000000010");
    Ok(())
}

fn a_c_host_report_makes_no_heap_call(_: &Ctx) -> Check {
    let (run, control) = c_host_pair(true)?;
    for r in [&run, &control] {
        assert!(
            r.stderr.contains(SPY_ACTIVE),
            "the malloc spy was not loaded"
        );
        assert!(
            !r.stderr.contains(SPY_VIOLATION),
            "a heap call: {}",
            r.stderr
        );
    }
    assert_segv_report(&run.stderr, "exe_c_host +0x", "0x0000000000000010");
    Ok(())
}

fn symbolize_help_and_usage_errors(_: &Ctx) -> Check {
    let cli = |args: &[&str]| Runner::program(common::cli(), args).run();
    let out = cli(&["symbolize", "--help"])?;
    out.expect_code(0)?;
    let help = out.stdout;
    assert!(
        help.starts_with("Usage: faulthandler symbolize [--debug-dir DIR]..."),
        "{help}"
    );
    assert!(
        help.contains("/usr/lib/debug/.build-id/xx/rest.debug"),
        "{help}"
    );
    cli(&["--bogus"])?.expect_code(2)?;
    let out = cli(&["symbolize", "--frobnicate"])?;
    out.expect_code(2)?;
    assert!(out.stderr.contains("unknown option \"--frobnicate\""));
    cli(&["symbolize", "/nonexistent/report.txt"])?.expect_code(1)?;
    // A file argument works like stdin; text that is not a report passes.
    let dir = scratch_dir("symbolize-cli");
    let f = dir.join("notes.txt");
    std::fs::write(&f, "hello\n  #0 is not a frame\nbye").unwrap();
    let out = cli(&["symbolize", f.to_str().unwrap()])?;
    out.expect_code(0)?;
    assert_eq!(out.stdout, "hello\n  #0 is not a frame\nbye");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A frame line of `exe_dropin` at its `main`, and the file's build-id.
fn dropin_main_frame() -> Result<(PathBuf, String, String), String> {
    let exe = std::fs::canonicalize(fixture("exe_dropin")).map_err(|e| e.to_string())?;
    let table = common::elf::functions(&exe)?;
    let (main, _) = *table.get("main").ok_or("no main in exe_dropin")?;
    let path = exe.to_string_lossy().into_owned();
    let frame = format!(
        "  #1  0x{:016x} in main+0x4 ({path} +0x{:x})",
        0x5555_0000_0000u64 + main + 4,
        main + 4
    );
    let id = common::elf::build_id_hex(&exe)?;
    Ok((exe, frame, id))
}

/// A report cut before its Modules block has no build-ids: its modules
/// are used only with --trust-paths, and the frame says so either way.
fn symbolize_without_build_ids_needs_trust_paths(_: &Ctx) -> Check {
    let (exe, frame, id) = dropin_main_frame()?;
    let path = exe.to_string_lossy().into_owned();
    let cut = format!(
        "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR)\n\
         Current thread 1 \"x\" (most recent call first):\n{frame}\n\
         the report was cut short: signal 11 (SIGSEGV) inside the handler\n"
    );
    let run = |args: &[&str]| {
        Runner::program(cli(), args)
            .input(cut.clone().into_bytes())
            .timeout(Duration::from_secs(30))
            .run()
    };
    let out = run(&["symbolize", "--no-system-debug-dir"])?;
    out.expect_code(0)?;
    let line = out.stdout.lines().nth(2).unwrap_or("").to_string();
    assert!(
        line.starts_with(&frame)
            && line.contains(&format!(
                "[symbolize: the report gives no build-id for {path}"
            ))
            && line.contains("--trust-paths"),
        "without a build-id the file must not be used: {line:?}"
    );
    let out = run(&["symbolize", "--no-system-debug-dir", "--trust-paths"])?;
    out.expect_code(0)?;
    let line = out.stdout.lines().nth(2).unwrap_or("").to_string();
    assert!(
        line.contains(" at ") && line.contains("exe_dropin.c:"),
        "--trust-paths uses the file: {line:?}"
    );
    assert!(
        line.ends_with(&format!(
            "[symbolize: {path} used without a build-id check (--trust-paths)]"
        )),
        "and says it was not checked: {line:?}"
    );
    // With the Modules block, the build-id is checked and nothing is said.
    let full =
        format!("{cut}\nModules:\n  0x0000555500000000-0x0000555500100000 {path} build-id {id}\n")
            .replace(
                "the report was cut short: signal 11 (SIGSEGV) inside the handler\n",
                "",
            );
    let out = Runner::program(cli(), &["symbolize", "--no-system-debug-dir"])
        .input(full.into_bytes())
        .timeout(Duration::from_secs(30))
        .run()?;
    out.expect_code(0)?;
    let line = out.stdout.lines().nth(2).unwrap_or("").to_string();
    assert!(
        line.contains("exe_dropin.c:") && !line.contains("[symbolize:"),
        "{line:?}"
    );
    Ok(())
}

/// A module path that is a FIFO, a device or a huge sparse file is refused
/// at once (it used to hang, or be read whole), and the frame says why.
fn symbolize_reads_regular_files_only(_: &Ctx) -> Check {
    let dir = scratch_dir("symbolize-special");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let sparse = dir.join("sparse");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(20 << 30).unwrap();
    drop(f);
    let paths = [
        fifo.to_str().unwrap().to_string(),
        "/dev/zero".to_string(),
        "/dev/urandom".to_string(),
        sparse.to_str().unwrap().to_string(),
        dir.to_str().unwrap().to_string(),
    ];
    let mut report = String::from("Current thread 1 \"x\" (most recent call first):\n");
    for (i, p) in paths.iter().enumerate() {
        report.push_str(&format!(
            "  #{i}  0x0000000000001000 in f+0x1 ({p} +0x1000)\n"
        ));
    }
    report.push_str("\nModules:\n");
    for p in &paths {
        report.push_str(&format!(
            "  0x0000000000000000-0x0000000000100000 {p} build-id 0123456789abcdef\n"
        ));
    }
    let t = std::time::Instant::now();
    let out = Runner::program(cli(), &["symbolize", "--no-system-debug-dir"])
        .input(report.into_bytes())
        .timeout(Duration::from_secs(20))
        .run()?;
    out.expect_code(0)?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    let want = [
        "is a FIFO, not read",
        "/dev/zero is a device, not read",
        "/dev/urandom is a device, not read",
        "is 21474836480 bytes, over the 8589934592-byte limit, not read",
        "is a directory, not read",
    ];
    for (i, w) in want.iter().enumerate() {
        let l = lines.get(i + 1).copied().unwrap_or("");
        assert!(
            l.contains(w) && l.contains("[symbolize: "),
            "frame #{i}: {l:?}"
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn dump_refuses_crash_signals_before_sending_anything(_: &Ctx) -> Check {
    // A healthy target whose crash handler catches SEGV, ABRT and BUS: the
    // readiness check alone would say "catches it", and the signal would
    // kill it. Refused, with exit 2, and the target lives on.
    let exe = fixture("exe_dropin");
    let mut child = prog(&exe, &["sleep"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .spawn()?;
    let pid = child.pid().to_string();
    for sig in ["SEGV", "ABRT", "BUS", "11", "KILL", "STOP"] {
        let o = run_cli(&["dump", &pid, "--signal", sig, "--wait-ready", "2"]);
        o.expect_code(2)?;
        assert!(
            o.stderr.contains("--signal takes ") && o.stderr.contains("not a crash signal"),
            "{sig}: {}",
            o.stderr
        );
        assert!(!o.stderr.contains("sent"), "{sig}: {}", o.stderr);
    }
    // Nor is the collection signal (the lowest real-time one it catches),
    // which the target takes without dumping anything.
    let rt = libc::SIGRTMIN().to_string();
    let o = run_cli(&["dump", &pid, "--signal", &rt, "--wait-ready", "2"]);
    o.expect_code(2)?;
    assert!(
        o.stderr.contains("faulthandler uses inside process") && o.stderr.contains("not sent"),
        "{rt}: {}",
        o.stderr
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.is_running(), "the target must be alive");
    child.kill()?;
    Ok(())
}

fn version_and_help_for_each_command(_: &Ctx) -> Check {
    let out = run_cli(&["--version"]);
    out.expect_code(0)?;
    assert_eq!(
        out.stdout,
        format!("faulthandler {}\n", env!("CARGO_PKG_VERSION"))
    );
    for cmd in ["run", "dump", "symbolize"] {
        let via_help = run_cli(&["help", cmd]);
        via_help.expect_code(0)?;
        let via_flag = run_cli(&[cmd, "--help"]);
        via_flag.expect_code(0)?;
        assert!(
            via_help
                .stdout
                .starts_with(&format!("Usage: faulthandler {cmd} ")),
            "{}",
            via_help.stdout
        );
        assert_eq!(via_help.stdout, via_flag.stdout);
    }
    let out = run_cli(&["help", "frobnicate"]);
    out.expect_code(2)?;
    assert!(
        out.stderr.contains("no command \"frobnicate\""),
        "{}",
        out.stderr
    );
    Ok(())
}

fn run_finds_its_preload_object_and_the_lib_overrides(_: &Ctx) -> Check {
    // Next to the command, as `cargo install` puts them (the test install
    // dir holds the command and faulthandler-preload, no libfaulthandler.so).
    let exe = fixture("exe_dropin");
    let o = Runner::program(cli(), &["run", "--", exe.to_str().unwrap(), "segv"])
        .env("FAULTHANDLER_LIB", "")
        .run()?;
    o.expect_signal(libc::SIGSEGV)?;
    assert_segv_report(&o.stderr, "exe_dropin +0x", "0x0000000000000000");
    // FAULTHANDLER_LIB and --lib name another library; a missing one is
    // refused, and the program does not run without us.
    let o = Runner::program(cli(), &["run", "--", exe.to_str().unwrap(), "segv"])
        .env("FAULTHANDLER_LIB", "/nonexistent/libfaulthandler.so")
        .run()?;
    o.expect_code(2)?;
    assert!(o.stdout.is_empty(), "the program ran: {}", o.stdout);
    let o = run_cli(&[
        "run",
        "--lib",
        library().to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "segv",
    ]);
    o.expect_signal(libc::SIGSEGV)?;
    assert_segv_report(&o.stderr, "exe_dropin +0x", "0x0000000000000000");
    // A path that LD_PRELOAD cannot carry is refused.
    let dir = scratch_dir("spaced lib");
    let spaced = dir.join("lib faulthandler.so");
    std::fs::copy(common::preload_lib(), &spaced).unwrap();
    let o = run_cli(&[
        "run",
        "--lib",
        spaced.to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "segv",
    ]);
    o.expect_code(2)?;
    assert!(o.stderr.contains("LD_PRELOAD cannot carry"), "{}", o.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn enabling_does_not_stop_a_debugger(_: &Ctx) -> Check {
    if Runner::program("gdb", &["--version"]).run().is_err() {
        println!("SKIPPED enabling_does_not_stop_a_debugger: no gdb on this machine");
        return Ok(());
    }
    // gdb stops on SIGSEGV, SIGBUS, SIGUSR1 and real-time signals, and
    // passes SIGVTALRM on silently: enable()'s warm-up must not stop it.
    let exe = fixture("exe_dropin");
    let mut r = Runner::program(
        "gdb",
        &[
            "-batch",
            "-nx",
            "-ex",
            &format!("set environment LD_PRELOAD {}", library().display()),
            "-ex",
            "set environment FAULTHANDLER 1",
            // A bad value: its warning proves the library enabled itself.
            "-ex",
            "set environment FAULTHANDLER_MAX_FRAMES 0",
            "-ex",
            "run",
            "--args",
            exe.to_str().unwrap(),
        ],
    );
    r.cmd().env_remove("LD_PRELOAD");
    let o = r.run()?;
    o.expect_code(0)?;
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(!all.contains("received signal"), "gdb stopped:\n{all}");
    assert!(all.contains("exited normally"), "{all}");
    assert!(
        all.contains("faulthandler: ignoring FAULTHANDLER_MAX_FRAMES"),
        "the library did not run under gdb:\n{all}"
    );
    Ok(())
}

fn run_reports_a_crash_and_dies_of_the_same_signal(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let o = run_cli(&["run", "--", exe.to_str().unwrap(), "segv"]);
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{}", stderr(&o));
    assert_eq!(o.stdout, "dropin: segv\n");
    assert_segv_report(&stderr(&o), "exe_dropin +0x", "0x0000000000000000");
    Ok(())
}

/// Reads a JSON-lines report on stdin with Python's own parser: every
/// non-empty line must be one JSON object; prints what the test checks.
const PY_JSON_CHECK: &str = r#"
import json, sys
reports = []
for line in sys.stdin.read().splitlines():
    if not line:
        continue
    v = json.loads(line)
    assert isinstance(v, dict), line
    reports.append(v)
assert len(reports) == 1, len(reports)
r = reports[0]
cur = r["threads"][0]
assert cur["current"] is True
f0 = cur["frames"][0]
print(r["kind"], r["signal"]["name"], r["signal"]["code"], r["signal"]["address"])
print(f0["n"], f0["name"], f0["module"].rsplit("/", 1)[-1], int(f0["module_offset"], 16) > 0)
print(cur["tid"] == r["process"]["pid"], len(r["modules"]) >= 2)
print(any(m["path"].endswith("/exe_dropin") and m["build_id"] for m in r["modules"]))
"#;

fn run_format_json_gives_one_json_object_that_python_parses(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let o = run_cli(&[
        "run",
        "--format",
        "json",
        "--",
        exe.to_str().unwrap(),
        "segv",
    ]);
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{}", stderr(&o));
    assert_eq!(o.stdout, "dropin: segv\n");
    let e = stderr(&o);
    assert!(e.starts_with('{') && e.ends_with("}\n"), "{e}");
    let py = prog("python3", &["-c", PY_JSON_CHECK])
        .input(e.clone())
        .run()
        .unwrap();
    assert_eq!(code(&py), Some(0), "python3: {}\n{e}", py.stderr);
    let lines: Vec<&str> = py.stdout.lines().collect();
    assert_eq!(
        lines[0], "fatal SIGSEGV SEGV_MAPERR 0x0000000000000000",
        "{e}"
    );
    assert!(
        lines[1].starts_with("0 ") && lines[1].ends_with(" exe_dropin True"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2..], ["True True", "True"], "{e}");
    // serde_json reads the same.
    let rep = common::json::report(&e)?;
    assert_eq!(rep["signal"]["address"], "0x0000000000000000");
    // `text` is the default, said out loud.
    let o = run_cli(&[
        "run",
        "--format",
        "text",
        "--",
        exe.to_str().unwrap(),
        "segv",
    ]);
    assert_segv_report(&stderr(&o), "exe_dropin +0x", "0x0000000000000000");
    Ok(())
}

fn the_c_api_sets_the_json_format(_: &Ctx) -> Check {
    let exe = link_c_api_user("capi_user");
    let o = prog(&exe, &["json"]).run().unwrap();
    let e = stderr(&o);
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{e}");
    assert!(e.starts_with("capi: enabled\n{"), "{e}");
    let rep = common::json::report(&e)?;
    assert_eq!(rep["kind"], "fatal");
    assert_eq!(rep["signal"]["address"], "0x0000000000000010");
    let f0 = &common::json::current_thread(&rep)?["frames"][0];
    assert!(
        f0["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("capi_crash_here")),
        "{f0}"
    );
    assert!(
        f0["module"]
            .as_str()
            .is_some_and(|m| m.ends_with("/capi_user")),
        "{f0}"
    );
    Ok(())
}

fn run_passes_the_exit_code_through(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let o = run_cli(&["run", "--", exe.to_str().unwrap(), "exit3"]);
    assert_eq!(code(&o), Some(3));
    assert!(!stderr(&o).contains("Fatal signal"), "{}", stderr(&o));
    let o = run_cli(&["run", "--", "true"]);
    assert_eq!(code(&o), Some(0));
    Ok(())
}

fn run_becomes_the_program_so_its_pid_takes_dump_requests(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let mut child = prog(
        cli(),
        &[
            "run",
            "--signal",
            "USR1",
            "--",
            exe.to_str().unwrap(),
            "sleep",
        ],
    )
    .spawn()
    .unwrap();
    let pid = child.pid().to_string();
    let o = run_cli(&["dump", &pid, "--signal", "USR1", "--wait-ready", "5"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let seen = child.wait_for_line("Process ", 15).unwrap();
    assert!(
        seen.last()
            .unwrap()
            .starts_with(&format!("Process {pid} \"exe_dropin\"")),
        "{seen:?}"
    );
    child.wait_for_line("Modules:", 15).unwrap();
    assert!(child.is_running(), "the program lives on");
    assert_eq!(child.kill().unwrap().end.signal(), Some(libc::SIGKILL));
    Ok(())
}

fn run_refuses_bad_options_with_exit_2(_: &Ctx) -> Check {
    for (args, needle) in [
        (&["run", "--signal", "BOGUS", "--", "true"][..], "--signal"),
        (
            &["run", "--max-frames", "0", "--", "true"][..],
            "--max-frames",
        ),
        (
            &["run", "--all-threads", "2", "--", "true"][..],
            "--all-threads",
        ),
        (&["run", "--timeout", "-1", "--", "true"][..], "--timeout"),
        (
            &["run", "--format", "xml", "--", "true"][..],
            "--format takes text or json",
        ),
        (&["run"][..], "needs a command"),
        (
            &["run", "--lib", "/nonexistent.so", "--", "true"][..],
            "cannot find",
        ),
        (&["frobnicate"][..], "unknown command"),
    ] {
        let o = run_cli(args);
        assert_eq!(code(&o), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(
            e.starts_with("faulthandler: ") && e.contains(needle),
            "{args:?}: {e}"
        );
    }
    for sub in ["run", "dump"] {
        let o = run_cli(&[sub, "--help"]);
        assert_eq!(code(&o), Some(0));
        let help = o.stdout;
        assert!(
            help.starts_with(&format!("Usage: faulthandler {sub}")),
            "{help}"
        );
        assert!(help.contains("Example:"), "{help}");
    }
    Ok(())
}

fn an_exec_with_the_same_pid_takes_the_report_file_over(_: &Ctx) -> Check {
    // The first image creates r-PID.txt, then execs (same pid); the new
    // image finds its own file there, empty, and keeps using it: no
    // "already exists" refusal, and its crash lands in the file.
    let dir = scratch_dir("exec-same-pid");
    let template = dir.join("r-%p.txt");
    let script = "exec sh -c 'kill -SEGV $$'";
    let control = common::runner::Runner::program("sh", &["-c", script]).run()?;
    let o = run_cli(&[
        "run",
        "--file",
        template.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(signal(&o), signal(&control), "{}", stderr(&o));
    assert_eq!(signal(&o), Some(libc::SIGSEGV));
    assert!(!stderr(&o).contains("already exists"), "{}", stderr(&o));
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let report = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        report.starts_with("Fatal signal 11 (SIGSEGV): sent by pid "),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn report_file_is_0600_and_an_empty_one_is_removed(_: &Ctx) -> Check {
    let dir = scratch_dir("file");
    let template = dir.join("crash-%e-%p.txt");
    let exe = fixture("exe_dropin");
    let o = run_cli(&[
        "run",
        "--file",
        template.to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "ok",
    ]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "an empty report file was left: {left:?}");

    let o = run_cli(&[
        "run",
        "--file",
        template.to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "segv",
    ]);
    assert_eq!(signal(&o), Some(libc::SIGSEGV));
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("crash-exe_dropin-") && name.ends_with(".txt"),
        "{name}"
    );
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let report = std::fs::read_to_string(&files[0]).unwrap();
    assert_segv_report(&report, "exe_dropin +0x", "0x0000000000000000");
    assert!(report.ends_with('\n'));
    // The report also went to stderr.
    assert_segv_report(&stderr(&o), "exe_dropin +0x", "0x0000000000000000");
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

fn a_planted_symlink_is_refused_and_the_host_still_runs(_: &Ctx) -> Check {
    let dir = scratch_dir("link");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = dir.join("report");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let exe = fixture("exe_dropin");
    let o = run_cli(&[
        "run",
        "--file",
        link.to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "segv",
    ]);
    assert_eq!(signal(&o), Some(libc::SIGSEGV));
    let e = stderr(&o);
    assert!(
        e.lines().any(
            |l| l.starts_with("faulthandler: refusing to write the report to")
                && l.contains("symbolic link")
        ),
        "{e}"
    );
    // Reports fall back to stderr; the link's target is untouched.
    assert_segv_report(&e, "exe_dropin +0x", "0x0000000000000000");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

fn a_missing_directory_is_a_clear_error(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let o = run_cli(&[
        "run",
        "--file",
        "/nonexistent-dir/crash-%p",
        "--",
        exe.to_str().unwrap(),
        "ok",
    ]);
    assert_eq!(code(&o), Some(0));
    let e = stderr(&o);
    assert!(
        e.contains("directory /nonexistent-dir does not exist"),
        "{e}"
    );
    Ok(())
}

fn two_processes_with_one_template_get_distinct_files_or_a_clear_error(_: &Ctx) -> Check {
    let dir = scratch_dir("race");
    // No %p: two processes in the same second collide on the name.
    let template = dir.join("crash-%t");
    let exe = fixture("exe_dropin");
    let spawn = || {
        let args = [
            "run",
            "--file",
            template.to_str().unwrap(),
            "--",
            exe.to_str().unwrap(),
            "segv",
        ];
        prog(cli(), &args).spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = common::runner::wait_both(a, b).unwrap();
    let outs = [a, b];
    let files = std::fs::read_dir(&dir).unwrap().count();
    let refused = outs
        .iter()
        .filter(|o| stderr(o).contains("already exists there"))
        .count();
    assert_eq!(files + refused, 2, "files {files}, refused {refused}");
    for o in &outs {
        assert_eq!(signal(o), Some(libc::SIGSEGV));
        assert!(
            stderr(o).contains("Fatal signal 11 (SIGSEGV)"),
            "{}",
            stderr(o)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

fn bad_environment_values_warn_once_and_the_host_runs_normally(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let o = prog(&exe, &["ok"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_MAX_FRAMES", "lots")
        .env("FAULTHANDLER_SIGNAL", "NOPE")
        .env("FAULTHANDLER_FORMAT", "xml")
        .run()
        .unwrap();
    assert_eq!(code(&o), Some(0));
    assert_eq!(o.stdout, "dropin: ok\n");
    let e = stderr(&o);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines.contains(
            &"faulthandler: ignoring FAULTHANDLER_FORMAT=\"xml\": expected text or json (reports stay text)"
        ),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("FAULTHANDLER_MAX_FRAMES=\"lots\"")),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("FAULTHANDLER_SIGNAL=\"NOPE\"")),
        "{e}"
    );
    // Still protected with the defaults.
    let o = prog(&exe, &["segv"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_MAX_FRAMES", "lots")
        .run()
        .unwrap();
    assert_eq!(signal(&o), Some(libc::SIGSEGV));
    assert_segv_report(&stderr(&o), "exe_dropin +0x", "0x0000000000000000");
    Ok(())
}

fn preloading_without_the_switch_changes_nothing(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let mut r = prog(&exe, &["segv"]).env("LD_PRELOAD", library());
    r.cmd().env_remove("FAULTHANDLER");
    let o = r.run().unwrap();
    assert_eq!(signal(&o), Some(libc::SIGSEGV));
    assert_eq!(stderr(&o), "");
    Ok(())
}

/// Make `fd` the child's fd 7 (what `FAULTHANDLER_READY_FD=7` names).
fn give_fd_7(cmd: &mut std::process::Command, fd: &impl std::os::fd::AsRawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: dup2 in the child between fork and exec is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it instead.
            let r = if raw == 7 {
                libc::fcntl(7, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 7)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn a_library_dlopened_with_the_switch_on_enables_itself_without_stalling(_: &Ctx) -> Check {
    // The constructor runs inside dlopen, under the loader lock: it must
    // not wait for the threads it starts (they cannot start until dlopen
    // returns), or the host hangs.
    let host = fixture("exe_c_host");
    let start = std::time::Instant::now();
    let mut r = prog(&host, &[]).env("FAULTHANDLER", "1");
    r.cmd().arg(library());
    let o = r.run().unwrap();
    let took = start.elapsed();
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Fatal signal 11 (SIGSEGV)"),
        "{}",
        stderr(&o)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    Ok(())
}

fn readiness_fd_gets_ready_then_eof(_: &Ctx) -> Check {
    let (mut reader, writer) = pipe();
    let exe = fixture("exe_dropin");
    let mut r = prog(&exe, &["ok"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_READY_FD", "7");
    give_fd_7(r.cmd(), &writer);
    let child = r.spawn().unwrap();
    drop(writer);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut reader, &mut got).unwrap();
    assert_eq!(got, "ready\n");
    assert_eq!(child.wait().unwrap().end, End::Exit(0));
    Ok(())
}

fn dump_refuses_a_process_that_would_be_killed(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let mut child = prog(&exe, &["sleep"]).spawn().unwrap();
    let pid = child.pid().to_string();
    let o = run_cli(&["dump", &pid, "--signal", "USR1"]);
    assert_eq!(code(&o), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("does not catch SIGUSR1") && e.contains("not sent"),
        "{e}"
    );
    let o = run_cli(&["dump", &pid, "--signal", "USR1", "--wait-ready", "0.3"]);
    assert_eq!(code(&o), Some(2));
    std::thread::sleep(Duration::from_millis(50));
    assert!(child.is_running(), "the target must be alive");
    child.kill().unwrap();
    let o = run_cli(&["dump", "999999999"]);
    assert_eq!(code(&o), Some(2));
    Ok(())
}

/// Link a `c-fixtures/capi_*.c` object (compiled by build.rs) against the
/// freshly built `libfaulthandler.so`.
fn link_c_api_user(name: &str) -> PathBuf {
    link_c_api_user_as(name, name)
}

/// [`link_c_api_user`] to output file `out_name`: cases run two at a time,
/// and one relinking a program another one runs gets ETXTBSY.
fn link_c_api_user_as(name: &str, out_name: &str) -> PathBuf {
    let dir = common::c_library_dir();
    let out = dir.join(out_name);
    let mut cc = prog(common::CC, &[]);
    cc.cmd()
        .arg(fixture(&format!("{name}.o")))
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", dir.display()))
        .arg("-lfaulthandler")
        // DT_RPATH (not RUNPATH): it wins over the LD_LIBRARY_PATH that
        // cargo sets, which may name an older copy of the library.
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", dir.display()));
    let r = cc.run().unwrap();
    assert_eq!(
        r.end,
        End::Exit(0),
        "linking {name} failed: {}",
        r.describe()
    );
    out
}

fn a_c_program_uses_the_header_and_the_shared_library(_: &Ctx) -> Check {
    let exe = link_c_api_user("capi_user");
    let o = prog(&exe, &["exit"]).run().unwrap();
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let o = prog(&exe, &[]).run().unwrap();
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("capi: enabled\n"), "{e}");
    assert_segv_report(&e, "capi_user +0x", "0x0000000000000010");
    assert!(
        e.lines()
            .any(|l| l.starts_with("  #0  ") && l.contains(" in capi_crash_here+0x")),
        "{e}"
    );
    Ok(())
}

/// faulthandler_set(): the environment's settings (a file template here),
/// checked by the same validator; bad ones are EINVAL (the fixture checks).
fn the_c_api_takes_the_environments_settings(_: &Ctx) -> Check {
    let exe = link_c_api_user_as("capi_user", "capi_user_set");
    let dir = std::env::temp_dir().join(format!("fh-capi-set-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("crash-%p.txt");
    let o = prog(&exe, &["file", template.to_str().unwrap()])
        .run()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{e}");
    let pid = child_pid_of(&e);
    let file = dir.join(format!("crash-{pid}.txt"));
    let text = std::fs::read_to_string(&file);
    let _ = std::fs::remove_dir_all(&dir);
    let text = text.unwrap_or_else(|err| panic!("{}: {err}\n{e}", file.display()));
    assert_segv_report(&text, "capi_user_set +0x", "0x0000000000000010");
    Ok(())
}

fn the_c_api_dumps_on_a_signal_on_request_and_on_a_timer(_: &Ctx) -> Check {
    let exe = link_c_api_user_as("capi_user", "capi_user_dumps");
    let child = prog(&exe, &["dumps"]).run().unwrap();
    let e = stderr(&child);
    assert_eq!(code(&child), Some(0), "{e}");
    let pid = child_pid_of(&e);
    let lines: Vec<&str> = e.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{e}"))
    };
    let signal = at(&format!(
        "Dump requested by signal 10 (SIGUSR1) from pid {pid}"
    ));
    let code = at("Stack dump requested");
    let timer = at("Timeout (0:00:00.100)!");
    assert!(signal < at("capi: code dump") && at("capi: code dump") < code);
    assert!(code < timer && timer < at("capi: dumps done"), "{e}");
    // Each dump shows the main thread, in the C program's own function.
    assert!(e.matches("\nCurrent thread ").count() >= 1, "{e}");
    assert!(e.contains(" in main+0x"), "{e}");
    assert_eq!(e.matches("\nModules:\n").count(), 3, "{e}");
    // The code dump's frame #0 is its caller, the C program's main, not
    // the C API's wrapper.
    let dump = Report::parse_all(&e)
        .into_iter()
        .find(|r| r.kind == Some(common::report::Kind::StackDump))
        .unwrap_or_else(|| panic!("no code dump in:\n{e}"));
    let f0 = &dump.current()?.frames[0];
    assert_eq!(f0.name, "main", "{}", dump.text);
    let p = dump.process.as_ref().expect("a Process line");
    assert!(
        p.time.is_some() && dump.command_line.is_some(),
        "{}",
        dump.text
    );
    Ok(())
}

/// The pid in the report's `Process PID "NAME"` line.
fn child_pid_of(report: &str) -> u32 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("Process "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no Process line in:\n{report}"))
}

fn dump_waits_for_a_late_handler_and_refuses_without_waiting(_: &Ctx) -> Check {
    let exe = link_c_api_user("capi_late_register");
    // Without --wait-ready, the request comes before the handler: refused.
    let mut early = prog(&exe, &[]).spawn().unwrap();
    let o = run_cli(&["dump", &early.pid().to_string(), "--signal", "USR1"]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not catch SIGUSR1"),
        "{}",
        stderr(&o)
    );
    assert!(early.is_running(), "the target must be alive");
    early.kill().unwrap();

    // With --wait-ready 5, the request waits for the handler: a dump, and
    // the target lives on.
    let mut late = prog(&exe, &[]).spawn().unwrap();
    let o = run_cli(&[
        "dump",
        &late.pid().to_string(),
        "--signal",
        "USR1",
        "--wait-ready",
        "5",
    ]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("sent SIGUSR1"), "{}", stderr(&o));
    let seen = late
        .wait_for_line("Dump requested by signal 10 (SIGUSR1) from pid ", 15)
        .unwrap();
    assert!(seen.iter().any(|l| l == "late: registered"), "{seen:?}");
    late.wait_for_line("Modules:", 15).unwrap();
    assert!(late.is_running(), "the target must survive the dump");
    late.kill().unwrap();
    Ok(())
}

fn preloaded_signal_and_timeout_variables_dump_and_the_host_lives_on(_: &Ctx) -> Check {
    let (mut ready_r, ready_w) = pipe();
    let exe = fixture("exe_dropin");
    let mut r = prog(&exe, &["sleep"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_SIGNAL", "USR2")
        .env("FAULTHANDLER_TIMEOUT", "0.5")
        .env("FAULTHANDLER_READY_FD", "7");
    give_fd_7(r.cmd(), &ready_w);
    let mut child = r.spawn().unwrap();
    drop(ready_w);
    let mut ready = String::new();
    std::io::Read::read_to_string(&mut ready_r, &mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    // The handler is in before `ready`: the request cannot kill it.
    let o = run_cli(&["dump", &child.pid().to_string(), "--signal", "USR2"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    child
        .wait_for_line("Dump requested by signal 12 (SIGUSR2) from pid ", 15)
        .unwrap();
    child.wait_for_line("Timeout (0:00:00.500)!", 15).unwrap();
    child.wait_for_line("Modules:", 15).unwrap();
    assert!(child.is_running(), "the host must live on");
    child.kill().unwrap();
    Ok(())
}

/// The watchdog's repeat and exit, and the limits, through the preload's
/// environment: two dumps 0.2 s apart, then the process exits with 1.
fn preloaded_watchdog_repeat_and_exit(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    let o = prog(&exe, &["sleep"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_TIMEOUT", "0.2")
        .env("FAULTHANDLER_TIMEOUT_REPEAT", "1")
        .env("FAULTHANDLER_TIMEOUT_EXIT", "1")
        .env("FAULTHANDLER_MAX_THREADS", "2")
        .env("FAULTHANDLER_THREAD_TIMEOUT", "0.05")
        .env("FAULTHANDLER_WRITE_TIMEOUT", "1")
        .env("FAULTHANDLER_REPORT_FIRST", "0")
        .run()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(code(&o), Some(1), "exit after the dump: {e}");
    assert!(!e.contains("ignoring"), "{e}");
    let timeouts: Vec<_> = Report::parse_all(&e)
        .into_iter()
        .filter(|r| r.first_line == "Timeout (0:00:00.200)!")
        .collect();
    assert_eq!(timeouts.len(), 1, "exit comes with the first dump: {e}");
    // Repeat without exit: a dump every 0.2 s, the host lives on.
    let child = prog(&exe, &["sleep"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_TIMEOUT", "0.2")
        .env("FAULTHANDLER_TIMEOUT_REPEAT", "1")
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(900));
    let o = child.kill().unwrap();
    let n = stderr(&o).matches("Timeout (0:00:00.200)!\n").count();
    assert!(n >= 2, "{n} dumps with repeat: {}", stderr(&o));
    // Bad values: one warning each, the host runs on.
    let o = prog(&exe, &["ok"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_MAX_THREADS", "0")
        .env("FAULTHANDLER_THREAD_TIMEOUT", "x")
        .env("FAULTHANDLER_TIMEOUT_REPEAT", "yes")
        .run()
        .unwrap();
    assert_eq!(code(&o), Some(0));
    let e = stderr(&o);
    assert_eq!(e.matches("faulthandler: ignoring ").count(), 3, "{e}");
    Ok(())
}

fn the_readiness_variable_is_used_once_and_never_names_stdio(_: &Ctx) -> Check {
    let exe = fixture("exe_dropin");
    // Used once, then taken out of the environment: a child of the program
    // (here the program itself, reading its environment after the
    // constructor) never repeats the handshake on an unrelated fd 7.
    let (mut ready_r, ready_w) = pipe();
    let mut r = prog(&exe, &["env"])
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_READY_FD", "7");
    give_fd_7(r.cmd(), &ready_w);
    let child = r.spawn()?;
    drop(ready_w);
    let mut ready = String::new();
    std::io::Read::read_to_string(&mut ready_r, &mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let o = child.wait()?;
    o.expect_code(0)?;
    assert_eq!(
        o.stdout, "dropin: env\ndropin: FAULTHANDLER_READY_FD=(unset)\n",
        "{}",
        o.stderr
    );
    // stdin, stdout and stderr are refused: closing one after `ready`
    // could lose the program's output or the report.
    for fd in ["0", "1", "2"] {
        let o = prog(&exe, &["env"])
            .env("LD_PRELOAD", library())
            .env("FAULTHANDLER", "1")
            .env("FAULTHANDLER_READY_FD", fd)
            .run()?;
        o.expect_code(0)?;
        assert!(
            o.stderr.contains(&format!(
                "faulthandler: ignoring FAULTHANDLER_READY_FD=\"{fd}\""
            )),
            "{fd}: {}",
            o.stderr
        );
        assert!(
            o.stdout.starts_with("dropin: env\n"),
            "{fd}: stdout lost: {:?}",
            o.stdout
        );
    }
    Ok(())
}

fn python_ctypes_crash_under_run(_: &Ctx) -> Check {
    let Some(python) = find_in_path("python3") else {
        eprintln!("skipped: python3 is not installed");
        return Ok(());
    };
    let o = run_cli(&[
        "run",
        "--",
        python.to_str().unwrap(),
        "-c",
        "import ctypes; ctypes.string_at(0)",
    ]);
    assert_eq!(signal(&o), Some(libc::SIGSEGV), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("Fatal signal 11 (SIGSEGV)"), "{e}");
    let frames: Vec<&str> = e.lines().filter(|l| l.starts_with("  #")).collect();
    assert!(
        frames.iter().any(|l| l.contains("libffi")),
        "no libffi frame:\n{e}"
    );
    assert!(
        frames.iter().any(|l| l.contains("python")),
        "no python frame:\n{e}"
    );
    Ok(())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// No child of this binary: C programs and the CLI, through the runner.
const PROGRAMS: Case = Case {
    control: false,
    ..CASE
};

#[rustfmt::skip]
static CASES: &[Case] = &[
    Case { name: "run_reports_a_crash_and_dies_of_the_same_signal", check: run_reports_a_crash_and_dies_of_the_same_signal, ..PROGRAMS },
    Case { name: "run_format_json_gives_one_json_object_that_python_parses", check: run_format_json_gives_one_json_object_that_python_parses, ..PROGRAMS },
    Case { name: "the_c_api_sets_the_json_format", check: the_c_api_sets_the_json_format, ..PROGRAMS },
    Case { name: "run_passes_the_exit_code_through", check: run_passes_the_exit_code_through, ..PROGRAMS },
    Case { name: "run_becomes_the_program_so_its_pid_takes_dump_requests", check: run_becomes_the_program_so_its_pid_takes_dump_requests, ..PROGRAMS },
    Case { name: "run_refuses_bad_options_with_exit_2", check: run_refuses_bad_options_with_exit_2, ..PROGRAMS },
    Case { name: "report_file_is_0600_and_an_empty_one_is_removed", check: report_file_is_0600_and_an_empty_one_is_removed, ..PROGRAMS },
    Case { name: "a_planted_symlink_is_refused_and_the_host_still_runs", check: a_planted_symlink_is_refused_and_the_host_still_runs, ..PROGRAMS },
    Case { name: "a_missing_directory_is_a_clear_error", check: a_missing_directory_is_a_clear_error, ..PROGRAMS },
    Case { name: "two_processes_with_one_template_get_distinct_files_or_a_clear_error", check: two_processes_with_one_template_get_distinct_files_or_a_clear_error, ..PROGRAMS },
    Case { name: "bad_environment_values_warn_once_and_the_host_runs_normally", check: bad_environment_values_warn_once_and_the_host_runs_normally, ..PROGRAMS },
    Case { name: "preloading_without_the_switch_changes_nothing", check: preloading_without_the_switch_changes_nothing, ..PROGRAMS },
    Case { name: "a_library_dlopened_with_the_switch_on_enables_itself_without_stalling", check: a_library_dlopened_with_the_switch_on_enables_itself_without_stalling, ..PROGRAMS },
    Case { name: "readiness_fd_gets_ready_then_eof", check: readiness_fd_gets_ready_then_eof, ..PROGRAMS },
    Case { name: "an_exec_with_the_same_pid_takes_the_report_file_over", check: an_exec_with_the_same_pid_takes_the_report_file_over, ..PROGRAMS },
    Case { name: "dump_refuses_a_process_that_would_be_killed", check: dump_refuses_a_process_that_would_be_killed, ..PROGRAMS },
    Case { name: "a_c_program_uses_the_header_and_the_shared_library", check: a_c_program_uses_the_header_and_the_shared_library, ..PROGRAMS },
    Case { name: "the_c_api_dumps_on_a_signal_on_request_and_on_a_timer", check: the_c_api_dumps_on_a_signal_on_request_and_on_a_timer, ..PROGRAMS },
    Case { name: "the_c_api_takes_the_environments_settings", check: the_c_api_takes_the_environments_settings, ..PROGRAMS },
    Case { name: "dump_waits_for_a_late_handler_and_refuses_without_waiting", check: dump_waits_for_a_late_handler_and_refuses_without_waiting, ..PROGRAMS },
    Case { name: "preloaded_signal_and_timeout_variables_dump_and_the_host_lives_on", check: preloaded_signal_and_timeout_variables_dump_and_the_host_lives_on, ..PROGRAMS },
    Case { name: "preloaded_watchdog_repeat_and_exit", check: preloaded_watchdog_repeat_and_exit, ..PROGRAMS },
    Case { name: "the_readiness_variable_is_used_once_and_never_names_stdio", check: the_readiness_variable_is_used_once_and_never_names_stdio, ..PROGRAMS },
    Case { name: "python_ctypes_crash_under_run", check: python_ctypes_crash_under_run, ..PROGRAMS },
    Case { name: "symbolize_help_and_usage_errors", check: symbolize_help_and_usage_errors, ..PROGRAMS },
    Case { name: "symbolize_without_build_ids_needs_trust_paths", check: symbolize_without_build_ids_needs_trust_paths, ..PROGRAMS },
    Case { name: "symbolize_reads_regular_files_only", check: symbolize_reads_regular_files_only, ..PROGRAMS },
    Case { name: "dump_refuses_crash_signals_before_sending_anything", check: dump_refuses_crash_signals_before_sending_anything, ..PROGRAMS },
    Case { name: "version_and_help_for_each_command", check: version_and_help_for_each_command, ..PROGRAMS },
    Case { name: "run_finds_its_preload_object_and_the_lib_overrides", check: run_finds_its_preload_object_and_the_lib_overrides, ..PROGRAMS },
    Case { name: "enabling_does_not_stop_a_debugger", check: enabling_does_not_stop_a_debugger, ..PROGRAMS },
    Case { name: "a_c_host_that_loads_the_library_gets_a_report", check: a_c_host_that_loads_the_library_gets_a_report, ..PROGRAMS },
    Case { name: "a_c_host_report_makes_no_heap_call", check: a_c_host_report_makes_no_heap_call, ..PROGRAMS },
];

fn main() {
    common::harness::main(CASES);
}
