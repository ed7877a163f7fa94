//! How long a dump of every thread takes, against the tools that stop a
//! process from outside. Not a test: run it with
//!
//! ```text
//! cargo bench --bench threads
//! FH_BENCH_SECTIONS=compare,floor cargo bench --bench threads   # a subset
//! ```
//!
//! Every worker thread is parked about 30 frames deep, in a chain of 30
//! distinct `#[inline(never)]` functions (not a recursion, which the
//! report folds into one line). The sections (all by default):
//!
//! - `compare`: 200 threads. `faulthandler::dump_traceback(all_threads)`
//!   to /dev/null against `eu-stack -p PID` (elfutils) and `gdb -nx -batch
//!   -p PID -ex "thread apply all bt"` on this very process, in the same
//!   run, interleaved round by round; medians, the ratios and the goals
//!   (at least 100x eu-stack, 150x gdb).
//! - `floor`: the same dump with naming switched off (addresses and
//!   modules only: signal delivery, unwinding, the per-thread overhead and
//!   writing), interleaved with the full dump; how far above it the full
//!   dump is, and the share of naming.
//! - `growth`: 10, 200, 1000, 2000, 5000 and 10,000 threads (64 KiB
//!   stacks): median, us/thread, the 1000/200 ratio (goal at most 4x) and
//!   whether the cost stays linear to 10,000.
//!
//! A benchmark: it asserts nothing about time, it prints.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The functions of the chain each worker parks at the end of.
const CHAIN: usize = 30;
/// Worker threads' stack size.
const STACK: usize = 64 * 1024;
/// The thread counts of the growth section.
const GROWTH: [usize; 6] = [10, 200, 1000, 2000, 5000, 10_000];
/// The comparison's thread count.
const COMPARE: usize = 200;
/// "Linear": us/thread at 10,000 at most this many times that at 1,000.
const LINEAR_TOLERANCE: f64 = 1.25;

#[inline(never)]
fn park_here(ready: &mpsc::Sender<()>) -> u32 {
    let _ = ready.send(());
    loop {
        std::thread::park();
    }
}

/// `chain!(a, b, c)`: `a` calls `b` calls `c` calls `park_here`, each a
/// distinct function that is never inlined and never tail-calls.
macro_rules! chain {
    ($f:ident) => {
        #[inline(never)]
        fn $f(ready: &mpsc::Sender<()>) -> u32 {
            black_box(park_here(black_box(ready))) + 1
        }
    };
    ($f:ident, $g:ident $(, $rest:ident)*) => {
        #[inline(never)]
        fn $f(ready: &mpsc::Sender<()>) -> u32 {
            black_box($g(black_box(ready))) + 1
        }
        chain!($g $(, $rest)*);
    };
}

chain!(
    link01, link02, link03, link04, link05, link06, link07, link08, link09, link10, link11, link12,
    link13, link14, link15, link16, link17, link18, link19, link20, link21, link22, link23, link24,
    link25, link26, link27, link28, link29, link30
);

/// Start `n` more threads (numbered from `first`), each parked at the end
/// of the chain. Returns how many started (fewer when the system refused,
/// and says why).
fn spawn_parked(first: usize, n: usize) -> usize {
    let (tx, rx) = mpsc::channel();
    let mut started = 0;
    for i in first..first + n {
        let tx = tx.clone();
        let r = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .stack_size(STACK)
            .spawn(move || {
                link01(&tx);
            });
        match r {
            Ok(_) => started += 1,
            Err(e) => {
                println!(
                    "  the system refused thread {} ({e}): see `ulimit -u`, \
                     /proc/sys/kernel/threads-max, /proc/sys/kernel/pid_max, \
                     /proc/sys/vm/max_map_count",
                    i + 1
                );
                break;
            }
        }
    }
    for _ in 0..started {
        rx.recv().expect("thread ready");
    }
    started
}

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn read_sys(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Raise RLIMIT_NPROC's soft limit to its hard limit, and say which system
/// limits are below what the growth section needs.
fn raise_limits(want: usize) {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NPROC, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            let old = r.rlim_cur;
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NPROC, &r) == 0 {
                println!("raised RLIMIT_NPROC from {old} to {}", r.rlim_max);
            }
        }
        if libc::getrlimit(libc::RLIMIT_NPROC, &mut r) == 0 && r.rlim_cur < want as u64 + 100 {
            println!(
                "note: RLIMIT_NPROC is {} (the hard limit), below {want} threads",
                r.rlim_cur
            );
        }
    }
    for (path, need) in [
        ("/proc/sys/kernel/threads-max", want as u64 + 100),
        ("/proc/sys/kernel/pid_max", want as u64 + 1000),
        ("/proc/sys/vm/max_map_count", 2 * want as u64 + 1000),
    ] {
        if let Some(v) = read_sys(path) {
            if v < need {
                println!("note: {path} is {v}, below the {need} that {want} threads need");
            }
        }
    }
}

fn devnull() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null")
}

/// One timed dump of every thread to `out`, in milliseconds.
fn one_dump(out: &std::fs::File) -> f64 {
    let t = Instant::now();
    faulthandler::dump_traceback(out.as_fd(), true).expect("dump");
    t.elapsed().as_secs_f64() * 1e3
}

/// What one dump (into a file) shows: threads, frame lines, threads with
/// no stack, and whether the thread list was cut.
struct Shape {
    threads: usize,
    frames: usize,
    no_stack: usize,
    cut: bool,
}

fn dump_shape() -> Shape {
    let path = std::env::temp_dir().join(format!("fh-bench-{}.txt", std::process::id()));
    let f = std::fs::File::create(&path).expect("temp file");
    faulthandler::dump_traceback(f.as_fd(), true).expect("dump");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let heading = |l: &&str| l.starts_with("Thread ") || l.starts_with("Current thread ");
    Shape {
        threads: text.lines().filter(heading).count(),
        frames: text.lines().filter(|l| l.starts_with("  #")).count(),
        no_stack: text.lines().filter(|l| l.contains(": no stack: ")).count(),
        cut: text.contains("more threads not shown"),
    }
}

fn shape_line(s: &Shape) -> String {
    format!(
        "{} threads in the report, {} frame lines ({:.1}/thread){}{}",
        s.threads,
        s.frames,
        s.frames as f64 / s.threads.max(1) as f64,
        if s.no_stack > 0 {
            format!(", {} WITHOUT A STACK", s.no_stack)
        } else {
            String::new()
        },
        if s.cut { ", LIST CUT" } else { "" }
    )
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "NOT met"
    }
}

fn tool_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An external tool that stops this process and prints every thread's
/// stack.
struct Tool {
    name: &'static str,
    args: Vec<String>,
    /// Why it is not run, once it is known.
    skipped: Option<String>,
    times: Vec<f64>,
}

/// Install Debian's `package` for the missing tool `name`, when apt-get
/// can run (as root); returns whether the tool is there now. A fresh
/// machine has no package lists: they are fetched when the first try
/// fails.
fn install_tool(name: &str, package: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if !tool_exists("apt-get") || unsafe { libc::geteuid() } != 0 {
        return false;
    }
    println!("  installing {package} with apt-get for {name}");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", "-qq", package]) {
        let _ = apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", package]);
    }
    tool_exists(name)
}

impl Tool {
    /// `name`, run with `args`; installed from Debian's `package` when it
    /// is missing and apt-get can run, else skipped with a line.
    fn new(name: &'static str, args: Vec<String>, package: &str) -> Tool {
        let skipped = (!tool_exists(name) && !install_tool(name, package))
            .then(|| format!("not installed (Debian: apt-get install {package})"));
        Tool {
            name,
            args,
            skipped,
            times: Vec::new(),
        }
    }

    /// Run it once on this process and keep the time (or skip it from now
    /// on, with the reason, when it could not attach).
    fn run_once(&mut self, min_frames: usize) {
        if self.skipped.is_some() {
            return;
        }
        // The tool stops this very process, so its output must not go to a
        // pipe that we would have to drain: a file it is.
        let path =
            std::env::temp_dir().join(format!("fh-bench-{}-{}.txt", self.name, std::process::id()));
        let Ok(file) = std::fs::File::create(&path) else {
            self.skipped = Some("no temp file".into());
            return;
        };
        let t = Instant::now();
        let out = Command::new(self.name)
            .args(&self.args)
            // No network look-ups for debug info.
            .env_remove("DEBUGINFOD_URLS")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::piped())
            .output();
        let dt = t.elapsed().as_secs_f64() * 1e3;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        let frames = text
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count();
        match out {
            Ok(_) if frames >= min_frames => self.times.push(dt),
            Ok(o) => {
                self.skipped = Some(format!(
                    "it could not attach ({frames} frames; {}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                ))
            }
            Err(e) => self.skipped = Some(format!("could not run: {e}")),
        }
    }
}

/// 200 threads: our dump against eu-stack and gdb, and (with `floor`) the
/// same dump with naming off, interleaved round by round.
fn compare(pid: u32, with_tools: bool, with_floor: bool) {
    let null = devnull();
    let shape = dump_shape();
    println!(
        "{COMPARE} threads parked in a chain of {CHAIN} distinct functions ({} threads in the process)",
        threads_now()
    );
    println!("  our dump: {}", shape_line(&shape));
    let pid = pid.to_string();
    let mut tools = if with_tools {
        vec![
            Tool::new("eu-stack", vec!["-p".into(), pid.clone()], "elfutils"),
            Tool::new(
                "gdb",
                ["-nx", "-batch", "-p", &pid, "-ex", "thread apply all bt"]
                    .map(String::from)
                    .to_vec(),
                "gdb",
            ),
        ]
    } else {
        Vec::new()
    };
    // Warm: the first dump after the spawn pays for first touches.
    one_dump(&null);
    let (mut full, mut floor) = (Vec::new(), Vec::new());
    let rounds = 5;
    for round in 0..rounds {
        for _ in 0..5 {
            full.push(one_dump(&null));
            if with_floor {
                faulthandler::__bench::set_naming_enabled(false);
                floor.push(one_dump(&null));
                faulthandler::__bench::set_naming_enabled(true);
            }
        }
        for tool in &mut tools {
            // gdb is slow: three rounds of it are enough.
            if tool.name == "gdb" && round >= 3 {
                continue;
            }
            tool.run_once(COMPARE * CHAIN / 2);
        }
    }
    let ours = median(&full);
    println!(
        "  faulthandler  {ours:8.2} ms median, {:.2} ms min ({} dumps, {:.1} us/thread)",
        min(&full),
        full.len(),
        ours * 1e3 / COMPARE as f64
    );
    for (tool, goal) in tools.iter().zip([100.0, 150.0]) {
        match &tool.skipped {
            Some(why) if tool.times.is_empty() => {
                println!("  {:<12}  skipped: {why}", tool.name)
            }
            _ => {
                let t = median(&tool.times);
                let ratio = t / ours;
                println!(
                    "  {:<12}  {t:8.2} ms median ({} runs) -> we are {ratio:.0}x faster \
                     (goal >= {goal:.0}x: {})",
                    tool.name,
                    tool.times.len(),
                    met(ratio >= goal)
                );
            }
        }
    }
    if with_floor {
        faulthandler::__bench::set_naming_enabled(false);
        let shape = dump_shape();
        faulthandler::__bench::set_naming_enabled(true);
        let f = median(&floor);
        println!(
            "  the floor (naming off: signal delivery, unwinding, per-thread overhead, writing \
             addresses and modules):"
        );
        println!(
            "    {f:8.2} ms median, {:.2} ms min, {:.1} us/thread; {}",
            min(&floor),
            f * 1e3 / COMPARE as f64,
            shape_line(&shape)
        );
        println!(
            "    the full dump is {:.2}x the floor; naming and formatting the names is {:.0}% of it \
             ({:.2} ms)",
            ours / f,
            100.0 * (ours - f) / ours,
            ours - f
        );
    }
}

fn main() {
    // `cargo test --benches` runs benches as tests: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("threads bench: run with `cargo bench --bench threads`");
        return;
    }
    let sections = std::env::var("FH_BENCH_SECTIONS").unwrap_or_default();
    let want = |s: &str| sections.is_empty() || sections.split(',').any(|x| x.trim() == s);
    let (with_tools, with_floor, with_growth) = (want("compare"), want("floor"), want("growth"));
    println!(
        "faulthandler threads benchmark (sections: {}{}{})",
        if with_tools { "compare " } else { "" },
        if with_floor { "floor " } else { "" },
        if with_growth { "growth" } else { "" }
    );
    let started = Instant::now();
    // Let our children (eu-stack, gdb) attach to us under Yama ptrace_scope 1.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0) };
    let top = if with_growth {
        GROWTH[GROWTH.len() - 1]
    } else {
        COMPARE
    };
    raise_limits(top);
    faulthandler::Config::new()
        .max_threads(top)
        .thread_timeout(Duration::from_secs(20))
        .enable()
        .expect("enable");
    // Names ready (the index), as in a long-running process.
    let t = Instant::now();
    while !faulthandler::__bench::lines_ready() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "config: max_threads({top}), thread_timeout(20 s); worker stacks {} KiB; \
         index and line tables ready after {:.0} ms",
        STACK / 1024,
        t.elapsed().as_secs_f64() * 1e3
    );
    let null = devnull();
    let mut have = 0;
    let mut growth: Vec<(usize, f64, f64, Shape)> = Vec::new();
    let mut floors: Vec<(usize, f64)> = Vec::new();
    let steps: Vec<usize> = if with_growth {
        GROWTH.to_vec()
    } else {
        vec![COMPARE]
    };
    for target in steps {
        let got = spawn_parked(have, target - have);
        have += got;
        if have < target {
            println!("  growth stops at {have} threads");
            break;
        }
        if target == COMPARE && (with_tools || with_floor) {
            compare(std::process::id(), with_tools, with_floor);
        }
        if !with_growth {
            continue;
        }
        let shape = dump_shape();
        let runs = if target <= 1000 {
            11
        } else if target <= 2000 {
            7
        } else {
            5
        };
        let mut times = Vec::new();
        let mut floor = Vec::new();
        for _ in 0..runs {
            times.push(one_dump(&null));
            // At the two counts of the ratio goal, the floor too (naming
            // off), interleaved: how the physical limit itself grows.
            if target == 200 || target == 1000 {
                faulthandler::__bench::set_naming_enabled(false);
                floor.push(one_dump(&null));
                faulthandler::__bench::set_naming_enabled(true);
            }
        }
        if !floor.is_empty() {
            floors.push((target, median(&floor)));
        }
        growth.push((target, median(&times), min(&times), shape));
    }
    if with_growth {
        println!("\nGrowth with the number of threads (our dump, to /dev/null):");
        for (n, med, min, shape) in &growth {
            println!(
                "  {n:6} threads: {med:9.2} ms median, {min:9.2} ms min, {:6.1} us/thread  [{}]",
                med * 1e3 / *n as f64,
                shape_line(shape)
            );
        }
        let at = |n: usize| growth.iter().find(|g| g.0 == n).map(|g| g.1);
        if let (Some(a), Some(b)) = (at(200), at(1000)) {
            println!(
                "  1000 threads / 200 threads: {:.2}x (goal <= 4x: {})",
                b / a,
                met(b / a <= 4.0)
            );
            let floor_at = |n: usize| floors.iter().find(|f| f.0 == n).map(|f| f.1);
            if let (Some(fa), Some(fb)) = (floor_at(200), floor_at(1000)) {
                println!(
                    "    the floor (naming off) at 200 / 1000 threads: {fa:.2} / {fb:.2} ms, \
                     1000 / 200: {:.2}x (5x the threads: 5x is linear)",
                    fb / fa
                );
            }
        }
        if let (Some(a), Some(b)) = (at(1000), at(10_000)) {
            let (pa, pb) = (a / 1000.0, b / 10_000.0);
            println!(
                "  us/thread at 10,000 / at 1,000: {:.2}x ({:.1} vs {:.1} us; linear = at most \
                 {LINEAR_TOLERANCE}x: {})",
                pb / pa,
                pb * 1e3,
                pa * 1e3,
                met(pb / pa <= LINEAR_TOLERANCE)
            );
        }
    }
    println!(
        "\n(bench ran {:.0} s; noisy when something else uses the CPUs)",
        started.elapsed().as_secs_f64()
    );
}
