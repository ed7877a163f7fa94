//! Starts the symbol index builder (see `symbolize::index`) on a
//! background thread, `fh-symbols`, at `enable()`. Normal context. The
//! thread's work, malloc-free, is `crate::indexer`'s.

use super::helpers::Helper;
use crate::symbolize::index::{self, BUILDING};
use core::sync::atomic::Ordering;

/// Install-time preparation, called by `enable()`: map the symbolizer's
/// stack and start the background index builder, which runs `first`
/// before anything else, at the caller's priority. Cheap: no work that
/// grows with the binary's size. `None` when no thread was started (the
/// index is built, or being built): `first` did not run, and will not.
pub(crate) fn prepare(first: fn()) -> Option<super::helpers::Started> {
    crate::runtime::stack::prepare();
    start_building(first)
}

/// Start building indexes for the modules of the current snapshot that
/// have none, on a background thread that runs `first` before it.
/// Normal context; returns at once. The thread's mark is waited for when
/// the returned token is dropped.
fn start_building(first: fn()) -> Option<super::helpers::Started> {
    if index::ready() {
        return None;
    }
    if BUILDING.swap(true, Ordering::AcqRel) {
        // The running builder looks at the snapshot again before it exits.
        return None;
    }
    let spawned = super::helpers::spawn_internal_deferred(Helper::Indexer, move || {
        crate::indexer::run::serve(first)
    });
    match spawned {
        Ok(started) => Some(started),
        Err(_) => {
            BUILDING.store(false, Ordering::Release);
            None
        }
    }
}
