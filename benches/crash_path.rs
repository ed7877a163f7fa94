//! Figures for the crash path (run with `cargo bench --bench crash_path`;
//! `FH_BENCH_SECTIONS=enable,threads,depth` picks sections, all by
//! default):
//!
//! - `enable`: `enable()`'s first call in a fresh process, median over 15
//!   processes with 10 and with 3,000 other threads alive (goal 0.3 ms,
//!   not growing with threads or mappings); the VmSize and VmRSS it adds
//!   once the symbol index and line tables are ready (goal VmSize <= 8 MB);
//!   and a reconfiguring call;
//! - `threads`: the time from a fault to the previous handler (the whole
//!   report written to /dev/null) with `all_threads(false)` and 10 or
//!   3,000 other threads alive (goal: the same within 20%), and with every
//!   thread at 10, 1,000 and 3,000 threads (goal: linear);
//! - `depth`: the same time for a crash 5, 100 and 1000 frames deep, and
//!   the handler's peak use of the alternate signal stack, kernel frame
//!   included: the figure that says whether a report fits on Rust std's
//!   8 KiB alt stacks.
//!
//! Each measurement runs in a child process (this binary re-executed). A
//! crash child installs its own SIGSEGV handler before `enable()`;
//! faulthandler chains to it after the report, and it measures, prints and
//! exits. Medians of several children. A benchmark: it asserts nothing
//! about time, it prints.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faulthandler::__bench as b;

static FAULT_AT_NS: AtomicU64 = AtomicU64::new(0);
static ALT_BASE: AtomicUsize = AtomicUsize::new(0);
static ALT_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The child's task, in the environment.
const CHILD: &str = "FH_BENCH_CHILD";
/// Goal: a crash with `all_threads(false)` costs the same within this.
const SAME_WITHIN: f64 = 0.20;
/// "Linear": the per-thread cost between 1,000 and 3,000 threads at most
/// this many times that between 10 and 1,000.
const LINEAR_TOLERANCE: f64 = 1.25;

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The previous handler: measure the alt stack's high-water mark and the
/// elapsed time, print them, exit.
extern "C" fn measure(_sig: i32, _info: *mut libc::siginfo_t, _uc: *mut libc::c_void) {
    let elapsed = now_ns() - FAULT_AT_NS.load(Ordering::SeqCst);
    // The alt stack as it was before the crash (faulthandler's are
    // SS_AUTODISARM: inside a handler the kernel reports none).
    let base = ALT_BASE.load(Ordering::SeqCst) as *const u8;
    let size = ALT_SIZE.load(Ordering::SeqCst);
    let mut untouched = 0usize;
    // SAFETY: the alt stack is `size` readable bytes (faulthandler's mmap).
    while untouched < size && unsafe { *base.add(untouched) } == 0 {
        untouched += 1;
    }
    let line = format!(
        "peak={} size={} elapsed_ns={}\n",
        size - untouched,
        size,
        elapsed
    );
    // SAFETY: writing a local buffer to stdout.
    unsafe {
        libc::write(1, line.as_ptr().cast(), line.len());
        libc::_exit(0);
    }
}

#[inline(never)]
fn deep(n: u32) -> u32 {
    if n == 0 {
        FAULT_AT_NS.store(now_ns(), Ordering::SeqCst);
        // SAFETY: it is not; this is the crash being measured.
        return unsafe { std::ptr::read_volatile(black_box(8 as *const u32)) };
    }
    black_box(deep(black_box(n - 1))) + 1
}

/// Start `n` threads (64 KiB stacks, named), parked; or exit saying why.
fn spawn_parked(n: usize) {
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..n {
        let tx = tx.clone();
        let r = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = tx.send(());
                loop {
                    std::thread::park();
                }
            });
        if let Err(e) = r {
            println!("refused=thread-{}:{e}", i + 1);
            std::process::exit(3);
        }
    }
    for _ in 0..n {
        rx.recv().expect("thread ready");
    }
}

/// A crash child: `threads` other threads, then a fault `depth` frames
/// down, once the index and line tables are ready (the warm crash path).
fn crash_child(depth: u32, threads: usize, all: bool) -> ! {
    spawn_parked(threads);
    // SAFETY: installing a handler with a matching signature.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = measure as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGSEGV, &act, std::ptr::null_mut());
    }
    // The report first, then the measuring handler.
    // With every thread: room for all of them, and time. Without: the
    // defaults.
    let mut config = faulthandler::Config::new()
        .all_threads(all)
        .report_first(true);
    if all {
        config = config
            .max_threads(threads.max(1))
            .thread_timeout(Duration::from_secs(20));
    }
    config.enable().expect("enable");
    // The names and lines on this thread (the background builder runs at
    // idle priority, which a busy machine may starve).
    b::build_index_now();
    // SAFETY: querying the alt stack into a local.
    let mut ss: libc::stack_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaltstack(std::ptr::null(), &mut ss) };
    ALT_BASE.store(ss.ss_sp as usize, Ordering::SeqCst);
    ALT_SIZE.store(ss.ss_size, Ordering::SeqCst);
    black_box(deep(depth));
    unreachable!("the crash did not happen");
}

/// VmSize and VmRSS of this process, in kB.
fn vm_kb() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmSize:"), field("VmRSS:"))
}

/// An enable child: `threads` other threads, then the first `enable()` of
/// the process timed; then the memory it added once the background thread
/// has the index and line tables ready.
fn enable_child(threads: usize) -> ! {
    spawn_parked(threads);
    let (size0, rss0) = vm_kb();
    let t = Instant::now();
    faulthandler::enable().expect("enable");
    let took = t.elapsed();
    let (size1, rss1) = vm_kb();
    let t = Instant::now();
    while !(b::index_ready() && b::lines_ready()) && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let ready = b::index_ready() && b::lines_ready();
    let ready_ms = t.elapsed().as_secs_f64() * 1e3;
    // The builder thread may still be on its way out: let it go, so its
    // stack is not counted.
    std::thread::sleep(Duration::from_millis(20));
    let (size2, rss2) = vm_kb();
    println!(
        "enable_ns={} size_at_return_kb={} rss_at_return_kb={} size_kb={} rss_kb={} ready={} ready_ms={ready_ms:.0}",
        took.as_nanos(),
        size1 as i64 - size0 as i64,
        rss1 as i64 - rss0 as i64,
        size2 as i64 - size0 as i64,
        rss2 as i64 - rss0 as i64,
        u8::from(ready)
    );
    std::process::exit(0);
}

extern "C" fn noop(_sig: i32, _info: *mut libc::siginfo_t, _uc: *mut libc::c_void) {}

/// The kernel's signal frame alone: a no-op handler on a fresh, zeroed alt
/// stack, then the same high-water scan.
fn kernel_frame_bytes() -> usize {
    const SIZE: usize = 64 * 1024;
    let mut stack = vec![0u8; SIZE];
    // SAFETY: installing a zeroed buffer we own as the alt stack, a no-op
    // handler, raising once, then disabling the alt stack again.
    unsafe {
        let ss = libc::stack_t {
            ss_sp: stack.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: SIZE,
        };
        let mut old: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(&ss, &mut old);
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = noop as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        let mut prev: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR2, &act, &mut prev);
        libc::raise(libc::SIGUSR2);
        libc::sigaction(libc::SIGUSR2, &prev, std::ptr::null_mut());
        libc::sigaltstack(&old, std::ptr::null_mut());
    }
    SIZE - stack.iter().position(|&b| b != 0).unwrap_or(SIZE)
}

fn median<T: Ord + Copy + Default>(v: &[T]) -> T {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "NOT met"
    }
}

/// Run one child with `task`; its `key=value` fields (None when it failed,
/// said so).
fn run_child(task: &str) -> Option<Vec<(String, String)>> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, task)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<(String, String)> = text
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((_, why)) = fields.iter().find(|(k, _)| k == "refused") {
        println!("  child {task}: the system refused a thread ({why})");
        return None;
    }
    if fields.is_empty() {
        println!(
            "  child {task}: no figures ({}; stdout {:?})",
            out.status,
            text.trim()
        );
        return None;
    }
    Some(fields)
}

fn field(fields: &[(String, String)], k: &str) -> i64 {
    fields
        .iter()
        .find(|(key, _)| key == k)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Children for each of `tasks`, interleaved, `runs` rounds: each task's
/// list of results.
fn interleaved(tasks: &[String], runs: usize) -> Vec<Vec<Vec<(String, String)>>> {
    let mut out = vec![Vec::new(); tasks.len()];
    for _ in 0..runs {
        for (i, t) in tasks.iter().enumerate() {
            if let Some(f) = run_child(t) {
                out[i].push(f);
            }
        }
    }
    out
}

fn section_enable() {
    let counts = [10usize, 3000];
    let tasks: Vec<String> = counts.iter().map(|n| format!("enable:{n}")).collect();
    let results = interleaved(&tasks, 15);
    println!("enable(), first call in a fresh process (median of the processes):");
    let mut medians = Vec::new();
    for (n, r) in counts.iter().zip(&results) {
        let col = |k: &str| r.iter().map(|f| field(f, k)).collect::<Vec<i64>>();
        let ns = median(&col("enable_ns")) as u64;
        medians.push(ns);
        let not_ready = r.iter().filter(|f| field(f, "ready") == 0).count();
        println!(
            "  {n:5} other threads: {} median ({} processes, min {}, max {}) (goal <= 0.3 ms: {})",
            ms(ns),
            r.len(),
            ms(col("enable_ns").iter().copied().min().unwrap_or(0) as u64),
            ms(col("enable_ns").iter().copied().max().unwrap_or(0) as u64),
            met(ns <= 300_000)
        );
        let size = median(&col("size_kb"));
        println!(
            "        memory added once names and lines are ready (after {} ms median{}): \
             VmSize {:+.1} MB (goal <= 8 MB: {}), VmRSS {:+.1} MB; at enable()'s return: \
             VmSize {:+.1} MB, VmRSS {:+.1} MB",
            median(&col("ready_ms")),
            if not_ready > 0 {
                format!(", {not_ready} processes NOT READY after 30 s")
            } else {
                String::new()
            },
            size as f64 / 1e3,
            met(size <= 8_000),
            median(&col("rss_kb")) as f64 / 1e3,
            median(&col("size_at_return_kb")) as f64 / 1e3,
            median(&col("rss_at_return_kb")) as f64 / 1e3,
        );
    }
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    println!(
        "  (glibc makes at most {} malloc arenas here, 8 per CPU, each reserving 64 MiB of \
         VmSize; our threads never call malloc, so they add none: the 10-thread figure, where \
         a thread of ours that allocated would get an arena of its own, is the one to watch)",
        8 * cpus
    );
    if let [a, b] = medians[..] {
        let r = b as f64 / a.max(1) as f64;
        println!(
            "  3000 / 10 threads: {r:.2}x (goal: not growing, within {:.0}%: {})",
            SAME_WITHIN * 100.0,
            met(r <= 1.0 + SAME_WITHIN)
        );
    }
    // Reconfiguring calls, in this process.
    faulthandler::enable().unwrap();
    let again: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            faulthandler::enable().unwrap();
            t.elapsed()
        })
        .collect();
    faulthandler::disable();
    println!(
        "  a reconfiguring call (enable() again): median {:?}",
        median(&again)
    );
}

fn elapsed_of(r: &[Vec<(String, String)>]) -> u64 {
    median(&r.iter().map(|f| field(f, "elapsed_ns")).collect::<Vec<_>>()) as u64
}

fn section_threads() {
    // all_threads(false): the same with 10 and 3,000 other threads.
    let counts = [10usize, 3000];
    let tasks: Vec<String> = counts.iter().map(|n| format!("crash:5:{n}:0")).collect();
    let results = interleaved(&tasks, 9);
    println!(
        "crash with all_threads(false), fault to previous handler (report to /dev/null; median of 9 processes):"
    );
    let times: Vec<u64> = results.iter().map(|r| elapsed_of(r)).collect();
    for (n, t) in counts.iter().zip(&times) {
        println!("  {n:5} other threads: {}", ms(*t));
    }
    if let [a, b] = times[..] {
        let r = b as f64 / a.max(1) as f64;
        println!(
            "  3000 / 10 threads: {r:.2}x (goal: the same within {:.0}%: {})",
            SAME_WITHIN * 100.0,
            met((r - 1.0).abs() <= SAME_WITHIN)
        );
    }
    // Every thread.
    let counts = [10usize, 1000, 3000];
    let tasks: Vec<String> = counts.iter().map(|n| format!("crash:5:{n}:1")).collect();
    let results = interleaved(&tasks, 7);
    println!("crash with every thread, fault to previous handler (median of 7 processes):");
    let times: Vec<u64> = results.iter().map(|r| elapsed_of(r)).collect();
    for (n, t) in counts.iter().zip(&times) {
        println!(
            "  {n:5} threads: {:9} ({:.1} us/thread)",
            ms(*t),
            *t as f64 / 1e3 / (*n + 1) as f64
        );
    }
    if let [t10, t1000, t3000] = times[..] {
        let low = (t1000 as f64 - t10 as f64) / 990.0;
        let high = (t3000 as f64 - t1000 as f64) / 2000.0;
        println!(
            "  each added thread: {:.1} us from 10 to 1,000, {:.1} us from 1,000 to 3,000: {:.2}x \
             (linear = at most {LINEAR_TOLERANCE}x: {}); 3000 / 1000 threads: {:.2}x",
            low / 1e3,
            high / 1e3,
            high / low,
            met(high / low <= LINEAR_TOLERANCE),
            t3000 as f64 / t1000.max(1) as f64
        );
    }
}

fn section_depth() {
    // SAFETY: getauxval has no preconditions; 51 is AT_MINSIGSTKSZ.
    let worst = unsafe { libc::getauxval(51) };
    let frame = kernel_frame_bytes();
    println!(
        "kernel signal frame: {frame} bytes here (AT_MINSIGSTKSZ, the worst case \
         with AMX state in use: {worst}); the handler uses the rest of the peak"
    );
    for depth in [5u32, 100, 1000] {
        let r = interleaved(&[format!("crash:{depth}:0:0")], 9).remove(0);
        let peak = r.iter().map(|f| field(f, "peak")).max().unwrap_or(0);
        let size = r.iter().map(|f| field(f, "size")).max().unwrap_or(0);
        println!(
            "crash {depth:>4} frames deep, no other thread: fault to previous handler median {}; \
             alt stack peak {peak} bytes (of {} KiB)",
            ms(elapsed_of(&r)),
            size / 1024
        );
    }
}

fn main() {
    if let Ok(task) = std::env::var(CHILD) {
        let parts: Vec<&str> = task.split(':').collect();
        match parts[..] {
            ["crash", depth, threads, all] => {
                crash_child(depth.parse().unwrap(), threads.parse().unwrap(), all == "1")
            }
            ["enable", threads] => enable_child(threads.parse().unwrap()),
            _ => panic!("unknown child task {task:?}"),
        }
    }
    // `cargo test --benches` runs benches as tests: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("crash_path bench: run with `cargo bench --bench crash_path`");
        return;
    }
    let sections = std::env::var("FH_BENCH_SECTIONS").unwrap_or_default();
    let want = |s: &str| sections.is_empty() || sections.split(',').any(|x| x.trim() == s);
    let started = Instant::now();
    println!("faulthandler crash path benchmark");
    if want("enable") {
        section_enable();
    }
    if want("threads") {
        section_threads();
    }
    if want("depth") {
        section_depth();
    }
    println!(
        "(bench ran {:.0} s; noisy when something else uses the CPUs)",
        started.elapsed().as_secs_f64()
    );
}
