//! `faulthandler run`: run a command with the library preloaded.

use crate::{fail, UsageError};
use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const HELP: &str = "\
Usage: faulthandler run [OPTIONS] -- CMD [ARGS...]

Runs CMD with libfaulthandler.so preloaded (LD_PRELOAD) and FAULTHANDLER=1,
so that a crash of CMD prints a report. run executes CMD in its own place
(like env or nice): the pid, the signals, the exit code and the death by
signal are CMD's own. If CMD cannot be started, run exits with 2.

Options:
  --file TEMPLATE      also write reports to a new file (0600); %p pid,
                       %t unix time, %e executable name, %% a literal %
  --signal SIG         dump every thread on SIG (QUIT, USR1, SIGUSR2, 10...)
  --timeout SECS       dump every thread after SECS seconds (a hang watchdog)
  --all-threads 0|1    show every thread in crash reports (default 1)
  --max-frames N       frames per stack, 1 to 4096 (default 100)
  --lib PATH           the library to preload (default: libfaulthandler.so
                       next to this program)
  -h, --help           this help

Example:
  faulthandler run --file /tmp/crash-%e-%p.txt --signal QUIT -- ./server --port 8080
";

pub(crate) fn main(args: Vec<OsString>) -> Result<ExitCode, UsageError> {
    let mut env: Vec<(&str, OsString)> = vec![("FAULTHANDLER", "1".into())];
    let mut lib: Option<PathBuf> = None;
    let mut it = args.into_iter();
    let mut cmd: Vec<OsString> = Vec::new();
    while let Some(a) = it.next() {
        let flag = a.to_str().unwrap_or("");
        let mut value = |name: &str| {
            it.next().ok_or_else(|| {
                fail(format!(
                    "{name} needs a value; see 'faulthandler run --help'"
                ))
            })
        };
        match flag {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            "--" => {
                cmd = it.collect();
                break;
            }
            "--file" => env.push(("FAULTHANDLER_FILE", value(flag)?)),
            "--signal" => {
                let v = value(flag)?;
                check_signal(&v)?;
                env.push(("FAULTHANDLER_SIGNAL", v));
            }
            "--timeout" => {
                let v = value(flag)?;
                match v.to_str().and_then(|t| t.parse::<f64>().ok()) {
                    Some(t) if t.is_finite() && t > 0.0 => env.push(("FAULTHANDLER_TIMEOUT", v)),
                    _ => {
                        return Err(fail(format!(
                            "--timeout takes a number of seconds > 0, not {v:?}"
                        )))
                    }
                }
            }
            "--all-threads" => {
                let v = value(flag)?;
                if v != "0" && v != "1" {
                    return Err(fail(format!("--all-threads takes 0 or 1, not {v:?}")));
                }
                env.push(("FAULTHANDLER_ALL_THREADS", v));
            }
            "--max-frames" => {
                let v = value(flag)?;
                match v.to_str().and_then(|t| t.parse::<usize>().ok()) {
                    Some(1..=4096) => env.push(("FAULTHANDLER_MAX_FRAMES", v)),
                    _ => {
                        return Err(fail(format!(
                            "--max-frames takes a number from 1 to 4096, not {v:?}"
                        )))
                    }
                }
            }
            "--lib" => lib = Some(value(flag)?.into()),
            _ if flag.starts_with('-') => {
                return Err(fail(format!(
                    "unknown option {flag:?}; see 'faulthandler run --help'"
                )))
            }
            _ => {
                // The command may also come without `--`.
                cmd.push(a);
                cmd.extend(it.by_ref());
                break;
            }
        }
    }
    let Some((program, program_args)) = cmd.split_first() else {
        return Err(fail("run needs a command; see 'faulthandler run --help'"));
    };
    let lib = match lib {
        Some(l) => l,
        None => default_lib()?,
    };
    if !lib.is_file() {
        return Err(fail(format!("cannot find the library {}", lib.display())));
    }
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    let mut preload = lib.into_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let mut command = Command::new(program);
    command.args(program_args).env("LD_PRELOAD", preload);
    for (k, v) in env {
        command.env(k, v);
    }
    // Become the command (as `env` and `nice` do): its pid, its signals and
    // its exit status are then ours, exactly, and a signal sent to `run`
    // (a CI timeout, a supervisor) reaches the program itself.
    let err = command.exec();
    Err(fail(format!(
        "cannot run {:?}: {err}",
        program.to_string_lossy()
    )))
}

fn check_signal(v: &OsStr) -> Result<(), UsageError> {
    match v.to_str().and_then(faulthandler::parse_signal) {
        Some(_) => Ok(()),
        None => Err(fail(format!(
            "--signal takes a signal name or number such as QUIT, USR1 or SIGUSR2, not {v:?}"
        ))),
    }
}

fn default_lib() -> Result<PathBuf, UsageError> {
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find myself: {e}")))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    for candidate in [
        dir.join("libfaulthandler.so"),
        dir.join("../lib/libfaulthandler.so"),
    ] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(fail(format!(
        "cannot find libfaulthandler.so next to {}; build it with 'cargo build' or pass --lib PATH",
        exe.display()
    )))
}
