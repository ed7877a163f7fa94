//! Normal context: what the handlers read, prepared ahead of any crash.
//! The start of the symbol index builder ([`index`]; its work, and the
//! module snapshot, which that thread takes too, are malloc-free and live
//! in `crate::indexer`), the stack collector's storage and signal
//! ([`collector`]), our helper threads ([`helpers`]), and what the report
//! needs to know about the process ([`process`]). This code allocates and
//! may take locks; no handler reaches it.

pub(crate) mod collector;
pub(crate) mod helpers;
pub(crate) mod index;
pub(crate) mod process;
