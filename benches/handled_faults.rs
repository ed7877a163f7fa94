//! What a host that handles its own faults pays for faulthandler in front
//! of it (run with `cargo bench --bench handled_faults`): a C host (the
//! mprotect "garbage collector" of `c-fixtures/lib_hosts.c`) makes and
//! fixes 1,000,000 SIGSEGVs itself, without faulthandler and with it
//! enabled after the host's handler (which then runs first, from our
//! handler). Printed: the time per fault of each and their ratio (the goal
//! is at most 1.1x), and whether anything allocated on that path (the
//! run with faulthandler also runs under the malloc spy, which flags any
//! allocation made on an alternate signal stack or with the crash signals
//! blocked).
//!
//! Each run is a child process (this binary re-executed), alternating,
//! best of five.

use std::process::Command;
use std::time::Instant;

extern "C" {
    fn fh_host_install(mode: i32, chain: i32) -> i32;
    fn fh_host_mprotect_faults_quiet(n: i32) -> i32;
}

use faulthandler_fixtures as _;

const FAULTS: i32 = 1_000_000;

fn child(with: bool) -> ! {
    // SAFETY: installs the fixture's SIGSEGV handler (FH_HOST_FIX_PAGE).
    assert_eq!(unsafe { fh_host_install(1, 0) }, 0);
    if with {
        faulthandler::enable().unwrap();
    }
    // Warm up, then measure.
    // SAFETY: the fixture's page and handler.
    unsafe { fh_host_mprotect_faults_quiet(1000) };
    let t = Instant::now();
    // SAFETY: as above.
    let fixed = unsafe { fh_host_mprotect_faults_quiet(FAULTS) };
    let ns = t.elapsed().as_nanos();
    assert_eq!(fixed, FAULTS);
    println!("{ns}");
    std::process::exit(0);
}

fn run(with: bool, spy: bool) -> (f64, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("FH_BENCH_CHILD", if with { "with" } else { "without" })
        .env_remove("LD_PRELOAD");
    if spy {
        cmd.env(
            "LD_PRELOAD",
            faulthandler_fixtures::fixture("so_malloc_spy.so"),
        );
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let ns: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (
        ns / f64::from(FAULTS),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn main() {
    if let Ok(m) = std::env::var("FH_BENCH_CHILD") {
        child(m == "with");
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut without = f64::MAX;
    let mut with = f64::MAX;
    for _ in 0..5 {
        without = without.min(run(false, false).0);
        with = with.min(run(true, false).0);
    }
    println!(
        "1,000,000 faults fixed by the host: {without:.0} ns a fault without faulthandler, \
         {with:.0} ns with it in front: {:.3}x (goal: at most 1.1x)",
        with / without
    );
    let (_, err) = run(true, true);
    let active = err.contains("malloc-spy: active");
    let violations = err.matches("malloc-spy: VIOLATION").count();
    println!(
        "allocations on that path: {} (malloc spy {})",
        violations,
        if active { "active" } else { "NOT LOADED" }
    );
}
