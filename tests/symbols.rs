//! Symbols in crash reports: names from the handler, file:line from
//! `faulthandler symbolize`.
//!
//! Each crash runs in a child process of this test binary (or of a
//! stripped copy of it), through `tests/common`'s harness, with and
//! without faulthandler: the same SIGSEGV, and the report on the child's
//! stderr, read with the shared parser.

mod common;

use faulthandler_fixtures as _;

use common::{Case, Check, Ctx, End, Report, Runner, CASE};
use std::hint::black_box;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Counts the heap calls of threads that ask for it (the no-allocation
/// test); passes everything to the system allocator.
struct CountingAlloc;

thread_local! {
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static HEAP_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn note_heap_call() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = HEAP_CALLS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        note_heap_call();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        note_heap_call();
        // SAFETY: as above.
        unsafe { std::alloc::System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        note_heap_call();
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        note_heap_call();
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Tests that use the report's static scratch in this process take this.
static SCRATCH_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

extern "C" {
    fn fh_sym_c_outer(p: *mut i32) -> i32;
}

// The Rust half of the chain: three functions, never inlined, each doing
// work after its call so that none is a tail call.

const RUST_INNER_CALL_LINE: u32 = line!() + 4;
#[inline(never)]
fn rust_inner() -> i32 {
    // SAFETY: it is not; the C chain writes through null: the crash.
    let r = unsafe { fh_sym_c_outer(black_box(std::ptr::null_mut())) }; // @rust_inner
    black_box(r) + 1
}

#[inline(never)]
fn rust_middle() -> i32 {
    black_box(rust_inner()) + 1 // @rust_middle
}

#[inline(never)]
fn rust_outer() -> i32 {
    black_box(rust_middle()) + 1 // @rust_outer
}

/// Inlined into its caller at every optimisation level: the crash is in
/// its code, inside `rust_inlines`.
#[inline(always)]
fn rust_inlined_store(p: *mut i32) {
    // SAFETY: it is not: `p` is null, and this is the crash. The store is
    // written out, so it stays in this function's own code at every
    // optimisation level (a write_volatile is a call at opt-level 0).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("mov dword ptr [{}], 7", in(reg) p, options(nostack)) // @inlined_store
    }
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("str wzr, [{}]", in(reg) p, options(nostack)) // @inlined_store_arm
    }
}

#[inline(never)]
fn rust_inlines() -> i32 {
    rust_inlined_store(black_box(std::ptr::null_mut())); // @inlined_call
    black_box(1)
}

/// The sources the line checks read their expected lines from.
const C_SOURCE: &str = include_str!("../c-fixtures/lib_symbols.c");
const LATE_SOURCE: &str = include_str!("../c-fixtures/so_symbols_late.c");
const RUST_SOURCE: &str = include_str!("symbols.rs");

/// The line of `source` that ends with the marker comment `@name`
/// (`// @name` or `/* @name */`): the fixtures' known lines.
fn marker(source: &str, name: &str) -> u32 {
    let tags = [format!("// @{name}"), format!("/* @{name} */")];
    let at = source
        .lines()
        .position(|l| tags.iter().any(|t| l.trim_end().ends_with(t.as_str())))
        .unwrap_or_else(|| panic!("no marker @{name}"));
    at as u32 + 1
}

/// A trait method on a long generic type: a long demangled name.
trait Crasher {
    fn crash(&self) -> i32;
}

struct Wrapper<T>(PhantomData<T>);

type LongType = Wrapper<std::collections::BTreeMap<String, Vec<Option<Box<[u8]>>>>>;

impl Crasher for LongType {
    #[inline(never)]
    fn crash(&self) -> i32 {
        black_box(rust_outer()) + 1
    }
}

/// A type so wide that its impl's mangled name exceeds the cap (2048
/// bytes) on names the handler demangles.
struct W<T>(PhantomData<T>);
type L = std::collections::BTreeMap<String, Vec<Option<Box<[u8]>>>>;
type T10 = (L, L, L, L, L, L, L, L, L, L);
type Deep = W<(T10, T10, T10)>;

impl Crasher for Deep {
    #[inline(never)]
    fn crash(&self) -> i32 {
        black_box(rust_outer()) + 1
    }
}

/// The child side: one crash per process.
fn crash_with(f: fn() -> i32) {
    common::child::enable_default();
    let r = f();
    panic!("the crash did not happen ({r})");
}

/// Enable with `config` (plus the debug directory `FH_TEST_DEBUG_DIR`
/// when set), build the index and the line tables now, on this thread
/// (so the crash does not race the background builder), then crash.
fn crash_with_lines(config: faulthandler::Config, f: fn() -> i32) {
    let config = match std::env::var_os("FH_TEST_DEBUG_DIR") {
        Some(d) => config.debug_dir(d),
        None => config,
    };
    common::child::enable(config);
    if !common::child::control() {
        // The build takes seconds at opt-level 0: at a lower priority, it
        // leaves the CPU to the suite's other children first (whose
        // bounded symbol scans must not run out of time).
        // SAFETY: nice() only changes this process's priority.
        unsafe { libc::nice(10) };
        faulthandler::__bench::build_index_now();
        common::child::check(faulthandler::__bench::lines_ready(), "lines ready");
    }
    let r = f();
    panic!("the crash did not happen ({r})");
}

fn body_chain_lines() {
    crash_with_lines(faulthandler::Config::new(), rust_outer)
}

fn body_inlined() {
    crash_with_lines(faulthandler::Config::new(), rust_inlines)
}

fn body_over_budget() {
    crash_with_lines(faulthandler::Config::new().line_budget(1 << 20), rust_outer)
}

/// A crash before the line tables are ready: the names' index is built
/// (in milliseconds), the line tables are not used, as if still pending.
fn body_not_ready() {
    common::child::enable_default();
    if !common::child::control() {
        faulthandler::__bench::set_lines_enabled(false);
        common::child::wait_for_builder(
            std::time::Duration::from_secs(20),
            faulthandler::__bench::index_ready,
        );
    }
    let r = rust_outer();
    panic!("the crash did not happen ({r})");
}

fn body_dlopen_lines() {
    common::child::enable_default();
    let path = format!("{}\0", late_so());
    // SAFETY: as in `body_dlopen`.
    let f = unsafe {
        let h = libc::dlopen(path.as_ptr().cast(), libc::RTLD_NOW);
        assert!(!h.is_null(), "dlopen {path}");
        let f = libc::dlsym(h, c"fh_late_entry".as_ptr());
        assert!(!f.is_null());
        std::mem::transmute::<*mut libc::c_void, extern "C" fn(*mut i32) -> i32>(f)
    };
    if !common::child::control() {
        // A new snapshot (as a second enable() takes) indexes the library.
        faulthandler::__bench::build_index_now();
    }
    let r = f(black_box(std::ptr::null_mut()));
    panic!("the crash did not happen ({r})");
}

fn body_chain() {
    crash_with(rust_outer)
}

/// The same chain, reported as JSON lines.
fn body_chain_json() {
    common::child::enable(faulthandler::Config::new().format(faulthandler::Format::JsonLines));
    let r = rust_outer();
    panic!("the crash did not happen ({r})");
}

fn body_long() {
    crash_with(|| black_box(&Wrapper(PhantomData) as &LongType).crash())
}

fn body_deep() {
    crash_with(|| black_box(&W(PhantomData) as &Deep).crash())
}

/// A std thread has std's own small alternate stack (8 KiB here), not the
/// 64 KiB one enable() gave this thread.
fn body_small_altstack() {
    crash_with(|| {
        std::thread::Builder::new()
            .name("small-altstack".into())
            .spawn(|| {
                // SAFETY: querying this thread's alternate stack only.
                let size = unsafe {
                    let mut ss: libc::stack_t = std::mem::zeroed();
                    libc::sigaltstack(std::ptr::null(), &mut ss);
                    ss.ss_size
                };
                eprintln!("altstack size {size}");
                rust_outer()
            })
            .unwrap()
            .join()
            .unwrap()
    })
}

fn late_so() -> String {
    common::fixture("so_symbols_late.so")
        .to_string_lossy()
        .into_owned()
}

fn body_dlopen() {
    crash_with(|| {
        let path = format!("{}\0", late_so());
        // SAFETY: loading our own fixture library, which has no
        // constructors, and calling its entry point with its C type.
        unsafe {
            let h = libc::dlopen(path.as_ptr().cast(), libc::RTLD_NOW);
            assert!(!h.is_null(), "dlopen {path}");
            let f = libc::dlsym(h, c"fh_late_entry".as_ptr());
            assert!(!f.is_null());
            let f: extern "C" fn(*mut i32) -> i32 = std::mem::transmute(f);
            f(black_box(std::ptr::null_mut()))
        }
    })
}

/// The run with faulthandler (`c.run()`, compared with its control by
/// the harness): SIGSEGV, and its stderr.
fn crashed(c: &Ctx) -> String {
    c.run().stderr.clone()
}

/// Child `scenario` of `exe`, with and without faulthandler: both die
/// of SIGSEGV.
fn run_child(exe: &Path, scenario: &str) -> Result<String, String> {
    let r = |control| Runner::scenario_of(exe, scenario, control).env("RUST_BACKTRACE", "0");
    let (run, _) = common::runner::pair(r(false), r(true))?;
    run.expect_signal(libc::SIGSEGV)?;
    Ok(run.stderr)
}

/// The first report's frames, every thread's, as (number, name without
/// +0xOFF, module or `??`).
fn frames(report: &str) -> Vec<(usize, String, String)> {
    let rep = Report::first(report).unwrap_or_else(|e| panic!("{e}:\n{report}"));
    rep.threads
        .iter()
        .flat_map(|t| &t.frames)
        .map(|f| {
            let module = f.module.clone().unwrap_or_else(|| "??".into());
            (f.index, f.name.clone(), module)
        })
        .collect()
}

fn names(report: &str) -> Vec<String> {
    frames(report).into_iter().map(|f| f.1).collect()
}

/// Check that `want` appears in `names` as consecutive frames.
fn assert_consecutive(names: &[String], want: &[&str], report: &str) -> usize {
    let at = names
        .windows(want.len())
        .position(|w| w.iter().zip(want).all(|(a, b)| a == b));
    at.unwrap_or_else(|| panic!("frames {want:?} not found in order in:\n{report}"))
}

const CHAIN: [&str; 6] = [
    "fh_sym_c_crash",
    "fh_sym_c_middle",
    "fh_sym_c_outer",
    "symbols::rust_inner",
    "symbols::rust_middle",
    "symbols::rust_outer",
];

fn test_exe() -> PathBuf {
    std::env::current_exe().unwrap()
}

fn build_id_hex(path: &Path) -> String {
    common::elf::build_id_hex(path).unwrap()
}

/// `faulthandler symbolize --no-system-debug-dir [--debug-dir D]...`, in
/// process (the command is a thin wrapper; its own tests are in
/// cli/tests/dropin.rs).
fn symbolize(report: &str, debug_dirs: &[&Path]) -> String {
    let mut opts = faulthandler::offline::SymbolizeOptions::new().system_debug_dir(false);
    for d in debug_dirs {
        opts = opts.debug_dir(d);
    }
    let mut out = Vec::new();
    faulthandler::offline::symbolize_report(report.as_bytes(), &mut out, &opts).expect("symbolize");
    String::from_utf8(out).expect("symbolize writes text")
}

fn scratch_dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("symbols-{name}"))
}

fn line_of(report: &str, needle: &str) -> String {
    report
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{report}"))
        .to_string()
}

fn c_and_rust_frames_are_named_innermost_first(c: &Ctx) -> Check {
    let _ = c;
    let report = crashed(c);
    assert!(report.starts_with("Fatal signal 11 (SIGSEGV)"), "{report}");
    let names = names(&report);
    let at = assert_consecutive(&names, &CHAIN, &report);
    assert_eq!(at, 0, "the faulting C function is frame #0:\n{report}");
    // Every frame line has the contract's shape, with a name and offset.
    let exe = test_exe();
    for (n, name, module) in frames(&report).iter().take(CHAIN.len()) {
        assert_eq!(module, exe.to_str().unwrap(), "frame #{n}");
        let l = line_of(&report, &format!(" in {name}+0x"));
        assert!(l.starts_with(&format!("  #{n}  0x")), "{l}");
    }
    // No hash suffix on Rust names.
    assert!(!report.contains("17h"), "{report}");
    Ok(())
}

fn names_fit_on_a_small_std_alternate_stack(c: &Ctx) -> Check {
    let _ = c;
    let report = crashed(c);
    assert!(report.contains("Current thread "), "{report}");
    assert!(report.contains(" \"small-altstac"), "{report}");
    let size: usize = line_of(&report, "altstack size ")
        .trim_start_matches("altstack size ")
        .parse()
        .unwrap();
    assert!(size > 0 && size <= 16 << 10, "alt stack of {size} bytes");
    let names = names(&report);
    assert_eq!(assert_consecutive(&names, &CHAIN, &report), 0);
    assert!(report.contains("\nModules:\n"), "{report}");
    Ok(())
}

fn symbolize_adds_file_and_line(c: &Ctx) -> Check {
    let _ = c;
    let report = crashed(c);
    let out = symbolize(&report, &[]);
    let c = line_of(&out, " in fh_sym_c_crash+0x");
    assert!(c.contains("c-fixtures/lib_symbols.c:7 ("), "{c}");
    let c = line_of(&out, " in fh_sym_c_middle+0x");
    assert!(c.contains("c-fixtures/lib_symbols.c:12 ("), "{c}");
    let r = line_of(&out, " in symbols::rust_inner+0x");
    assert!(
        r.contains(&format!("tests/symbols.rs:{RUST_INNER_CALL_LINE} (")),
        "{r}"
    );
    // Everything that is not a frame line is unchanged.
    let keep = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("  #") && !l.contains("(inlined)"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(keep(&out), keep(&report));
    Ok(())
}

/// `symbolize` reads a JSON-lines report and adds `file` and `line` to
/// its frames; the rest of the output is as it was.
fn symbolize_adds_file_and_line_to_json(c: &Ctx) -> Check {
    let report = crashed(c);
    let before = common::json::report(&report)?;
    let out = symbolize(&report, &[]);
    let after = common::json::report(&out)?;
    let frames = |v: &serde_json::Value| v["threads"][0]["frames"].as_array().cloned().unwrap();
    let by_name = |name: &str| {
        frames(&after)
            .into_iter()
            .find(|f| f["name"].as_str().is_some_and(|n| n == name))
            .unwrap_or_else(|| panic!("no frame {name} in {out}"))
    };
    let f = by_name("fh_sym_c_crash");
    assert!(
        f["file"]
            .as_str()
            .is_some_and(|p| p.ends_with("c-fixtures/lib_symbols.c"))
            && f["line"] == 7,
        "{f}"
    );
    let f = by_name("fh_sym_c_middle");
    assert_eq!(f["line"], 12, "{f}");
    let f = by_name("symbols::rust_inner");
    assert!(
        f["file"]
            .as_str()
            .is_some_and(|p| p.ends_with("tests/symbols.rs"))
            && f["line"] == RUST_INNER_CALL_LINE,
        "{f}"
    );
    // Only frames gained fields; the fields' order is kept.
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for t in v["threads"].as_array_mut().unwrap() {
            for f in t["frames"].as_array_mut().into_iter().flatten() {
                let f = f.as_object_mut().unwrap();
                // Lines may be there already (the handler's own, when its
                // tables were ready), and a name the bounded in-handler
                // lookup left null (under load) is filled in offline.
                for k in [
                    "file",
                    "line",
                    "inlined",
                    "symbolize_problem",
                    "name",
                    "offset",
                ] {
                    f.remove(k);
                }
            }
        }
        v
    };
    assert_eq!(strip(&after), strip(&before));
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&after), keys(&before));
    assert_eq!(keys(&before)[0], "kind");
    // The lines that are not the report are unchanged.
    let other = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with('{'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(other(&out), other(&report));
    Ok(())
}

fn long_generic_name_is_demangled_without_hash(c: &Ctx) -> Check {
    let _ = c;
    let report = crashed(c);
    let names = names(&report);
    let want = "<symbols::Wrapper<alloc::collections::btree::map::BTreeMap<alloc::string::String,alloc::vec::Vec<core::option::Option<alloc::boxed::Box<[u8]>>>>> as symbols::Crasher>::crash";
    let at = assert_consecutive(&names, &CHAIN, &report);
    assert_eq!(
        names.get(at + CHAIN.len()).map(String::as_str),
        Some(want),
        "{report}"
    );
    assert!(!report.contains("17h"), "{report}");
    Ok(())
}

fn name_over_the_cap_is_cut_and_the_report_goes_on(c: &Ctx) -> Check {
    let _ = c;
    let report = crashed(c);
    let names = names(&report);
    let at = assert_consecutive(&names, &CHAIN, &report);
    let cut = names.get(at + CHAIN.len()).expect("the deep frame");
    // Shown as its mangled text, cut, and still followed by the rest.
    assert!(cut.starts_with("_ZN"), "{cut}");
    assert!(cut.ends_with("..."), "{cut}");
    assert!(
        cut.contains("symbols..W$LT$$LP$$LP$alloc..collections..btree"),
        "{cut}"
    );
    assert!(cut.len() <= 512, "{}", cut.len());
    assert!(
        names.len() > at + CHAIN.len() + 1,
        "frames after it:\n{report}"
    );
    assert!(report.contains("\nModules:\n"), "{report}");
    Ok(())
}

fn library_loaded_after_enable_is_named(c: &Ctx) -> Check {
    let _ = c;
    let report = crashed(c);
    let so = late_so();
    let f = frames(&report);
    assert_eq!(f[0].1, "fh_late_crash", "{report}");
    assert_eq!(f[0].2, so, "{report}");
    assert_eq!(f[1].1, "fh_late_entry", "{report}");
    assert_eq!(f[1].2, so, "{report}");
    // Then the test binary's frames (`child`, which may be inlined into
    // the harness's closure).
    assert_eq!(f[2].2, test_exe().to_str().unwrap(), "{report}");
    let id = build_id_hex(Path::new(&so));
    let module = line_of(&report, &format!(" {so} build-id "));
    assert!(module.ends_with(&id), "{module}");
    // And offline, its lines.
    let out = symbolize(&report, &[]);
    let l = line_of(&out, " in fh_late_crash+0x");
    assert!(l.contains("c-fixtures/so_symbols_late.c:6 ("), "{l}");
    let l = line_of(&out, " in fh_late_entry+0x");
    assert!(l.contains("c-fixtures/so_symbols_late.c:11 ("), "{l}");
    Ok(())
}

/// `objcopy --strip-all` of `exe` into `out`.
fn strip_all(exe: &Path, out: &Path) -> Check {
    let mut objcopy = Runner::program("objcopy", &["--strip-all"]);
    objcopy.cmd().arg(exe).arg(out);
    objcopy.run()?.expect_code(0)?;
    Ok(())
}

/// The distributions' layout under `tree`: `exe`'s debug-only file
/// (`objcopy --only-keep-debug`) at `.build-id/xx/rest.debug`.
fn debug_tree(exe: &Path, tree: &Path) -> Check {
    let id = build_id_hex(exe);
    let id_dir = tree.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&id_dir).unwrap();
    let mut objcopy = Runner::program("objcopy", &["--only-keep-debug"]);
    objcopy
        .cmd()
        .arg(exe)
        .arg(id_dir.join(format!("{}.debug", &id[2..])));
    objcopy.run()?.expect_code(0)?;
    Ok(())
}

fn stripped_binary_keeps_offsets_and_build_id_and_symbolize_restores_names(c: &Ctx) -> Check {
    let _ = c;
    let dir = scratch_dir("strip");
    let exe = test_exe();
    let stripped = dir.join("symbols-stripped");
    strip_all(&exe, &stripped)?;
    let debug = dir.join("debug");
    std::fs::create_dir_all(&debug).unwrap();
    let unstripped = debug.join("symbols-unstripped");
    if std::fs::hard_link(&exe, &unstripped).is_err() {
        std::fs::copy(&exe, &unstripped).unwrap();
    }

    let report = run_child(&stripped, "c_and_rust_frames_are_named_innermost_first")?;
    let f = frames(&report);
    let spath = stripped.to_str().unwrap();
    // The C and Rust frames have no names now, but module and offset.
    for fr in f.iter().take(CHAIN.len()) {
        assert_eq!(fr.1, "??", "{report}");
        assert_eq!(fr.2, spath, "{report}");
    }
    let l0 = line_of(&report, "  #0  0x");
    assert!(l0.contains(&format!("in ?? ({spath} +0x")), "{l0}");
    let id = build_id_hex(&exe);
    assert_eq!(build_id_hex(&stripped), id, "strip keeps the build-id");
    let module = line_of(&report, &format!(" {spath} build-id "));
    assert!(module.ends_with(&id), "{module}");

    // symbolize, given the unstripped copy, restores names and lines.
    let out = symbolize(&report, &[&debug]);
    let names = names(&out);
    assert_consecutive(&names, &CHAIN, &out);
    let c = line_of(&out, " in fh_sym_c_crash+0x");
    assert!(c.contains("c-fixtures/lib_symbols.c:7 ("), "{c}");
    assert!(c.starts_with("  #0  0x"), "{c}");
    let r = line_of(&out, " in symbols::rust_inner+0x");
    assert!(
        r.contains(&format!("tests/symbols.rs:{RUST_INNER_CALL_LINE} (")),
        "{r}"
    );

    // The distributions' layout: a debug-only file (objcopy
    // --only-keep-debug) at .build-id/xx/rest.debug.
    let tree = dir.join("tree");
    debug_tree(&exe, &tree)?;
    let out = symbolize(&report, &[&tree]);
    assert_consecutive(&self::names(&out), &CHAIN, &out);
    let c = line_of(&out, " in fh_sym_c_crash+0x");
    assert!(c.contains("c-fixtures/lib_symbols.c:7 ("), "{c}");

    // Without the debug dir: names stay unknown, nothing is made up.
    let out = symbolize(&report, &[]);
    assert!(!out.contains("fh_sym_c_crash"), "{out}");

    // A different file at the report's path: a mismatch, said on the
    // frame, and never used.
    std::fs::remove_file(&stripped).unwrap();
    std::fs::copy(late_so(), &stripped).unwrap();
    let out = symbolize(&report, &[]);
    let l0 = line_of(&out, "  #0  0x");
    assert!(l0.contains(" in ?? ("), "{l0}");
    assert!(!l0.contains(" at "), "{l0}");
    assert!(
        l0.contains(&format!("[symbolize: {spath} has build-id "))
            && l0.contains(&format!("the report says {id}")),
        "{l0}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The symbolizer's stack use, measured: the frame lines of a real stack
/// are written from a signal handler running on a painted alternate stack,
/// with the index and with the fallback scan; the deepest byte touched,
/// minus what an empty handler touches (the kernel's signal frame), is
/// what the report path needs on top of the kernel frame.
fn report_path_stack_use_is_small(c: &Ctx) -> Check {
    let _ = c;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
    static FRAMES: AtomicPtr<Vec<usize>> = AtomicPtr::new(std::ptr::null_mut());
    static FD: AtomicI32 = AtomicI32::new(-1);
    static EMPTY: AtomicBool = AtomicBool::new(false);
    static ONE_NAME: AtomicBool = AtomicBool::new(false);
    static NAME_LEN: AtomicUsize = AtomicUsize::new(0);
    static RAN: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn on_usr1(_: libc::c_int) {
        RAN.fetch_add(1, Ordering::SeqCst);
        if EMPTY.load(Ordering::SeqCst) {
            return;
        }
        if ONE_NAME.load(Ordering::SeqCst) {
            let here = rust_middle as *const () as usize + 1;
            // SAFETY: only this test uses the report scratch in this process.
            let n = unsafe { faulthandler::__bench::name_len_of(here) };
            NAME_LEN.store(n, Ordering::SeqCst);
            return;
        }
        // SAFETY: set before the signal is raised, never freed.
        let frames = unsafe { &*FRAMES.load(Ordering::SeqCst) };
        // SAFETY: only this test uses the report scratch in this process.
        unsafe { faulthandler::__bench::write_frames_to_fd(FD.load(Ordering::SeqCst), frames) };
    }

    let _g = SCRATCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    faulthandler::__bench::build_index_now();
    let mut frames = Vec::new();
    backtrace::trace(|f| {
        frames.push(f.ip() as usize);
        true
    });
    FRAMES.store(Box::into_raw(Box::new(frames)), Ordering::SeqCst);
    let devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    use std::os::fd::AsRawFd;
    FD.store(devnull.as_raw_fd(), Ordering::SeqCst);

    let measure = |empty: bool| -> usize {
        std::thread::spawn(move || {
            const SIZE: usize = 64 << 10;
            // SAFETY: a fresh anonymous mapping, installed as this thread's
            // alternate stack for the duration, then put back and unmapped.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                std::ptr::write_bytes(p.cast::<u8>(), 0xa5, SIZE);
                let ss = libc::stack_t {
                    ss_sp: p,
                    ss_flags: 0,
                    ss_size: SIZE,
                };
                let mut old: libc::stack_t = std::mem::zeroed();
                assert_eq!(libc::sigaltstack(&ss, &mut old), 0);
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_usr1 as *const () as usize;
                act.sa_flags = libc::SA_ONSTACK;
                let mut prev: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGUSR1, &act, &mut prev);
                EMPTY.store(empty, Ordering::SeqCst);
                libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1);
                libc::sigaction(libc::SIGUSR1, &prev, std::ptr::null_mut());
                libc::sigaltstack(&old, std::ptr::null_mut());
                let bytes = std::slice::from_raw_parts(p.cast::<u8>(), SIZE);
                let untouched = bytes.iter().position(|&b| b != 0xa5).unwrap_or(SIZE);
                libc::munmap(p, SIZE);
                SIZE - untouched
            }
        })
        .join()
        .unwrap()
    };
    let kernel = measure(true);
    let frames_ix = measure(false) - kernel;
    ONE_NAME.store(true, Ordering::SeqCst);
    let name_ix = measure(false) - kernel;
    assert_eq!(
        NAME_LEN.load(Ordering::SeqCst),
        "symbols::rust_middle".len()
    );
    faulthandler::__bench::set_index_enabled(false);
    NAME_LEN.store(0, Ordering::SeqCst);
    let name_scan = measure(false) - kernel;
    assert_eq!(
        NAME_LEN.load(Ordering::SeqCst),
        "symbols::rust_middle".len()
    );
    ONE_NAME.store(false, Ordering::SeqCst);
    let frames_scan = measure(false) - kernel;
    faulthandler::__bench::set_index_enabled(true);
    assert_eq!(RAN.load(Ordering::SeqCst), 5);
    eprintln!(
        "stack: kernel frame {kernel} B; naming one address: index {name_ix} B, scan {name_scan} B; \
         writing a stack's frame lines: index {frames_ix} B, scan {frames_scan} B"
    );
    // A crash report names its frames on its own 1 MiB stack, so these
    // bounds only guard against unbounded growth (a recursion, a big
    // buffer on the stack), with room for an opt-level-0 build of the
    // crate (about 4.7 KB to name an address there, 2 to 3 KB in this
    // profile). The arrival stack's use is checked by the crash suite.
    assert!(
        name_ix < 8192 && name_scan < 8192,
        "{name_ix} B, {name_scan} B"
    );
    // The whole frame-writing path, which also finds modules loaded after
    // the snapshot through /proc/self/maps.
    assert!(
        frames_ix < 16384 && frames_scan < 16384,
        "{frames_ix} B, {frames_scan} B"
    );
    Ok(())
}

/// The symbolizer allocates nothing: Rust's heap calls are counted on this
/// thread while frame lines are written with the index, with the fallback
/// scan, and for a library loaded after the module snapshot (found through
/// /proc/self/maps and scanned). (The malloc interposer of the core tests
/// checks libc's malloc during real crashes.)
fn symbolizer_allocates_nothing(c: &Ctx) -> Check {
    let _ = c;
    let _g = SCRATCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    faulthandler::__bench::build_index_now();
    // Everything that may allocate happens first: frames, the library, the file.
    let mut frames: Vec<usize> = Vec::new();
    backtrace::trace(|f| {
        frames.push(f.ip() as usize);
        true
    });
    let path = format!("{}\0", late_so());
    // SAFETY: our own fixture library, without constructors.
    let entry = unsafe {
        let h = libc::dlopen(path.as_ptr().cast(), libc::RTLD_NOW);
        assert!(!h.is_null());
        libc::dlsym(h, c"fh_late_entry".as_ptr()) as usize
    };
    assert_ne!(entry, 0);
    frames.insert(0, entry + 1);
    let out_path = scratch_dir("noalloc").join("frames.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    use std::os::fd::AsRawFd;
    let fd = out.as_raw_fd();

    // The counter counts (an allocation and a free).
    COUNTING.with(|c| c.set(true));
    drop(black_box(vec![1u8; 3]));
    COUNTING.with(|c| c.set(false));
    assert_eq!(HEAP_CALLS.with(|n| n.replace(0)), 2);

    COUNTING.with(|c| c.set(true));
    // SAFETY: the lock keeps other users of the report scratch out.
    unsafe { faulthandler::__bench::write_frames_to_fd(fd, &frames) };
    faulthandler::__bench::set_index_enabled(false);
    // SAFETY: as above.
    unsafe { faulthandler::__bench::write_frames_to_fd(fd, &frames) };
    faulthandler::__bench::set_index_enabled(true);
    COUNTING.with(|c| c.set(false));
    let calls = HEAP_CALLS.with(|n| n.get());

    let text = std::fs::read_to_string(&out_path).unwrap();
    let _ = std::fs::remove_dir_all(out_path.parent().unwrap());
    assert_eq!(calls, 0, "heap calls while naming frames:\n{text}");
    // And the work was done: names from the index, the scan, and the
    // late library, twice.
    assert_eq!(text.matches(" in fh_late_entry+0x").count(), 2, "{text}");
    let exe = test_exe();
    let named_here = text
        .lines()
        .filter(|l| l.contains(exe.to_str().unwrap()) && !l.contains(" in ?? ("))
        .count();
    assert!(named_here >= 4, "{text}");
    Ok(())
}

/// The frame named `name` in `report`'s first thread with it.
fn frame_named<'a>(rep: &'a Report, name: &str) -> &'a common::report::Frame {
    rep.threads
        .iter()
        .flat_map(|t| &t.frames)
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no frame {name} in:\n{}", rep.text))
}

/// Frame `name` is at `file_suffix`:`line`.
fn assert_at(rep: &Report, name: &str, file_suffix: &str, line: u32) {
    let f = frame_named(rep, name);
    let (file, l) = f
        .file_line()
        .unwrap_or_else(|| panic!("no ` at FILE:LINE` on {:?}", f.line));
    assert!(file.ends_with(file_suffix), "{file} for {:?}", f.line);
    assert_eq!(l, line, "{:?}", f.line);
}

/// The C and Rust chain, each frame at its exact line.
fn assert_chain_lines(rep: &Report) {
    for (name, src, file, m) in [
        (
            "fh_sym_c_crash",
            C_SOURCE,
            "c-fixtures/lib_symbols.c",
            "c_crash",
        ),
        (
            "fh_sym_c_middle",
            C_SOURCE,
            "c-fixtures/lib_symbols.c",
            "c_middle",
        ),
        (
            "fh_sym_c_outer",
            C_SOURCE,
            "c-fixtures/lib_symbols.c",
            "c_outer",
        ),
        (
            "symbols::rust_inner",
            RUST_SOURCE,
            "tests/symbols.rs",
            "rust_inner",
        ),
        (
            "symbols::rust_middle",
            RUST_SOURCE,
            "tests/symbols.rs",
            "rust_middle",
        ),
        (
            "symbols::rust_outer",
            RUST_SOURCE,
            "tests/symbols.rs",
            "rust_outer",
        ),
    ] {
        assert_at(rep, name, file, marker(src, m));
    }
}

fn c_and_rust_frames_have_their_exact_lines(c: &Ctx) -> Check {
    let report = crashed(c);
    let rep = Report::first(&report)?;
    assert_eq!(assert_consecutive(&names(&report), &CHAIN, &report), 0);
    assert_chain_lines(&rep);
    // None of these frames is inside an inlined call.
    for name in CHAIN {
        assert!(frame_named(&rep, name).inlined.is_empty(), "{report}");
    }
    Ok(())
}

fn inlined_rust_call_is_shown_inlined(c: &Ctx) -> Check {
    let report = crashed(c);
    let rep = Report::first(&report)?;
    let f0 = &rep.current()?.frames[0];
    assert_eq!(f0.name, "symbols::rust_inlines", "{report}");
    assert_at(
        &rep,
        "symbols::rust_inlines",
        "tests/symbols.rs",
        marker(RUST_SOURCE, "inlined_call"),
    );
    // Innermost first: the last is the call made by rust_inlines itself.
    let inl = f0
        .inlined
        .last()
        .unwrap_or_else(|| panic!("no (inlined) line:\n{report}"));
    assert_eq!(inl.name, "symbols::rust_inlined_store", "{report}");
    let (file, line) = inl.file_line().expect("a line");
    assert!(file.ends_with("tests/symbols.rs"), "{file}");
    let store = if cfg!(target_arch = "aarch64") {
        "inlined_store_arm"
    } else {
        "inlined_store"
    };
    assert_eq!(line, marker(RUST_SOURCE, store), "{report}");
    // The next frame, the caller, is a real frame again.
    assert_at(
        &rep,
        "symbols::crash_with_lines",
        "tests/symbols.rs",
        line_of_call_in_crash_with_lines(),
    );
    Ok(())
}

/// The line of `let r = f();` in `crash_with_lines`.
fn line_of_call_in_crash_with_lines() -> u32 {
    let start = RUST_SOURCE
        .lines()
        .position(|l| l.starts_with("fn crash_with_lines("))
        .unwrap();
    let k = RUST_SOURCE
        .lines()
        .skip(start)
        .position(|l| l.trim() == "let r = f();")
        .unwrap();
    (start + k) as u32 + 1
}

fn crash_before_the_index_is_ready_names_frames_without_lines(c: &Ctx) -> Check {
    let report = crashed(c);
    let rep = Report::first(&report)?;
    assert_eq!(assert_consecutive(&names(&report), &CHAIN, &report), 0);
    for t in &rep.threads {
        for f in &t.frames {
            assert!(f.location.is_none() && f.inlined.is_empty(), "{:?}", f.line);
        }
    }
    Ok(())
}

fn module_over_the_line_budget_gets_names_and_a_note(c: &Ctx) -> Check {
    let report = crashed(c);
    let rep = Report::first(&report)?;
    assert_eq!(assert_consecutive(&names(&report), &CHAIN, &report), 0);
    assert!(
        frame_named(&rep, "symbols::rust_inner").location.is_none(),
        "{report}"
    );
    // Said once per module, under the module's line.
    let exe = test_exe();
    let lines: Vec<&str> = rep.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&format!(" {} build-id ", exe.display())))
        .expect("the exe's module line");
    let note = lines[at + 1];
    assert!(
        note.starts_with("    (no source lines for this module: its debug info, ")
            && note.ends_with(" MiB, is over the budget of 1 MiB)"),
        "{note}"
    );
    let notes = report.matches("(no source lines for this module").count();
    assert!(notes >= 1 && notes <= rep.modules.len(), "{report}");
    Ok(())
}

fn library_loaded_after_enable_gets_lines_once_indexed(c: &Ctx) -> Check {
    let report = crashed(c);
    let rep = Report::first(&report)?;
    assert_at(
        &rep,
        "fh_late_crash",
        "c-fixtures/so_symbols_late.c",
        marker(LATE_SOURCE, "late_crash"),
    );
    assert_at(
        &rep,
        "fh_late_entry",
        "c-fixtures/so_symbols_late.c",
        marker(LATE_SOURCE, "late_entry"),
    );
    Ok(())
}

/// A stripped copy of this binary (`objcopy --strip-all`: no `.symtab`,
/// no DWARF), with its debug file (`--only-keep-debug`) in a private
/// debug directory as `.build-id/xx/rest.debug`: the report has the
/// names and the lines, found by build-id.
fn stripped_binary_gets_names_and_lines_from_its_debug_file(c: &Ctx) -> Check {
    let _ = c;
    let dir = scratch_dir("debugfile");
    let exe = test_exe();
    let stripped = dir.join("symbols-stripped");
    strip_all(&exe, &stripped)?;
    let tree = dir.join("tree");
    debug_tree(&exe, &tree)?;
    let r = |control| {
        Runner::scenario_of(
            &stripped,
            "c_and_rust_frames_have_their_exact_lines",
            control,
        )
        .env("RUST_BACKTRACE", "0")
        .env("FH_TEST_DEBUG_DIR", tree.to_str().unwrap())
    };
    let (run, _) = common::runner::pair(r(false), r(true))?;
    run.expect_signal(libc::SIGSEGV)?;
    let report = run.stderr.clone();
    let rep = Report::first(&report)?;
    assert_eq!(assert_consecutive(&names(&report), &CHAIN, &report), 0);
    for f in rep.current()?.frames.iter().take(CHAIN.len()) {
        assert_eq!(f.module.as_deref(), stripped.to_str(), "{report}");
    }
    assert_chain_lines(&rep);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

const SEGV: Option<End> = Some(End::Signal {
    sig: libc::SIGSEGV,
    core: false,
});

/// A child that builds this binary's line tables before it crashes: a
/// few seconds at opt-level 0 (the DWARF parser's generic code is compiled
/// with the crate), more on a loaded machine.
const LINES: Case = Case {
    expect: SEGV,
    timeout: std::time::Duration::from_secs(120),
    ..CASE
};

/// In this process (no child).
const HERE: Case = Case {
    control: false,
    ..CASE
};

#[rustfmt::skip]
static CASES: &[Case] = &[
    Case { name: "c_and_rust_frames_are_named_innermost_first", body: Some(body_chain), expect: SEGV, check: c_and_rust_frames_are_named_innermost_first, ..CASE },
    Case { name: "names_fit_on_a_small_std_alternate_stack", body: Some(body_small_altstack), expect: SEGV, check: names_fit_on_a_small_std_alternate_stack, ..CASE },
    Case { name: "symbolize_adds_file_and_line", body: Some(body_chain), expect: SEGV, check: symbolize_adds_file_and_line, ..CASE },
    Case { name: "symbolize_adds_file_and_line_to_json", body: Some(body_chain_json), expect: SEGV, check: symbolize_adds_file_and_line_to_json, ..CASE },
    Case { name: "long_generic_name_is_demangled_without_hash", body: Some(body_long), expect: SEGV, check: long_generic_name_is_demangled_without_hash, ..CASE },
    Case { name: "name_over_the_cap_is_cut_and_the_report_goes_on", body: Some(body_deep), expect: SEGV, check: name_over_the_cap_is_cut_and_the_report_goes_on, ..CASE },
    Case { name: "library_loaded_after_enable_is_named", body: Some(body_dlopen), expect: SEGV, check: library_loaded_after_enable_is_named, ..CASE },
    // Runs the first case's child from a stripped copy of this binary.
    Case { name: "stripped_binary_keeps_offsets_and_build_id_and_symbolize_restores_names", check: stripped_binary_keeps_offsets_and_build_id_and_symbolize_restores_names, ..HERE },
    Case { name: "report_path_stack_use_is_small", check: report_path_stack_use_is_small, ..HERE },
    Case { name: "c_and_rust_frames_have_their_exact_lines", body: Some(body_chain_lines), check: c_and_rust_frames_have_their_exact_lines, ..LINES },
    Case { name: "inlined_rust_call_is_shown_inlined", body: Some(body_inlined), check: inlined_rust_call_is_shown_inlined, ..LINES },
    Case { name: "crash_before_the_index_is_ready_names_frames_without_lines", body: Some(body_not_ready), expect: SEGV, check: crash_before_the_index_is_ready_names_frames_without_lines, ..CASE },
    Case { name: "module_over_the_line_budget_gets_names_and_a_note", body: Some(body_over_budget), check: module_over_the_line_budget_gets_names_and_a_note, ..LINES },
    Case { name: "library_loaded_after_enable_gets_lines_once_indexed", body: Some(body_dlopen_lines), check: library_loaded_after_enable_gets_lines_once_indexed, ..LINES },
    // Runs the exact-lines case's child from a stripped copy of this binary.
    Case { name: "stripped_binary_gets_names_and_lines_from_its_debug_file", check: stripped_binary_gets_names_and_lines_from_its_debug_file, timeout: std::time::Duration::from_secs(240), ..HERE },
    Case { name: "symbolizer_allocates_nothing", check: symbolizer_allocates_nothing, ..HERE },
];

fn main() {
    common::harness::main(CASES);
}
