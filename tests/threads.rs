//! Every-thread dumps: at crash time, on request (`register`), from code
//! (`dump_traceback`) and from the watchdog.
//!
//! Each case of [`CASES`] runs its scenario (`run_scenario_*`) in a child
//! of this binary, through `tests/common`'s harness (hard timeout; the
//! crashes also run without faulthandler, and must end the same way). The
//! parent checks the exit status (or signal) and parses the report from
//! the child's stderr.

mod common;

use faulthandler_fixtures as _;

use common::report::{self, Frame, Report, Thread};
use common::{Case, Check, Ctx, End, Run, CASE};
use std::hint::black_box;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const NAMES: [&str; 3] = ["fh-alpha", "fh-bravo", "fh-charlie"];

extern "C" {
    fn fh_threads_vfork_stall(ms: u32);
    #[cfg(target_arch = "x86_64")]
    fn fh_threads_wait_with_corrupt_frames(stop: *const i32);
}

// ---------------------------------------------------------------- child side

#[inline(never)]
fn park_alpha(ready: mpsc::Sender<()>) {
    let _ = ready.send(());
    loop {
        std::thread::park();
        black_box(1u32);
    }
}

#[inline(never)]
fn sleep_bravo(ready: mpsc::Sender<()>) {
    let _ = ready.send(());
    loop {
        std::thread::sleep(Duration::from_millis(700));
        black_box(2u64);
    }
}

#[inline(never)]
fn read_charlie(ready: mpsc::Sender<()>) {
    let (r, _w) = pipe();
    let _ = ready.send(());
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading into a local buffer from our own pipe.
        let n = unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        black_box(n);
    }
}

/// Start the three named threads, wait until they run, and print each
/// one's function address as `FN NAME 0xADDR` on stdout.
fn start_named_threads() {
    type Body = fn(mpsc::Sender<()>);
    let fns: [(&str, Body); 3] = [
        (NAMES[0], park_alpha),
        (NAMES[1], sleep_bravo),
        (NAMES[2], read_charlie),
    ];
    let (tx, rx) = mpsc::channel();
    for (name, f) in fns {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(tx))
            .unwrap();
        println!("FN {name} {:#x}", f as usize);
    }
    for _ in 0..3 {
        rx.recv().unwrap();
    }
    // Let them reach their blocking call.
    std::thread::sleep(Duration::from_millis(50));
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Collects what is written to a pipe, on a thread of its own.
struct Capture {
    text: Arc<Mutex<String>>,
}

impl Capture {
    fn new() -> (OwnedFd, Capture) {
        let (r, w) = pipe();
        let text = Arc::new(Mutex::new(String::new()));
        let t = text.clone();
        let (started_tx, started) = mpsc::channel();
        std::thread::Builder::new()
            .name("fh-capture".into())
            .spawn(move || {
                // Its name is set by now: dumps show the thread's name at
                // the moment it answers.
                let _ = started_tx.send(());
                let mut f = std::fs::File::from(r);
                let mut buf = [0u8; 65536];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => t
                            .lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            })
            .unwrap();
        let _ = started.recv();
        (w, Capture { text })
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    fn count(&self, pat: &str) -> usize {
        self.text().matches(pat).count()
    }

    /// Wait until `pat` occurs `n` times (true), or `secs` pass (false).
    fn wait_count(&self, pat: &str, n: usize, secs: u64) -> bool {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if self.count(pat) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// Wait until the text stops growing for 100 ms.
    fn settle(&self) {
        let mut last = self.text().len();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.text().len();
            if now == last {
                return;
            }
            last = now;
        }
    }
}

/// A complete report ends with its modules block; count those.
const REPORT_END: &str = "\nModules:\n";

fn kill_self(sig: i32) {
    // SAFETY: sending ourselves a signal.
    unsafe { libc::kill(libc::getpid(), sig) };
}

fn query(sig: i32) -> libc::sigaction {
    // SAFETY: zeroed sigaction is valid; a null new action only queries.
    unsafe {
        let mut a: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut a);
        a
    }
}

static PREV_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn counting_handler(_sig: i32, _info: *mut libc::siginfo_t, _uc: *mut libc::c_void) {
    PREV_CALLS.fetch_add(1, Ordering::SeqCst);
}

fn install_counting_handler(sig: i32) -> libc::sigaction {
    // SAFETY: installing a handler that only bumps an atomic.
    unsafe {
        let mut a: libc::sigaction = std::mem::zeroed();
        a.sa_sigaction = counting_handler as *const () as usize;
        a.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut a.sa_mask);
        libc::sigaddset(&mut a.sa_mask, libc::SIGINT);
        assert_eq!(libc::sigaction(sig, &a, std::ptr::null_mut()), 0);
    }
    query(sig)
}

/// Block every signal on the calling thread.
fn block_all_signals() {
    // SAFETY: a filled sigset, set as the thread's mask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
}

#[inline(never)]
fn crash_now() {
    // SAFETY: it is not: a null dereference, the crash we want.
    unsafe { std::ptr::read_volatile(black_box(std::ptr::null::<u64>()).add(1)) };
}

#[inline(never)]
fn run_scenario_crash() {
    common::child::enable_default();
    start_named_threads();
    std::thread::Builder::new()
        .name("fh-masked".into())
        .spawn(|| {
            block_all_signals();
            loop {
                std::thread::park();
            }
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    crash_now();
}

#[inline(never)]
fn run_scenario_dump_right_after_enable() {
    // enable() does not wait for its symbol thread to be scheduled: a
    // collection must, and list no thread of ours. The thread is made to
    // start late, well within the collection's wait for it.
    faulthandler::__bench::delay_helper_start(30);
    common::child::enable_default();
    faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
}

#[inline(never)]
fn run_scenario_crash_on_thread() {
    // The crash happens on a std thread, whose alternate signal
    // stack is std's 8 KiB one: the all-thread report must fit.
    common::child::enable_default();
    start_named_threads();
    std::thread::Builder::new()
        .name("fh-crasher".into())
        .spawn(crash_now)
        .unwrap()
        .join()
        .unwrap();
}

#[inline(never)]
fn run_scenario_altstack_peak_arm(name: &str) {
    // How much of std's 8 KiB alternate stack an all-thread crash
    // report uses: paint the stack, crash, and let the previous
    // SIGSEGV handler (ours chains to it) measure what was touched.
    static ALT: AtomicUsize = AtomicUsize::new(0);
    static ALT_SIZE: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn measure(_: i32, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        let base = ALT.load(Ordering::SeqCst) as *const u8;
        let size = ALT_SIZE.load(Ordering::SeqCst);
        let mut untouched = 0;
        // SAFETY: reading the alternate stack we painted; this
        // handler runs near its top.
        while untouched < size && unsafe { *base.add(untouched) } == 0xa5 {
            untouched += 1;
        }
        let mut msg = format!("PEAK {} OF {size}\n", size - untouched).into_bytes();
        msg.truncate(64);
        // SAFETY: write(2) and _exit(2) from a handler.
        unsafe {
            libc::write(1, msg.as_ptr().cast(), msg.len());
            libc::_exit(42);
        }
    }
    // SAFETY: installing a plain SA_SIGINFO|SA_ONSTACK handler.
    unsafe {
        let mut a: libc::sigaction = std::mem::zeroed();
        a.sa_sigaction = measure as *const () as usize;
        a.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigaction(libc::SIGSEGV, &a, std::ptr::null_mut());
    }
    // The report first, then the measuring handler (`report_first`).
    common::enable(
        faulthandler::Config::new()
            .all_threads(name == "altstack_peak")
            .report_first(true),
    );
    start_named_threads();
    std::thread::Builder::new()
        .name("fh-crasher".into())
        .spawn(|| {
            // SAFETY: querying and painting this thread's own,
            // currently unused, alternate stack.
            unsafe {
                let mut ss: libc::stack_t = std::mem::zeroed();
                libc::sigaltstack(std::ptr::null(), &mut ss);
                assert_eq!(ss.ss_flags & libc::SS_DISABLE, 0, "no alt stack");
                ALT.store(ss.ss_sp as usize, Ordering::SeqCst);
                ALT_SIZE.store(ss.ss_size, Ordering::SeqCst);
                std::ptr::write_bytes(ss.ss_sp.cast::<u8>(), 0xa5, ss.ss_size);
            }
            crash_now();
        })
        .unwrap()
        .join()
        .unwrap();
}

fn run_scenario_altstack_peak() {
    run_scenario_altstack_peak_arm("altstack_peak")
}

fn run_scenario_altstack_peak_single() {
    run_scenario_altstack_peak_arm("altstack_peak_single")
}

#[inline(never)]
fn run_scenario_crash_thread_limit() {
    common::enable(faulthandler::Config::new().max_threads(2));
    start_named_threads();
    crash_now();
}

#[inline(never)]
fn run_scenario_register() {
    dump_on_sigusr1(REPORT_END);
}

/// The named threads, then a dump on SIGUSR1 whose text ends with `end`,
/// copied to stderr.
fn dump_on_sigusr1(end: &str) {
    start_named_threads();
    let (w, cap) = Capture::new();
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(w)
        .install()
        .unwrap();
    kill_self(libc::SIGUSR1);
    assert!(cap.wait_count(end, 1, 10), "no dump");
    cap.settle();
    eprint!("{}", cap.text());
}

#[inline(never)]
fn run_scenario_register_many() {
    start_named_threads();
    // A reader blocked in read() the whole time: it must never see EINTR.
    let (r, w) = pipe();
    let (named_tx, named) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("fh-reader".into())
        .spawn(move || {
            let _ = named_tx.send(());
            let mut b = [0u8; 1];
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            let err = std::io::Error::last_os_error();
            (n, err.raw_os_error())
        })
        .unwrap();
    named.recv().unwrap();
    let (fd, cap) = Capture::new();
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(fd)
        .install()
        .unwrap();
    for i in 1..=200 {
        kill_self(libc::SIGUSR1);
        assert!(cap.wait_count(REPORT_END, i, 20), "dump {i} missing");
    }
    // SAFETY: writing one byte to our pipe releases the reader.
    unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    let (n, errno) = reader.join().unwrap();
    println!("READER n={n} errno={errno:?}");
    cap.settle();
    eprint!("{}", cap.text());
}

/// The action from before `register()`: it takes 30 ms, so the dump
/// runs while the thread that took the signal is still inside our
/// handler, which chains to this one.
extern "C" fn slow_previous_handler(_: i32) {
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_millis(30) {
        std::hint::spin_loop();
    }
}

#[inline(never)]
fn run_scenario_register_chain_slow() {
    start_named_threads();
    // SAFETY: a plain handler that only reads the clock.
    unsafe { libc::signal(libc::SIGUSR1, slow_previous_handler as *const () as usize) };
    let (fd, cap) = Capture::new();
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(fd)
        .chain(true)
        .install()
        .unwrap();
    for i in 1..=20 {
        // To this very thread: it runs both handlers before raise returns.
        // SAFETY: raise takes a signal number.
        unsafe { libc::raise(libc::SIGUSR1) };
        assert!(cap.wait_count(REPORT_END, i, 20), "dump {i} missing");
    }
    cap.settle();
    eprint!("{}", cap.text());
}

/// No frame of ours (or the signal trampoline) in any thread's stack.
fn assert_no_own_frames(reports: &[Report]) {
    let ours = |f: &report::Frame| {
        f.name.starts_with("faulthandler::")
            || f.name.starts_with("signal_hook_registry::")
            || f.name == "__restore_rt"
            || f.name.contains("slow_previous_handler")
    };
    let bad: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.threads.iter().flat_map(|t| &t.frames))
        .filter(|f| ours(f))
        .map(|f| f.line.as_str())
        .collect();
    let bad_reports = reports
        .iter()
        .filter(|r| r.threads.iter().any(|t| t.frames.iter().any(ours)))
        .count();
    assert!(
        bad.is_empty(),
        "{bad_reports} of {} dumps show handler frames, e.g. {:?}",
        reports.len(),
        &bad[..bad.len().min(6)]
    );
}

fn check_register_chain_slow(c: &Ctx) -> Check {
    let out = c.run();
    let reports = out.reports();
    assert_eq!(reports.len(), 20, "{}", out.stderr);
    assert_no_own_frames(&reports);
    // The thread that took the signal is walked once it is out of the
    // handlers: it has a stack, in the scenario's own function.
    for r in &reports {
        let main = r
            .threads
            .iter()
            .find(|t| t.tid == r.process.as_ref().unwrap().pid)
            .unwrap_or_else(|| panic!("no main thread in {}", r.text));
        assert!(
            main.no_stack.is_none() && !main.frames.is_empty(),
            "{}",
            r.text
        );
    }
    Ok(())
}

/// `Register::all_threads(false)`: the thread that took the signal alone.
#[inline(never)]
fn run_scenario_register_one_thread() {
    start_named_threads();
    let (fd, cap) = Capture::new();
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(fd)
        .all_threads(false)
        .install()
        .unwrap();
    println!("MAIN {}", common::child::gettid());
    // SAFETY: raise takes a signal number: to this very thread.
    unsafe { libc::raise(libc::SIGUSR1) };
    assert!(cap.wait_count(REPORT_END, 1, 10), "no dump");
    cap.settle();
    eprint!("{}", cap.text());
}

fn check_register_one_thread(c: &Ctx) -> Check {
    let out = c.run();
    let main: u32 = value_after(&out.stdout, "MAIN ") as u32;
    let rep = Report::find_one(&out.stderr)?;
    let tids: Vec<u32> = rep.threads.iter().map(|t| t.tid).collect();
    assert_eq!(tids, [main], "{}", rep.text);
    assert!(rep.threads[0].frames.len() >= 2, "{}", rep.text);
    assert_no_own_frames(std::slice::from_ref(&rep));
    Ok(())
}

/// With a report file from enable(), request and watchdog dumps without
/// an fd of their own go to the file, and to stderr.
#[inline(never)]
fn run_scenario_dumps_to_report_file() {
    let path = std::env::temp_dir().join(format!("fh-dumps-to-file-{}.txt", std::process::id()));
    common::child::enable(faulthandler::Config::new().file(&path));
    println!("FILE {}", path.display());
    let has = |what: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.matches(REPORT_END).count() >= 1 && text.contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    };
    faulthandler::register(libc::SIGUSR1).unwrap();
    kill_self(libc::SIGUSR1);
    assert!(
        has("Dump requested by signal 10"),
        "no request dump in the file"
    );
    faulthandler::dump_traceback_later(Duration::from_millis(100), false, false).unwrap();
    assert!(
        has("Timeout (0:00:00.100)!"),
        "no watchdog dump in the file"
    );
    std::thread::sleep(Duration::from_millis(100));
}

fn check_dumps_to_report_file(c: &Ctx) -> Check {
    let out = c.run();
    let path = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("FILE "))
        .ok_or("no FILE line")?;
    let file = std::fs::read_to_string(path);
    let _ = std::fs::remove_file(path);
    let file = file.map_err(|e| format!("{path}: {e}"))?;
    for (what, text) in [("the file", &file), ("stderr", &out.stderr)] {
        let kinds: Vec<_> = Report::parse_all(text)
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert!(
            matches!(
                &kinds[..],
                [
                    Some(report::Kind::DumpRequest { signo: 10, .. }),
                    Some(report::Kind::Timeout(t))
                ] if t == "0:00:00.100"
            ),
            "{what}: {kinds:?}\n{text}"
        );
    }
    Ok(())
}

#[inline(never)]
fn run_scenario_register_refused() {
    common::child::enable_default();
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
        libc::SIGKILL,
        libc::SIGSTOP,
        0,
        -1,
        1000,
    ] {
        let e = faulthandler::register(sig).unwrap_err();
        assert_eq!(e.kind(), faulthandler::ErrorKind::InvalidInput);
        println!("REFUSED {sig}: {e}");
    }
    // The collector signal: the one real-time signal that is no
    // longer SIG_DFL after enable().
    let internal = (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .find(|&s| query(s).sa_sigaction != libc::SIG_DFL)
        .expect("a collector signal");
    let e = faulthandler::register(internal).unwrap_err();
    println!("REFUSED internal {internal}: {e}");
    assert!(e.to_string().contains("internally"));
}

#[inline(never)]
fn run_scenario_unregister_restores() {
    // SIG_IGN stays ignored.
    // SAFETY: setting a disposition.
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    faulthandler::register(libc::SIGUSR2).unwrap();
    assert_ne!(query(libc::SIGUSR2).sa_sigaction, libc::SIG_IGN);
    assert!(faulthandler::unregister(libc::SIGUSR2).unwrap());
    assert!(!faulthandler::unregister(libc::SIGUSR2).unwrap());
    assert_eq!(query(libc::SIGUSR2).sa_sigaction, libc::SIG_IGN);
    kill_self(libc::SIGUSR2); // ignored: we live on
                              // A previous handler comes back exactly: address, flags, mask.
    let before = install_counting_handler(libc::SIGUSR1);
    faulthandler::register(libc::SIGUSR1).unwrap();
    assert!(faulthandler::unregister(libc::SIGUSR1).unwrap());
    let after = query(libc::SIGUSR1);
    assert_eq!(after.sa_sigaction, before.sa_sigaction);
    assert_eq!(after.sa_flags, before.sa_flags);
    // SAFETY: reading sigsets.
    unsafe {
        for s in 1..libc::SIGRTMAX() {
            assert_eq!(
                libc::sigismember(&after.sa_mask, s),
                libc::sigismember(&before.sa_mask, s),
                "mask differs at {s}"
            );
        }
    }
    // SIG_DFL comes back too.
    faulthandler::register(libc::SIGHUP).unwrap();
    assert!(faulthandler::unregister(libc::SIGHUP).unwrap());
    assert_eq!(query(libc::SIGHUP).sa_sigaction, libc::SIG_DFL);
    println!("RESTORED ok");
}

#[inline(never)]
fn run_scenario_chain_arm(name: &str) {
    start_named_threads();
    install_counting_handler(libc::SIGUSR2);
    let (w, cap) = Capture::new();
    faulthandler::Register::new(libc::SIGUSR2)
        .fd(w)
        .chain(name == "chain")
        .install()
        .unwrap();
    kill_self(libc::SIGUSR2);
    assert!(cap.wait_count(REPORT_END, 1, 10), "no dump");
    cap.settle();
    println!("PREV_CALLS {}", PREV_CALLS.load(Ordering::SeqCst));
    eprint!("{}", cap.text());
}

fn run_scenario_chain() {
    run_scenario_chain_arm("chain")
}

fn run_scenario_no_chain() {
    run_scenario_chain_arm("no_chain")
}

#[inline(never)]
fn run_scenario_chain_default() {
    // SIGUSR2 at SIG_DFL terminates the process; with chain that
    // still happens, after the dump.
    start_named_threads();
    if !common::control() {
        faulthandler::Register::new(libc::SIGUSR2)
            .chain(true)
            .install()
            .unwrap();
    }
    kill_self(libc::SIGUSR2);
    std::thread::sleep(Duration::from_secs(20));
    println!("NOT KILLED");
}

#[inline(never)]
fn run_scenario_concurrent_dumps() {
    // Four threads dumping at once, while requests arrive by signal
    // and the watchdog repeats: every dump completes, none mixes
    // into another.
    start_named_threads();
    let (w, cap) = Capture::new();
    let w = Arc::new(w);
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(w.try_clone().unwrap())
        .install()
        .unwrap();
    faulthandler::Watchdog::new(Duration::from_millis(20))
        .repeat(true)
        .fd(w.try_clone().unwrap())
        .arm()
        .unwrap();
    let dumpers: Vec<_> = (0..4)
        .map(|i| {
            let w = w.clone();
            std::thread::Builder::new()
                .name(format!("fh-dumper-{i}"))
                .spawn(move || {
                    for _ in 0..25 {
                        faulthandler::dump_traceback(w.as_fd(), true).unwrap();
                    }
                })
                .unwrap()
        })
        .collect();
    for _ in 0..25 {
        kill_self(libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(2));
    }
    for d in dumpers {
        d.join().unwrap();
    }
    faulthandler::cancel_dump_traceback_later();
    std::thread::sleep(Duration::from_millis(200));
    cap.settle();
    eprint!("{}", cap.text());
}

#[inline(never)]
fn run_scenario_hook_first_arm(name: &str) {
    static HOOKED: AtomicUsize = AtomicUsize::new(0);
    let hook = || {
        // SAFETY: the action only bumps an atomic.
        unsafe {
            signal_hook_registry::register(libc::SIGUSR1, || {
                HOOKED.fetch_add(1, Ordering::SeqCst);
            })
        }
        .unwrap()
    };
    let (w, cap) = Capture::new();
    let id = if name == "hook_first" {
        Some(hook())
    } else {
        None
    };
    let before = query(libc::SIGUSR1);
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(w)
        .install()
        .unwrap();
    let id = id.or_else(|| Some(hook()));
    kill_self(libc::SIGUSR1);
    assert!(cap.wait_count(REPORT_END, 1, 10), "no dump");
    let end = Instant::now() + Duration::from_secs(5);
    while HOOKED.load(Ordering::SeqCst) == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("HOOKED {}", HOOKED.load(Ordering::SeqCst));
    println!("DUMPS {}", cap.count(REPORT_END));
    if name == "hook_first" {
        // Our unregister leaves the registry's handler in place.
        assert!(faulthandler::unregister(libc::SIGUSR1).unwrap());
        assert_eq!(query(libc::SIGUSR1).sa_sigaction, before.sa_sigaction);
        kill_self(libc::SIGUSR1);
        let end = Instant::now() + Duration::from_secs(5);
        while HOOKED.load(Ordering::SeqCst) < 2 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("HOOKED_AFTER_UNREGISTER {}", HOOKED.load(Ordering::SeqCst));
    }
    let _ = id;
}

fn run_scenario_hook_first() {
    run_scenario_hook_first_arm("hook_first")
}

fn run_scenario_hook_after() {
    run_scenario_hook_first_arm("hook_after")
}

#[inline(never)]
fn run_scenario_dump_traceback() {
    start_named_threads();
    let (w, cap) = Capture::new();
    faulthandler::dump_traceback(w.as_fd(), true).unwrap();
    cap.wait_count(REPORT_END, 1, 10);
    cap.settle();
    eprint!("{}", cap.text());
}

/// A dump on a signal, as JSON lines (`Config::format` applies to dumps).
#[inline(never)]
fn run_scenario_json_register() {
    faulthandler::Config::new()
        .format(faulthandler::Format::JsonLines)
        .enable()
        .unwrap();
    dump_on_sigusr1(JSON_END);
}

/// `dump_traceback`, twice, as JSON lines.
#[inline(never)]
fn run_scenario_json_dump_traceback() {
    faulthandler::Config::new()
        .format(faulthandler::Format::JsonLines)
        .enable()
        .unwrap();
    start_named_threads();
    let (w, cap) = Capture::new();
    faulthandler::dump_traceback(w.as_fd(), true).unwrap();
    faulthandler::dump_traceback(w.as_fd(), false).unwrap();
    cap.wait_count(JSON_END, 2, 10);
    cap.settle();
    eprint!("{}", cap.text());
}

/// The end of a JSON-lines report: nothing else in it ends a line.
const JSON_END: &str = "}\n";

/// The frame addresses of a JSON-lines thread object.
fn json_addrs(t: &serde_json::Value) -> Result<Vec<u64>, String> {
    t["frames"]
        .as_array()
        .ok_or("no frames")?
        .iter()
        .map(|f| common::json::addr(&f["addr"]).map(|a| a as u64))
        .collect()
}

/// The named threads of a JSON-lines dump: one each, with a stack that
/// goes through the function it is parked in (found by address: the
/// in-handler names may be `null` under a timed-out symbolizer).
fn json_named_threads(out: &Run, rep: &serde_json::Value) -> Check {
    let threads = rep["threads"].as_array().ok_or("no threads")?;
    for internal in ["fh-dumper", "fh-watchdog", "fh-symbols"] {
        if threads.iter().any(|t| t["name"] == internal) {
            return Err(format!("{internal} shown: {rep}"));
        }
    }
    let fns = ["park_alpha", "sleep_bravo", "read_charlie"];
    for (name, func) in NAMES.iter().zip(fns) {
        let t: Vec<_> = threads.iter().filter(|t| t["name"] == *name).collect();
        if t.len() != 1 || t[0]["current"] != false {
            return Err(format!("thread {name}: {t:?}"));
        }
        let frames = t[0]["frames"].as_array().ok_or("no frames")?;
        if frames.len() < 3 {
            return Err(format!("thread {name}: {frames:?}"));
        }
        for (i, f) in frames.iter().enumerate() {
            if f["n"] != i {
                return Err(format!("thread {name}: frame {i} numbered {}", f["n"]));
            }
        }
        let names = names_at_addrs(out, json_addrs(t[0])?.into_iter());
        if !has_fn(&names, func) {
            return Err(format!("{name}: no frame in {func}: {names:?}"));
        }
    }
    Ok(())
}

fn check_json_register(c: &Ctx) -> Check {
    let out = c.run();
    let rep = common::json::report(&out.stderr)?;
    // The child signals itself: the sender is the process.
    if rep["kind"] != "dump_request"
        || rep["signal"]["number"] != 10
        || rep["signal"]["name"] != "SIGUSR1"
        || rep["signal"]["sender_pid"] != rep["process"]["pid"]
    {
        return Err(format!("{rep}"));
    }
    let header = rep["header"].as_str().ok_or("no header")?;
    if !header.starts_with("Dump requested by signal 10 (SIGUSR1) from pid ") {
        return Err(format!("header {header:?}"));
    }
    if rep["threads"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["current"] == true))
    {
        return Err(format!("a current thread in a dump on request: {rep}"));
    }
    json_named_threads(out, &rep)?;
    if rep["modules"].as_array().is_none_or(|m| m.is_empty()) {
        return Err(format!("no modules: {rep}"));
    }
    Ok(())
}

fn check_json_dump_traceback(c: &Ctx) -> Check {
    let out = c.run();
    let reps = common::json::reports(&out.stderr)?;
    if reps.len() != 2 {
        return Err(format!("{} reports, not 2:\n{}", reps.len(), out.stderr));
    }
    for (i, rep) in reps.iter().enumerate() {
        let header = rep["header"].as_str().unwrap_or("");
        if rep["kind"] != "dump"
            || !header.starts_with("Stack dump requested\nProcess ")
            || !header.contains("\nCommand line: ")
        {
            return Err(format!("{rep}"));
        }
        let cur = common::json::current_thread(rep)?;
        // Frame #0 is in the caller, not in faulthandler.
        let names = names_at_addrs(out, json_addrs(cur)?.into_iter().take(1));
        if !has_fn(&names, "run_scenario_json_dump_traceback") || has_fn(&names, "faulthandler") {
            return Err(format!("frame #0 {names:?}"));
        }
        let threads = rep["threads"].as_array().unwrap();
        match i {
            0 => json_named_threads(out, rep)?,
            _ if threads.len() != 1 => return Err(format!("all_threads(false): {rep}")),
            _ => {}
        }
    }
    // One report a line, and nothing else on the lines.
    if out.stderr.lines().filter(|l| !l.is_empty()).count() != 2 {
        return Err(format!("other lines:\n{}", out.stderr));
    }
    Ok(())
}

/// Two dumps in a row on one fd.
#[inline(never)]
fn run_scenario_two_dumps() {
    faulthandler::dump_traceback(std::io::stderr().as_fd(), false).unwrap();
    faulthandler::dump_traceback(std::io::stderr().as_fd(), false).unwrap();
}

fn check_two_dumps(c: &Ctx) -> Check {
    use common::ensure;
    let err = &c.run().stderr;
    let at: Vec<usize> = err
        .match_indices("Stack dump requested\n")
        .map(|(i, _)| i)
        .collect();
    ensure!(at.len() == 2, "two dumps expected:\n{err}");
    // The first report ends with its Modules block and a blank line, and
    // the second starts right after it.
    ensure!(
        err[..at[1]].ends_with("\n\n") && !err[..at[1]].ends_with("\n\n\n"),
        "no single blank line between the dumps:\n{err}"
    );
    ensure!(
        err.ends_with("\n\n"),
        "the last dump ends without its blank line:\n{err}"
    );
    Ok(())
}

/// A forked child (no exec) asks itself for a dump: its dumper thread
/// stayed in the parent.
fn run_scenario_dump_in_forked_child() {
    start_named_threads();
    faulthandler::register(libc::SIGUSR1).unwrap();
    // SAFETY: fork; the child only signals itself, sleeps and _exits.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        // SAFETY: plain system calls in the child.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGUSR1);
            libc::usleep(200_000);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    // After the child's dump, so the lines do not mix.
    eprintln!("child: forked pid={child}");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status:#x}"
    );
}

fn check_dump_in_forked_child(c: &Ctx) -> Check {
    use common::ensure;
    let err = &c.run().stderr;
    let pid: u32 = err
        .lines()
        .find_map(|l| l.strip_prefix("child: forked pid="))
        .ok_or("no forked pid")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let reports = Report::parse_all(err);
    ensure!(reports.len() == 1, "{} reports:\n{err}", reports.len());
    let rep = &reports[0];
    ensure!(
        rep.first_line
            .starts_with("Dump requested by signal 10 (SIGUSR1) from pid "),
        "{}",
        rep.first_line
    );
    let p = rep.process.as_ref().ok_or("no Process line")?;
    ensure!(
        p.pid == pid,
        "the dump is of pid {}, not the child {pid}",
        p.pid
    );
    let cur = rep.threads.first().ok_or("no thread")?;
    ensure!(
        cur.tid == pid && !cur.frames.is_empty(),
        "the child's own thread is not shown first with its stack:\n{err}"
    );
    ensure!(rep.has_modules_block, "no Modules block:\n{err}");
    Ok(())
}

/// Dumps while threads come and go: a thread that exits after it was
/// listed never answers, and must not be waited for until the deadline
/// (2 s here).
fn run_scenario_exiting_threads_not_waited_for() {
    common::enable(faulthandler::Config::new().thread_timeout(Duration::from_secs(2)));
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let churn = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let _ = std::thread::spawn(|| {}).join();
        }
    });
    let null = std::fs::File::create("/dev/null").unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let t = Instant::now();
        faulthandler::dump_traceback(null.as_fd(), true).unwrap();
        slowest = slowest.max(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    eprintln!("child: slowest dump {} ms", slowest.as_millis());
}

fn check_exiting_threads_not_waited_for(c: &Ctx) -> Check {
    use common::ensure;
    let err = &c.run().stderr;
    let ms: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("child: slowest dump "))
        .and_then(|l| l.strip_suffix(" ms"))
        .ok_or_else(|| format!("no figure:\n{err}"))?
        .parse()
        .map_err(|e| format!("{e}"))?;
    ensure!(
        ms < 1000,
        "a dump waited {ms} ms for a thread that had exited"
    );
    Ok(())
}

/// A thread whose frame chain is corrupt, so that its walk faults inside
/// the unwinder: dumps (without `enable()`, then with it, by API and by
/// signal) must go on, saying so for that thread.
#[cfg(target_arch = "x86_64")]
fn run_scenario_dump_survives_an_unwinder_fault() {
    static STOP: i32 = 0;
    let t = std::thread::Builder::new()
        .name("fh-corrupt".into())
        // SAFETY: the fixture only waits; `STOP` is a static.
        .spawn(|| unsafe { fh_threads_wait_with_corrupt_frames(&STOP) })
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
    common::enable(faulthandler::Config::new());
    faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
    faulthandler::register(libc::SIGUSR1).unwrap();
    // SAFETY: a signal to ourselves, which the dumper serves.
    unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("child: survived the dumps");
    drop(t);
    std::process::exit(0);
}

#[cfg(not(target_arch = "x86_64"))]
fn run_scenario_dump_survives_an_unwinder_fault() {
    eprintln!("child: survived the dumps");
    eprintln!("(the corrupt-frame fixture is x86_64 only)");
}

fn check_dump_survives_an_unwinder_fault(c: &Ctx) -> Check {
    use common::ensure;
    let err = &c.run().stderr;
    ensure!(err.contains("child: survived the dumps"), "{err}");
    if err.contains("x86_64 only") {
        return Ok(());
    }
    let reports = Report::parse_all(err);
    ensure!(reports.len() == 3, "{} reports:\n{err}", reports.len());
    for rep in &reports {
        let t = rep
            .threads
            .iter()
            .find(|t| t.name == "fh-corrupt")
            .ok_or_else(|| format!("no fh-corrupt thread:\n{}", rep.text))?;
        ensure!(
            t.no_stack.as_deref() == Some("the unwinder faulted"),
            "{:?}:\n{}",
            t.no_stack,
            rep.text
        );
        ensure!(rep.has_modules_block, "no Modules block:\n{}", rep.text);
    }
    Ok(())
}

#[inline(never)]
fn run_scenario_dump_limit() {
    common::enable(faulthandler::Config::new().max_threads(2));
    start_named_threads();
    // Our own helper threads are never listed (fh-symbols may still be
    // building line tables): they are not counted.
    let tasks = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            !matches!(comm.trim(), "fh-symbols" | "fh-dumper" | "fh-watchdog")
        })
        .count();
    println!("TASKS {tasks}");
    faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
}

#[inline(never)]
fn run_scenario_blocked_not_waited() {
    // A thread that blocks every signal, and a 5 s deadline: the
    // dump must not wait for it.
    common::enable(faulthandler::Config::new().thread_timeout(Duration::from_secs(5)));
    start_named_threads();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("fh-masked".into())
        .spawn(move || {
            block_all_signals();
            tx.send(()).unwrap();
            // Stuck in a system call with signals masked.
            let (r, _w) = pipe();
            let mut b = [0u8; 1];
            // SAFETY: reading into a local buffer.
            unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        })
        .unwrap();
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
    println!("ELAPSED_MS {}", start.elapsed().as_millis());
}

#[inline(never)]
fn run_scenario_stuck_in_kernel_arm(name: &str) {
    common::enable(faulthandler::Config::new().thread_timeout(Duration::from_millis(300)));
    start_named_threads();
    let stuck = Arc::new(AtomicBool::new(false));
    let s = stuck.clone();
    let tid = Arc::new(AtomicUsize::new(0));
    let t = tid.clone();
    std::thread::Builder::new()
        .name("fh-vfork".into())
        .spawn(move || {
            // SAFETY: gettid has no preconditions.
            t.store(unsafe { libc::gettid() } as usize, Ordering::SeqCst);
            s.store(true, Ordering::SeqCst);
            // SAFETY: the fixture vforks a child that sleeps 5 s and exits.
            unsafe { fh_threads_vfork_stall(5000) };
        })
        .unwrap();
    // Wait until the thread sits in the kernel (state D).
    let end = Instant::now() + Duration::from_secs(5);
    let mut state = ' ';
    while Instant::now() < end {
        let tid = tid.load(Ordering::SeqCst);
        if stuck.load(Ordering::SeqCst) && tid != 0 {
            let stat =
                std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
            state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.trim().chars().next())
                .unwrap_or(' ');
            if state == 'D' {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("STATE {state}");
    let start = Instant::now();
    if name == "stuck_in_kernel_crash" {
        crash_now();
    }
    faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
    println!("ELAPSED_MS {}", start.elapsed().as_millis());
}

fn run_scenario_stuck_in_kernel() {
    run_scenario_stuck_in_kernel_arm("stuck_in_kernel")
}

fn run_scenario_stuck_in_kernel_crash() {
    run_scenario_stuck_in_kernel_arm("stuck_in_kernel_crash")
}

#[inline(never)]
fn run_scenario_crash_during_dump() {
    // A dump that takes its whole 1.5 s deadline (a thread stuck
    // in the kernel), and a thread that crashes 200 ms into it.
    common::enable(faulthandler::Config::new().thread_timeout(Duration::from_millis(1500)));
    std::thread::Builder::new()
        .name("fh-vfork".into())
        // SAFETY: the fixture vforks a child that sleeps 5 s.
        .spawn(|| unsafe { fh_threads_vfork_stall(5000) })
        .unwrap();
    static DUMPING: AtomicBool = AtomicBool::new(false);
    std::thread::Builder::new()
        .name("fh-crasher".into())
        .spawn(|| {
            while !DUMPING.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(200));
            crash_now();
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    DUMPING.store(true, Ordering::SeqCst);
    if !common::control() {
        faulthandler::dump_traceback(std::io::stderr().as_fd(), true).unwrap();
    }
    // The crash report comes next and ends the process.
    std::thread::sleep(Duration::from_secs(20));
    println!("NOT CRASHED");
}

#[inline(never)]
fn run_scenario_watchdog() {
    watchdog_dump(REPORT_END);
}

/// The named threads, then a watchdog dump after 200 ms whose text ends
/// with `end`, copied to stderr.
fn watchdog_dump(end: &str) {
    start_named_threads();
    let (w, cap) = Capture::new();
    faulthandler::Watchdog::new(Duration::from_millis(200))
        .fd(w)
        .arm()
        .unwrap();
    assert!(cap.wait_count(end, 1, 10), "no dump");
    cap.settle();
    eprint!("{}", cap.text());
}

/// The watchdog's dump, as JSON lines.
#[inline(never)]
fn run_scenario_json_watchdog() {
    faulthandler::Config::new()
        .format(faulthandler::Format::JsonLines)
        .enable()
        .unwrap();
    watchdog_dump(JSON_END);
}

fn check_json_watchdog(c: &Ctx) -> Check {
    let out = c.run();
    let rep = common::json::report(&out.stderr)?;
    if rep["kind"] != "timeout"
        || rep["timeout_ms"] != 200
        || rep["header"]
            .as_str()
            .is_none_or(|h| !h.starts_with("Timeout (0:00:00.200)!\nProcess "))
    {
        return Err(format!("{rep}"));
    }
    json_named_threads(out, &rep)
}

#[inline(never)]
fn run_scenario_watchdog_repeat() {
    let (w, cap) = Capture::new();
    faulthandler::Watchdog::new(Duration::from_millis(100))
        .repeat(true)
        .fd(w)
        .arm()
        .unwrap();
    assert!(
        cap.wait_count("Timeout (0:00:00.100)!", 3, 20),
        "fewer than 3"
    );
    faulthandler::cancel_dump_traceback_later();
    cap.settle();
    let n = cap.count("Timeout (0:00:00.100)!");
    std::thread::sleep(Duration::from_millis(500));
    println!("HEADERS {n} THEN {}", cap.count("Timeout (0:00:00.100)!"));
    eprint!("{}", cap.text());
}

#[inline(never)]
fn run_scenario_watchdog_cancel() {
    faulthandler::cancel_dump_traceback_later(); // nothing armed: fine
    faulthandler::dump_traceback_later(Duration::from_millis(300), false, true).unwrap();
    faulthandler::cancel_dump_traceback_later();
    std::thread::sleep(Duration::from_millis(900));
    faulthandler::cancel_dump_traceback_later();
    println!("SURVIVED");
}

#[inline(never)]
fn run_scenario_watchdog_exit() {
    start_named_threads();
    faulthandler::dump_traceback_later(Duration::from_millis(150), false, true).unwrap();
    std::thread::sleep(Duration::from_secs(30));
    println!("NOT EXITED");
}

#[inline(never)]
fn run_scenario_watchdog_rearm() {
    // A long timer replaced by a short one, then a short one
    // replaced by a long one.
    let (w, cap) = Capture::new();
    let w2 = w.try_clone().unwrap();
    faulthandler::Watchdog::new(Duration::from_secs(30))
        .fd(w)
        .arm()
        .unwrap();
    faulthandler::Watchdog::new(Duration::from_millis(200))
        .fd(w2)
        .arm()
        .unwrap();
    assert!(cap.wait_count(REPORT_END, 1, 10), "no dump");
    std::thread::sleep(Duration::from_millis(600));
    let (w3, cap3) = Capture::new();
    let w4 = w3.try_clone().unwrap();
    faulthandler::Watchdog::new(Duration::from_millis(200))
        .fd(w3)
        .arm()
        .unwrap();
    faulthandler::Watchdog::new(Duration::from_secs(30))
        .fd(w4)
        .arm()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    println!(
        "FIRST {} SECOND {}",
        cap.count("Timeout ("),
        cap3.count("Timeout (")
    );
    eprint!("{}", cap.text());
}

// ----------------------------------------------- helpers make no malloc arena

/// glibc's malloc arenas: the `<heap nr=...>` elements of `malloc_info`.
fn malloc_arenas() -> usize {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: open_memstream writes the buffer's address and size into our
    // two locals, valid until fclose; malloc_info writes to that stream;
    // after fclose the buffer is ours (read once, then freed).
    let text = unsafe {
        let f = libc::open_memstream(&mut buf, &mut len);
        assert!(!f.is_null(), "open_memstream");
        assert_eq!(libc::malloc_info(0, f), 0, "malloc_info");
        libc::fclose(f);
        let text = std::ffi::CStr::from_ptr(buf).to_string_lossy().into_owned();
        libc::free(buf.cast());
        text
    };
    text.matches("<heap nr=").count()
}

/// The process's `VmSize` (KiB), from `/proc/self/status`.
fn vm_size_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status")
}

/// Read `fd` on this thread (no helper thread of the test's own) until
/// `pat` occurred `n` times, at most `secs`.
fn read_until(fd: &OwnedFd, pat: &str, n: usize, secs: u64) -> String {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text.matches(pat).count() < n && Instant::now() < end {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
            continue;
        }
        // SAFETY: reading into a local buffer from our own pipe.
        let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r == 0 {
            break;
        }
        if r < 0 {
            // A collection's signal interrupts us: the dump lists us too.
            continue;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..r as usize]));
    }
    text
}

/// The lines fixture with its debug sections compressed (`format`: zlib,
/// or zstd), opened: its path. The symbol thread uncompresses them when
/// it builds its lines. `None` when the fixture was not made (zstd needs
/// binutils built with it).
fn dlopen_compressed_fixture(format: object::CompressionFormat) -> Option<String> {
    let name = match format {
        object::CompressionFormat::Zlib => "so_lines_zlib.so",
        _ => "so_lines_zstd.so",
    };
    let path = common::fixture(name);
    let bytes = std::fs::read(&path).ok()?;
    let obj = object::File::parse(&*bytes).ok()?;
    use object::{Object, ObjectSection};
    let info = obj.section_by_name(".debug_info")?;
    let compressed = info
        .compressed_file_range()
        .is_ok_and(|r| r.format == format);
    common::check(
        compressed,
        &format!("{name}'s .debug_info is {format:?}-compressed"),
    );
    let c = std::ffi::CString::new(path.to_str()?).ok()?;
    // SAFETY: a NUL-terminated path; the library stays loaded (never
    // closed); its constructor-free code runs nothing at load.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW) };
    (!h.is_null()).then(|| path.display().to_string())
}

/// The arena count now, and with a plain std thread that allocated (and
/// still runs: an exited thread's arena would go to the next thread): the
/// control, which must show one more, or the count is blind.
fn arenas_and_control() -> (usize, usize) {
    let now = malloc_arenas();
    let (tx, rx) = mpsc::channel::<()>();
    let (back_tx, back) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        black_box(Box::new([7u8; 256]));
        back_tx.send(()).unwrap();
        let _ = rx.recv();
    });
    back.recv().unwrap();
    let control = malloc_arenas();
    drop(tx);
    t.join().unwrap();
    (now, control)
}

/// Print the figures, and fail unless our threads made no arena and the
/// control made one.
fn check_no_arena(before: (usize, u64), what: &str) {
    let vm_after = vm_size_kib();
    let (after, control) = arenas_and_control();
    let (arenas, vm) = before;
    eprintln!(
        "child: arenas before={arenas} after={after} control={control} \
         vmsize_kib before={vm} after={vm_after} delta={}",
        vm_after as i64 - vm as i64
    );
    // First: an arena of an exited thread of ours goes to the control's.
    common::check(
        after == arenas,
        &format!("no new malloc arena after {what}"),
    );
    common::check(
        control == after + 1,
        "a std thread that mallocs adds an arena (control)",
    );
}

/// `enable()`, its symbol thread's index and line tables, then a library
/// `dlopen`ed and indexed by a second `enable()`: no arena of ours.
#[inline(never)]
fn run_scenario_helpers_make_no_arena() {
    let before = (malloc_arenas(), vm_size_kib());
    common::child::enable_default();
    let ready = || faulthandler::__bench::index_ready() && faulthandler::__bench::lines_ready();
    common::check(
        common::child::wait_for_builder(Duration::from_secs(60), ready),
        "index and lines ready",
    );
    let zlib = dlopen_compressed_fixture(object::CompressionFormat::Zlib);
    common::check(zlib.is_some(), "dlopen so_lines_zlib.so");
    let zstd = dlopen_compressed_fixture(object::CompressionFormat::Zstandard);
    if zstd.is_none() {
        eprintln!("child: no so_lines_zstd.so (binutils without zstd): zlib only");
    }
    let libs: Vec<String> = zlib.into_iter().chain(zstd).collect();
    eprintln!("child: dlopened {libs:?}");
    // A library loaded later gets its index from the next enable().
    common::child::enable_default();
    common::check(
        common::child::wait_for_builder(Duration::from_secs(60), ready),
        "index and lines ready after dlopen",
    );
    check_no_arena(before, "enable() and the symbol thread");
    // What the symbol thread did for them gives line tables: the same
    // build here (this thread may allocate) has rows.
    for lib in &libs {
        let rows = faulthandler::__bench::build_lines_of(lib, 1 << 30).rows;
        common::check(
            rows > 0,
            &format!("line tables from {lib}'s compressed DWARF"),
        );
    }
}

/// The dumper (a dump on SIGUSR1) and the watchdog (a dump after 100
/// ms), without `enable()` (so no symbol thread): no arena of ours.
#[inline(never)]
fn run_scenario_dumper_and_watchdog_make_no_arena() {
    let before = (malloc_arenas(), vm_size_kib());
    let (r, w) = pipe();
    let w2 = w.try_clone().unwrap();
    faulthandler::Register::new(libc::SIGUSR1)
        .fd(w)
        .install()
        .unwrap();
    kill_self(libc::SIGUSR1);
    let text = read_until(&r, REPORT_END, 1, 20);
    common::check(
        text.contains(REPORT_END),
        &format!("the SIGUSR1 dump: {text:?}"),
    );
    faulthandler::Watchdog::new(Duration::from_millis(100))
        .fd(w2)
        .arm()
        .unwrap();
    // The rest of the SIGUSR1 dump's module list may come first.
    let text = read_until(&r, REPORT_END, 1, 20);
    common::check(
        text.find("Timeout (")
            .is_some_and(|at| text[at..].contains(REPORT_END)),
        &format!("the watchdog's dump: {text:?}"),
    );
    check_no_arena(before, "the dumper's and the watchdog's dumps");
}

// --------------------------------------------------------------- parent side

/// The thread blocks of the first report in `text`.
fn parse_blocks(text: &str) -> Vec<Thread> {
    Report::first(text).map(|r| r.threads).unwrap_or_default()
}

/// `FN NAME 0xADDR` lines from the child's stdout.
fn fn_addrs(stdout: &str) -> Vec<(String, usize)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FN "))
        .map(|l| {
            let (n, a) = l.split_once(' ').unwrap();
            (
                n.to_string(),
                usize::from_str_radix(a.trim_start_matches("0x"), 16).unwrap(),
            )
        })
        .collect()
}

/// The function names at a child's frame addresses. The child runs this
/// very binary, so an address maps to ours by the distance between the
/// child's `park_alpha` (printed as `FN fh-alpha`) and ours; addresses in
/// other modules map to nothing.
fn names_at(out: &Run, frames: &[Frame]) -> Vec<Vec<String>> {
    names_at_addrs(out, frames.iter().map(|f| f.addr))
}

/// [`names_at`], for frame addresses (frame #0 first).
fn names_at_addrs(out: &Run, frames: impl Iterator<Item = u64>) -> Vec<Vec<String>> {
    let addrs = fn_addrs(&out.stdout);
    let child = addrs
        .iter()
        .find(|(n, _)| n == NAMES[0])
        .expect("FN fh-alpha")
        .1;
    let delta = park_alpha as *const () as usize as isize - child as isize;
    let bravo = addrs.iter().find(|(n, _)| n == NAMES[1]).unwrap().1;
    assert_eq!(
        bravo as isize + delta,
        sleep_bravo as *const () as usize as isize
    );
    frames
        .enumerate()
        .map(|(i, addr)| {
            let a = (addr as isize + delta) as usize;
            // Return addresses point after the call; frame #0 may be a pc.
            let a = if i == 0 { a } else { a - 1 };
            let mut names = Vec::new();
            backtrace::resolve(a as *mut std::ffi::c_void, |sym| {
                if let Some(n) = sym.name() {
                    names.push(n.to_string());
                }
            });
            names
        })
        .collect()
}

fn has_fn(names: &[Vec<String>], f: &str) -> bool {
    names.iter().flatten().any(|n| n.contains(f))
}

/// Each named thread appears once, with frames, one of which lies inside
/// the function it is parked in, and none in the other two.
fn assert_named_threads(out: &Run, blocks: &[Thread]) {
    // faulthandler's own threads are never shown, and every thread shown
    // still existed when its name was read.
    for internal in ["fh-dumper", "fh-watchdog", "fh-symbols", "?"] {
        let shown: Vec<&Thread> = blocks.iter().filter(|b| b.name == internal).collect();
        assert!(shown.is_empty(), "{internal:?} blocks: {shown:#?}");
    }
    let fns = ["park_alpha", "sleep_bravo", "read_charlie"];
    for (name, func) in NAMES.iter().zip(fns) {
        let matching: Vec<&Thread> = blocks.iter().filter(|b| &b.name == name).collect();
        assert_eq!(matching.len(), 1, "thread {name} in {blocks:#?}");
        let b = matching[0];
        assert!(!b.current);
        assert!(b.no_stack.is_none(), "{b:?}");
        assert!(b.frames.len() >= 3, "{b:?}");
        let names = names_at(out, &b.frames);
        assert!(
            has_fn(&names, func),
            "{name}: no frame in {func}: {names:#?}"
        );
        for other in fns.iter().filter(|&&o| o != func) {
            assert!(!has_fn(&names, other), "{name}: frame in {other}");
        }
    }
}

fn value_after(text: &str, key: &str) -> u64 {
    text.split(key)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

fn check_crash(c: &Ctx) -> Check {
    let out = c.run();
    let err = out.stderr.clone();
    assert!(err.starts_with("Fatal signal 11 (SIGSEGV)"), "{err}");
    let blocks = parse_blocks(&err);
    assert!(blocks[0].current && !blocks[0].frames.is_empty(), "{err}");
    assert_named_threads(out, &blocks);
    let masked = blocks.iter().find(|b| b.name == "fh-masked").expect(&err);
    assert_eq!(
        masked.no_stack.as_deref(),
        Some("the thread blocks the dump signal")
    );
    assert!(err.contains(&format!(
        "\nThread {} \"fh-masked\": no stack: the thread blocks the dump signal\n",
        masked.tid
    )));
    // Modules come last, after every thread.
    let modules = err.find(REPORT_END).expect(&err);
    assert!(err.rfind("\nThread ").unwrap() < modules);
    assert!(err.ends_with('\n'));
    Ok(())
}

fn check_dump_right_after_enable(c: &Ctx) -> Check {
    use common::ensure;
    let err = &c.run().stderr;
    let blocks = parse_blocks(err);
    ensure!(
        blocks.len() == 1 && blocks[0].current && !blocks[0].frames.is_empty(),
        "only the dumping thread, with its stack:\n{err}"
    );
    Ok(())
}

fn check_crash_on_thread(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(!err.contains("cut short"), "{err}");
    let blocks = parse_blocks(err);
    assert_eq!(blocks[0].name, "fh-crasher", "{err}");
    assert!(blocks[0].current && !blocks[0].frames.is_empty());
    assert_named_threads(out, &blocks);
    assert!(err.contains(REPORT_END), "{err}");
    Ok(())
}

fn check_altstack_peak(c: &Ctx) -> Check {
    let out = c.run();
    let stdout = &out.stdout;
    if c.case.name == "altstack_peak" {
        assert_named_threads(out, &parse_blocks(&out.stderr));
    }
    let peak = value_after(stdout, "PEAK ");
    let size = value_after(stdout, " OF ");
    common::runner::note(format!(
        "{}: {peak} of {size} alternate stack bytes",
        c.case.name
    ));
    assert!(peak < size, "{stdout}");
    Ok(())
}

fn check_crash_thread_limit(c: &Ctx) -> Check {
    let err = &c.run().stderr;
    let rep = Report::first(err)?;
    assert_eq!(
        rep.threads.iter().filter(|b| !b.current).count(),
        2,
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("... ") && l.ends_with(" more threads not shown (max_threads 2)"))
        .expect(err);
    let more: u64 = line[4..].split(' ').next().unwrap().parse().unwrap();
    assert!(more >= 1, "{line}");
    assert_eq!(rep.threads_cut, Some((more, 2)));
    Ok(())
}

fn check_register(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    let rep = Report::first(err)?;
    let Some(report::Kind::DumpRequest {
        signo: 10,
        name,
        pid: sender,
    }) = &rep.kind
    else {
        return Err(format!("first line {:?}", rep.first_line));
    };
    assert_eq!(name, "SIGUSR1");
    assert!(err.starts_with("Dump requested by signal 10 (SIGUSR1) from pid "));
    assert!(
        err.lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("Process {sender} ")),
        "{err}"
    );
    assert_eq!(rep.process.as_ref().map(|p| p.pid), Some(*sender));
    rep.check_process_lines(
        *sender,
        out.argv[0].rsplit('/').next().unwrap_or_default(),
        &out.argv.join(" "),
        out.elapsed,
    )?;
    let blocks = &rep.threads;
    assert!(blocks.iter().all(|b| !b.current));
    assert!(!blocks.iter().any(|b| b.name == "fh-dumper"), "{err}");
    assert_named_threads(out, blocks);
    Ok(())
}

fn check_dump_traceback(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(err.starts_with("Stack dump requested\nProcess "), "{err}");
    let rep = Report::first(err)?;
    rep.check_process_lines(
        rep.process.as_ref().map_or(0, |p| p.pid),
        out.argv[0].rsplit('/').next().unwrap_or_default(),
        &out.argv.join(" "),
        out.elapsed,
    )?;
    assert!(
        rep.lines().nth(3) == Some("")
            && rep.lines().nth(4).unwrap().starts_with("Current thread "),
        "{err}"
    );
    let blocks = parse_blocks(err);
    assert!(blocks[0].current && blocks[0].frames.len() >= 2, "{err}");
    // Frame #0 is in the caller (run_scenario_*), not in faulthandler.
    let names = names_at(out, &blocks[0].frames[..1]);
    assert!(has_fn(&names, "run_scenario"), "{names:?}");
    assert!(!has_fn(&names, "faulthandler"), "{names:?}");
    assert_named_threads(out, &blocks);
    Ok(())
}

fn check_dump_limit(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    let tasks = value_after(&out.stdout, "TASKS ");
    let rep = Report::first(err)?;
    assert_eq!(
        rep.threads.iter().filter(|b| !b.current).count(),
        2,
        "{err}"
    );
    // Every thread but the caller and the two shown.
    let expect = format!(
        "\n... {} more threads not shown (max_threads 2)\n",
        tasks - 3
    );
    assert!(err.contains(&expect), "{expect} in {err}");
    assert_eq!(rep.threads_cut, Some((tasks - 3, 2)));
    Ok(())
}

fn check_blocked_not_waited(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    let blocks = parse_blocks(err);
    let masked = blocks.iter().find(|b| b.name == "fh-masked").expect(err);
    assert_eq!(
        masked.no_stack.as_deref(),
        Some("the thread blocks the dump signal")
    );
    // The deadline is 5 s; not waiting for the masked thread means far less.
    let ms = value_after(&out.stdout, "ELAPSED_MS ");
    assert!(ms < 2500, "the dump took {ms} ms");
    assert_named_threads(out, &blocks);
    Ok(())
}

fn check_stuck_in_kernel(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    let stdout = &out.stdout;
    assert!(
        stdout.contains("STATE D"),
        "could not park a thread in D state: {stdout}"
    );
    let blocks = parse_blocks(err);
    let stuck = blocks.iter().find(|b| b.name == "fh-vfork").expect(err);
    assert_eq!(stuck.no_stack.as_deref(), Some("no answer within 300 ms"));
    // The vfork child holds the thread for 5 s; the dump must end at its
    // 300 ms deadline (with a generous margin for a loaded machine).
    let ms = value_after(stdout, "ELAPSED_MS ");
    assert!((300..2500).contains(&ms), "the dump took {ms} ms");
    assert_named_threads(out, &blocks);
    Ok(())
}

fn check_stuck_in_kernel_crash(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(out.stdout.contains("STATE D"));
    let blocks = parse_blocks(err);
    let stuck = blocks.iter().find(|b| b.name == "fh-vfork").expect(err);
    assert_eq!(stuck.no_stack.as_deref(), Some("no answer within 300 ms"));
    assert!(
        out.elapsed < Duration::from_millis(4500),
        "{:?}",
        out.elapsed
    );
    assert_named_threads(out, &blocks);
    Ok(())
}

fn check_register_many(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    let stdout = &out.stdout;
    assert!(stdout.contains("READER n=1 "), "{stdout}");
    let reports = out.reports();
    assert_eq!(
        err.matches("Dump requested by signal 10 (SIGUSR1) from pid ")
            .count(),
        200
    );
    assert_eq!(reports.len(), 200);
    // No frame of ours in any thread's stack: the thread that took the
    // request signal is walked after our handler returned, not inside it.
    assert_no_own_frames(&reports);
    for r in &reports {
        assert!(
            matches!(r.kind, Some(report::Kind::DumpRequest { signo: 10, .. })),
            "{}",
            r.first_line
        );
        let blocked = r
            .threads
            .iter()
            .filter(|t| t.no_stack.as_deref() == Some("the thread blocks the dump signal"))
            .count();
        assert!(
            blocked <= 1,
            "{blocked} threads block the signal in {}",
            r.text
        );
        for name in NAMES.iter().chain(&["fh-reader", "fh-capture"]) {
            let b = r
                .thread_named(name)
                .unwrap_or_else(|| panic!("{name} missing in {}", r.text));
            // The thread that took this very SIGUSR1 (any thread may) can
            // still be inside our request handler, which blocks the
            // collection signal, when a slow (opt-level 0) dump collects:
            // then it is named as blocking it. At most one such thread.
            if b.no_stack.as_deref() == Some("the thread blocks the dump signal") {
                continue;
            }
            assert!(!b.frames.is_empty(), "{name} has no frames in {}", r.text);
        }
    }
    Ok(())
}

fn check_register_refused(c: &Ctx) -> Check {
    let stdout = &c.run().stdout;
    assert!(stdout.contains("REFUSED 11: faulthandler: signal 11 (SIGSEGV) is a crash signal"));
    assert!(stdout.contains("REFUSED 9: faulthandler: signal 9 (SIGKILL) cannot be caught"));
    assert!(stdout.contains("REFUSED 19: faulthandler: signal 19 (SIGSTOP) cannot be caught"));
    assert!(stdout.contains("REFUSED 6: faulthandler: signal 6 (SIGABRT) is a crash signal"));
    assert!(stdout.contains("REFUSED internal"));
    Ok(())
}

fn check_unregister_restores(c: &Ctx) -> Check {
    assert!(c.run().stdout.contains("RESTORED ok"));
    Ok(())
}

fn check_chain(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(out.stdout.contains("PREV_CALLS 1\n"), "{}", out.stdout);
    assert!(err.starts_with("Dump requested by signal 12 (SIGUSR2)"));
    assert_named_threads(out, &parse_blocks(err));
    Ok(())
}

fn check_no_chain(c: &Ctx) -> Check {
    let out = c.run();
    assert!(out.stdout.contains("PREV_CALLS 0\n"));
    assert!(out
        .stderr
        .starts_with("Dump requested by signal 12 (SIGUSR2)"));
    Ok(())
}

fn check_chain_default(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(!out.stdout.contains("NOT KILLED"));
    assert!(
        err.starts_with("Dump requested by signal 12 (SIGUSR2) from pid "),
        "{err}"
    );
    assert!(err.contains(REPORT_END), "{err}");
    assert_named_threads(out, &parse_blocks(err));
    Ok(())
}

fn check_concurrent_dumps(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    // Each report is one whole report.
    let reports = out.reports();
    let count = |p: &str| reports.iter().filter(|r| r.text.starts_with(p)).count();
    assert_eq!(count("Stack dump requested\n"), 100, "{err}");
    assert!(count("Dump requested by signal 10 (SIGUSR1)") >= 1);
    assert!(count("Timeout (0:00:00.020)!") >= 1);
    for r in &reports {
        assert_eq!(r.text.matches(REPORT_END).count(), 1, "{}", r.text);
        assert!(r.has_modules_block && r.kind.is_some(), "{}", r.text);
        assert_named_threads(out, &r.threads);
    }
    Ok(())
}

fn check_signal_hook(c: &Ctx) -> Check {
    let order = c.case.name;
    let stdout = &c.run().stdout;
    assert!(stdout.contains("HOOKED 1\n"), "{order}: {stdout}");
    assert!(stdout.contains("DUMPS 1\n"), "{order}: {stdout}");
    if order == "hook_first" {
        assert!(stdout.contains("HOOKED_AFTER_UNREGISTER 2\n"), "{stdout}");
    }
    Ok(())
}

fn check_watchdog(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(err.starts_with("Timeout (0:00:00.200)!\nProcess "), "{err}");
    let rep = Report::first(err)?;
    assert_eq!(rep.kind, Some(report::Kind::Timeout("0:00:00.200".into())));
    rep.check_process_lines(
        rep.process.as_ref().map_or(0, |p| p.pid),
        out.argv[0].rsplit('/').next().unwrap_or_default(),
        &out.argv.join(" "),
        out.elapsed,
    )?;
    assert!(
        !rep.threads.iter().any(|b| b.name == "fh-watchdog"),
        "{err}"
    );
    assert_named_threads(out, &rep.threads);
    Ok(())
}

fn check_watchdog_repeat(c: &Ctx) -> Check {
    let stdout = &c.run().stdout;
    let n = value_after(stdout, "HEADERS ");
    let then = value_after(stdout, " THEN ");
    assert!(n >= 3, "{stdout}");
    assert_eq!(n, then, "fired after cancel: {stdout}");
    Ok(())
}

fn check_watchdog_cancel(c: &Ctx) -> Check {
    let out = c.run();
    assert!(out.stdout.contains("SURVIVED"));
    assert!(!out.stderr.contains("Timeout ("), "{}", out.stderr);
    Ok(())
}

fn check_watchdog_exit(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(!out.stdout.contains("NOT EXITED"));
    assert!(err.starts_with("Timeout (0:00:00.150)!\n"), "{err}");
    assert_named_threads(out, &parse_blocks(err));
    Ok(())
}

/// The child checked the arenas itself; its figures are there.
fn check_no_arena_line(c: &Ctx) -> Check {
    let err = &c.run().stderr;
    common::ensure!(
        err.contains("child: arenas before="),
        "no arena figures:\n{err}"
    );
    Ok(())
}

fn check_watchdog_rearm(c: &Ctx) -> Check {
    let out = c.run();
    assert!(out.stdout.contains("FIRST 1 SECOND 0"), "{}", out.stdout);
    assert!(out.stderr.starts_with("Timeout (0:00:00.200)!"));
    Ok(())
}

fn check_crash_during_dump(c: &Ctx) -> Check {
    let out = c.run();
    let err = &out.stderr;
    assert!(!out.stdout.contains("NOT CRASHED"));
    // The dump finishes first, then the crash is reported in full.
    assert!(err.starts_with("Stack dump requested\n"), "{err}");
    let crash = err.find("Fatal signal 11 (SIGSEGV)").expect(err);
    let dump_end = err.find(REPORT_END).expect(err);
    assert!(dump_end < crash, "{err}");
    let reports = out.reports();
    assert_eq!(reports.len(), 2, "{err}");
    assert_eq!(reports[0].kind, Some(report::Kind::StackDump));
    assert!(reports[0].has_modules_block, "{err}");
    let fatal = &reports[1];
    assert!(fatal.first_line.starts_with("Fatal signal 11 (SIGSEGV)"));
    assert_eq!(fatal.threads[0].name, "fh-crasher", "{err}");
    assert!(fatal.threads[0].current && !fatal.threads[0].frames.is_empty());
    assert!(fatal.has_modules_block, "{err}");
    Ok(())
}

const SEGV: Option<End> = Some(End::Signal {
    sig: libc::SIGSEGV,
    core: false,
});
const OK: Option<End> = Some(End::Exit(0));

/// A dump, not a crash: no control run; the child exits 0.
const DUMP: Case = Case {
    control: false,
    expect: OK,
    ..CASE
};

#[rustfmt::skip]
static CASES: &[Case] = &[
    Case { name: "crash", body: Some(run_scenario_crash), expect: SEGV, check: check_crash, ..CASE },
    Case { name: "crash_on_thread", body: Some(run_scenario_crash_on_thread), expect: SEGV, check: check_crash_on_thread, ..CASE },
    Case { name: "dump_right_after_enable", body: Some(run_scenario_dump_right_after_enable), check: check_dump_right_after_enable, ..DUMP },
    // The previous SIGSEGV handler measures and exits 42.
    Case { name: "altstack_peak_single", body: Some(run_scenario_altstack_peak_single), expect: Some(End::Exit(42)), check: check_altstack_peak, ..CASE },
    Case { name: "altstack_peak", body: Some(run_scenario_altstack_peak), expect: Some(End::Exit(42)), check: check_altstack_peak, ..CASE },
    Case { name: "crash_thread_limit", body: Some(run_scenario_crash_thread_limit), expect: SEGV, check: check_crash_thread_limit, ..CASE },
    Case { name: "register", body: Some(run_scenario_register), check: check_register, ..DUMP },
    Case { name: "register_many", body: Some(run_scenario_register_many), check: check_register_many, ..DUMP },
    Case { name: "register_one_thread", body: Some(run_scenario_register_one_thread), check: check_register_one_thread, ..DUMP },
    Case { name: "dumps_to_report_file", body: Some(run_scenario_dumps_to_report_file), check: check_dumps_to_report_file, ..DUMP },
    Case { name: "register_chain_slow", body: Some(run_scenario_register_chain_slow), check: check_register_chain_slow, ..DUMP },
    Case { name: "register_refused", body: Some(run_scenario_register_refused), check: check_register_refused, ..DUMP },
    Case { name: "unregister_restores", body: Some(run_scenario_unregister_restores), check: check_unregister_restores, ..DUMP },
    Case { name: "chain", body: Some(run_scenario_chain), check: check_chain, ..DUMP },
    Case { name: "no_chain", body: Some(run_scenario_no_chain), check: check_no_chain, ..DUMP },
    // SIGUSR2's default action, after the dump: as without us.
    Case { name: "chain_default", body: Some(run_scenario_chain_default), expect: Some(End::Signal { sig: libc::SIGUSR2, core: false }), check: check_chain_default, ..CASE },
    Case { name: "concurrent_dumps", body: Some(run_scenario_concurrent_dumps), check: check_concurrent_dumps, ..DUMP },
    Case { name: "hook_first", body: Some(run_scenario_hook_first), check: check_signal_hook, ..DUMP },
    Case { name: "hook_after", body: Some(run_scenario_hook_after), check: check_signal_hook, ..DUMP },
    Case { name: "dump_traceback", body: Some(run_scenario_dump_traceback), check: check_dump_traceback, ..DUMP },
    Case { name: "json_register", body: Some(run_scenario_json_register), check: check_json_register, ..DUMP },
    Case { name: "json_watchdog", body: Some(run_scenario_json_watchdog), check: check_json_watchdog, ..DUMP },
    Case { name: "json_dump_traceback", body: Some(run_scenario_json_dump_traceback), check: check_json_dump_traceback, ..DUMP },
    Case { name: "successive_dumps_are_separated", body: Some(run_scenario_two_dumps), check: check_two_dumps, ..DUMP },
    Case { name: "dump_in_a_forked_child", body: Some(run_scenario_dump_in_forked_child), check: check_dump_in_forked_child, ..DUMP },
    Case { name: "exiting_threads_not_waited_for", body: Some(run_scenario_exiting_threads_not_waited_for), timeout: Duration::from_secs(60), check: check_exiting_threads_not_waited_for, ..DUMP },
    Case { name: "dump_survives_an_unwinder_fault", body: Some(run_scenario_dump_survives_an_unwinder_fault), check: check_dump_survives_an_unwinder_fault, ..DUMP },
    Case { name: "dump_limit", body: Some(run_scenario_dump_limit), check: check_dump_limit, ..DUMP },
    Case { name: "blocked_not_waited", body: Some(run_scenario_blocked_not_waited), check: check_blocked_not_waited, ..DUMP },
    Case { name: "stuck_in_kernel", body: Some(run_scenario_stuck_in_kernel), check: check_stuck_in_kernel, ..DUMP },
    Case { name: "stuck_in_kernel_crash", body: Some(run_scenario_stuck_in_kernel_crash), expect: SEGV, check: check_stuck_in_kernel_crash, ..CASE },
    Case { name: "crash_during_dump", body: Some(run_scenario_crash_during_dump), expect: SEGV, check: check_crash_during_dump, ..CASE },
    Case { name: "watchdog", body: Some(run_scenario_watchdog), check: check_watchdog, ..DUMP },
    Case { name: "watchdog_repeat", body: Some(run_scenario_watchdog_repeat), check: check_watchdog_repeat, ..DUMP },
    Case { name: "watchdog_cancel", body: Some(run_scenario_watchdog_cancel), check: check_watchdog_cancel, ..DUMP },
    // `exit`: _exit(1) after the dump (no control: without the watchdog
    // the child would sleep on).
    Case { name: "watchdog_exit", body: Some(run_scenario_watchdog_exit), expect: Some(End::Exit(1)), check: check_watchdog_exit, ..DUMP },
    Case { name: "watchdog_rearm", body: Some(run_scenario_watchdog_rearm), check: check_watchdog_rearm, ..DUMP },
    // Our helper threads make no malloc arena (the child checks it).
    Case { name: "helpers_make_no_arena", body: Some(run_scenario_helpers_make_no_arena), timeout: Duration::from_secs(150), check: check_no_arena_line, ..DUMP },
    Case { name: "dumper_and_watchdog_make_no_arena", body: Some(run_scenario_dumper_and_watchdog_make_no_arena), check: check_no_arena_line, ..DUMP },
];

fn main() {
    common::harness::main(CASES);
}
