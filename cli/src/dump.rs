//! `faulthandler dump`: ask a running process for a dump, safely.

use crate::{fail, UsageError};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub(crate) const HELP: &str = "\
Usage: faulthandler dump PID [--signal SIG] [--wait-ready SECS]

Sends SIG (default QUIT) to process PID, whose faulthandler then writes the
stack of every thread and carries on. A process that does not catch SIG yet
would be killed by it (and SIGQUIT also dumps core), so the signal is only
sent once /proc/PID/status shows it caught. Without --wait-ready the check
is made once; with it, the command waits up to SECS seconds for the handler.

Exit status: 0 when the signal was sent; 2 when it was not (the process
does not catch the signal, ignores it, or does not exist) or on bad usage.

Options:
  --signal SIG        the dump signal the target registered (FAULTHANDLER_SIGNAL)
  --wait-ready SECS   wait up to SECS seconds for the target's handler (default 0)
  -h, --help          this help

Example:
  faulthandler dump 4242 --signal USR1 --wait-ready 5
";

pub(crate) fn main(args: Vec<OsString>) -> Result<ExitCode, UsageError> {
    let mut pid: Option<i32> = None;
    let mut sig = libc::SIGQUIT;
    let mut wait = Duration::ZERO;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let flag = a.to_str().unwrap_or("").to_owned();
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            "--signal" => {
                let v = it.next().ok_or_else(|| fail("--signal needs a value"))?;
                // The validator FAULTHANDLER_SIGNAL goes through: a crash
                // signal (which faulthandler's crash handler catches, so the
                // readiness check would pass and the target would die),
                // KILL or STOP can never be a dump request.
                let env = faulthandler::env::Env::read_from(|k| {
                    (k == "FAULTHANDLER_SIGNAL").then(|| v.clone())
                });
                sig = match env.signal {
                    Some(s) => s,
                    None => {
                        let expected = env
                            .warnings
                            .first()
                            .and_then(|w| w.split_once(": expected "))
                            .map_or("a dump signal", |(_, e)| e);
                        return Err(fail(format!("--signal takes {expected}, not {v:?}")));
                    }
                };
            }
            "--wait-ready" => {
                let v = it
                    .next()
                    .ok_or_else(|| fail("--wait-ready needs a value"))?;
                let secs = v
                    .to_str()
                    .and_then(|t| t.parse::<f64>().ok())
                    .filter(|t| t.is_finite() && *t >= 0.0 && *t <= 86_400.0)
                    .ok_or_else(|| {
                        fail(format!(
                            "--wait-ready takes seconds from 0 to 86400, not {v:?}"
                        ))
                    })?;
                wait = Duration::from_secs_f64(secs);
            }
            f if f.starts_with('-') => {
                return Err(fail(format!(
                    "unknown option {f:?}; see 'faulthandler dump --help'"
                )))
            }
            f => {
                let p = f
                    .parse::<i32>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| fail(format!("PID must be a positive number, not {f:?}")))?;
                if pid.replace(p).is_some() {
                    return Err(fail("dump takes one PID"));
                }
            }
        }
    }
    let pid = pid.ok_or_else(|| fail("dump needs a PID; see 'faulthandler dump --help'"))?;
    let deadline = Instant::now() + wait;
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| fail(format!("no process {pid}: {e}")))?;
        let caught = mask_has(&status, "SigCgt:", sig);
        let ignored = mask_has(&status, "SigIgn:", sig);
        if caught && is_collection_signal(&status, sig) {
            return Err(fail(format!(
                "{} is the real-time signal faulthandler uses inside process {pid} to collect \
                 stacks (the lowest one it catches): it never asks for a dump; not sent \
                 (use the target's dump signal, FAULTHANDLER_SIGNAL)",
                name(sig)
            )));
        }
        if caught {
            // SAFETY: kill takes plain integers.
            #[allow(unsafe_code)]
            let r = unsafe { libc::kill(pid, sig) };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                return Err(fail(format!("cannot signal process {pid}: {e}")));
            }
            eprintln!("faulthandler: sent {} to process {pid}", name(sig));
            return Ok(ExitCode::SUCCESS);
        }
        if ignored {
            return Err(fail(format!(
                "process {pid} ignores {}: it cannot be asked for a dump with it; not sent",
                name(sig)
            )));
        }
        if Instant::now() >= deadline {
            let hint = if wait.is_zero() {
                " (use --wait-ready SECS to wait for its handler)"
            } else {
                ""
            };
            return Err(fail(format!(
                "process {pid} does not catch {}{}: sending it would kill the process; not sent{hint}",
                name(sig),
                if wait.is_zero() { "" } else { " within the wait" },
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `sig` is the lowest real-time signal the target catches: the
/// one faulthandler picks for its stack collection (the first
/// `SIGRTMIN+n` with no handler at install time).
fn is_collection_signal(status: &str, sig: i32) -> bool {
    let lo = libc::SIGRTMIN();
    sig >= lo && (lo..sig).all(|s| !mask_has(status, "SigCgt:", s))
}

/// Whether the hex signal mask on line `key` of /proc/PID/status has `sig`.
fn mask_has(status: &str, key: &str, sig: i32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| (1..=64).contains(&sig) && mask & (1u64 << (sig - 1)) != 0)
}

fn name(sig: i32) -> String {
    match faulthandler::signal_name(sig) {
        Some(n) => format!("{n} (signal {sig})"),
        None => format!("signal {sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_masks() {
        let status = "Name:\tx\nSigIgn:\t0000000000001000\nSigCgt:\t0000000000004002\n";
        assert!(mask_has(status, "SigCgt:", libc::SIGINT));
        assert!(mask_has(status, "SigCgt:", libc::SIGTERM));
        assert!(!mask_has(status, "SigCgt:", libc::SIGQUIT));
        assert!(mask_has(status, "SigIgn:", libc::SIGPIPE));
    }
}
