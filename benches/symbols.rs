//! What symbols cost: `cargo bench --bench symbols`.
//!
//! Prints:
//! - the cost of `enable()` (first call, and re-enables);
//! - how long the background index takes to be ready;
//! - the cost of writing 64 named frames (to /dev/null), with the index
//!   and with the fallback scan only;
//! - the per-frame lookup cost in large binaries (this bench binary, and
//!   the largest system ELF with a `.symtab` found under /usr), with the
//!   index and with a glog-style `pread` scan, side by side.
//!
//! A benchmark, not a test: it asserts nothing about time.

use std::hint::black_box;
use std::os::fd::AsRawFd;
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

/// Recurse `depth` levels, then capture the stack's return addresses.
#[inline(never)]
fn capture(depth: usize, out: &mut Vec<usize>) -> usize {
    if depth == 0 {
        backtrace::trace(|f| {
            out.push(f.ip() as usize);
            true
        });
        return out.len();
    }
    black_box(capture(black_box(depth - 1), out)) + 1
}

/// Probe addresses inside `n` code symbols spread over the file.
fn probes(path: &str, n: usize) -> Vec<u64> {
    let syms = b::code_symbols(path);
    if syms.is_empty() {
        return Vec::new();
    }
    let step = (syms.len() / n).max(1);
    syms.iter()
        .step_by(step)
        .take(n)
        .map(|&(a, s)| a + s / 2)
        .collect()
}

fn file_row(label: &str, path: &str) {
    let Some((count, symtab)) = b::symbol_count(path) else {
        println!("  {label}: {path}: no symbol table");
        return;
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let p = probes(path, 200);
    // A first pass brings the file's pages into the page cache, so both
    // methods are timed warm.
    // SAFETY: this benchmark is single-threaded and crashes nothing.
    let _ = unsafe { b::time_file_lookups(path, &p) };
    // SAFETY: as above.
    let Some(t) = (unsafe { b::time_file_lookups(path, &p) }) else {
        println!("  {label}: {path}: could not index");
        return;
    };
    println!(
        "  {label}: {path}\n    {:.1} MB, {} symbols in {}, {} functions indexed",
        size as f64 / 1e6,
        count,
        if symtab { ".symtab" } else { ".dynsym" },
        t.entries
    );
    println!(
        "    index build (background thread): {:.2} ms, {:.2} MiB",
        t.build.as_secs_f64() * 1e3,
        (t.entries * 16) as f64 / (1 << 20) as f64
    );
    println!(
        "    per lookup: index {} | glog-style pread scan (512 symbols/read) {}   ({} lookups, found {}/{})",
        us(t.index_per_lookup),
        us(t.scan_per_lookup),
        p.len(),
        t.found.0,
        t.found.1
    );
    println!(
        "    64 frames in it, index not ready: one batch pread scan names all in {:.3} ms (found {}/64)",
        t.scan_64_frames.as_secs_f64() * 1e3,
        t.found.2
    );
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
            let (count, symtab) = b::symbol_count(p.to_str()?)?;
            symtab.then_some((count, p))
        })
        .max_by_key(|(c, _)| *c)
        .map(|(_, p)| p)
}

/// The largest ELF file with a `.symtab` under a few system directories.
fn biggest_system_binary() -> Option<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack: Vec<(PathBuf, usize)> = ["/usr/bin", "/usr/lib", "/usr/libexec", "/usr/local"]
        .iter()
        .map(|d| (PathBuf::from(d), 0))
        .collect();
    while let Some((dir, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_dir() && depth < 4 && !p.starts_with("/usr/lib/debug") {
                stack.push((p, depth + 1));
            } else if ft.is_file() {
                let Ok(md) = e.metadata() else { continue };
                if md.len() < 2 << 20 {
                    continue;
                }
                if let Some((count, true)) = b::symbol_count(p.to_str().unwrap_or("")) {
                    if best.as_ref().is_none_or(|(c, _)| count > *c) {
                        best = Some((count, p));
                    }
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

/// `FH_BENCH_FIRST_ENABLE=1`: time one first `enable()` in this fresh
/// process, print the nanoseconds, and exit.
fn first_enable_child() -> bool {
    if std::env::var_os("FH_BENCH_FIRST_ENABLE").is_none() {
        return false;
    }
    let t = Instant::now();
    faulthandler::enable().expect("enable");
    println!("{}", t.elapsed().as_nanos());
    true
}

fn main() {
    if first_enable_child() {
        return;
    }
    // Only `cargo bench` runs this fully; `cargo test` runs benches as
    // tests with --bench absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("symbols bench: run with `cargo bench --bench symbols`");
        return;
    }
    println!("faulthandler symbols benchmark");

    // enable(): the first call, then re-enables.
    let t = Instant::now();
    faulthandler::enable().expect("enable");
    let first = t.elapsed();
    let t_ready = Instant::now();
    while !b::index_ready() && t_ready.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_micros(200));
    }
    let ready = t_ready.elapsed();
    let again: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            faulthandler::enable().expect("enable");
            t.elapsed()
        })
        .collect();
    // The first enable() of a process, in fresh processes.
    let exe = std::env::current_exe().unwrap();
    let firsts: Vec<Duration> = (0..15)
        .filter_map(|_| {
            let out = std::process::Command::new(&exe)
                .env("FH_BENCH_FIRST_ENABLE", "1")
                .output()
                .ok()?;
            let ns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
            Some(Duration::from_nanos(ns))
        })
        .collect();
    let (min, max) = (
        firsts.iter().min().copied().unwrap_or_default(),
        firsts.iter().max().copied().unwrap_or_default(),
    );
    println!("enable():");
    println!(
        "  first call in a fresh process: median {} (min {}, max {}, {} runs); in this run {}",
        us(median(firsts.clone())),
        us(min),
        us(max),
        firsts.len(),
        us(first)
    );
    println!("  re-enable median {}", us(median(again)));
    println!(
        "  background index ready {:.2} ms after the first enable() returned",
        ready.as_secs_f64() * 1e3
    );
    faulthandler::disable();
    b::build_index_now();

    // A 64-frame report (frame lines and the Modules block) into /dev/null.
    let mut frames = Vec::new();
    capture(80, &mut frames);
    let frames: Vec<usize> = frames.into_iter().skip(1).take(64).collect();
    let devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let fd = devnull.as_raw_fd();
    let time_report = |frames: &[usize]| {
        let runs: Vec<Duration> = (0..30)
            .map(|_| {
                let t = Instant::now();
                // SAFETY: single-threaded; nothing crashes meanwhile.
                unsafe { b::write_frames_to_fd(fd, frames) };
                t.elapsed()
            })
            .collect();
        median(runs)
    };
    let with_index = time_report(&frames);
    b::set_index_enabled(false);
    let with_scan = time_report(&frames);
    b::set_index_enabled(true);
    println!("64-frame report (to /dev/null):");
    println!(
        "  a real 64-deep stack (recursion): with the index {:.3} ms | index not ready (pread scans) {:.3} ms",
        with_index.as_secs_f64() * 1e3,
        with_scan.as_secs_f64() * 1e3
    );
    // 64 different functions of this binary, as return addresses.
    let (path, bias) = b::module_of(capture as *const () as usize).expect("our own module");
    let distinct: Vec<usize> = b::code_symbols(&path)
        .iter()
        .filter(|(_, size)| *size > 2)
        .step_by(7)
        .take(64)
        .map(|&(a, _)| a as usize + bias + 2)
        .collect();
    let with_index = time_report(&distinct);
    b::set_index_enabled(false);
    let with_scan = time_report(&distinct);
    b::set_index_enabled(true);
    println!(
        "  64 different functions:          with the index {:.3} ms | index not ready (pread scans) {:.3} ms",
        with_index.as_secs_f64() * 1e3,
        with_scan.as_secs_f64() * 1e3
    );
    // Show what the frames look like.
    let mut out = Vec::new();
    {
        let mut tmp = tempfile_in_target();
        // SAFETY: as above.
        unsafe { b::write_frames_to_fd(tmp.1.as_raw_fd(), &frames[..3]) };
        use std::io::{Read, Seek};
        tmp.1.seek(std::io::SeekFrom::Start(0)).unwrap();
        tmp.1.read_to_end(&mut out).unwrap();
        let _ = std::fs::remove_file(&tmp.0);
    }
    for l in String::from_utf8_lossy(&out).lines().take(3) {
        println!("  e.g. {l}");
    }

    println!("per-frame lookup in large binaries:");
    let exe = std::env::current_exe().unwrap();
    file_row("this bench binary", exe.to_str().unwrap());
    if let Some(t) = biggest_test_binary() {
        file_row("largest test binary (debug)", t.to_str().unwrap());
    }
    match biggest_system_binary() {
        Some(p) => file_row("largest system ELF with .symtab", p.to_str().unwrap()),
        None => println!("  no system ELF with a .symtab over 2 MB found"),
    }
}

fn tempfile_in_target() -> (PathBuf, std::fs::File) {
    let p = std::env::temp_dir().join(format!("fh-bench-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    (p, f)
}
