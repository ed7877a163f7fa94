//! Drop-in use: the `faulthandler run` and `dump` commands, LD_PRELOAD
//! settings from the environment, per-crash files, readiness, and a C
//! program that uses the C API through its header.
//!
//! Every scenario runs in child processes; each asserts the exact exit code
//! or terminating signal and the report's lines.

use faulthandler_fixtures as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const FIXTURES: &str = faulthandler_fixtures::DIR;

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// An install directory inside `target/` holding the `faulthandler`
/// command and `libfaulthandler.so` side by side, as a release install has
/// them (`cargo test` leaves the library in `deps/` only), so `run` finds
/// the library next to itself.
fn install_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cli = Path::new(env!("CARGO_BIN_EXE_faulthandler"));
        let built = cli.parent().unwrap();
        let lib = [
            built.join("deps/libfaulthandler.so"),
            built.join("libfaulthandler.so"),
        ]
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("cargo built libfaulthandler.so");
        let dir = built.join("fh-dropin-install");
        std::fs::create_dir_all(&dir).unwrap();
        // Copy then rename, so a concurrent run never sees a half file.
        for (from, name) in [(cli, "faulthandler"), (lib.as_path(), "libfaulthandler.so")] {
            let tmp = dir.join(format!("{name}.{}", std::process::id()));
            std::fs::copy(from, &tmp).unwrap();
            std::fs::rename(&tmp, dir.join(name)).unwrap();
        }
        dir
    })
}

fn cli() -> PathBuf {
    install_dir().join("faulthandler")
}

fn library() -> PathBuf {
    install_dir().join("libfaulthandler.so")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run_cli(args: &[&str]) -> Output {
    Command::new(cli())
        .args(args)
        .output()
        .expect("run the CLI")
}

fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-dropin-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The first line of the report, and a frame in the fixture's module.
fn assert_segv_report(err: &str, module: &str, addr: &str) {
    let first = err
        .lines()
        .find(|l| l.starts_with("Fatal signal"))
        .unwrap_or_else(|| panic!("no report in:\n{err}"));
    assert_eq!(
        first,
        format!(
            "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address {addr}"
        )
    );
    assert!(err.contains("\nCurrent thread "), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("  #0  0x") && l.contains(module)),
        "frame #0 should be in {module}:\n{err}"
    );
    assert!(err.contains("\nModules:\n"), "{err}");
}

#[test]
fn run_reports_a_crash_and_dies_of_the_same_signal() {
    let exe = fixture("exe_dropin");
    let o = run_cli(&["run", "--", exe.to_str().unwrap(), "segv"]);
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "dropin: segv\n");
    assert_segv_report(&stderr(&o), "exe_dropin +0x", "0x0000000000000000");
}

#[test]
fn run_passes_the_exit_code_through() {
    let exe = fixture("exe_dropin");
    let o = run_cli(&["run", "--", exe.to_str().unwrap(), "exit3"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(!stderr(&o).contains("Fatal signal"), "{}", stderr(&o));
    let o = run_cli(&["run", "--", "true"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn run_becomes_the_program_so_its_pid_takes_dump_requests() {
    let exe = fixture("exe_dropin");
    let mut child = Command::new(cli())
        .args(["run", "--signal", "USR1", "--"])
        .arg(&exe)
        .arg("sleep")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stderr_lines(&mut child);
    let pid = child.id().to_string();
    let o = run_cli(&["dump", &pid, "--signal", "USR1", "--wait-ready", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = wait_for_line(&rx, "Process ");
    assert!(
        seen.last()
            .unwrap()
            .starts_with(&format!("Process {pid} \"exe_dropin\"")),
        "{seen:?}"
    );
    wait_for_line(&rx, "Modules:");
    assert!(child.try_wait().unwrap().is_none(), "the program lives on");
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn run_refuses_bad_options_with_exit_2() {
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
        (&["run"][..], "needs a command"),
        (
            &["run", "--lib", "/nonexistent.so", "--", "true"][..],
            "cannot find",
        ),
        (&["frobnicate"][..], "unknown command"),
    ] {
        let o = run_cli(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(
            e.starts_with("faulthandler: ") && e.contains(needle),
            "{args:?}: {e}"
        );
    }
    for sub in ["run", "dump"] {
        let o = run_cli(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(
            help.starts_with(&format!("Usage: faulthandler {sub}")),
            "{help}"
        );
        assert!(help.contains("Example:"), "{help}");
    }
}

#[test]
fn report_file_is_0600_and_an_empty_one_is_removed() {
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
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
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
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV));
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
}

#[test]
fn a_planted_symlink_is_refused_and_the_host_still_runs() {
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
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV));
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
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let exe = fixture("exe_dropin");
    let o = run_cli(&[
        "run",
        "--file",
        "/nonexistent-dir/crash-%p",
        "--",
        exe.to_str().unwrap(),
        "ok",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(
        e.contains("directory /nonexistent-dir does not exist"),
        "{e}"
    );
}

#[test]
fn two_processes_with_one_template_get_distinct_files_or_a_clear_error() {
    let dir = scratch_dir("race");
    // No %p: two processes in the same second collide on the name.
    let template = dir.join("crash-%t");
    let exe = fixture("exe_dropin");
    let spawn = || {
        Command::new(cli())
            .args(["run", "--file", template.to_str().unwrap(), "--"])
            .arg(&exe)
            .arg("segv")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let files = std::fs::read_dir(&dir).unwrap().count();
    let refused = outs
        .iter()
        .filter(|o| stderr(o).contains("already exists there"))
        .count();
    assert_eq!(files + refused, 2, "files {files}, refused {refused}");
    for o in &outs {
        assert_eq!(o.status.signal(), Some(libc::SIGSEGV));
        assert!(
            stderr(o).contains("Fatal signal 11 (SIGSEGV)"),
            "{}",
            stderr(o)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_environment_values_warn_once_and_the_host_runs_normally() {
    let exe = fixture("exe_dropin");
    let o = Command::new(&exe)
        .arg("ok")
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_MAX_FRAMES", "lots")
        .env("FAULTHANDLER_SIGNAL", "NOPE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "dropin: ok\n");
    let e = stderr(&o);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
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
    let o = Command::new(&exe)
        .arg("segv")
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_MAX_FRAMES", "lots")
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV));
    assert_segv_report(&stderr(&o), "exe_dropin +0x", "0x0000000000000000");
}

#[test]
fn preloading_without_the_switch_changes_nothing() {
    let exe = fixture("exe_dropin");
    let o = Command::new(&exe)
        .arg("segv")
        .env("LD_PRELOAD", library())
        .env_remove("FAULTHANDLER")
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV));
    assert_eq!(stderr(&o), "");
}

/// Make `fd` the child's fd 7 (what `FAULTHANDLER_READY_FD=7` names).
fn give_fd_7(cmd: &mut Command, fd: &impl std::os::fd::AsRawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: dup2 in the child between fork and exec is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_library_dlopened_with_the_switch_on_enables_itself_without_stalling() {
    // The constructor runs inside dlopen, under the loader lock: it must
    // not wait for the threads it starts (they cannot start until dlopen
    // returns), or the host hangs.
    let host = fixture("exe_c_host");
    let start = std::time::Instant::now();
    let o = Command::new(&host)
        .arg(library())
        .env("FAULTHANDLER", "1")
        .output()
        .unwrap();
    let took = start.elapsed();
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Fatal signal 11 (SIGSEGV)"),
        "{}",
        stderr(&o)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn readiness_fd_gets_ready_then_eof() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let exe = fixture("exe_dropin");
    let mut cmd = Command::new(&exe);
    cmd.arg("ok")
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_READY_FD", "7")
        .stdout(Stdio::null());
    give_fd_7(&mut cmd, &writer);
    let mut child = cmd.spawn().unwrap();
    drop(writer);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut reader, &mut got).unwrap();
    assert_eq!(got, "ready\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn dump_refuses_a_process_that_would_be_killed() {
    let exe = fixture("exe_dropin");
    let mut child = Command::new(&exe)
        .arg("sleep")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let o = run_cli(&["dump", &pid, "--signal", "USR1"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("does not catch SIGUSR1") && e.contains("not sent"),
        "{e}"
    );
    let o = run_cli(&["dump", &pid, "--signal", "USR1", "--wait-ready", "0.3"]);
    assert_eq!(o.status.code(), Some(2));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the target must be alive"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let o = run_cli(&["dump", "999999999"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Link a `c-fixtures/capi_*.c` object (compiled by build.rs) against the
/// freshly built `libfaulthandler.so`.
fn link_c_api_user(name: &str) -> PathBuf {
    let dir = install_dir();
    let out = dir.join(name);
    let status = Command::new(faulthandler_fixtures::CC)
        .arg(fixture(&format!("{name}.o")))
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", dir.display()))
        .arg("-lfaulthandler")
        // DT_RPATH (not RUNPATH): it wins over the LD_LIBRARY_PATH that
        // cargo sets, which may name an older copy of the library.
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", dir.display()))
        .status()
        .unwrap();
    assert!(status.success(), "linking {name} failed");
    out
}

#[test]
fn a_c_program_uses_the_header_and_the_shared_library() {
    let exe = link_c_api_user("capi_user");
    let o = Command::new(&exe).arg("exit").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = Command::new(&exe).output().unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("capi: enabled\n"), "{e}");
    assert_segv_report(&e, "capi_user +0x", "0x0000000000000010");
    assert!(
        e.lines()
            .any(|l| l.starts_with("  #0  ") && l.contains(" in capi_crash_here+0x")),
        "{e}"
    );
}

#[test]
fn the_c_api_dumps_on_a_signal_on_request_and_on_a_timer() {
    let exe = link_c_api_user("capi_user");
    let child = Command::new(&exe).arg("dumps").output().unwrap();
    let e = stderr(&child);
    assert_eq!(child.status.code(), Some(0), "{e}");
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

/// Read the child's stderr on a thread, so the test can wait for a line.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, prefix: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.starts_with(prefix);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line starting {prefix:?}; got:\n{}", seen.join("\n"));
}

#[test]
fn dump_waits_for_a_late_handler_and_refuses_without_waiting() {
    let exe = link_c_api_user("capi_late_register");
    // Without --wait-ready, the request comes before the handler: refused.
    let mut early = Command::new(&exe).stderr(Stdio::null()).spawn().unwrap();
    let o = run_cli(&["dump", &early.id().to_string(), "--signal", "USR1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not catch SIGUSR1"),
        "{}",
        stderr(&o)
    );
    assert!(
        early.try_wait().unwrap().is_none(),
        "the target must be alive"
    );
    early.kill().unwrap();
    early.wait().unwrap();

    // With --wait-ready 5, the request waits for the handler: a dump, and
    // the target lives on.
    let mut late = Command::new(&exe).stderr(Stdio::piped()).spawn().unwrap();
    let rx = stderr_lines(&mut late);
    let o = run_cli(&[
        "dump",
        &late.id().to_string(),
        "--signal",
        "USR1",
        "--wait-ready",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("sent SIGUSR1"), "{}", stderr(&o));
    let seen = wait_for_line(&rx, "Dump requested by signal 10 (SIGUSR1) from pid ");
    assert!(seen.iter().any(|l| l == "late: registered"), "{seen:?}");
    wait_for_line(&rx, "Modules:");
    assert!(
        late.try_wait().unwrap().is_none(),
        "the target must survive the dump"
    );
    late.kill().unwrap();
    late.wait().unwrap();
}

#[test]
fn preloaded_signal_and_timeout_variables_dump_and_the_host_lives_on() {
    let (mut ready_r, ready_w) = std::io::pipe().unwrap();
    let exe = fixture("exe_dropin");
    let mut cmd = Command::new(&exe);
    cmd.arg("sleep")
        .env("LD_PRELOAD", library())
        .env("FAULTHANDLER", "1")
        .env("FAULTHANDLER_SIGNAL", "USR2")
        .env("FAULTHANDLER_TIMEOUT", "0.5")
        .env("FAULTHANDLER_READY_FD", "7")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    give_fd_7(&mut cmd, &ready_w);
    let mut child = cmd.spawn().unwrap();
    drop(ready_w);
    let rx = stderr_lines(&mut child);
    let mut ready = String::new();
    std::io::Read::read_to_string(&mut ready_r, &mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    // The handler is in before `ready`: the request cannot kill it.
    let o = run_cli(&["dump", &child.id().to_string(), "--signal", "USR2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for_line(&rx, "Dump requested by signal 12 (SIGUSR2) from pid ");
    wait_for_line(&rx, "Timeout (0:00:00.500)!");
    wait_for_line(&rx, "Modules:");
    assert!(child.try_wait().unwrap().is_none(), "the host must live on");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn python_ctypes_crash_under_run() {
    let Some(python) = find_in_path("python3") else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    let o = run_cli(&[
        "run",
        "--",
        python.to_str().unwrap(),
        "-c",
        "import ctypes; ctypes.string_at(0)",
    ]);
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{}", stderr(&o));
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
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
