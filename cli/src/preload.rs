//! Not a program: the `LD_PRELOAD` object that `faulthandler run` uses,
//! linked as a shared object (see `build.rs`), so that `cargo install
//! faulthandler-cli` puts it next to the command. Its only code is an ELF
//! constructor, the same as the C library's (`faulthandler-c`): it
//! enables faulthandler from the `FAULTHANDLER*` variables.
#![no_main]

extern "C" fn init() {
    faulthandler::__private::preload_init();
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;
