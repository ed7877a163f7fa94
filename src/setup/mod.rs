//! Normal context: what the handlers read, prepared ahead of any crash.
//! The symbol index builder ([`index`]), the stack collector's storage
//! and signal ([`collector`]), and our helper threads ([`helpers`]). This
//! code allocates and may take locks; no handler reaches it. The module
//! snapshot, which the `fh-symbols` thread takes too, is malloc-free and
//! lives in `crate::indexer::modules` (still reachable here as
//! [`modules`]).

pub(crate) mod collector;
pub(crate) mod helpers;
pub(crate) mod index;
#[cfg(feature = "symbolize")]
pub(crate) mod lines;
/// The module snapshot, moved to the malloc-free folder; the old path
/// stays for its many callers.
pub(crate) use crate::indexer::modules;
pub(crate) mod process;
