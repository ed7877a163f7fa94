//! The hang watchdog: [`dump_traceback_later`],
//! [`cancel_dump_traceback_later`] and the [`Watchdog`] builder.
//!
//! One watchdog thread, started at the first arming with every signal
//! blocked (but the crash signals, so that a fault in it is reported),
//! sleeps on a condition variable until the deadline. When it
//! fires it writes `Timeout (H:MM:SS.mmm)!` and every thread's stack (in
//! normal context, through the same collection as the other dumps), then
//! ends the process with `_exit(1)` if asked to, re-arms itself if asked
//! to repeat, or disarms. Arming again replaces the timer; cancelling when
//! nothing is armed does nothing.

use crate::dump;
use crate::error::Error;
use crate::report::DumpHeader;
use crate::setup::helpers::{self, Helper};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Armed {
    timeout: Duration,
    deadline: Instant,
    repeat: bool,
    exit: bool,
    fd: Option<OwnedFd>,
}

/// The watchdog's state. Its thread allocates and frees nothing (no
/// malloc arena for it): the fds are plain `OwnedFd`s (closing one frees
/// nothing), and an fd that a dump is being written to when `arm()` or
/// `cancel` replace its timer is handed to the thread to close.
struct State {
    armed: Option<Armed>,
    started: bool,
    /// The armed timer's fd that a dump is being written to now (a
    /// repeating timer's: it stays armed during the dump).
    writing: Option<RawFd>,
    /// That fd, when its timer was replaced or cancelled during the dump:
    /// the thread closes it after the dump.
    replaced: Option<OwnedFd>,
}

impl State {
    /// Replace the armed timer with `new`: the old one's fd is closed now,
    /// or after the dump being written to it.
    fn replace(&mut self, new: Option<Armed>) {
        let old = core::mem::replace(&mut self.armed, new).and_then(|a| a.fd);
        if let Some(fd) = old {
            if self.writing == Some(fd.as_raw_fd()) {
                self.replaced = Some(fd);
            }
        }
    }
}

static STATE: Mutex<State> = Mutex::new(State {
    armed: None,
    started: false,
    writing: None,
    replaced: None,
});
static WAKE: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Settings for the hang watchdog, armed with [`Watchdog::arm`].
///
/// ```no_run
/// use std::time::Duration;
///
/// let log = std::fs::File::create("/tmp/hang.log")?;
/// faulthandler::Watchdog::new(Duration::from_secs(600))
///     .fd(log.into())
///     .exit(true)
///     .arm()?;
/// // ... a CI job that must not hang: after 10 minutes every thread's
/// // stack goes to the log and the process exits with status 1 ...
/// faulthandler::cancel_dump_traceback_later();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Watchdog {
    timeout: Duration,
    repeat: bool,
    exit: bool,
    fd: Option<OwnedFd>,
}

impl Watchdog {
    /// Fire once, `timeout` from arming, to stderr, without exiting.
    ///
    /// ```
    /// let w = faulthandler::Watchdog::new(std::time::Duration::from_secs(60));
    /// # drop(w);
    /// ```
    pub fn new(timeout: Duration) -> Self {
        Watchdog {
            timeout,
            repeat: false,
            exit: false,
            fd: None,
        }
    }

    /// Fire again every `timeout` until cancelled.
    ///
    /// ```
    /// let w = faulthandler::Watchdog::new(std::time::Duration::from_secs(60)).repeat(true);
    /// # drop(w);
    /// ```
    pub fn repeat(mut self, repeat: bool) -> Self {
        self.repeat = repeat;
        self
    }

    /// End the process with `_exit(1)` after the dump.
    ///
    /// ```
    /// let w = faulthandler::Watchdog::new(std::time::Duration::from_secs(60)).exit(true);
    /// # drop(w);
    /// ```
    pub fn exit(mut self, exit: bool) -> Self {
        self.exit = exit;
        self
    }

    /// Write the dumps to this fd instead of stderr. It is closed when the
    /// watchdog is cancelled or armed again.
    ///
    /// ```no_run
    /// let log = std::fs::File::create("/tmp/hang.log")?;
    /// let w = faulthandler::Watchdog::new(std::time::Duration::from_secs(60)).fd(log.into());
    /// # drop(w);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fd(mut self, fd: OwnedFd) -> Self {
        self.fd = Some(fd);
        self
    }

    /// Arm the watchdog, replacing any timer armed before.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a
    /// zero timeout; [`ErrorKind::Os`](crate::ErrorKind::Os) when the
    /// watchdog thread or the stack collector cannot be set up.
    ///
    /// ```
    /// use std::time::Duration;
    /// faulthandler::Watchdog::new(Duration::from_secs(3600)).repeat(true).arm()?;
    /// faulthandler::cancel_dump_traceback_later();
    /// # Ok::<(), faulthandler::Error>(())
    /// ```
    pub fn arm(self) -> Result<(), Error> {
        if self.timeout.is_zero() {
            return Err(Error::invalid("the watchdog timeout must not be zero"));
        }
        dump::prepare()?;
        let mut st = lock();
        if !st.started {
            helpers::spawn_internal(Helper::Watchdog, watchdog_thread)?;
            st.started = true;
        }
        let deadline = Instant::now()
            .checked_add(self.timeout)
            .ok_or_else(|| Error::invalid("the watchdog timeout is too large"))?;
        st.replace(Some(Armed {
            timeout: self.timeout,
            deadline,
            repeat: self.repeat,
            exit: self.exit,
            fd: self.fd,
        }));
        WAKE.notify_all();
        Ok(())
    }
}

/// Dump every thread's stack to stderr if the process is still running
/// `timeout` from now, with the first line `Timeout (H:MM:SS.mmm)!`.
/// With `repeat`, dump again every `timeout` until cancelled; with `exit`,
/// end the process with `_exit(1)` after the dump. Arming again replaces
/// the previous timer. [`Watchdog`] sets another fd.
///
/// # Errors
///
/// See [`Watchdog::arm`].
///
/// ```
/// use std::time::Duration;
///
/// faulthandler::dump_traceback_later(Duration::from_secs(600), false, true)?;
/// // ... work that must finish within 10 minutes ...
/// faulthandler::cancel_dump_traceback_later();
/// # Ok::<(), faulthandler::Error>(())
/// ```
pub fn dump_traceback_later(timeout: Duration, repeat: bool, exit: bool) -> Result<(), Error> {
    Watchdog::new(timeout).repeat(repeat).exit(exit).arm()
}

/// Disarm the watchdog. Doing so when nothing is armed is fine. A dump
/// that is being written already is finished.
///
/// ```
/// faulthandler::cancel_dump_traceback_later();
/// ```
pub fn cancel_dump_traceback_later() {
    let mut st = lock();
    st.replace(None);
    WAKE.notify_all();
}

fn watchdog_thread() {
    let mut st = lock();
    loop {
        let now = Instant::now();
        let Some(a) = st.armed.as_mut() else {
            st = WAKE.wait(st).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        if now < a.deadline {
            let wait = a.deadline - now;
            st = WAKE
                .wait_timeout(st, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        let ms = a.timeout.as_millis().min(u128::from(u64::MAX)) as u64;
        let exit = a.exit;
        // A one-shot timer is taken: its fd is ours, closed after the
        // dump. A repeating one stays armed: its fd is marked `writing`.
        let (owned, raw) = if a.repeat {
            a.deadline = now + a.timeout;
            let raw = a.fd.as_ref().map(|f| f.as_raw_fd());
            st.writing = raw;
            (None, raw)
        } else {
            let fd = st.armed.take().and_then(|a| a.fd);
            let raw = fd.as_ref().map(|f| f.as_raw_fd());
            (fd, raw)
        };
        drop(st);
        let (raw, copy) = match raw {
            Some(f) => (f, -1),
            None => dump::default_destinations(),
        };
        let _ = dump::write_dump(raw, copy, DumpHeader::Timeout { ms }, None, true, 0);
        drop(owned);
        if exit {
            // SAFETY: _exit ends the process at once, as asked.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(1)
            };
        }
        st = lock();
        st.writing = None;
        drop(st.replaced.take());
    }
}
