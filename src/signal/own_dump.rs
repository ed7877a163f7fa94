//! Async-signal-safe. A dump written by the dump-request handler itself,
//! on the thread the request landed on, for a process that has no dumper
//! thread: a child that `fork()` made (only the forking thread is copied
//! into it). Everywhere else the handler hands requests to the dumper
//! (`crate::register`).
//!
//! The steps are the crash report's: the thread's own stack is walked
//! where the signal arrived (the unwinder must cross the signal frame),
//! and everything else runs on the report's own stack, under the
//! reporter claim. The thread the request landed on comes first, as the
//! `Current thread`.
#![allow(unsafe_code)]

use super::claim::{Claim, Scratch};
use super::collector;
use crate::report::{self, Current, DumpHeader, Header, Parts};
use crate::runtime::writer::SigpipeGuard;
use crate::runtime::{stack, sys, unwind};
use crate::settings;
use core::ffi::{c_int, c_void};

/// Write the dump that the request `sig` (sent by `pid`) asks for to `fd`,
/// from inside its handler. `uc` is the handler's ucontext (null when
/// unknown: then the thread's stack is walked from here, and the frames
/// of the handler chain above the signal frame are left out).
#[inline(never)]
pub(crate) fn dump_here(sig: c_int, pid: i32, fd: c_int, all_threads: bool, uc: *mut c_void) {
    let tid = sys::gettid();
    let wait = settings::dump_duration_ms().saturating_add(settings::DUMP_WAIT_MARGIN_MS);
    let Some(mut claim) = Claim::dump(tid, wait) else {
        return;
    };
    let _pipe = SigpipeGuard::new();
    let pc = collector::context_pc(uc);
    let max = settings::max_frames();
    let scratch = claim.scratch();
    let frames = scratch.frames.get_mut(..max).unwrap_or(&mut []);
    let walk = if pc == 0 {
        unwind::Walk::default()
    } else {
        // SAFETY: walking our own stack from the handler (see `unwind`).
        unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) }
    };
    if !walk.found_start {
        if let Some(f) = frames.first_mut() {
            *f = pc;
        }
    }
    let mut body = || write(scratch, sig, pid, fd, all_threads, walk, pc != 0, max);
    // SAFETY: we hold the claim, which the report stack belongs to.
    unsafe { stack::run_on_report_stack(&mut body) };
}

#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn write(
    scratch: &mut Scratch,
    sig: c_int,
    pid: i32,
    fd: c_int,
    all_threads: bool,
    walk: unwind::Walk,
    have_pc: bool,
    max: usize,
) {
    let Scratch {
        frames,
        writer: w,
        seen,
        late,
        collect,
        symbols,
        ..
    } = scratch;
    w.reset(fd, -1, settings::write_timeout_ms());
    w.set_json(settings::json());
    let mut parts = Parts {
        w,
        seen,
        late,
        symbols,
    };
    report::compose_header(&mut parts, &Header::Dump(DumpHeader::Request { sig, pid }));
    let current = Current::from_handler_walk(sys::gettid(), frames, walk, max, true);
    let mut others = |emit: &mut dyn FnMut(report::Thread<'_>)| {
        // SAFETY: we hold the claim.
        unsafe { collector::collect_other_threads(collect, max, false, emit) }
    };
    let others: Option<report::Others<'_>> = if all_threads { Some(&mut others) } else { None };
    report::begin_naming(parts.symbols, u64::MAX, None);
    report::compose_body(
        &mut parts,
        if have_pc { Some(&current) } else { None },
        max,
        others,
    );
    report::end_dump(&mut parts);
}
