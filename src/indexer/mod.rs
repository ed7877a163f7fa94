//! Normal context, and malloc-free: the `fh-symbols` thread's work. It
//! builds the symbol index and the line tables, and never calls
//! `malloc`: glibc would give the thread an arena of its own and reserve
//! 64 MiB of address space for it. Memory comes from mappings of our own
//! ([`mem`]).
//!
//! clippy denies the heap's types and macros here, as in the
//! async-signal-safe folders (`clippy.toml`); what our dependencies do is
//! checked by the tests, which count the thread's allocations.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

#[allow(dead_code)] // Used by the builders, which move here next.
pub(crate) mod mem;

#[allow(dead_code)] // Used by the line-table builder, which moves here next.
pub(crate) mod dwarf;
