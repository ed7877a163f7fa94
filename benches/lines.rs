//! What source lines cost: `cargo bench --bench lines`.
//!
//! Prints, side by side:
//! - the time from `enable()` to the line tables being ready for every
//!   loaded module (this bench binary, libc with its debug file when
//!   libc6-dbg is installed, ...);
//! - per module file: the CPU time to build its line tables, the memory
//!   they take (mapped, all resident), against the size of its
//!   `.debug_line` and the goal of `.debug_line` + 16 B a function;
//! - the frame lines of a 64-frame stack with lines (what a crash report
//!   writes for its crashing thread), to /dev/null;
//! - a warm single-stack dump with lines (`dump_traceback`, to /dev/null)
//!   against `backtrace::Backtrace::new()` formatted with `{:?}`, in the
//!   same process, and the ratio against the goal (0.7x at most);
//! - zstd-compressed debug sections: our malloc-free decoder's speed on
//!   this binary's `.debug_info` and `.debug_line` (compressed by libzstd
//!   at levels 3 and 19) against libzstd's own decoder.
//!
//! A benchmark, not a test: it asserts nothing about time.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faulthandler::__bench as b;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn mib(n: u64) -> String {
    format!("{:.2} MiB", n as f64 / (1 << 20) as f64)
}

/// Recurse `depth` levels, then run `f` there.
#[inline(never)]
fn deep<T>(depth: usize, f: &mut dyn FnMut() -> T) -> T {
    if depth == 0 {
        return f();
    }
    let r = deep(black_box(depth - 1), f);
    black_box(&r);
    r
}

fn module_row(label: &str, path: &str) {
    let f = b::build_lines_of(path, u64::MAX);
    let goal = f.debug_line + 16 * f.functions as u64;
    println!("  {label}: {path}");
    println!(
        "    DWARF read {}, .debug_line {}; {} functions",
        mib(f.debug_read),
        mib(f.debug_line),
        f.functions
    );
    println!(
        "    build: {:.1} ms CPU ({:.1} ms wall, this thread at normal priority)",
        f.cpu.as_secs_f64() * 1e3,
        f.wall.as_secs_f64() * 1e3
    );
    println!(
        "    kept: {} rows, {} inline segments, {} inlined calls ({} of them wide), {} files, {} of names; {} names left in the file",
        f.rows,
        f.segments,
        f.inlines,
        f.wide,
        f.files,
        mib(f.pool as u64),
        f.names_in_file
    );
    println!(
        "    memory: {} mapped ({:.0}% of .debug_line; goal .debug_line + 16 B/function = {}: {})",
        mib(f.mapped as u64),
        100.0 * f.mapped as f64 / f.debug_line.max(1) as f64,
        mib(goal),
        if (f.mapped as u64) <= goal {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn libc_path() -> Option<String> {
    b::module_of(libc::getpid as *const () as usize).map(|(p, _)| p)
}

/// The largest ELF test binary that `cargo test` left in target/debug/deps.
fn biggest_test_binary() -> Option<PathBuf> {
    let deps = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/deps");
    std::fs::read_dir(deps)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_none())
        .filter_map(|p| {
            let len = std::fs::metadata(&p).ok()?.len();
            b::symbol_count(p.to_str()?)?;
            Some((len, p))
        })
        .max_by_key(|(l, _)| *l)
        .map(|(_, p)| p)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("lines bench: run with `cargo bench --bench lines`");
        return;
    }
    println!("faulthandler lines benchmark");
    let devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();

    // enable() to lines ready, with the background thread at idle priority.
    let t = Instant::now();
    faulthandler::enable().expect("enable");
    let enabled = t.elapsed();
    while !b::index_ready() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_micros(200));
    }
    let names = t.elapsed();
    while !b::lines_ready() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_micros(500));
    }
    let lines = t.elapsed();
    println!("enable() to ready (fh-symbols thread, SCHED_IDLE, an otherwise idle process):");
    println!(
        "  enable() returned after {}; names ready at {:.1} ms; lines ready at {:.1} ms",
        us(enabled),
        names.as_secs_f64() * 1e3,
        lines.as_secs_f64() * 1e3
    );

    println!("line tables per module:");
    let exe = std::env::current_exe().unwrap();
    module_row("this bench binary", exe.to_str().unwrap());
    if let Some(p) = biggest_test_binary() {
        module_row("the largest test binary", p.to_str().unwrap());
    }
    if let Some(p) = libc_path() {
        module_row("libc (from its separate debug file)", &p);
    }

    // 64 frames with lines, as a report writes them.
    let mut frames = Vec::new();
    deep(60, &mut || {
        backtrace::trace(|f| {
            frames.push(f.ip() as usize);
            true
        })
    });
    frames.truncate(64);
    use std::os::fd::AsRawFd;
    let fd = devnull.as_raw_fd();
    // SAFETY: this benchmark is single-threaded while it names frames.
    unsafe { b::write_frames_to_fd(fd, &frames) };
    let times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            // SAFETY: as above.
            unsafe { b::write_frames_to_fd(fd, &frames) };
            t.elapsed()
        })
        .collect();
    println!(
        "{} frames with lines and inlined calls, written to /dev/null: median {:.3} ms (goal 1 ms)",
        frames.len(),
        median(times).as_secs_f64() * 1e3
    );
    b::set_index_enabled(false);
    let times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            // SAFETY: as above.
            unsafe { b::write_frames_to_fd(fd, &frames) };
            t.elapsed()
        })
        .collect();
    b::set_index_enabled(true);
    println!(
        "  the same without the index (names by scan, no lines): median {:.3} ms",
        median(times).as_secs_f64() * 1e3
    );

    // A warm single-stack dump against backtrace-rs, interleaved in
    // rounds so that both see the same machine.
    let dump = || faulthandler::dump_traceback(devnull.as_fd(), false).unwrap();
    let bt = || black_box(format!("{:?}", backtrace::Backtrace::new()));
    dump();
    bt();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        for _ in 0..20 {
            let t = Instant::now();
            dump();
            ours.push(t.elapsed());
        }
        for _ in 0..20 {
            let t = Instant::now();
            bt();
            theirs.push(t.elapsed());
        }
    }
    let depth = backtrace::Backtrace::new().frames().len();
    let (ours, theirs) = (median(ours), median(theirs));
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!("warm single-stack dump with lines ({depth} frames, 200 of each, interleaved):");
    println!(
        "  dump_traceback(devnull, false): median {} | backtrace::Backtrace::new() + {{:?}}: median {}",
        us(ours),
        us(theirs)
    );
    println!(
        "  ours / backtrace's: {ratio:.2}x (goal <= 0.7x: {})",
        if ratio <= 0.7 { "met" } else { "NOT met" }
    );
    zstd_row(&exe);
}

/// Our zstd decoder against libzstd's, on sections of `exe`, interleaved.
fn zstd_row(exe: &std::path::Path) {
    use object::{Object, ObjectSection};
    let bytes = std::fs::read(exe).unwrap();
    let Ok(obj) = object::File::parse(&*bytes) else {
        return;
    };
    println!("zstd-compressed sections, decoded (ours: no heap; libzstd: C, with its heap):");
    for name in [".debug_info", ".debug_line"] {
        let Some(data) = obj
            .section_by_name(name)
            .and_then(|s| s.uncompressed_data().ok())
        else {
            continue;
        };
        let data = &data[..data.len().min(16 << 20)];
        for level in [3, 19] {
            let z = zstd::bulk::compress(data, level).unwrap();
            let mut out = vec![0u8; data.len()];
            let mut dec = zstd::bulk::Decompressor::new().unwrap();
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..7 {
                let t = Instant::now();
                let n = b::zstd_decompress(&z, &mut out);
                ours.push(t.elapsed());
                assert_eq!(n, Some(data.len()));
                let t = Instant::now();
                let n = dec.decompress_to_buffer(&z, &mut out[..]).unwrap();
                theirs.push(t.elapsed());
                assert_eq!(n, data.len());
            }
            let (ours, theirs) = (median(ours), median(theirs));
            let rate = |d: Duration| data.len() as f64 / d.as_secs_f64() / (1 << 20) as f64;
            println!(
                "  {name} ({}, level {level}, {}x smaller): ours {:.0} MiB/s, libzstd {:.0} MiB/s: \
                 ours takes {:.2}x libzstd's time",
                mib(data.len() as u64),
                data.len() / z.len().max(1),
                rate(ours),
                rate(theirs),
                ours.as_secs_f64() / theirs.as_secs_f64()
            );
        }
    }
}
