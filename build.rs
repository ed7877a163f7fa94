//! Builds the C test fixtures in `c-fixtures/` with the system C compiler
//! (found through the `cc` crate). Nothing here ends up in the library:
//!
//! - `c-fixtures/lib_*.c` are archived into `libfh_fixtures.a`, which is
//!   linked into the integration tests only (`rustc-link-arg-tests`);
//! - `c-fixtures/so_*.c` each become a shared object `OUT_DIR/so_*.so`
//!   (LD_PRELOAD interposers, libraries to `dlopen`);
//! - `c-fixtures/exe_*.c` each become an executable `OUT_DIR/exe_*`;
//! - `c-fixtures/capi_*.c` (programs that use `include/faulthandler.h`) are
//!   compiled to `OUT_DIR/capi_*.o` now, which checks the header; the tests
//!   link them against the freshly built `libfaulthandler.so` with the same
//!   compiler (`FH_CC`), since the library does not exist yet while this
//!   script runs.
//!
//! Tests find the outputs through `env!("FH_FIXTURE_DIR")`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const CFLAGS: &[&str] = &[
    "-O1",
    "-g",
    "-fno-inline",
    "-fno-omit-frame-pointer",
    "-fasynchronous-unwind-tables",
    "-Wall",
];

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let dir = Path::new("c-fixtures");
    println!("cargo:rerun-if-changed=c-fixtures");
    println!("cargo:rustc-env=FH_FIXTURE_DIR={}", out.display());
    let mut sources: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return,
    };
    sources.sort();
    let name_of = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    let is_c = |p: &Path| p.extension().is_some_and(|e| e == "c");

    let archive: Vec<&PathBuf> = sources
        .iter()
        .filter(|p| is_c(p) && name_of(p).starts_with("lib_"))
        .collect();
    if !archive.is_empty() {
        let mut b = cc::Build::new();
        b.cargo_metadata(false).warnings(false);
        for f in CFLAGS {
            b.flag(f);
        }
        for p in &archive {
            b.file(p);
            println!("cargo:rerun-if-changed={}", p.display());
        }
        b.compile("fh_fixtures");
        println!(
            "cargo:rustc-link-arg-tests={}",
            out.join("libfh_fixtures.a").display()
        );
    }

    let compiler = cc::Build::new().get_compiler();
    println!("cargo:rustc-env=FH_CC={}", compiler.path().display());
    println!("cargo:rerun-if-changed=include/faulthandler.h");
    for p in &sources {
        if !is_c(p) {
            continue;
        }
        let name = name_of(p);
        let (target, extra): (PathBuf, &[&str]) = if name.starts_with("so_") {
            (out.join(format!("{name}.so")), &["-shared", "-fPIC"])
        } else if name.starts_with("exe_") {
            (out.join(&name), &["-rdynamic"])
        } else if name.starts_with("capi_") {
            (out.join(format!("{name}.o")), &["-c", "-Iinclude"])
        } else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", p.display());
        let mut cmd: Command = compiler.to_command();
        cmd.args(CFLAGS).args(extra).arg("-o").arg(&target).arg(p);
        if !name.starts_with("capi_") {
            cmd.args(["-ldl", "-pthread"]);
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler: {e}"));
        assert!(status.success(), "compiling {} failed", p.display());
    }
}
