//! faulthandler's C library: `libfaulthandler.so` and `libfaulthandler.a`
//! with the C API of `include/faulthandler.h`, and the `LD_PRELOAD`
//! drop-in (`FAULTHANDLER=1 LD_PRELOAD=libfaulthandler.so ./program`).
//!
//! Build it with `cargo build --release -p faulthandler-c`. Rust programs
//! use the `faulthandler` crate instead; this package exists so that only
//! those who want a C library build one.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod capi;
mod interpose;
mod preload;

pub use capi::*;

/// The library's version, as `faulthandler_version()` returns it.
pub const VERSION: &core::ffi::CStr = {
    match core::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes())
    {
        Ok(v) => v,
        Err(_) => panic!("the version has no NUL byte"),
    }
};
