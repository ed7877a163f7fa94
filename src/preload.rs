//! The `LD_PRELOAD` entry point: an ELF constructor in `libfaulthandler.so`
//! that enables faulthandler from the environment, so that any program,
//! unmodified, gets reports:
//!
//! ```text
//! FAULTHANDLER=1 LD_PRELOAD=/path/to/libfaulthandler.so ./program
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `FAULTHANDLER` | anything but `0` (or empty) turns it on |
//! | `FAULTHANDLER_FILE` | a report file template (`%p`, `%t`, `%e`, `%%`); stderr without it |
//! | `FAULTHANDLER_ALL_THREADS` | `0` or `1` |
//! | `FAULTHANDLER_MAX_FRAMES` | frame limit, 1 to 4096 |
//! | `FAULTHANDLER_SIGNAL` | a dump-on-request signal: `QUIT`, `USR1`, `SIGUSR2`, a number |
//! | `FAULTHANDLER_TIMEOUT` | seconds before a watchdog dump of every thread |
//! | `FAULTHANDLER_READY_FD` | an fd that gets `ready\n` once the handlers are in, then is closed |
//!
//! A bad value prints one warning line on stderr and is ignored; the host
//! runs on, never crashed and never silently unprotected.
//!
//! The constructor only acts in the shared library itself: a Rust program
//! that links the crate statically is never enabled behind its back.
//!
//! Normal context (it runs before `main`); nothing here is reachable from a
//! handler.
//!
//! # Safety
//!
//! The constructor is placed in `.init_array` with `#[used]`; `dladdr` is
//! given a pointer to our own function and a zeroed `Dl_info` to fill.
#![allow(unsafe_code)]

use std::ffi::{CStr, OsString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// What the environment asked for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Settings {
    pub file: Option<OsString>,
    pub all_threads: Option<bool>,
    pub max_frames: Option<usize>,
    pub signal: Option<i32>,
    pub timeout: Option<Duration>,
    pub ready_fd: Option<i32>,
}

/// Whether `FAULTHANDLER` asks for faulthandler.
pub(crate) fn wanted(get: &impl Fn(&str) -> Option<OsString>) -> bool {
    match get("FAULTHANDLER") {
        None => false,
        Some(v) => !(v.is_empty() || v == "0"),
    }
}

/// Read the settings; every bad value adds one warning line.
pub(crate) fn settings_from(
    get: &impl Fn(&str) -> Option<OsString>,
    warnings: &mut Vec<String>,
) -> Settings {
    let mut s = Settings::default();
    let mut bad = |var: &str, val: &OsString, expected: &str| {
        warnings.push(format!(
            "faulthandler: ignoring {var}={:?}: expected {expected}",
            val.to_string_lossy()
        ));
    };
    if let Some(v) = get("FAULTHANDLER_FILE") {
        if v.is_empty() {
            bad("FAULTHANDLER_FILE", &v, "a file path template");
        } else {
            s.file = Some(v);
        }
    }
    if let Some(v) = get("FAULTHANDLER_ALL_THREADS") {
        match v.to_str() {
            Some("0") => s.all_threads = Some(false),
            Some("1") => s.all_threads = Some(true),
            _ => bad("FAULTHANDLER_ALL_THREADS", &v, "0 or 1"),
        }
    }
    if let Some(v) = get("FAULTHANDLER_MAX_FRAMES") {
        match v.to_str().and_then(|t| t.trim().parse::<usize>().ok()) {
            Some(n) if (1..=crate::handler::MAX_FRAMES_LIMIT).contains(&n) => {
                s.max_frames = Some(n)
            }
            _ => bad(
                "FAULTHANDLER_MAX_FRAMES",
                &v,
                "a whole number from 1 to 4096",
            ),
        }
    }
    if let Some(v) = get("FAULTHANDLER_SIGNAL") {
        match v.to_str().and_then(crate::signals::parse) {
            Some(sig)
                if crate::signals::fatal_index(sig).is_none()
                    && sig != libc::SIGKILL
                    && sig != libc::SIGSTOP =>
            {
                s.signal = Some(sig)
            }
            _ => bad(
                "FAULTHANDLER_SIGNAL",
                &v,
                "a signal name or number such as QUIT, USR1 or SIGUSR2 \
                 (not a crash signal, KILL or STOP)",
            ),
        }
    }
    if let Some(v) = get("FAULTHANDLER_TIMEOUT") {
        match v
            .to_str()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0 && *t <= 31_536_000.0)
        {
            Some(t) => s.timeout = Some(Duration::from_secs_f64(t)),
            None => bad(
                "FAULTHANDLER_TIMEOUT",
                &v,
                "a number of seconds greater than 0",
            ),
        }
    }
    if let Some(v) = get("FAULTHANDLER_READY_FD") {
        match v.to_str().and_then(|t| t.trim().parse::<i32>().ok()) {
            // SAFETY: F_GETFD only inspects the fd table.
            Some(fd) if fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 => {
                s.ready_fd = Some(fd)
            }
            _ => bad(
                "FAULTHANDLER_READY_FD",
                &v,
                "the number of an open file descriptor",
            ),
        }
    }
    s
}

/// Apply the settings: enable, then the dump signal and the watchdog, then
/// readiness. Problems become warnings.
pub(crate) fn apply(s: Settings, warnings: &mut Vec<String>) {
    let mut config = crate::Config::new();
    if let Some(t) = &s.file {
        config = config.file(t);
    }
    if let Some(a) = s.all_threads {
        config = config.all_threads(a);
    }
    if let Some(n) = s.max_frames {
        config = config.max_frames(n);
    }
    if let Err(e) = config.enable() {
        warnings.push(format!("{e}; reports go to stderr instead"));
        let mut fallback = crate::Config::new();
        if let Some(a) = s.all_threads {
            fallback = fallback.all_threads(a);
        }
        if let Some(n) = s.max_frames {
            fallback = fallback.max_frames(n);
        }
        if let Err(e) = fallback.enable() {
            warnings.push(e.to_string());
            return;
        }
    }
    extra_triggers(&s, warnings);
    if let Some(fd) = s.ready_fd {
        // SAFETY: the fd was checked to be open; the variable hands it to us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if let Err(e) = crate::config::signal_ready(fd) {
            warnings.push(e.to_string());
        }
    }
}

/// The dump-on-request signal and the watchdog. Their dumps go to stderr
/// (a report file is for the crash).
fn extra_triggers(s: &Settings, warnings: &mut Vec<String>) {
    if let Some(sig) = s.signal {
        let r = crate::Register::new(sig).all_threads(s.all_threads.unwrap_or(true));
        if let Err(e) = r.install() {
            warnings.push(format!("{e}; FAULTHANDLER_SIGNAL is ignored"));
        }
    }
    if let Some(t) = s.timeout {
        if let Err(e) = crate::dump_traceback_later(t, false, false) {
            warnings.push(format!("{e}; FAULTHANDLER_TIMEOUT is ignored"));
        }
    }
}

/// Whether this copy of the crate is the preloadable shared library (and
/// not a Rust program that links the crate).
fn in_shared_library() -> bool {
    // SAFETY: an all-zero Dl_info is a valid value to fill in.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: the address is our own function; `info` is writable.
    let ok = unsafe { libc::dladdr(preload_init as *const () as *const _, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return false;
    }
    // SAFETY: dladdr returned a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    name.starts_with(b"libfaulthandler")
        && name.windows(3).any(|w| w == b".so")
        && std::fs::read_link("/proc/self/exe")
            .map(|exe| exe.as_os_str().as_encoded_bytes() != path)
            .unwrap_or(true)
}

/// Set while the constructor runs (possibly inside `dlopen`, under the
/// loader lock).
static IN_CONSTRUCTOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the ELF constructor is running: code that would wait for a new
/// thread must not, as the thread may need the loader lock to start.
pub(crate) fn in_constructor() -> bool {
    IN_CONSTRUCTOR.load(std::sync::atomic::Ordering::Acquire)
}

extern "C" fn preload_init() {
    IN_CONSTRUCTOR.store(true, std::sync::atomic::Ordering::Release);
    let _ = std::panic::catch_unwind(|| {
        let get = |k: &str| std::env::var_os(k);
        if !wanted(&get) || !in_shared_library() {
            return;
        }
        let mut warnings = Vec::new();
        let s = settings_from(&get, &mut warnings);
        apply(s, &mut warnings);
        for w in warnings {
            let line = format!("{w}\n");
            // SAFETY: writing our own buffer to stderr.
            unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len()) };
        }
    });
    IN_CONSTRUCTOR.store(false, std::sync::atomic::Ordering::Release);
}

#[used]
#[link_section = ".init_array"]
static PRELOAD_INIT: extern "C" fn() = preload_init;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let m: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn switch() {
        assert!(!wanted(&env(&[])));
        assert!(!wanted(&env(&[("FAULTHANDLER", "0")])));
        assert!(!wanted(&env(&[("FAULTHANDLER", "")])));
        assert!(wanted(&env(&[("FAULTHANDLER", "1")])));
        assert!(wanted(&env(&[("FAULTHANDLER", "yes")])));
    }

    #[test]
    fn good_values() {
        let mut w = Vec::new();
        let s = settings_from(
            &env(&[
                ("FAULTHANDLER_FILE", "/tmp/c-%p"),
                ("FAULTHANDLER_ALL_THREADS", "0"),
                ("FAULTHANDLER_MAX_FRAMES", "64"),
                ("FAULTHANDLER_SIGNAL", "SIGUSR2"),
                ("FAULTHANDLER_TIMEOUT", "2.5"),
                ("FAULTHANDLER_READY_FD", "1"),
            ]),
            &mut w,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            s,
            Settings {
                file: Some("/tmp/c-%p".into()),
                all_threads: Some(false),
                max_frames: Some(64),
                signal: Some(libc::SIGUSR2),
                timeout: Some(Duration::from_millis(2500)),
                ready_fd: Some(1),
            }
        );
    }

    #[test]
    fn bad_values_warn_once_each() {
        let mut w = Vec::new();
        let s = settings_from(
            &env(&[
                ("FAULTHANDLER_ALL_THREADS", "maybe"),
                ("FAULTHANDLER_MAX_FRAMES", "abc"),
                ("FAULTHANDLER_SIGNAL", "BOGUS"),
                ("FAULTHANDLER_TIMEOUT", "-1"),
                ("FAULTHANDLER_READY_FD", "99999"),
            ]),
            &mut w,
        );
        assert_eq!(s, Settings::default());
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w[1].contains("FAULTHANDLER_MAX_FRAMES=\"abc\""), "{}", w[1]);
        assert!(w.iter().all(|l| l.starts_with("faulthandler: ignoring ")));
        let mut w = Vec::new();
        settings_from(&env(&[("FAULTHANDLER_SIGNAL", "SEGV")]), &mut w);
        assert_eq!(w.len(), 1, "a crash signal is refused");
    }
}
