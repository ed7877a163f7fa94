//! Settings from the environment: the `FAULTHANDLER*` variables that the
//! LD_PRELOAD library (`faulthandler-c`), `faulthandler run` and any
//! program that calls [`Env::read`] honour.
//!
//! | variable | meaning |
//! |---|---|
//! | `FAULTHANDLER` | anything but `0` (or empty) turns it on |
//! | `FAULTHANDLER_FILE` | a report file template (`%p`, `%t`, `%e`, `%%`); stderr too |
//! | `FAULTHANDLER_ALL_THREADS` | `0` or `1` |
//! | `FAULTHANDLER_MAX_FRAMES` | frame limit, 1 to 4096 |
//! | `FAULTHANDLER_MAX_THREADS` | thread limit, 1 to 100000 |
//! | `FAULTHANDLER_THREAD_TIMEOUT` | seconds to wait for the other threads' stacks, 0.001 to 60 |
//! | `FAULTHANDLER_WRITE_TIMEOUT` | seconds a report may take to write, 0.001 to 3600 |
//! | `FAULTHANDLER_REPORT_FIRST` | `0` or `1`: [`Config::report_first`](crate::Config::report_first) |
//! | `FAULTHANDLER_REGISTERS` | `0` or `1`: [`Config::registers`](crate::Config::registers) |
//! | `FAULTHANDLER_SIGNAL` | a dump-on-request signal: `QUIT`, `USR1`, `SIGUSR2`, a number |
//! | `FAULTHANDLER_TIMEOUT` | seconds before a watchdog dump of every thread |
//! | `FAULTHANDLER_FORMAT` | `text` (the default) or `json`: one JSON object per report, on one line |
//! | `FAULTHANDLER_TIMEOUT_REPEAT` | `0` or `1`: the watchdog dumps again every timeout |
//! | `FAULTHANDLER_TIMEOUT_EXIT` | `0` or `1`: the process exits (status 1) after the watchdog dump |
//! | `FAULTHANDLER_READY_FD` | an fd that gets `ready\n` once the handlers are in, then is closed |
//!
//! A bad value gives one warning line and is ignored: the host runs on,
//! never crashed and never silently unprotected. The values are checked by
//! the same validators as [`Config`](crate::Config)'s, through
//! [`Env::set`], which the C API's `faulthandler_set()` calls too.
//!
//! A Rust program honours the same variables with
//! [`Config::from_env`](crate::Config::from_env).
//!
//! Normal context; nothing here is reachable from a handler.
//!
//! ```
//! // What `FAULTHANDLER=1 FAULTHANDLER_MAX_FRAMES=64` asks for:
//! let env = faulthandler::env::Env::read_from(|k| match k {
//!     "FAULTHANDLER" => Some("1".into()),
//!     "FAULTHANDLER_MAX_FRAMES" => Some("64".into()),
//!     _ => None,
//! });
//! assert!(env.wanted);
//! assert_eq!(env.max_frames, Some(64));
//! assert!(env.warnings.is_empty());
//! ```
#![allow(unsafe_code)]

use crate::settings;
use std::ffi::OsString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// What the `FAULTHANDLER*` variables ask for, read by [`Env::read`].
///
/// Every field is `None` where the variable is unset or its value was
/// refused; each refusal is one line in [`Env::warnings`].
#[derive(Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Env {
    /// `FAULTHANDLER` is set to anything but `0` or empty.
    pub wanted: bool,
    /// `FAULTHANDLER_FILE`: a report file template.
    pub file: Option<OsString>,
    /// `FAULTHANDLER_ALL_THREADS`.
    pub all_threads: Option<bool>,
    /// `FAULTHANDLER_MAX_FRAMES`.
    pub max_frames: Option<usize>,
    /// `FAULTHANDLER_MAX_THREADS`.
    pub max_threads: Option<usize>,
    /// `FAULTHANDLER_THREAD_TIMEOUT`.
    pub thread_timeout: Option<Duration>,
    /// `FAULTHANDLER_WRITE_TIMEOUT`.
    pub write_timeout: Option<Duration>,
    /// `FAULTHANDLER_REPORT_FIRST`.
    pub report_first: Option<bool>,
    /// `FAULTHANDLER_REGISTERS`.
    pub registers: Option<bool>,
    /// `FAULTHANDLER_FORMAT`.
    pub format: Option<crate::Format>,
    /// `FAULTHANDLER_TIMEOUT_REPEAT`.
    pub timeout_repeat: Option<bool>,
    /// `FAULTHANDLER_TIMEOUT_EXIT`.
    pub timeout_exit: Option<bool>,
    /// `FAULTHANDLER_SIGNAL`: dump every thread on this signal.
    pub signal: Option<i32>,
    /// `FAULTHANDLER_TIMEOUT`: a watchdog dump after this long.
    pub timeout: Option<Duration>,
    /// `FAULTHANDLER_READY_FD`: an open fd to write `ready\n` to.
    pub ready_fd: Option<i32>,
    /// One line per refused value: `faulthandler: ignoring VAR="VALUE":
    /// expected ...`.
    pub warnings: Vec<String>,
    /// Read from the process's own environment (so [`Env::apply`] takes
    /// `FAULTHANDLER_READY_FD` out of it once used).
    from_process: bool,
}

impl Env {
    /// Read the process's environment.
    ///
    /// ```
    /// let env = faulthandler::env::Env::read();
    /// if env.wanted {
    ///     for w in env.apply() {
    ///         eprintln!("{w}");
    ///     }
    /// }
    /// # faulthandler::disable();
    /// ```
    pub fn read() -> Env {
        Env {
            from_process: true,
            ..Env::read_from(|k| std::env::var_os(k))
        }
    }

    /// Read the variables through `get` (for tests, or another source).
    ///
    /// ```
    /// let env = faulthandler::env::Env::read_from(|k| {
    ///     (k == "FAULTHANDLER_MAX_FRAMES").then(|| "0".into())
    /// });
    /// assert_eq!(env.max_frames, None);
    /// assert_eq!(env.warnings.len(), 1);
    /// ```
    pub fn read_from(get: impl Fn(&str) -> Option<OsString>) -> Env {
        let mut s = Env {
            wanted: get("FAULTHANDLER").is_some_and(|v| !(v.is_empty() || v == "0")),
            ..Env::default()
        };
        let mut warnings = Vec::new();
        for var in VARS {
            if let Some(v) = get(var) {
                if let Err(w) = s.set(var, &v) {
                    warnings.push(w);
                }
            }
        }
        s.warnings = warnings;
        s
    }

    /// Set one variable's value, checked as [`Env::read`] checks it (the
    /// shared validator of every front end): `Err` is the warning line,
    /// and the setting is left as it was.
    ///
    /// ```
    /// let mut env = faulthandler::env::Env::default();
    /// env.set("FAULTHANDLER_MAX_THREADS", "500".as_ref()).unwrap();
    /// assert_eq!(env.max_threads, Some(500));
    /// assert!(env.set("FAULTHANDLER_MAX_THREADS", "0".as_ref()).is_err());
    /// assert!(env.set("FAULTHANDLER_NOPE", "1".as_ref()).is_err());
    /// ```
    pub fn set(&mut self, var: &str, v: &std::ffi::OsStr) -> Result<(), String> {
        let bad = |expected: &str| {
            Err(format!(
                "faulthandler: ignoring {var}={:?}: expected {expected}",
                v.to_string_lossy()
            ))
        };
        let text = v.to_str().map(str::trim);
        let flag = || match text {
            Some("0") => Some(false),
            Some("1") => Some(true),
            _ => None,
        };
        let seconds = |check: fn(Duration) -> Result<Duration, settings::Invalid>| {
            text.and_then(|t| t.parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t > 0.0 && *t < 1e9)
                .and_then(|t| check(Duration::from_secs_f64(t)).ok())
        };
        match var {
            "FAULTHANDLER_FILE" => {
                if v.is_empty() {
                    return bad("a file path template");
                }
                self.file = Some(v.to_owned());
            }
            "FAULTHANDLER_ALL_THREADS" => match flag() {
                Some(b) => self.all_threads = Some(b),
                None => return bad("0 or 1"),
            },
            "FAULTHANDLER_REPORT_FIRST" => match flag() {
                Some(b) => self.report_first = Some(b),
                None => return bad("0 or 1"),
            },
            "FAULTHANDLER_REGISTERS" => match flag() {
                Some(b) => self.registers = Some(b),
                None => return bad("0 or 1"),
            },
            "FAULTHANDLER_FORMAT" => match text.map(settings::validate_format) {
                Some(Ok(f)) => self.format = Some(f),
                _ => return bad("text or json (reports stay text)"),
            },
            "FAULTHANDLER_TIMEOUT_REPEAT" => match flag() {
                Some(b) => self.timeout_repeat = Some(b),
                None => return bad("0 or 1"),
            },
            "FAULTHANDLER_TIMEOUT_EXIT" => match flag() {
                Some(b) => self.timeout_exit = Some(b),
                None => return bad("0 or 1"),
            },
            "FAULTHANDLER_MAX_FRAMES" => match text.and_then(|t| t.parse::<usize>().ok()) {
                Some(n) if settings::validate_max_frames(n).is_ok() => self.max_frames = Some(n),
                _ => return bad("a whole number from 1 to 4096"),
            },
            "FAULTHANDLER_MAX_THREADS" => match text.and_then(|t| t.parse::<usize>().ok()) {
                Some(n) if settings::validate_max_threads(n).is_ok() => self.max_threads = Some(n),
                _ => return bad("a whole number from 1 to 100000"),
            },
            "FAULTHANDLER_THREAD_TIMEOUT" => match seconds(settings::validate_thread_timeout) {
                Some(d) => self.thread_timeout = Some(d),
                None => return bad("a number of seconds from 0.001 to 60"),
            },
            "FAULTHANDLER_WRITE_TIMEOUT" => match seconds(settings::validate_write_timeout) {
                Some(d) => self.write_timeout = Some(d),
                None => return bad("a number of seconds from 0.001 to 3600"),
            },
            "FAULTHANDLER_SIGNAL" => match text
                .and_then(crate::parse_signal)
                .filter(|&sig| crate::signal::check_dump_signal(sig).is_ok())
            {
                Some(sig) => self.signal = Some(sig),
                None => {
                    return bad("a signal name or number such as QUIT, USR1 or SIGUSR2 \
                         (not a crash signal, KILL or STOP)")
                }
            },
            "FAULTHANDLER_TIMEOUT" => match text
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(|t| settings::validate_watchdog_seconds(t).ok())
            {
                Some(t) => self.timeout = Some(t),
                None => return bad("a number of seconds greater than 0"),
            },
            "FAULTHANDLER_READY_FD" => match text.and_then(|t| t.parse::<i32>().ok()) {
                // 0 to 2 are stdin, stdout and stderr: closing one after
                // `ready` could lose the report or the program's output.
                // SAFETY: F_GETFD only inspects the fd table.
                Some(fd) if fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 => {
                    self.ready_fd = Some(fd)
                }
                _ => return bad("the number of an open file descriptor above 2"),
            },
            _ => {
                return Err(format!(
                    "faulthandler: ignoring {var}: not a setting (known: {})",
                    VARS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// The crash-handler part as a [`Config`](crate::Config): the file,
    /// `all_threads`, `max_frames`, `max_threads`, the thread and write
    /// timeouts and `report_first`.
    ///
    /// ```
    /// let env = faulthandler::env::Env::read_from(|k| {
    ///     (k == "FAULTHANDLER_ALL_THREADS").then(|| "0".into())
    /// });
    /// env.config().enable()?;
    /// # faulthandler::disable();
    /// # Ok::<(), faulthandler::Error>(())
    /// ```
    pub fn config(&self) -> crate::Config {
        let mut config = crate::Config::new();
        if let Some(t) = &self.file {
            config = config.file(t);
        }
        if let Some(a) = self.all_threads {
            config = config.all_threads(a);
        }
        if let Some(n) = self.max_frames {
            config = config.max_frames(n);
        }
        if let Some(n) = self.max_threads {
            config = config.max_threads(n);
        }
        if let Some(d) = self.thread_timeout {
            config = config.thread_timeout(d);
        }
        if let Some(d) = self.write_timeout {
            config = config.write_timeout(d);
        }
        if let Some(b) = self.report_first {
            config = config.report_first(b);
        }
        if let Some(b) = self.registers {
            config = config.registers(b);
        }
        if let Some(f) = self.format {
            config = config.format(f);
        }
        config
    }

    /// Do what the variables ask, whether or not `FAULTHANDLER` is set:
    /// enable (falling back to stderr when the report file cannot be
    /// created), then the dump signal and the watchdog (whose dumps go to
    /// stderr), then readiness. Returns the warnings: those of
    /// [`Env::read`], and one line for each step that failed.
    ///
    /// When the settings came from [`Env::read`], `FAULTHANDLER_READY_FD`
    /// is taken out of the process's environment (so children never repeat
    /// the handshake). Changing the environment races with other threads
    /// that read it: call this early in `main`, before starting threads,
    /// as the preload library does from its constructor.
    ///
    /// ```
    /// let warnings = faulthandler::env::Env::read_from(|_| None).apply();
    /// assert!(warnings.is_empty());
    /// assert!(faulthandler::is_enabled());
    /// # faulthandler::disable();
    /// ```
    pub fn apply(self) -> Vec<String> {
        let mut warnings = self.warnings.clone();
        if let Err(e) = self.config().enable() {
            warnings.push(format!("{e}; reports go to stderr instead"));
            let mut fallback = self.config();
            fallback = fallback.no_file();
            if let Err(e) = fallback.enable() {
                warnings.push(e.to_string());
                return warnings;
            }
        }
        warnings.extend(self.apply_rest());
        warnings
    }
}

/// Every variable [`Env::set`] takes, in the order [`Env::read`] reads them.
pub const VARS: [&str; 14] = [
    "FAULTHANDLER_FILE",
    "FAULTHANDLER_ALL_THREADS",
    "FAULTHANDLER_FORMAT",
    "FAULTHANDLER_MAX_FRAMES",
    "FAULTHANDLER_MAX_THREADS",
    "FAULTHANDLER_THREAD_TIMEOUT",
    "FAULTHANDLER_WRITE_TIMEOUT",
    "FAULTHANDLER_REPORT_FIRST",
    "FAULTHANDLER_REGISTERS",
    "FAULTHANDLER_SIGNAL",
    "FAULTHANDLER_TIMEOUT",
    "FAULTHANDLER_TIMEOUT_REPEAT",
    "FAULTHANDLER_TIMEOUT_EXIT",
    "FAULTHANDLER_READY_FD",
];

impl Env {
    /// What comes after the crash handlers: the dump signal, the watchdog
    /// (with its repeat and exit), readiness. Returns a line per failure.
    pub(crate) fn apply_rest(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(sig) = self.signal {
            let r = crate::Register::new(sig).all_threads(self.all_threads.unwrap_or(true));
            if let Err(e) = r.install() {
                warnings.push(format!("{e}; FAULTHANDLER_SIGNAL is ignored"));
            }
        }
        if let Some(t) = self.timeout {
            let repeat = self.timeout_repeat.unwrap_or(false);
            let exit = self.timeout_exit.unwrap_or(false);
            if let Err(e) = crate::dump_traceback_later(t, repeat, exit) {
                warnings.push(format!("{e}; FAULTHANDLER_TIMEOUT is ignored"));
            }
        }
        if self.from_process {
            // Used once: a child of this program must not repeat the
            // handshake on whatever has that fd number in it.
            std::env::remove_var("FAULTHANDLER_READY_FD");
        }
        if let Some(fd) = self.ready_fd {
            // SAFETY: the fd was checked to be open; the variable hands it
            // to us.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            if let Err(e) = crate::config::signal_ready(fd) {
                warnings.push(e.to_string());
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let m: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Env::read_from(move |k| m.get(k).cloned())
    }

    #[test]
    fn switch() {
        assert!(!env(&[]).wanted);
        assert!(!env(&[("FAULTHANDLER", "0")]).wanted);
        assert!(!env(&[("FAULTHANDLER", "")]).wanted);
        assert!(env(&[("FAULTHANDLER", "1")]).wanted);
        assert!(env(&[("FAULTHANDLER", "yes")]).wanted);
    }

    #[test]
    fn good_values() {
        use std::os::fd::AsRawFd;
        let open = std::fs::File::open("/dev/null").unwrap();
        let fd = open.as_raw_fd().to_string();
        let s = env(&[
            ("FAULTHANDLER_FILE", "/tmp/c-%p"),
            ("FAULTHANDLER_ALL_THREADS", "0"),
            ("FAULTHANDLER_MAX_FRAMES", "64"),
            ("FAULTHANDLER_MAX_THREADS", "500"),
            ("FAULTHANDLER_THREAD_TIMEOUT", "0.25"),
            ("FAULTHANDLER_WRITE_TIMEOUT", "2"),
            ("FAULTHANDLER_REPORT_FIRST", "1"),
            ("FAULTHANDLER_REGISTERS", "1"),
            ("FAULTHANDLER_FORMAT", "json"),
            ("FAULTHANDLER_SIGNAL", "SIGUSR2"),
            ("FAULTHANDLER_TIMEOUT", "2.5"),
            ("FAULTHANDLER_TIMEOUT_REPEAT", "1"),
            ("FAULTHANDLER_TIMEOUT_EXIT", "0"),
            ("FAULTHANDLER_READY_FD", &fd),
        ]);
        assert_eq!(
            s,
            Env {
                wanted: false,
                file: Some("/tmp/c-%p".into()),
                all_threads: Some(false),
                max_frames: Some(64),
                max_threads: Some(500),
                thread_timeout: Some(Duration::from_millis(250)),
                write_timeout: Some(Duration::from_secs(2)),
                report_first: Some(true),
                registers: Some(true),
                format: Some(crate::Format::JsonLines),
                signal: Some(libc::SIGUSR2),
                timeout: Some(Duration::from_millis(2500)),
                timeout_repeat: Some(true),
                timeout_exit: Some(false),
                ready_fd: Some(open.as_raw_fd()),
                warnings: Vec::new(),
                from_process: false,
            }
        );
    }

    #[test]
    fn bad_values_warn_once_each() {
        let s = env(&[
            ("FAULTHANDLER_ALL_THREADS", "maybe"),
            ("FAULTHANDLER_MAX_FRAMES", "abc"),
            ("FAULTHANDLER_SIGNAL", "BOGUS"),
            ("FAULTHANDLER_TIMEOUT", "-1"),
            ("FAULTHANDLER_READY_FD", "99999"),
            ("FAULTHANDLER_MAX_THREADS", "100001"),
            ("FAULTHANDLER_THREAD_TIMEOUT", "61"),
            ("FAULTHANDLER_WRITE_TIMEOUT", "0"),
            ("FAULTHANDLER_REPORT_FIRST", "yes"),
            ("FAULTHANDLER_TIMEOUT_REPEAT", "2"),
            ("FAULTHANDLER_TIMEOUT_EXIT", "-"),
        ]);
        let w = &s.warnings;
        assert_eq!(w.len(), 11, "{w:?}");
        assert!(w[1].contains("FAULTHANDLER_MAX_FRAMES=\"abc\""), "{}", w[1]);
        assert!(w.iter().all(|l| l.starts_with("faulthandler: ignoring ")));
        assert_eq!(
            Env {
                warnings: Vec::new(),
                ..s
            },
            Env::default()
        );
        let s = env(&[("FAULTHANDLER_FORMAT", "yaml")]);
        assert_eq!(s.format, None);
        assert_eq!(
            s.warnings,
            ["faulthandler: ignoring FAULTHANDLER_FORMAT=\"yaml\": expected text or json (reports stay text)"]
        );
        assert_eq!(
            env(&[("FAULTHANDLER_FORMAT", "TEXT")]).format,
            Some(crate::Format::Text)
        );
        let s = env(&[("FAULTHANDLER_SIGNAL", "SEGV")]);
        assert_eq!(s.warnings.len(), 1, "a crash signal is refused");
        let s = env(&[("FAULTHANDLER_MAX_FRAMES", "4097")]);
        assert_eq!(s.warnings.len(), 1, "the shared validator's range");
        for fd in ["0", "1", "2"] {
            let s = env(&[("FAULTHANDLER_READY_FD", fd)]);
            assert_eq!(s.ready_fd, None);
            assert_eq!(s.warnings.len(), 1, "stdio fd {fd} refused");
        }
    }
}
