//! Normal context: what the handlers read, prepared ahead of any crash.
//! The module snapshot ([`modules`]), the symbol index builder
//! ([`index`]), the stack collector's storage and signal ([`collector`]),
//! and our helper threads ([`helpers`]). This code allocates and may take
//! locks; no handler reaches it.

pub(crate) mod collector;
pub(crate) mod helpers;
pub(crate) mod index;
pub(crate) mod modules;
pub(crate) mod process;
