//! The C library's link settings: a SONAME for `libfaulthandler.so`, and a
//! pkg-config file for it next to the build outputs' `OUT_DIR`. No C
//! compiler is run.

use std::path::PathBuf;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let major = version.split('.').next().unwrap_or("0");
    // 0.x versions break the ABI at every minor release.
    let abi = if major == "0" {
        format!("0.{}", version.split('.').nth(1).unwrap_or("0"))
    } else {
        major.to_string()
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libfaulthandler.so.{abi}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let template = include_str!("faulthandler.pc.in");
    let pc = template.replace("@VERSION@", version);
    std::fs::write(out.join("faulthandler.pc"), pc).expect("writing faulthandler.pc");
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    // The header's version macro must be the package's version.
    let header = std::fs::read_to_string(include.join("faulthandler.h")).expect("the header");
    assert!(
        header.contains(&format!("#define FAULTHANDLER_VERSION \"{version}\"")),
        "include/faulthandler.h: FAULTHANDLER_VERSION is not {version}"
    );
    println!("cargo:rerun-if-changed=include/faulthandler.h");
    // For dependents (the `links` key): where the header is.
    println!("cargo:include={}", include.display());
    println!("cargo:rerun-if-changed=faulthandler.pc.in");
    println!("cargo:rerun-if-changed=build.rs");
}
