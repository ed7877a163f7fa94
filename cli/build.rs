//! Links the `faulthandler-preload` target as a shared object rather than
//! an executable: it is the library `faulthandler run` preloads, and being
//! a "binary" is what makes `cargo install` put it next to the command.
//! No C compiler is run.

fn main() {
    println!("cargo:rustc-link-arg-bin=faulthandler-preload=-shared");
    println!("cargo:rerun-if-changed=build.rs");
}
