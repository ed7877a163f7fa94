//! Figures for the crash path (run with `cargo bench --bench crash_path`):
//!
//! - the cost of `enable()` (first call, and a reconfiguring call);
//! - the time from a fault to the previous handler, which includes writing
//!   the whole report (to /dev/null);
//! - the handler's peak use of the alternate signal stack, kernel frame
//!   included: the figure that says whether a report fits on Rust std's
//!   8 KiB alt stacks.
//!
//! Each crash runs in a child process (this binary re-executed). The child
//! installs its own SIGSEGV handler before `enable()`; faulthandler chains
//! to it after the report, and it measures, prints and exits.

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static FAULT_AT_NS: AtomicU64 = AtomicU64::new(0);
static ALT_BASE: AtomicUsize = AtomicUsize::new(0);
static ALT_SIZE: AtomicUsize = AtomicUsize::new(0);

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
        "peak={} size={} elapsed_us={}\n",
        size - untouched,
        size,
        elapsed / 1000
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

fn child(depth: u32) -> ! {
    // SAFETY: installing a handler with a matching signature.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = measure as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGSEGV, &act, std::ptr::null_mut());
    }
    // The report first, then the measuring handler.
    faulthandler::Config::new()
        .all_threads(false)
        .report_first(true)
        .enable()
        .expect("enable");
    // SAFETY: querying the alt stack into a local.
    let mut ss: libc::stack_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaltstack(std::ptr::null(), &mut ss) };
    ALT_BASE.store(ss.ss_sp as usize, Ordering::SeqCst);
    ALT_SIZE.store(ss.ss_size, Ordering::SeqCst);
    black_box(deep(depth));
    unreachable!("the crash did not happen");
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if let Ok(d) = std::env::var("FH_BENCH_CHILD") {
        child(d.parse().unwrap());
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let t = Instant::now();
    faulthandler::enable().unwrap();
    let first = t.elapsed();
    let again: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            faulthandler::enable().unwrap();
            t.elapsed()
        })
        .collect();
    faulthandler::disable();
    println!(
        "enable(): first call {first:?}, reconfigure median {:?}",
        median(again)
    );
    // SAFETY: getauxval has no preconditions; 51 is AT_MINSIGSTKSZ.
    let worst = unsafe { libc::getauxval(51) };
    let frame = kernel_frame_bytes();
    println!(
        "kernel signal frame: {frame} bytes here (AT_MINSIGSTKSZ, the worst case \
         with AMX state in use: {worst}); the handler uses the rest of the peak"
    );

    for depth in [5u32, 100, 1000] {
        let mut peaks = Vec::new();
        let mut times = Vec::new();
        for _ in 0..9 {
            let out = Command::new(std::env::current_exe().unwrap())
                .env("FH_BENCH_CHILD", depth.to_string())
                .stderr(std::process::Stdio::null())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |k: &str| -> u64 {
                text.split_whitespace()
                    .find_map(|f| f.strip_prefix(k))
                    .unwrap_or_else(|| panic!("no {k} in {text:?}"))
                    .parse()
                    .unwrap()
            };
            peaks.push(field("peak="));
            times.push(Duration::from_micros(field("elapsed_us=")));
        }
        peaks.sort();
        println!(
            "crash {depth:>4} frames deep: fault to previous handler median {:?}; \
             alt stack peak {} bytes (of {} KiB)",
            median(times),
            peaks[peaks.len() - 1],
            64
        );
    }
}
