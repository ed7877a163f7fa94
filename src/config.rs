//! The public API for the crash handler: [`Config`], [`enable`],
//! [`disable`], [`is_enabled`] and [`install_thread_altstack`].
//!
//! This is normal-context code. It serialises installs with a mutex and
//! publishes settings to the handler through atomics.

use crate::error::Error;
use crate::setup;
use crate::signal::claim::Claim;
use crate::signal::fatal as handler;
use crate::{altstack, report_file, settings};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Settings for the crash handler, built up and then applied with
/// [`Config::enable`].
///
/// ```no_run
/// use std::fs::File;
/// use std::time::Duration;
///
/// let log = File::create("/tmp/crash.log")?;
/// faulthandler::Config::new()
///     .fd(log.into())
///     .all_threads(true)
///     .max_frames(64)
///     .max_threads(500)
///     .thread_timeout(Duration::from_millis(200))
///     .write_timeout(Duration::from_secs(2))
///     .enable()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Config {
    fd: Option<OwnedFd>,
    file: Option<PathBuf>,
    also_stderr: Option<bool>,
    ready_fd: Option<OwnedFd>,
    all_threads: bool,
    max_frames: usize,
    write_timeout: Duration,
    max_threads: usize,
    thread_timeout: Duration,
    report_first: bool,
    line_budget: u64,
    debug_dirs: Vec<PathBuf>,
    format: settings::Format,
    registers: bool,
    /// Set by [`Config::from_env`]: the rest of what the variables ask
    /// (dump signal, watchdog, readiness), applied after the install.
    env: Option<Box<crate::env::Env>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fd: None,
            file: None,
            also_stderr: None,
            ready_fd: None,
            all_threads: true,
            max_frames: settings::DEFAULT_MAX_FRAMES,
            write_timeout: settings::DEFAULT_WRITE_TIMEOUT,
            max_threads: settings::DEFAULT_MAX_THREADS,
            thread_timeout: settings::DEFAULT_THREAD_TIMEOUT,
            report_first: false,
            line_budget: settings::DEFAULT_LINE_BUDGET,
            debug_dirs: Vec::new(),
            format: settings::Format::Text,
            registers: false,
            env: None,
        }
    }
}

impl Config {
    /// The defaults: reports to stderr, all threads, at most 100 frames a
    /// stack, and 3 seconds to write a report.
    ///
    /// ```
    /// let config = faulthandler::Config::new();
    /// # drop(config);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The settings the `FAULTHANDLER*` variables ask for, as the preload
    /// library reads them (see [`crate::env`]): the file template, the
    /// limits, the timeouts, report-first, and, applied by
    /// [`Config::enable`] right after the install, the dump signal, the
    /// watchdog (with its repeat and exit) and readiness. A bad value is
    /// ignored with one warning line on stderr, at `enable()`. Unlike the
    /// preload library, it does not need `FAULTHANDLER=1`: calling it is
    /// the program's choice. Settings made on the result override the
    /// variables.
    ///
    /// ```no_run
    /// fn main() -> Result<(), faulthandler::Error> {
    ///     faulthandler::Config::from_env().enable()?;
    ///     // ...
    ///     Ok(())
    /// }
    /// ```
    pub fn from_env() -> Self {
        let env = crate::env::Env::read();
        let mut config = env.config();
        config.env = Some(Box::new(env));
        config
    }

    /// Whether a crash report also shows the crashing thread's general
    /// registers and the code bytes around its pc (16 before, 16 from
    /// it), after the process lines. Off by default: reports are often
    /// shared, and registers can hold data. The code is read without any
    /// risk of faulting (an unmapped pc shows `??` bytes).
    ///
    /// ```
    /// let config = faulthandler::Config::new().registers(true);
    /// # drop(config);
    /// ```
    pub fn registers(mut self, on: bool) -> Self {
        self.registers = on;
        self
    }

    /// Write reports to this fd instead of stderr. faulthandler owns it
    /// from now on, and closes it on [`disable`] or when another
    /// configuration replaces it. It should be opened before a crash can
    /// happen; a report cannot open files.
    ///
    /// ```no_run
    /// let log = std::fs::File::create("/tmp/crash.log")?;
    /// faulthandler::Config::new().fd(log.into()).enable()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fd(mut self, fd: OwnedFd) -> Self {
        self.fd = Some(fd);
        self
    }

    /// Write reports to a new file made from `template`, created now (at
    /// [`Config::enable`]) with mode 0600 and
    /// `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC`. The template takes `%p` (the
    /// pid), `%t` (unix time at enable), `%e` (the executable's name) and
    /// `%%` (a literal `%`).
    ///
    /// The parent directory must exist, and nothing may exist at the path
    /// (a planted symlink is refused). Reports also go to stderr unless
    /// [`Config::also_stderr`] says otherwise. If nothing was written to the
    /// file by the time the process exits cleanly (or [`disable`] runs), the
    /// file is removed.
    ///
    /// ```no_run
    /// faulthandler::Config::new()
    ///     .file("/var/tmp/crash-%e-%p.txt")
    ///     .enable()?;
    /// # Ok::<(), faulthandler::Error>(())
    /// ```
    pub fn file(mut self, template: impl Into<PathBuf>) -> Self {
        self.file = Some(template.into());
        self
    }

    /// Forget the file template (the environment's fallback when the file
    /// cannot be created).
    pub(crate) fn no_file(mut self) -> Self {
        self.file = None;
        self
    }

    /// Whether reports also go to stderr when a [`Config::file`] or a
    /// [`Config::fd`] is set. The default is yes for a file and no for an
    /// fd.
    ///
    /// ```
    /// let config = faulthandler::Config::new()
    ///     .file("/tmp/crash-%p.txt")
    ///     .also_stderr(false);
    /// # drop(config);
    /// ```
    pub fn also_stderr(mut self, on: bool) -> Self {
        self.also_stderr = Some(on);
        self
    }

    /// Write `ready\n` to this fd once the handlers are installed, then
    /// close it. A supervisor that reads the other end knows from then on
    /// that a signal will be caught rather than kill the process.
    ///
    /// ```no_run
    /// use std::os::fd::OwnedFd;
    /// let (reader, writer) = std::io::pipe()?;
    /// faulthandler::Config::new().ready_fd(OwnedFd::from(writer)).enable()?;
    /// # drop(reader);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ready_fd(mut self, fd: OwnedFd) -> Self {
        self.ready_fd = Some(fd);
        self
    }

    /// Whether a crash report shows every thread's stack (the default) or
    /// only the crashing thread's.
    ///
    /// ```
    /// let config = faulthandler::Config::new().all_threads(false);
    /// # drop(config);
    /// ```
    pub fn all_threads(mut self, all: bool) -> Self {
        self.all_threads = all;
        self
    }

    /// How many frames of a stack the report shows, from 1 to 4096
    /// (default 100). A deeper stack ends with a line that says how many
    /// frames were cut.
    ///
    /// ```
    /// let config = faulthandler::Config::new().max_frames(32);
    /// # drop(config);
    /// ```
    pub fn max_frames(mut self, n: usize) -> Self {
        self.max_frames = n;
        self
    }

    /// The longest a report may take to write, from 1 ms to 1 hour
    /// (default 3 s). A reader that stops reading (a full pipe, a stuck
    /// terminal) cannot keep a dying process alive longer than this.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = faulthandler::Config::new().write_timeout(Duration::from_millis(500));
    /// # drop(config);
    /// ```
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How many other threads a report shows, from 1 to 100000 (default
    /// 100). When a process has more, the report ends the thread list with
    /// `... N more threads not shown (max_threads M)`. The storage for the
    /// stacks (`max_threads` x `max_frames` addresses) is reserved by
    /// [`Config::enable`], since a crash handler cannot allocate.
    ///
    /// ```
    /// let config = faulthandler::Config::new().max_threads(500);
    /// # drop(config);
    /// ```
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n;
        self
    }

    /// How long a report waits, in all, for the other threads to hand over
    /// their stacks, from 1 ms to 60 s (default 100 ms). Every thread is
    /// asked at once, and this one deadline covers all of them; a thread
    /// that has not answered by then gets `no stack: no answer within N
    /// ms`. It applies to crash reports and to every other dump.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = faulthandler::Config::new().thread_timeout(Duration::from_millis(250));
    /// # drop(config);
    /// ```
    pub fn thread_timeout(mut self, timeout: Duration) -> Self {
        self.thread_timeout = timeout;
        self
    }

    /// Whether to write the report *before* the program's own handler for
    /// the signal runs (default `false`).
    ///
    /// A crash signal may already have a handler when [`Config::enable`]
    /// runs (Rust std's stack-overflow handler, a JVM, a garbage collector
    /// that uses `mprotect`, a wasm engine). By default that handler runs
    /// first, as the kernel would have run it, and a report is written only
    /// when the fault turns out to be fatal: the handler gave up (put back
    /// `SIG_DFL` and returned, or called `abort()`). A fault the handler
    /// fixes gets no report.
    ///
    /// `report_first(true)` keeps the older order: the report first, then
    /// the program's handler. It is for programs whose earlier handler is
    /// itself a crash reporter that ends the process (`_exit`), which would
    /// otherwise leave no room for ours.
    ///
    /// ```
    /// let config = faulthandler::Config::new().report_first(true);
    /// # drop(config);
    /// ```
    pub fn report_first(mut self, on: bool) -> Self {
        self.report_first = on;
        self
    }

    /// The most DWARF (in bytes, uncompressed) the background indexer
    /// reads for one module's source lines; default 64 MiB
    /// ([`settings::DEFAULT_LINE_BUDGET`]). A module whose debug sections
    /// are bigger still gets names, without lines, and the report's
    /// `Modules:` block says so under that module. 0 turns source lines
    /// off. It applies to modules indexed after this call.
    ///
    /// ```
    /// let config = faulthandler::Config::new().line_budget(256 << 20);
    /// # drop(config);
    /// ```
    pub fn line_budget(mut self, bytes: u64) -> Self {
        self.line_budget = bytes;
        self
    }

    /// Also look in `dir` for the separate debug files of stripped
    /// modules (names and source lines), before `/usr/lib/debug`: as
    /// `dir/.build-id/xx/rest.debug`, and for a module with a
    /// `.gnu_debuglink`, as `dir/<the module's directory>/<link>`. Can
    /// be given several times; searched in order. The file must carry
    /// the module's build-id.
    ///
    /// ```
    /// let config = faulthandler::Config::new().debug_dir("/opt/myprog/debug");
    /// # drop(config);
    /// ```
    pub fn debug_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.debug_dirs.push(dir.into());
        self
    }

    /// How reports are written: [`Format::Text`](crate::Format::Text) (the
    /// default) or [`Format::JsonLines`](crate::Format::JsonLines), one
    /// JSON object per report on one line, for log collectors (see "JSON
    /// lines" in the crate docs for the schema). It applies to crash
    /// reports and to every dump (on request, from the watchdog, from
    /// [`dump_traceback`](crate::dump_traceback)).
    ///
    /// ```
    /// use faulthandler::{Config, Format};
    /// Config::new().format(Format::JsonLines).enable()?;
    /// # faulthandler::disable();
    /// # Ok::<(), faulthandler::Error>(())
    /// ```
    pub fn format(mut self, format: settings::Format) -> Self {
        self.format = format;
        self
    }

    /// Install the crash handlers with these settings, or apply the
    /// settings to the handlers already installed. Calling it again never
    /// stacks handlers on top of each other.
    ///
    /// It also gives the calling thread a 64 KiB alternate signal stack
    /// (when it has a smaller one or none), snapshots the loaded modules,
    /// and runs the report path once through a real signal frame so that
    /// nothing initialises lazily during a crash. When loaded modules have
    /// no symbol index yet, it starts a short-lived background thread,
    /// `fh-symbols`, at idle priority (`SCHED_IDLE`), that builds one so
    /// that a report names its frames quickly, then each module's source
    /// line tables (see [`line_budget`](Self::line_budget)); `enable()`
    /// does not wait for it. A crash while it still works waits at most
    /// 500 ms for the tables of its own frames' modules. A library
    /// `dlopen`ed later is named by a bounded scan of its file, and gets
    /// an index and lines when `enable()` is called again.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an
    /// out-of-range setting; [`ErrorKind::Os`](crate::ErrorKind::Os) when a
    /// system call fails.
    ///
    /// ```
    /// faulthandler::Config::new().max_frames(50).enable()?;
    /// assert!(faulthandler::is_enabled());
    /// # faulthandler::disable();
    /// # Ok::<(), faulthandler::Error>(())
    /// ```
    pub fn enable(self) -> Result<(), Error> {
        settings::validate_max_frames(self.max_frames)
            .map_err(|e| Error::refused(e, self.max_frames))?;
        settings::validate_write_timeout(self.write_timeout)
            .map_err(|e| Error::refused(e, self.write_timeout))?;
        settings::validate_max_threads(self.max_threads)
            .map_err(|e| Error::refused(e, self.max_threads))?;
        settings::validate_thread_timeout(self.thread_timeout)
            .map_err(|e| Error::refused(e, self.thread_timeout))?;
        let timeout_ms = self.write_timeout.as_millis() as u64;
        let thread_ms = self.thread_timeout.as_millis() as u64;
        if self.fd.is_some() && self.file.is_some() {
            return Err(Error::invalid(
                "choose either an fd or a file template for the report, not both",
            ));
        }
        // Create the file before anything changes, so an error leaves the
        // previous configuration intact.
        let mut file_path = None;
        let mut fd = self.fd;
        if let Some(template) = &self.file {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let path =
                report_file::expand(template, std::process::id(), now, &report_file::exe_name())?;
            let pid_in_name = report_file::has_pid(template);
            fd = Some(report_file::create(&path, pid_in_name)?);
            file_path = Some(path);
        }
        let copy_to_stderr = match (&fd, self.also_stderr) {
            (None, _) => false,
            (Some(_), Some(on)) => on,
            (Some(_), None) => file_path.is_some(),
        };
        let mut state = lock();
        altstack::ensure_current_thread()?;
        setup::collector::ensure_installed(self.max_threads, self.max_frames)?;
        settings::MAX_THREADS.store(self.max_threads, Ordering::Release);
        settings::THREAD_TIMEOUT_MS.store(thread_ms, Ordering::Release);
        settings::LINE_BUDGET.store(self.line_budget, Ordering::Release);
        crate::indexer::file::set_debug_dirs(
            self.debug_dirs
                .iter()
                .map(|d| d.as_os_str().as_encoded_bytes()),
        );
        crate::indexer::modules::snapshot_without_exe();
        // The symbol thread starts on another CPU while we go on; its
        // mark (it is left out of reports) is waited for by collections.
        // It reads the process's start and command line, and warms the
        // report path up, first (see below).
        let indexer = setup::index::prepare(after_enable);
        crate::panic_hook::install_once();
        setup::process::watch();
        // From here to the handlers' install, nothing may change under a
        // report in progress: wait for it to end (a crash's ends the
        // process). The warm-up after this takes the claim on its own.
        let configuring = Claim::configure(crate::runtime::sys::gettid());
        let raw = fd.as_ref().map_or(libc::STDERR_FILENO, |f| f.as_raw_fd());
        settings::FD.store(raw, Ordering::Release);
        let (dev, ino) = match raw {
            libc::STDERR_FILENO => (0, 0),
            fd => crate::runtime::sys::fd_identity(fd).unwrap_or((0, 0)),
        };
        settings::FD_DEV.store(dev, Ordering::Release);
        settings::FD_INO.store(ino, Ordering::Release);
        settings::COPY_FD.store(
            if copy_to_stderr {
                libc::STDERR_FILENO
            } else {
                -1
            },
            Ordering::Release,
        );
        settings::MAX_FRAMES.store(self.max_frames, Ordering::Release);
        settings::ALL_THREADS.store(self.all_threads, Ordering::Release);
        settings::REPORT_FIRST.store(self.report_first, Ordering::Release);
        settings::WRITE_TIMEOUT_MS.store(timeout_ms, Ordering::Release);
        settings::FORMAT.store(self.format as u8, Ordering::Release);
        settings::REGISTERS.store(self.registers, Ordering::Release);
        // The previous fd is closed only after the handler stopped using it.
        let _old_fd = std::mem::replace(&mut state.fd, fd);
        match &file_path {
            Some(p) => report_file::track(p),
            None => report_file::untrack(),
        }
        let installed = handler::install();
        drop(configuring);
        installed?;
        handler::note_rust_std(in_our_module);
        // The main executable's path and the process lines (reading
        // `/proc`: 50 and 75 us) and the warm-up (200 us, most of it the
        // process's first unwind in libgcc, which grows with the thread
        // count) run on the symbol thread, off the caller's path; here
        // only when none started. A report that comes first finds the
        // executable in `/proc/self/maps` and reads the process lines
        // itself.
        match indexer {
            Some(started) => started.dont_wait(),
            None => after_enable_here(),
        }
        drop(state);
        if let Some(ready) = self.ready_fd {
            signal_ready(ready)?;
        }
        if let Some(env) = self.env {
            let mut lines = env.warnings.clone();
            lines.extend(env.apply_rest());
            for w in lines {
                eprintln!("{w}");
            }
        }
        Ok(())
    }
}

/// The symbol thread's first task: once the `enable()` that started it
/// has returned (it holds the install lock until then), what
/// [`after_enable_here`] does. The lock is not held meanwhile: a `fork()`
/// then would leave it locked in the child.
fn after_enable() {
    drop(lock());
    after_enable_here();
}

/// Publish the full module snapshot and the process lines, and warm the
/// report path up.
fn after_enable_here() {
    crate::indexer::modules::snapshot();
    setup::process::capture();
    handler::warm_up();
}

/// Whether `addr` lies in the module (executable or shared object) that
/// holds this code.
fn in_our_module(addr: usize) -> bool {
    #[allow(unsafe_code)]
    fn base_of(addr: usize) -> Option<usize> {
        // SAFETY: an all-zero Dl_info is a valid value to fill in.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the loader's tables; `info` is writable.
        let ok = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
        (ok != 0).then_some(info.dli_fbase as usize)
    }
    let ours = base_of(in_our_module as *const () as usize);
    ours.is_some() && base_of(addr) == ours
}

/// Tell a supervisor that the handlers are in place: `ready\n`, then close.
pub(crate) fn signal_ready(fd: OwnedFd) -> Result<(), Error> {
    use std::io::Write;
    std::fs::File::from(fd)
        .write_all(b"ready\n")
        .map_err(|e| Error::with_io("cannot write to the readiness fd", e))
}

struct State {
    fd: Option<OwnedFd>,
}

static STATE: Mutex<State> = Mutex::new(State { fd: None });

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Install the crash handlers with the default settings: reports go to
/// stderr, show every thread, and at most 100 frames a stack.
///
/// Call it at the start of `main`. Calling it again reconfigures to the
/// defaults.
///
/// # Errors
///
/// See [`Config::enable`].
///
/// ```
/// fn main() -> Result<(), faulthandler::Error> {
///     faulthandler::enable()?;
///     // ... the program ...
/// #   faulthandler::disable();
///     Ok(())
/// }
/// ```
pub fn enable() -> Result<(), Error> {
    Config::new().enable()
}

/// Remove the crash handlers, putting back exactly the actions that were
/// installed before [`enable`] (where nobody has replaced ours since), and
/// the calling thread's previous alternate stack. Returns whether the
/// handlers were enabled.
///
/// Alternate stacks given to other threads stay until those threads exit.
///
/// ```
/// faulthandler::enable()?;
/// assert!(faulthandler::disable());
/// assert!(!faulthandler::is_enabled());
/// assert!(!faulthandler::disable());
/// # Ok::<(), faulthandler::Error>(())
/// ```
pub fn disable() -> bool {
    let mut state = lock();
    // A report in progress keeps its fd and its handlers: wait for it.
    let configuring = Claim::configure(crate::runtime::sys::gettid());
    let was = handler::is_enabled();
    handler::uninstall();
    settings::FD.store(libc::STDERR_FILENO, Ordering::Release);
    settings::FD_DEV.store(0, Ordering::Release);
    settings::FD_INO.store(0, Ordering::Release);
    settings::COPY_FD.store(-1, Ordering::Release);
    state.fd = None;
    report_file::untrack();
    drop(configuring);
    altstack::release_current_thread();
    was
}

/// Whether the crash handlers are installed.
///
/// It turns false by itself after a crash was reported and handed on to
/// the previous handler.
///
/// ```
/// assert!(!faulthandler::is_enabled());
/// faulthandler::enable()?;
/// assert!(faulthandler::is_enabled());
/// # faulthandler::disable();
/// # Ok::<(), faulthandler::Error>(())
/// ```
pub fn is_enabled() -> bool {
    handler::is_enabled()
}

/// Give the calling thread a 64 KiB alternate signal stack with a guard
/// page, unless it already has one at least that large.
///
/// A crash report for a stack overflow can only be written on an alternate
/// stack. [`enable`] gives one to the thread that calls it; Rust std gives
/// its threads 8 KiB ones, and threads created by C code have none. Call
/// this at the start of such threads. The stack is freed when the thread
/// exits.
///
/// # Errors
///
/// [`ErrorKind::Os`](crate::ErrorKind::Os) if the stack cannot be mapped
/// or installed.
///
/// ```
/// std::thread::spawn(|| {
///     faulthandler::install_thread_altstack().expect("alt stack");
///     // ... work that might overflow its stack ...
/// })
/// .join()
/// .unwrap();
/// ```
pub fn install_thread_altstack() -> Result<(), Error> {
    altstack::ensure_current_thread().map(|_| ())
}
