//! How long a dump of every thread takes, against the tools that stop a
//! process from outside. Not a test: run it with
//!
//! ```text
//! cargo bench --bench threads
//! ```
//!
//! The bench process starts 200 threads, each parked about 20 frames deep,
//! and times, on that same process:
//! - `faulthandler::dump_traceback(all_threads)` to /dev/null (addresses,
//!   modules and whatever symbolization the crate has);
//! - `eu-stack -p PID` (elfutils) and `gdb -batch -p PID -ex "thread apply
//!   all bt"`, when they are installed (skipped, and said so, when not);
//!
//! then prints the ratios, and how the dump time grows from 10 to 1000
//! threads.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEPTH: u32 = 20;

#[inline(never)]
fn descend(n: u32, ready: &mpsc::Sender<()>) -> u32 {
    if n == 0 {
        let _ = ready.send(());
        loop {
            std::thread::park();
        }
    }
    black_box(descend(black_box(n - 1), ready)) + 1
}

/// Start `n` more threads, each parked DEPTH frames down.
fn spawn_parked(n: usize) {
    let (tx, rx) = mpsc::channel();
    for i in 0..n {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                descend(DEPTH, &tx);
            })
            .expect("spawn");
    }
    for _ in 0..n {
        rx.recv().expect("thread ready");
    }
}

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Median and min of `runs` timed dumps, in milliseconds.
fn time_our_dump(runs: usize) -> (f64, f64, usize) {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        faulthandler::dump_traceback(null.as_fd(), true).expect("dump");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // One more into a pipe-backed file, to count the lines.
    let path = std::env::temp_dir().join(format!("fh-bench-{}.txt", std::process::id()));
    let f = std::fs::File::create(&path).expect("temp file");
    faulthandler::dump_traceback(f.as_fd(), true).expect("dump");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let frames = text.lines().filter(|l| l.starts_with("  #")).count();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], frames)
}

fn tool_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Time an external tool on our own pid (median of `runs`), or say why not.
fn time_tool(name: &str, args: &[String], runs: usize) -> Option<f64> {
    if !tool_exists(name) {
        println!("  {name:<9} skipped: not installed");
        return None;
    }
    let mut times = Vec::new();
    // The tool stops this very process, so its output must not go to a
    // pipe that we would have to drain: a file it is.
    let path = std::env::temp_dir().join(format!("fh-bench-tool-{}.txt", std::process::id()));
    for _ in 0..runs {
        let file = std::fs::File::create(&path).ok()?;
        let t = Instant::now();
        let out = Command::new(name)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::piped())
            .output()
            .ok()?;
        let dt = t.elapsed().as_secs_f64() * 1e3;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        let frames = text
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count();
        if frames < 200 * DEPTH as usize / 2 {
            println!(
                "  {name:<9} skipped: it could not attach ({} frames; status {}): {}",
                frames,
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            return None;
        }
        times.push(dt);
    }
    times.sort_by(f64::total_cmp);
    Some(times[times.len() / 2])
}

fn main() {
    // Let our children (eu-stack, gdb) attach to us under Yama ptrace_scope 1.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0) };
    faulthandler::Config::new()
        .max_threads(1000)
        .thread_timeout(Duration::from_secs(2))
        .enable()
        .expect("enable");
    let pid = std::process::id().to_string();
    let mut have = 0;
    let mut growth = Vec::new();
    for target in [10usize, 100, 200, 500, 1000] {
        spawn_parked(target - have);
        have = target;
        let (med, min, frames) = time_our_dump(if target == 200 { 21 } else { 11 });
        growth.push((target, med, min, frames));
        if target != 200 {
            continue;
        }
        println!(
            "{target} threads parked {DEPTH} frames deep ({} threads in the process, {frames} frame lines per dump)",
            threads_now()
        );
        println!("  faulthandler  {med:8.2} ms median, {min:.2} ms min");
        let eu = time_tool("eu-stack", &["-p".into(), pid.clone()], 5);
        if let Some(t) = eu {
            println!(
                "  eu-stack      {t:8.2} ms median   -> faulthandler is {:.0}x faster",
                t / med
            );
        }
        let gdb = time_tool(
            "gdb",
            &[
                "-nx".into(),
                "-batch".into(),
                "-p".into(),
                pid.clone(),
                "-ex".into(),
                "thread apply all bt".into(),
            ],
            3,
        );
        if let Some(t) = gdb {
            println!(
                "  gdb           {t:8.2} ms median   -> faulthandler is {:.0}x faster",
                t / med
            );
        }
    }
    println!("\nGrowth with the number of threads (our dump):");
    for (n, med, min, frames) in growth {
        println!(
            "  {n:5} threads: {med:8.2} ms median, {min:8.2} ms min, {:6.1} us/thread ({frames} frame lines)",
            med * 1e3 / n as f64
        );
    }
}
