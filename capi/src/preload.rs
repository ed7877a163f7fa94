//! The `LD_PRELOAD` entry point: an ELF constructor in `libfaulthandler.so`
//! that enables faulthandler from the environment, so that any program,
//! unmodified, gets reports:
//!
//! ```text
//! FAULTHANDLER=1 LD_PRELOAD=/path/to/libfaulthandler.so ./program
//! ```
//!
//! The variables (`FAULTHANDLER`, `FAULTHANDLER_FILE`, `_ALL_THREADS`,
//! `_MAX_FRAMES`, `_SIGNAL`, `_TIMEOUT`, `_READY_FD`) are read by
//! `faulthandler::env`, with the same validators as the Rust API. A bad
//! value prints one warning line on stderr and is ignored; the host runs
//! on, never crashed and never silently unprotected.
//!
//! The constructor only acts in a shared object (this library, or the
//! `faulthandler` command's `faulthandler-preload`): a program that links
//! `libfaulthandler.a` is never enabled behind its back.
//!
//! Once enabled, the library keeps its handlers first for the crash
//! signals and gives the program its own view of them (see
//! `crate::interpose`).
//!
//! Normal context (it runs before `main`); nothing here is reachable from a
//! handler.
//!
//! # Safety
//!
//! The constructor is a plain `extern "C" fn()` placed in `.init_array`
//! with `#[used]`, which is what the loader calls before `main`.
#![allow(unsafe_code)]

extern "C" fn preload_init() {
    // The crate's own sigaction calls go to the C library's, never to the
    // program's view (crate::interpose).
    crate::interpose::setup();
    fh::__private::preload_init();
    if fh::is_enabled() {
        fh::__private::start_interposing();
        crate::interpose::start_altstacks();
    }
}

#[used]
#[link_section = ".init_array"]
static PRELOAD_INIT: extern "C" fn() = preload_init;
