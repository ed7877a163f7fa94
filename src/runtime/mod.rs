//! Async-signal-safe. The runtime layer every handler stands on: raw
//! system calls and the errno guard ([`sys`]), stack formatting
//! ([`fmt`]), the deadline-bounded writer ([`writer`]), `/proc` reads
//! ([`procfs`]), the heapless ELF reader ([`elf`]), the module map
//! ([`modules`]), the stack walk ([`unwind`], and on x86_64 our own
//! reader of the unwind tables for the collector, `cfi`) and exclusive
//! static storage ([`racy`]).
//!
//! Nothing in here allocates, locks or touches `std::io`; clippy checks
//! that as far as it can (`clippy.toml`'s disallowed types, methods and
//! macros are denied in this folder).
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

#[cfg(target_arch = "x86_64")]
pub(crate) mod cfi;
pub(crate) mod elf;
pub(crate) mod fmt;
pub(crate) mod guard;
pub(crate) mod json;
pub(crate) mod late_file;
pub(crate) mod modules;
pub(crate) mod procfs;
pub(crate) mod racy;
pub(crate) mod signals;
pub(crate) mod stack;
pub(crate) mod sys;
pub(crate) mod unwind;
pub(crate) mod writer;
