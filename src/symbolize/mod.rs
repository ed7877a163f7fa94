//! Async-signal-safe. Function names for the report, in the handler.
//!
//! # In the handler
//!
//! The submodules `demangle`, `stack`, `index` and `lookup` (with
//! `runtime::elf`) are async-signal-safe (each says so): a crash report names every frame whose
//! module has a symbol table, `.symtab` or else `.dynsym`, with no heap and
//! no lock, as `NAME+0xOFF`. Rust names are demangled (legacy and v0,
//! without the hash), and C++ names as `c++filt` prints them, by our own
//! Itanium demangler (fixed tables on the stack, bounded recursion; a
//! form it does not know leaves the name mangled).
//!
//! The design, and why:
//! - `enable()` must stay under a millisecond whatever the binary's size,
//!   so it does no symbol work itself. It starts a background thread that
//!   reads each loaded module's symbol table into a sorted array (16 bytes
//!   a function; names stay in the file) and publishes it through an
//!   atomic pointer. A lookup in it is a binary search and one `pread` for
//!   the name: a few microseconds, so a 64-frame report stays far under
//!   5 ms.
//! - Until the index is published, and for libraries `dlopen`ed after
//!   `enable()`, the handler scans the file's symbol table with `pread`,
//!   512 symbols a read, as glog does, but once per module and stack: one
//!   pass resolves every frame of that module (64 frames in a 110k-symbol
//!   binary: about 1 ms, against 0.7 ms a frame for a scan per frame).
//!   Each scan is bounded in time (50 ms), and so are all the scans of one
//!   report (200 ms); past the bound a frame is `??`.
//! - The file is opened by path during the report and used only if its
//!   build-id is the mapped module's.
//! - Names are remembered for the rest of one report by address (512
//!   entries, names up to 118 bytes, unknown names too): the threads of a
//!   process share most of their frames (a pool parked in one place), and a
//!   remembered name needs no file at all. This halved the time of a
//!   200-thread dump.
//! - Each frame's whole text (name, file:line, module, inlined calls) is
//!   remembered too, for the rest of the report (`frame_text`): a frame
//!   seen on an earlier thread is one copy.
//! - Demangling runs on a stack of its own (1 MiB, mapped at `enable()`),
//!   so deep v0 names cannot overflow a small alternate stack, and names
//!   longer than 2048 bytes are cut rather than demangled.
//!
//! # Source lines
//!
//! `lines` holds each module's line tables (built by `indexer::lines` on
//! the `fh-symbols` thread at idle priority, from the module's DWARF or its
//! separate debug file, into memory it maps and leaks): rows delta-coded
//! in blocks of 32, inline segments with the innermost inlined call, the
//! calls with their parent and call site, and a pool of file and function
//! names. The handler finds a frame's line with two binary searches and at
//! most 31 rows decoded, and its inlined calls with one more binary search
//! and a walk up the parents (at most 16); inlined names are demangled like
//! symbol names. A module over the line budget (64 MiB of DWARF by
//! default) gets names only.
//!
//! # Offline
//!
//! `faulthandler::offline::symbolize_report` (and the `faulthandler
//! symbolize` command built on it) adds ` at FILE:LINE` on each frame, and the
//! inlined calls, to a report written without them, from the DWARF debug info of each module (found by path
//! and checked against the report's build-id, or found by build-id in debug
//! directories). This half is ordinary code: it allocates and reads files
//! freely, and is never reached from a handler.

#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub(crate) mod demangle;
pub(crate) mod frame_text;
pub(crate) mod index;
pub(crate) mod lines;
pub(crate) mod lookup;
