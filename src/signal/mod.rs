//! Async-signal-safe. The signal handlers and what they share (with the
//! table of fatal signals and their previous actions in
//! `runtime::signals`): the one reporter claim ([`claim`]), the fatal handler and its chaining
//! ([`fatal`]), the stack collector that every other thread answers
//! ([`collector`]), and the dump-request handler ([`request`]).
//!
//! Installing is done from normal context (under the API's locks), but
//! only with async-signal-safe calls, so these modules hold no heap, lock
//! or `std::io` code at all. What must allocate (the collector's pool, the
//! helper threads) lives in `crate::setup`.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub(crate) mod claim;
pub(crate) mod collector;
pub(crate) mod fatal;
pub(crate) mod own_dump;
pub(crate) mod program;
pub(crate) mod request;

pub(crate) use crate::runtime::signals::check_dump_signal;
