//! Normal context, and malloc-free: the `fh-symbols` thread's work. It
//! builds the symbol index and the line tables, and never calls
//! `malloc`: glibc would give the thread an arena of its own and reserve
//! 64 MiB of address space for it. Memory comes from mappings of our own
//! ([`mem`]); files are opened, mapped and read as ELF with [`file`](mod@file)
//! (paths on the stack, the separate debug file search, sections
//! uncompressed, zstd ones by our own decoder, [`zstd`]); the module
//! snapshot is [`modules`] (`dl_iterate_phdr`, not `findshlibs`).
//!
//! clippy denies the heap's types and macros here, as in the
//! async-signal-safe folders (`clippy.toml`); what our dependencies do is
//! checked by the tests, which count the thread's allocations.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub(crate) mod dwarf;
pub(crate) mod file;
#[cfg(feature = "symbolize")]
pub(crate) mod lines;
pub(crate) mod mem;
pub(crate) mod modules;
pub(crate) mod run;
pub(crate) mod symbols;
#[cfg(feature = "symbolize")]
pub(crate) mod zstd;
