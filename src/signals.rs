//! Async-signal-safe. The signal table: which signals are fatal, their
//! names, and what their `si_code` values mean.
//!
//! Like CPython's `faulthandler_handlers` table, one table drives the
//! fatal signals: installation, chaining and the report all read
//! [`FATAL_SIGNALS`].

use core::ffi::c_int;

/// The signals the crash handler is installed for, in the order they are
/// installed.
pub(crate) const FATAL_SIGNALS: [c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// The position of `sig` in [`FATAL_SIGNALS`].
pub(crate) fn fatal_index(sig: c_int) -> Option<usize> {
    FATAL_SIGNALS.iter().position(|&s| s == sig)
}

/// The conventional name of a standard signal (`SIGSEGV`), or `None` for
/// real-time and unknown signals (see [`write_name`]).
pub(crate) fn name(sig: c_int) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// Append the spelled-out name of any signal: `SIGSEGV`, or `SIGRTMIN+3`
/// for real-time signals, or `SIG?` when the number means nothing.
pub(crate) fn write_name<const N: usize>(out: &mut crate::fmt::Buf<N>, sig: c_int) {
    if let Some(n) = name(sig) {
        out.str(n);
        return;
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&sig) {
        out.str("SIGRTMIN+").dec((sig - min) as u64);
    } else {
        out.str("SIG?");
    }
}

/// Parse a signal given by name or number: `QUIT`, `SIGQUIT`, `sigusr1`,
/// `RTMIN+2`, `SIGRTMIN+2` or `3`. Allocation-free.
pub(crate) fn parse(spec: &str) -> Option<c_int> {
    let s = spec.trim();
    if let Ok(n) = s.parse::<c_int>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let b = s.as_bytes();
    let bare = match b.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => b.get(3..).unwrap_or(&[]),
        _ => b,
    };
    if bare.eq_ignore_ascii_case(b"RTMIN") {
        return Some(libc::SIGRTMIN());
    }
    if let Some(p) = bare.get(..6).filter(|p| p.eq_ignore_ascii_case(b"RTMIN+")) {
        let _ = p;
        let off = core::str::from_utf8(bare.get(6..)?)
            .ok()?
            .parse::<c_int>()
            .ok()?;
        let n = libc::SIGRTMIN().checked_add(off)?;
        return (off >= 0 && n <= libc::SIGRTMAX()).then_some(n);
    }
    (1..libc::SIGRTMIN()).find(|&n| {
        name(n).is_some_and(|full| {
            full.as_bytes().get(3..) == Some(bare) || {
                full.as_bytes()
                    .get(3..)
                    .is_some_and(|f| f.eq_ignore_ascii_case(bare))
            }
        })
    })
}

/// What a siginfo says about where a signal came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The kernel raised it for an instruction (`si_code > 0`): a real fault.
    /// Carries the meaning of the code and its symbolic name.
    Fault {
        desc: &'static str,
        code_name: &'static str,
    },
    /// Sent by a process: kill, tgkill, raise, sigqueue (`si_code <= 0`).
    Sent { pid: i32, uid: u32 },
    /// Raised by the kernel itself (`SI_KERNEL`), e.g. a general protection
    /// fault on a non-canonical address; there is no useful address.
    Kernel,
}

/// Classify a signal's origin from its number and `si_code`.
///
/// `pid` and `uid` are the siginfo's sender fields, which are only
/// meaningful for sent signals.
pub(crate) fn origin(sig: c_int, code: c_int, pid: i32, uid: u32) -> Origin {
    if code == libc::SI_KERNEL {
        return Origin::Kernel;
    }
    if code <= 0 {
        return Origin::Sent { pid, uid };
    }
    let (desc, code_name) = describe_fault(sig, code);
    Origin::Fault { desc, code_name }
}

fn describe_fault(sig: c_int, code: c_int) -> (&'static str, &'static str) {
    match (sig, code) {
        (libc::SIGSEGV, 1) => ("address not mapped to object", "SEGV_MAPERR"),
        (libc::SIGSEGV, 2) => ("invalid permissions for mapped object", "SEGV_ACCERR"),
        (libc::SIGSEGV, 3) => ("failed address bound checks", "SEGV_BNDERR"),
        (libc::SIGSEGV, 4) => ("access denied by protection keys", "SEGV_PKUERR"),
        (libc::SIGSEGV, 8) => ("memory tag check failed", "SEGV_MTESERR"),
        (libc::SIGSEGV, 10) => ("control protection fault", "SEGV_CPERR"),
        (libc::SIGBUS, 1) => ("invalid address alignment", "BUS_ADRALN"),
        (libc::SIGBUS, 2) => ("nonexistent physical address", "BUS_ADRERR"),
        (libc::SIGBUS, 3) => ("object-specific hardware error", "BUS_OBJERR"),
        (libc::SIGBUS, 4) => ("hardware memory error consumed", "BUS_MCEERR_AR"),
        (libc::SIGBUS, 5) => ("hardware memory error detected", "BUS_MCEERR_AO"),
        (libc::SIGILL, 1) => ("illegal opcode", "ILL_ILLOPC"),
        (libc::SIGILL, 2) => ("illegal operand", "ILL_ILLOPN"),
        (libc::SIGILL, 3) => ("illegal addressing mode", "ILL_ILLADR"),
        (libc::SIGILL, 4) => ("illegal trap", "ILL_ILLTRP"),
        (libc::SIGILL, 5) => ("privileged opcode", "ILL_PRVOPC"),
        (libc::SIGILL, 6) => ("privileged register", "ILL_PRVREG"),
        (libc::SIGILL, 7) => ("coprocessor error", "ILL_COPROC"),
        (libc::SIGILL, 8) => ("internal stack error", "ILL_BADSTK"),
        (libc::SIGFPE, 1) => ("integer divide by zero", "FPE_INTDIV"),
        (libc::SIGFPE, 2) => ("integer overflow", "FPE_INTOVF"),
        (libc::SIGFPE, 3) => ("floating-point divide by zero", "FPE_FLTDIV"),
        (libc::SIGFPE, 4) => ("floating-point overflow", "FPE_FLTOVF"),
        (libc::SIGFPE, 5) => ("floating-point underflow", "FPE_FLTUND"),
        (libc::SIGFPE, 6) => ("floating-point inexact result", "FPE_FLTRES"),
        (libc::SIGFPE, 7) => ("invalid floating-point operation", "FPE_FLTINV"),
        (libc::SIGFPE, 8) => ("subscript out of range", "FPE_FLTSUB"),
        _ => ("unknown fault code", "?"),
    }
}

/// Whether the kernel puts a meaningful fault address in `si_addr` for this
/// signal.
pub(crate) fn has_fault_address(sig: c_int) -> bool {
    matches!(
        sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::Buf;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGSEGV), Some("SIGSEGV"));
        assert_eq!(name(libc::SIGABRT), Some("SIGABRT"));
        let mut b = Buf::<32>::new();
        write_name(&mut b, libc::SIGRTMIN() + 3);
        assert_eq!(b.as_bytes(), b"SIGRTMIN+3");
        b.clear();
        write_name(&mut b, 200);
        assert_eq!(b.as_bytes(), b"SIG?");
    }

    #[test]
    fn parsing() {
        assert_eq!(parse("QUIT"), Some(libc::SIGQUIT));
        assert_eq!(parse("SIGUSR2"), Some(libc::SIGUSR2));
        assert_eq!(parse("usr1"), Some(libc::SIGUSR1));
        assert_eq!(parse(" 10 "), Some(10));
        assert_eq!(parse("RTMIN+2"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse("SIGRTMIN+99"), None);
        assert_eq!(parse("BOGUS"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin(libc::SIGSEGV, 1, 0, 0),
            Origin::Fault {
                desc: "address not mapped to object",
                code_name: "SEGV_MAPERR"
            }
        );
        assert_eq!(
            origin(libc::SIGFPE, 1, 0, 0),
            Origin::Fault {
                desc: "integer divide by zero",
                code_name: "FPE_INTDIV"
            }
        );
        assert_eq!(
            origin(libc::SIGABRT, libc::SI_TKILL, 42, 7),
            Origin::Sent { pid: 42, uid: 7 }
        );
        assert_eq!(origin(libc::SIGSEGV, libc::SI_KERNEL, 0, 0), Origin::Kernel);
        assert!(FATAL_SIGNALS.iter().all(|&s| fatal_index(s).is_some()));
        assert_eq!(fatal_index(libc::SIGQUIT), None);
    }
}
