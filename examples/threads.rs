//! A multi-threaded program that shows every way of dumping all threads:
//!
//! ```text
//! cargo run --example threads            # crash (SIGSEGV) with three workers
//! cargo run --example threads -- signal  # register(SIGUSR1), then kill -USR1 ourselves
//! cargo run --example threads -- code    # dump_traceback()
//! cargo run --example threads -- hang    # the watchdog fires after 200 ms and exits 1
//! ```

use std::hint::black_box;
use std::time::Duration;

#[inline(never)]
fn wait_for_jobs() {
    loop {
        std::thread::park();
    }
}

#[inline(never)]
fn poll_database() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        black_box(());
    }
}

#[inline(never)]
fn read_socket() {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let mut b = [0u8; 1];
    // SAFETY: reading into a local buffer; blocks forever.
    unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) };
}

#[inline(never)]
fn parse_record(ptr: *const u64) -> u64 {
    // SAFETY: it is not: `ptr` is null, and this is the crash we want.
    unsafe { std::ptr::read_volatile(ptr.add(1)) }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    faulthandler::enable()?;
    let spawn = |name: &str, f: fn()| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(|_| ())
    };
    spawn("jobs", wait_for_jobs)?;
    spawn("db-poll", poll_database)?;
    spawn("net-reader", read_socket)?;
    std::thread::sleep(Duration::from_millis(50));
    match std::env::args().nth(1).as_deref() {
        Some("signal") => {
            faulthandler::register(libc::SIGUSR1)?;
            // SAFETY: sending ourselves a signal we handle.
            unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
            std::thread::sleep(Duration::from_millis(300));
        }
        Some("code") => {
            use std::os::fd::AsFd;
            faulthandler::dump_traceback(std::io::stderr().as_fd(), true)?;
        }
        Some("hang") => {
            faulthandler::dump_traceback_later(Duration::from_millis(200), false, true)?;
            std::thread::sleep(Duration::from_secs(10));
        }
        _ => {
            black_box(parse_record(black_box(std::ptr::null())));
        }
    }
    Ok(())
}
