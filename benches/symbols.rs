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
//! - the indexer's CPU time for /usr/bin/node's symbols (goal 5 ms), and
//!   whether the background builder runs at idle priority;
//! - node's startup CPU (`node -e 0`, user + sys of the child) with and
//!   without the preload (`LD_PRELOAD=libfaulthandler.so FAULTHANDLER=1`,
//!   the library built with `cargo build -p faulthandler-c --release` when
//!   missing or stale), alternating, medians (goal 1.03x at most).
//!
//! `FH_BENCH_SECTIONS=lookups,node` picks sections (all by default).
//!
//! A benchmark, not a test: it asserts nothing about time.

use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    let sections = std::env::var("FH_BENCH_SECTIONS").unwrap_or_default();
    let want = |s: &str| sections.is_empty() || sections.split(',').any(|x| x.trim() == s);
    if want("lookups") {
        lookups();
    }
    if want("node") {
        node();
    }
}

/// The policy of this process's thread named `name` (its comm), if one
/// runs now: field 41 of /proc/self/task/TID/stat.
fn policy_of_thread(name: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // After the `(comm)` field, fields 3.. are space-separated.
        let rest = &stat[stat.rfind(')')? + 2..];
        return rest.split(' ').nth(41 - 3)?.parse().ok();
    }
    None
}

fn lookups() {
    // enable(): the first call, then re-enables.
    let t = Instant::now();
    faulthandler::enable().expect("enable");
    let first = t.elapsed();
    let t_ready = Instant::now();
    // The builder's policy, as last seen (it sets it once it runs).
    let mut policy = None;
    while !b::index_ready() && t_ready.elapsed() < Duration::from_secs(30) {
        policy = policy_of_thread("fh-symbols").or(policy);
        std::thread::sleep(Duration::from_micros(200));
    }
    let ready = t_ready.elapsed();
    // It goes on with the line tables.
    policy = policy_of_thread("fh-symbols").or(policy);
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
    println!(
        "  the background builder (fh-symbols) runs at {} (goal: idle priority: {})",
        match policy {
            Some(5) => "SCHED_IDLE".to_string(),
            Some(p) => format!("scheduling policy {p}"),
            None => "? (the thread was not seen running)".to_string(),
        },
        match policy {
            Some(5) => "met",
            None => "unknown",
            Some(_) => "NOT met",
        }
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

const NODE: &str = "/usr/bin/node";

/// node: the indexer's CPU for its symbols, and its startup CPU under the
/// preload.
fn node() {
    println!("node ({NODE}):");
    if !Path::new(NODE).is_file() {
        println!("  skipped: {NODE} is not installed (Debian: apt-get install nodejs)");
        return;
    }
    let count = b::symbol_count(NODE);
    // Warm the page cache, then the median of several builds.
    let _ = b::index_file(NODE);
    let runs: Vec<(Duration, Duration, usize)> =
        (0..7).filter_map(|_| b::index_file(NODE)).collect();
    if runs.is_empty() {
        println!("  the indexer found no symbol table in {NODE}");
    } else {
        let cpu = median(runs.iter().map(|r| r.0).collect());
        let wall = median(runs.iter().map(|r| r.1).collect());
        println!(
            "  indexer: {:.2} ms CPU median ({:.2} ms wall, {} runs) for {} symbols in {}, {} functions indexed (goal <= 5 ms CPU: {})",
            cpu.as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e3,
            runs.len(),
            count.map_or(0, |c| c.0),
            match count {
                Some((_, true)) => ".symtab",
                _ => ".dynsym",
            },
            runs[0].2,
            if cpu <= Duration::from_millis(5) { "met" } else { "NOT met" }
        );
    }
    let lib = match c_library() {
        Ok(p) => p,
        Err(why) => {
            println!("  startup under the preload: skipped: {why}");
            return;
        }
    };
    let run = |preload: bool| -> Option<(Duration, Duration)> {
        let mut cmd = Command::new(NODE);
        cmd.args(["-e", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("LD_PRELOAD")
            .env_remove("FAULTHANDLER");
        if preload {
            cmd.env("LD_PRELOAD", &lib).env("FAULTHANDLER", "1");
        }
        child_cpu(&mut cmd)
    };
    // Is the library really loaded into node (and enabled)?
    let probe = Command::new(NODE)
        .args([
            "-e",
            "const m = require('fs').readFileSync('/proc/self/maps', 'utf8'); \
             console.log(m.includes('libfaulthandler') ? 'loaded' : 'NOT LOADED')",
        ])
        .env("LD_PRELOAD", &lib)
        .env("FAULTHANDLER", "1")
        .output();
    let loaded = probe
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("could not run node: {e}"));
    let _ = (run(false), run(true));
    let (mut plain, mut preloaded) = (Vec::new(), Vec::new());
    let mut failed = 0;
    for _ in 0..31 {
        for (preload, into) in [(false, &mut plain), (true, &mut preloaded)] {
            match run(preload) {
                Some(r) => into.push(r),
                None => failed += 1,
            }
        }
    }
    if plain.is_empty() || preloaded.is_empty() {
        println!("  startup under the preload: skipped: node -e 0 failed");
        return;
    }
    let cpu = |v: &[(Duration, Duration)]| median(v.iter().map(|r| r.0).collect());
    let wall = |v: &[(Duration, Duration)]| median(v.iter().map(|r| r.1).collect());
    let (a, b) = (cpu(&plain), cpu(&preloaded));
    let ratio = b.as_secs_f64() / a.as_secs_f64();
    println!(
        "  `node -e 0` startup, user+sys CPU of the child (wait4), median of {} alternating runs each{}:",
        plain.len().min(preloaded.len()),
        if failed > 0 { format!(" ({failed} FAILED)") } else { String::new() }
    );
    println!(
        "    without: {:.2} ms CPU ({:.2} ms wall) | LD_PRELOAD={} FAULTHANDLER=1 ({loaded}): {:.2} ms CPU ({:.2} ms wall)",
        a.as_secs_f64() * 1e3,
        wall(&plain).as_secs_f64() * 1e3,
        lib.display(),
        b.as_secs_f64() * 1e3,
        wall(&preloaded).as_secs_f64() * 1e3,
    );
    println!(
        "    ratio {ratio:.3}x (goal <= 1.03x: {})",
        if ratio <= 1.03 { "met" } else { "NOT met" }
    );
}

/// Run `cmd` to its end: the child's user+sys CPU time (wait4's rusage)
/// and the wall time; None unless it exited with 0.
fn child_cpu(cmd: &mut Command) -> Option<(Duration, Duration)> {
    let t = Instant::now();
    let child = cmd.spawn().ok()?;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-parameters; `child`
    // is never waited for again (dropping it does not wait).
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall = t.elapsed();
    drop(child);
    if r <= 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return None;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some((tv(ru.ru_utime) + tv(ru.ru_stime), wall))
}

/// `libfaulthandler.so` as `cargo build -p faulthandler-c --release`
/// makes it, in this bench's target dir: built (or brought up to date)
/// now, so it has the library's current code.
fn c_library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/release/deps/symbols-HASH
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("the bench binary is not in a target dir")?
        .to_path_buf();
    let lib = target.join("release/libfaulthandler.so");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let mut child = Command::new(&cargo)
        .args(["build", "-p", "faulthandler-c", "--release", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", Path::new(&cargo).display()))?;
    // Drained meanwhile, so a chatty build never blocks on a full pipe.
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        if let Some(e) = stderr.as_mut() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        err
    });
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if started.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("`cargo build -p faulthandler-c --release` took over 15 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "`cargo build -p faulthandler-c --release` failed ({status}): {}",
            err.lines().last().unwrap_or("")
        ));
    }
    if started.elapsed() > Duration::from_secs(2) {
        println!(
            "  (built {} with `cargo build -p faulthandler-c --release` in {:.0} s)",
            lib.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if !lib.is_file() {
        return Err(format!("{} is not there after the build", lib.display()));
    }
    Ok(lib)
}
