//! Child processes with a hard timeout: each child leads its own process
//! group, which is killed (SIGKILL) when the child outlives its timeout,
//! and cleared of leftovers when it ends.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The env var that makes this binary a child, naming its scenario.
pub const CHILD_ENV: &str = "FH_CHILD";
/// Set in the control run: the child must not enable faulthandler.
pub const CONTROL_ENV: &str = "FH_CONTROL";
/// Hard limit for one child unless a case says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Exit(i32),
    Signal { sig: i32, core: bool },
}

impl End {
    pub fn of(s: &ExitStatus) -> End {
        match (s.code(), s.signal()) {
            (Some(c), _) => End::Exit(c),
            (None, Some(sig)) => End::Signal {
                sig,
                core: s.core_dumped(),
            },
            _ => unreachable!("a status without code or signal: {s:?}"),
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            End::Signal { sig, .. } => Some(sig),
            End::Exit(_) => None,
        }
    }

    pub fn code(self) -> Option<i32> {
        match self {
            End::Exit(c) => Some(c),
            End::Signal { .. } => None,
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Exit(c) => write!(f, "exit code {c}"),
            End::Signal { sig, core } => write!(
                f,
                "killed by signal {sig} ({}){}",
                super::signame(*sig),
                if *core { ", core dumped" } else { "" }
            ),
        }
    }
}

/// A finished child: how it ended and what it wrote.
#[derive(Clone, Debug)]
pub struct Run {
    pub what: String,
    /// The child's argv, program first, as given to the command.
    pub argv: Vec<String>,
    pub end: End,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn describe(&self) -> String {
        format!(
            "--- {} ({}, {:.2?}) stderr:\n{}--- stdout:\n{}",
            self.what, self.end, self.elapsed, self.stderr, self.stdout
        )
    }

    /// Its end is `want`.
    pub fn expect(&self, want: End) -> Result<(), String> {
        if self.end != want {
            return Err(format!("{}: {want} expected, got {}", self.what, self.end));
        }
        Ok(())
    }

    pub fn expect_signal(&self, sig: i32) -> Result<(), String> {
        self.expect(End::Signal { sig, core: false })
    }

    pub fn expect_code(&self, code: i32) -> Result<(), String> {
        self.expect(End::Exit(code))
    }

    /// The one report in its stderr, parsed.
    pub fn report(&self) -> Result<super::Report, String> {
        super::Report::find_one(&self.stderr).map_err(|e| format!("{}: {e}", self.what))
    }

    /// Every report in its stderr.
    pub fn reports(&self) -> Vec<super::Report> {
        super::Report::parse_all(&self.stderr)
    }
}

thread_local! {
    /// What every child of the current case wrote, shown when it fails.
    pub static TRANSCRIPT: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Add a note to the current case's transcript.
pub fn note(s: String) {
    TRANSCRIPT.with(|t| t.borrow_mut().push(s));
}

/// A child to start: a command, a name for messages, a timeout.
pub struct Runner {
    cmd: Command,
    what: String,
    timeout: Duration,
    input: Option<Vec<u8>>,
}

impl Runner {
    pub fn new(cmd: Command, what: impl Into<String>) -> Runner {
        Runner {
            cmd,
            what: what.into(),
            timeout: DEFAULT_TIMEOUT,
            input: None,
        }
    }

    /// `program ARGS...`.
    pub fn program(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Runner {
        let mut cmd = Command::new(program.as_ref());
        cmd.args(args);
        let what = format!(
            "{} {}",
            Path::new(program.as_ref()).display(),
            args.join(" ")
        );
        Runner::new(cmd, what)
    }

    /// This test binary as child `scenario`; `control` makes it the
    /// control run (`FH_CONTROL=1`: no faulthandler).
    /// The child scenario this runner runs (its `FH_CHILD`), if any.
    pub fn scenario_name(&self) -> Option<String> {
        self.cmd
            .get_envs()
            .find(|(k, _)| *k == CHILD_ENV)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    pub fn scenario(scenario: &str, control: bool) -> Runner {
        Runner::scenario_of(&super::self_exe(), scenario, control)
    }

    /// `exe` (a copy of this test binary) as child `scenario`.
    pub fn scenario_of(exe: &Path, scenario: &str, control: bool) -> Runner {
        let mut cmd = Command::new(exe);
        cmd.env(CHILD_ENV, scenario)
            .env_remove(CONTROL_ENV)
            .env_remove("LD_PRELOAD")
            .env_remove("FAULTHANDLER")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_MIN_STACK");
        if control {
            cmd.env(CONTROL_ENV, "1");
        }
        let what = if control {
            format!("control child {scenario}")
        } else {
            format!("child {scenario}")
        };
        Runner::new(cmd, what)
    }

    pub fn timeout(mut self, t: Duration) -> Runner {
        self.timeout = t;
        self
    }

    /// Feed `bytes` to its stdin (then EOF); stdin is /dev/null otherwise.
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Runner {
        self.input = Some(bytes.into());
        self
    }

    pub fn cmd(&mut self) -> &mut Command {
        &mut self.cmd
    }

    pub fn env(mut self, k: impl AsRef<std::ffi::OsStr>, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Preload the malloc spy.
    pub fn malloc_spy(self) -> Runner {
        self.env("LD_PRELOAD", super::fixture("so_malloc_spy.so"))
    }

    pub fn spawn(mut self) -> Result<Spawned, String> {
        self.cmd
            .stdin(if self.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and only calls
        // getrlimit/setrlimit, async-signal-safe system calls: no core
        // files, and an 8 MiB main stack so that the overflow cases end
        // the same way under `ulimit -s unlimited`.
        unsafe {
            self.cmd.pre_exec(|| {
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &zero);
                let mut stack = zero;
                if libc::getrlimit(libc::RLIMIT_STACK, &mut stack) == 0 {
                    stack.rlim_cur = stack.rlim_max.min(8 << 20);
                    libc::setrlimit(libc::RLIMIT_STACK, &stack);
                }
                Ok(())
            });
        }
        let argv = std::iter::once(self.cmd.get_program())
            .chain(self.cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let start = Instant::now();
        let mut child = self
            .cmd
            .spawn()
            .map_err(|e| format!("{}: cannot spawn: {e}", self.what))?;
        if let (Some(bytes), Some(mut w)) = (self.input.take(), child.stdin.take()) {
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = w.write_all(&bytes);
            });
        }
        let out = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        Ok(Spawned {
            what: self.what,
            argv,
            child,
            start,
            timeout: self.timeout,
            out,
            err,
        })
    }

    /// Spawn and wait.
    pub fn run(self) -> Result<Run, String> {
        self.spawn()?.wait()
    }
}

type Sink = (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>);

fn drain(mut r: impl Read + Send + 'static) -> Sink {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&buf);
    let h = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, h)
}

/// A running child.
pub struct Spawned {
    what: String,
    argv: Vec<String>,
    child: std::process::Child,
    start: Instant,
    timeout: Duration,
    out: Sink,
    err: Sink,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its stderr so far.
    pub fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.err.0.lock().unwrap()).into_owned()
    }

    /// Wait (at most `secs`) until its stderr has a line starting with
    /// `prefix`; returns the stderr lines up to that one.
    pub fn wait_for_line(&self, prefix: &str, secs: u64) -> Result<Vec<String>, String> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.stderr_now();
            let lines: Vec<&str> = text.lines().collect();
            if let Some(i) = lines.iter().position(|l| l.starts_with(prefix)) {
                return Ok(lines[..=i].iter().map(|l| l.to_string()).collect());
            }
            if Instant::now() > end {
                return Err(format!(
                    "{}: no line starting {prefix:?} within {secs} s; stderr:\n{text}",
                    self.what
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kill_group(&self) {
        // SAFETY: a signal to the process group this child leads.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
    }

    /// Kill its process group now, then collect it.
    pub fn kill(mut self) -> Result<Run, String> {
        self.kill_group();
        self.timeout = Duration::from_secs(5);
        self.wait()
    }

    /// Wait for its end, at most its timeout: past it, its process group
    /// is killed and this is an error.
    pub fn wait(mut self) -> Result<Run, String> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) => {}
                Err(e) => return Err(format!("{}: wait: {e}", self.what)),
            }
            if self.start.elapsed() > self.timeout {
                self.kill_group();
                let _ = self.child.wait();
                let err = self.stderr_now();
                let msg = format!(
                    "{}: TIMEOUT: still running after {:?}, its process group was killed; stderr:\n{err}",
                    self.what, self.timeout
                );
                note(msg.clone());
                return Err(msg);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.start.elapsed();
        // Leftovers of its group must not hold the pipes open.
        self.kill_group();
        let Spawned {
            what,
            argv,
            out,
            err,
            ..
        } = self;
        let text = |s: Sink| {
            let _ = s.1.join();
            let v = std::mem::take(&mut *s.0.lock().unwrap());
            String::from_utf8_lossy(&v).into_owned()
        };
        let run = Run {
            what,
            argv,
            end: End::of(&status),
            stdout: text(out),
            stderr: text(err),
            elapsed,
        };
        note(run.describe());
        Ok(run)
    }
}

/// Wait for two children at once, so each one's elapsed time is its own.
pub fn wait_both(a: Spawned, b: Spawned) -> Result<(Run, Run), String> {
    let (ra, rb) = std::thread::scope(|s| {
        let hb = s.spawn(|| {
            let r = b.wait();
            let t = TRANSCRIPT.with(|t| t.take());
            (r, t)
        });
        let ra = a.wait();
        let (rb, t) = hb
            .join()
            .unwrap_or_else(|_| (Err("waiter panicked".into()), vec![]));
        TRANSCRIPT.with(|tr| tr.borrow_mut().extend(t));
        (ra, rb)
    });
    Ok((ra?, rb?))
}

/// Run `main` (with faulthandler) and `control` (without) at once; both
/// must end the same way, and the control must print no report.
pub fn pair(main: Runner, control: Runner) -> Result<(Run, Run), String> {
    let (run, control) = wait_both(main.spawn()?, control.spawn()?)?;
    same_end(&run, &control)?;
    Ok((run, control))
}

/// The run with faulthandler ended exactly as the control run did, and
/// no child's own check failed.
pub fn same_end(run: &Run, control: &Run) -> Result<(), String> {
    if run.end != control.end {
        return Err(format!(
            "with faulthandler: {}; without (control): {}",
            run.end, control.end
        ));
    }
    if control.stderr.contains("Fatal signal") {
        return Err("the control run printed a report".into());
    }
    for r in [run, control] {
        if r.stderr.contains("CHECK FAILED") {
            return Err(format!("{}: a child's own check failed", r.what));
        }
    }
    Ok(())
}
