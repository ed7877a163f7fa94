//! Not a program: the `LD_PRELOAD` object that `faulthandler run` uses,
//! linked as a shared object (see `build.rs`), so that `cargo install
//! faulthandler-cli` puts it next to the command. Its only code is an ELF
//! constructor, the same as the C library's (`faulthandler-c`): it
//! enables faulthandler from the `FAULTHANDLER*` variables.
#![no_main]

extern crate faulthandler as fh;

// The same interposer as the C library's preload (`sigaction`, `signal`
// and glibc's variants, for the crash signals only).
#[path = "../../capi/src/interpose.rs"]
mod interpose;

extern "C" fn init() {
    interpose::setup();
    fh::__private::preload_init();
    if fh::is_enabled() {
        fh::__private::start_interposing();
        interpose::start_altstacks();
    }
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;
