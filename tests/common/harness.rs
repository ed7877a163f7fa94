//! A table of cases and the `main` that runs it (`harness = false`).
//!
//! Run without `FH_CHILD`, the binary is the runner: it runs every case
//! (two at a time), each in the parent. Run with `FH_CHILD=NAME`, it is
//! the child of case NAME: it runs that case's body, then exits 0.
//!
//! A case with a body and `control: true` (a crash) runs its child twice
//! at once, with faulthandler and without (`FH_CONTROL=1`); both must end
//! the same way, as `expect` says, before its `check` sees them.

use super::runner::{self, End, Run, Runner, DEFAULT_TIMEOUT, TRANSCRIPT};
use std::ffi::OsString;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub type Check = Result<(), String>;

pub struct Case {
    pub name: &'static str,
    /// The child's side; `None`: the case spawns no child of this binary
    /// (its check runs C programs or the CLI through [`Runner`], or runs
    /// in the parent).
    pub body: Option<fn()>,
    /// Also run the control child, and require the same end.
    pub control: bool,
    /// How the child ends (`None`: its check says).
    pub expect: Option<End>,
    /// Adjusts the child's command (`bool`: this is the control run).
    pub setup: fn(Runner, bool) -> Runner,
    /// Hard limit for each child of the case.
    pub timeout: Duration,
    /// The parent's checks.
    pub check: fn(&Ctx) -> Check,
}

fn no_setup(r: Runner, _: bool) -> Runner {
    r
}

fn no_check(_: &Ctx) -> Check {
    Ok(())
}

/// Defaults for `..CASE`: a crash case with a control run.
pub const CASE: Case = Case {
    name: "",
    body: None,
    control: true,
    expect: None,
    setup: no_setup,
    timeout: DEFAULT_TIMEOUT,
    check: no_check,
};

/// What a check gets: its case, and the runs the harness made.
pub struct Ctx {
    pub case: &'static Case,
    run: Option<Run>,
    control: Option<Run>,
}

impl Ctx {
    /// The run with faulthandler.
    pub fn run(&self) -> &Run {
        self.run.as_ref().expect("this case has no child")
    }

    /// The control run.
    pub fn control(&self) -> &Run {
        self.control.as_ref().expect("this case has no control run")
    }

    /// This case's child, to run again (or differently) from the check.
    pub fn runner(&self, control: bool) -> Runner {
        (self.case.setup)(Runner::scenario(self.case.name, control), control)
            .timeout(self.case.timeout)
    }
}

/// Add the timeout to a runner of a parent-only case.
impl Case {
    pub fn runner(&self, r: Runner) -> Runner {
        r.timeout(self.timeout)
    }
}

fn run_case(case: &'static Case) -> Check {
    let mut ctx = Ctx {
        case,
        run: None,
        control: None,
    };
    if case.body.is_some() {
        let main = ctx.runner(false);
        if case.control {
            let (run, control) = runner::pair(main, ctx.runner(true))?;
            ctx.control = Some(control);
            ctx.run = Some(run);
        } else {
            ctx.run = Some(main.run()?);
        }
        if let Some(want) = case.expect {
            ctx.run().expect(want)?;
        }
    }
    (case.check)(&ctx)
}

fn own_cases() -> Vec<&'static Case> {
    fn sample(_: &Ctx) -> Check {
        super::report::tests::parses_the_sample();
        Ok(())
    }
    fn first_lines(_: &Ctx) -> Check {
        super::report::tests::other_first_lines();
        Ok(())
    }
    static OWN: [Case; 2] = [
        Case {
            name: "common::report::parses_the_sample",
            check: sample,
            ..CASE
        },
        Case {
            name: "common::report::other_first_lines",
            check: first_lines,
            ..CASE
        },
    ];
    OWN.iter().collect()
}

/// libtest options that take a value as the next argument.
const WITH_VALUE: &[&str] = &[
    "--skip",
    "--format",
    "--color",
    "--logfile",
    "--report-time",
    "-Z",
];

/// The suite's `main`: the child of one case, or the runner of all.
pub fn main(cases: &'static [Case]) {
    if let Ok(name) = std::env::var(runner::CHILD_ENV) {
        let Some(case) = cases.iter().find(|c| c.name == name) else {
            eprintln!("child: CHECK FAILED: unknown scenario {name:?}");
            std::process::exit(super::child::CHECK_FAILED);
        };
        (case.body.expect("a case with a body"))();
        std::process::exit(0);
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut filter: Option<String> = None;
    let mut skip: Vec<String> = Vec::new();
    let (mut exact, mut list, mut ignored_only, mut show) = (false, false, false, false);
    let mut threads = 2usize;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => ignored_only = true,
            "--nocapture" | "--show-output" => show = true,
            "--skip" => skip.extend(it.next()),
            "--test-threads" => threads = it.next().and_then(|n| n.parse().ok()).unwrap_or(2),
            a if a.starts_with("--test-threads=") => {
                threads = a[15..].parse().unwrap_or(2);
            }
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
    let all: Vec<&'static Case> = cases.iter().chain(own_cases()).collect();
    let total = all.len();
    let selected: Vec<&'static Case> = all
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
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let Some(case) = queue.lock().unwrap().next() else {
                    break;
                };
                TRANSCRIPT.with(|t| t.borrow_mut().clear());
                let t0 = Instant::now();
                let result = std::panic::catch_unwind(|| run_case(case)).unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(format!("the check panicked: {msg}"))
                });
                let took = t0.elapsed();
                match result {
                    Ok(()) => {
                        println!("test {} ... ok ({:.2?})", case.name, took);
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
    if !failures.is_empty() {
        std::process::exit(101);
    }
}
