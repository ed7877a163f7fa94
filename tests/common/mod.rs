//! The shared test harness of every integration suite (`mod common;`).
//!
//! - [`runner`]: children of this test binary (or of any program), each
//!   with a hard timeout, and the control run without faulthandler;
//! - [`harness`]: a table of [`Case`]s, run by each suite's `main`
//!   (`cargo test --test NAME -- FILTER [--exact] [--list] [--nocapture]`);
//! - [`child`]: the child side (scenario bodies, `child:` announcements);
//! - [`report`]: the one parser of the report format;
//! - [`elf`]: function ranges and build-ids, through the `object` crate;
//! - paths and the C fixtures' exit codes, below: the only place that
//!   knows where things are.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod child;
pub mod elf;
pub mod harness;
pub mod json;
pub mod report;
pub mod runner;

pub use child::{announce_fn, announce_process, announce_thread, check, control, enable};
pub use harness::{Case, Check, Ctx, CASE};
pub use report::Report;
pub use runner::{End, Run, Runner, Spawned};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// The C fixtures are built by the test-only package crates/fixtures;
// linking it (`use faulthandler_fixtures as _;` in a suite) also links the
// `lib_*.c` functions into the test binary.
pub use faulthandler_fixtures::{fixture, CC};

// Exit codes of the C fixtures' handlers, from the one table
// (`crates/fixtures/src/exit_codes.rs`) the C code is built with.
/// `recording_handler` (SIGSEGV, SA_SIGINFO).
pub const FH_PREV_HANDLER_EXIT: i32 = faulthandler_fixtures::exit("FH_PREV_HANDLER_EXIT");
/// `malloc_handler` (allocates on purpose).
pub const FH_MALLOC_HANDLER_EXIT: i32 = faulthandler_fixtures::exit("FH_MALLOC_HANDLER_EXIT");
/// `plain_handler` (SIGSEGV, no SA_SIGINFO).
pub const FH_PLAIN_HANDLER_EXIT: i32 = faulthandler_fixtures::exit("FH_PLAIN_HANDLER_EXIT");
/// `abrt_handler` (SIGABRT).
pub const FH_ABRT_HANDLER_EXIT: i32 = faulthandler_fixtures::exit("FH_ABRT_HANDLER_EXIT");

/// The test binary itself.
pub fn self_exe() -> PathBuf {
    std::env::current_exe().expect("current_exe")
}

/// `libfaulthandler.so` as cargo built it for this test run (the
/// `faulthandler-c` package's tests: cargo builds the package's cdylib for
/// them). The test is `target/<profile>/deps/NAME-HASH`; the library is
/// one level up (or in `deps/`): the newer one wins.
pub fn built_c_library() -> PathBuf {
    let exe = self_exe();
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let up = deps.parent().unwrap_or(&deps).to_path_buf();
    [
        deps.join("libfaulthandler.so"),
        up.join("libfaulthandler.so"),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .unwrap_or_else(|| panic!("libfaulthandler.so was not built next to {}", exe.display()))
}

/// A directory in `target/` holding `libfaulthandler.so` and its SONAME
/// link (`libfaulthandler.so.0.2`), as an install has them, for C programs
/// linked against the library (`-L DIR -lfaulthandler -Wl,-rpath,DIR`).
pub fn c_library_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let lib = built_c_library();
        let dir = lib.parent().unwrap().join("fh-test-lib");
        std::fs::create_dir_all(&dir).unwrap();
        let major_minor = {
            let v = env!("CARGO_PKG_VERSION");
            let mut it = v.split('.');
            format!("{}.{}", it.next().unwrap(), it.next().unwrap())
        };
        // Copy then rename, so a concurrent run never sees a half file.
        for name in [
            "libfaulthandler.so".to_string(),
            format!("libfaulthandler.so.{major_minor}"),
        ] {
            let tmp = dir.join(format!("{name}.{}", std::process::id()));
            std::fs::copy(&lib, &tmp).unwrap();
            std::fs::rename(&tmp, dir.join(name)).unwrap();
        }
        dir
    })
}

/// `libfaulthandler.so`, in [`c_library_dir`].
pub fn c_library() -> PathBuf {
    c_library_dir().join("libfaulthandler.so")
}

/// A private install directory with the `faulthandler` command and its
/// preload object side by side, as `cargo install` puts them: the
/// target dir may also hold a `libfaulthandler.so` from an earlier `cargo
/// build`, which `run` would pick first (`faulthandler-cli`'s tests only;
/// cargo builds both for them and says where).
pub fn install_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let (Some(cli), Some(preload)) = (
            option_env!("CARGO_BIN_EXE_faulthandler"),
            option_env!("CARGO_BIN_EXE_faulthandler-preload"),
        ) else {
            panic!("the faulthandler command is there for faulthandler-cli's tests only")
        };
        let cli = Path::new(cli);
        let dir = cli.parent().unwrap().join("fh-test-install");
        std::fs::create_dir_all(&dir).unwrap();
        // Copy then rename, so a concurrent run never sees a half file.
        for (from, name) in [
            (cli, "faulthandler"),
            (Path::new(preload), "faulthandler-preload"),
        ] {
            let tmp = dir.join(format!("{name}.{}", std::process::id()));
            std::fs::copy(from, &tmp).unwrap();
            std::fs::rename(&tmp, dir.join(name)).unwrap();
        }
        dir
    })
}

/// The `faulthandler` command, in [`install_dir`].
pub fn cli() -> PathBuf {
    install_dir().join("faulthandler")
}

/// The preload object `faulthandler run` uses, next to the command.
pub fn preload_lib() -> PathBuf {
    install_dir().join("faulthandler-preload")
}

/// A fresh, empty scratch directory under the temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `SIGSEGV` and the like, by number.
pub fn signame(sig: i32) -> &'static str {
    faulthandler::signal_name(sig).unwrap_or("?")
}

/// `return Err(format!(...))` unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}
pub(crate) use ensure;
