//! The `fh-symbols` thread's work: build what the published index lacks
//! for the modules of the snapshot (names first, for every module, then
//! line tables), and publish each step. One builder at a time: the
//! thread, or a test's or benchmark's call ([`build_missing`]). Normal
//! context, malloc-free.

use super::mem::{self, MapVec};
use crate::runtime::modules::{self, Module};
use crate::symbolize::index::{self, Lines, ModuleIndex, Set};
use core::sync::atomic::{AtomicI32, Ordering};

/// The thread building now, 0 when none. Not a `Mutex`: a child that
/// `fork()` made during a build must be able to build (see
/// [`forget_builder_after_fork`]).
static BUILDER: AtomicI32 = AtomicI32::new(0);

/// Holds [`BUILDER`] while it lives.
struct Building;

impl Building {
    fn start() -> Building {
        let me = crate::runtime::sys::gettid();
        while BUILDER
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            crate::runtime::sys::sleep_ms(1);
        }
        Building
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        BUILDER.store(0, Ordering::Release);
    }
}

/// In a child that `fork()` made (its `pthread_atfork` handler): the
/// parent's builder is not here, building or starting. Without this, the
/// child would never build an index, and its crashes would wait for line
/// tables that nobody builds.
pub(crate) fn forget_builder_after_fork() {
    BUILDER.store(0, Ordering::Release);
    index::BUILDER_TID.store(0, Ordering::Release);
    index::BUILDING.store(false, Ordering::Release);
    mem::forget_lock_after_fork();
    super::modules::forget_lock_after_fork();
}

/// The thread's body: `first`, then at idle priority, after the delay,
/// build until the index covers the snapshot.
pub(crate) fn serve(first: fn()) {
    index::BUILDER_TID.store(crate::runtime::sys::gettid(), Ordering::Release);
    first();
    idle_priority();
    loop {
        delay();
        build_missing();
        index::BUILDING.store(false, Ordering::Release);
        // A snapshot taken while we were building may have added
        // modules; whoever set BUILDING again after us loops here.
        if index::ready() || index::BUILDING.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

/// Run the calling thread at idle priority (`SCHED_IDLE`): the index is
/// built with CPU time nobody else wants.
#[allow(unsafe_code)]
fn idle_priority() {
    // SAFETY: a plain sched_param, for the calling thread (pid 0).
    unsafe {
        let p = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &p) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
}

/// Wait [`settings::INDEX_DELAY_MS`](crate::settings::INDEX_DELAY_MS)
/// before the first build, or until a crash wants the index now: a
/// process that ends sooner (a build's compiler, `node -e`, a test's
/// child) spends no CPU on an index it never used.
fn delay() {
    use crate::runtime::sys;
    let start = sys::monotonic_ns();
    let limit = crate::settings::INDEX_DELAY_MS * 1_000_000;
    while index::START_NOW.load(Ordering::Acquire) == 0 {
        let waited = sys::monotonic_ns().saturating_sub(start);
        if waited >= limit {
            break;
        }
        sys::futex_wait(&index::START_NOW, 0, limit - waited);
    }
    index::START_NOW.store(1, Ordering::Release);
}

/// Build the missing indexes, then the missing line tables, on this
/// thread.
pub(crate) fn build_missing() {
    let _one = Building::start();
    build_missing_names();
    build_missing_lines();
}

/// Publish a new set of indexes (leaked, and the old one too: a handler
/// may still read it).
fn publish(indexes: &[&'static ModuleIndex]) -> Option<()> {
    let set = mem::leak(Set {
        indexes: mem::leak_slice(indexes)?,
    })?;
    index::publish(set);
    Some(())
}

fn build_missing_names() -> Option<()> {
    let snapshot = modules::snapshot_modules();
    let mut indexes: MapVec<&'static ModuleIndex> = MapVec::new();
    indexes.extend_from_slice(index::published())?;
    let mut added = false;
    for m in snapshot.iter() {
        if !index::indexable(m) || indexes.iter().any(|ix| ix.matches(m)) {
            continue;
        }
        if let Some(ix) = super::symbols::build(m) {
            indexes.push(mem::leak(ix)?)?;
            added = true;
        }
    }
    if added {
        publish(&indexes)?;
    }
    Some(())
}

/// Build each indexed module's line tables in turn, publishing each: a
/// report uses the lines of the modules done so far.
fn build_missing_lines() -> Option<()> {
    let snapshot = modules::snapshot_modules();
    for m in snapshot.iter() {
        let Some(ix) = index::find(m) else { continue };
        if !matches!(ix.lines, Lines::Pending) {
            continue;
        }
        let mut new = ix.clone();
        new.lines = lines_for(m);
        let new: &'static ModuleIndex = mem::leak(new)?;
        let mut indexes: MapVec<&'static ModuleIndex> = MapVec::new();
        for &old in index::published() {
            indexes.push(if core::ptr::eq(old, ix) { new } else { old })?;
        }
        publish(&indexes)?;
    }
    Some(())
}

/// The line budget in force (`Config::line_budget`).
#[cfg(feature = "symbolize")]
pub(crate) fn line_budget() -> u64 {
    crate::settings::LINE_BUDGET.load(Ordering::Relaxed)
}

#[cfg(feature = "symbolize")]
fn lines_for(m: &Module) -> Lines {
    use super::lines::{build, Outcome};
    if line_budget() == 0 {
        return Lines::Absent;
    }
    let Some(path) = super::file::FilePath::from_bytes(m.path()) else {
        return Lines::Absent;
    };
    match build(&path, m.build_id(), line_budget()).0 {
        Outcome::Ready(t) => Lines::Ready(t),
        Outcome::Absent => Lines::Absent,
        Outcome::OverBudget { size, budget } => Lines::OverBudget { size, budget },
    }
}

#[cfg(not(feature = "symbolize"))]
fn lines_for(_: &Module) -> Lines {
    Lines::Absent
}
