//! `faulthandler run`: run a command with the library preloaded.

use crate::{fail, UsageError};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

pub(crate) const HELP: &str = "\
Usage: faulthandler run [OPTIONS] -- CMD [ARGS...]

Runs CMD with libfaulthandler.so preloaded (LD_PRELOAD, after any library
preloaded already, so that ASan's runtime stays first) and FAULTHANDLER=1,
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
  --format text|json   text reports (the default), or JSON lines: one JSON
                       object per report, on one line
  --lib PATH           the library to preload (default: $FAULTHANDLER_LIB,
                       else libfaulthandler.so or faulthandler-preload next
                       to this program, else ../lib/libfaulthandler.so)
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
            "--file" => env.push((
                "FAULTHANDLER_FILE",
                checked(flag, "FAULTHANDLER_FILE", value(flag)?)?,
            )),
            "--signal" => env.push((
                "FAULTHANDLER_SIGNAL",
                checked(flag, "FAULTHANDLER_SIGNAL", value(flag)?)?,
            )),
            "--timeout" => env.push((
                "FAULTHANDLER_TIMEOUT",
                checked(flag, "FAULTHANDLER_TIMEOUT", value(flag)?)?,
            )),
            "--all-threads" => env.push((
                "FAULTHANDLER_ALL_THREADS",
                checked(flag, "FAULTHANDLER_ALL_THREADS", value(flag)?)?,
            )),
            "--max-frames" => env.push((
                "FAULTHANDLER_MAX_FRAMES",
                checked(flag, "FAULTHANDLER_MAX_FRAMES", value(flag)?)?,
            )),
            "--format" => env.push((
                "FAULTHANDLER_FORMAT",
                checked(flag, "FAULTHANDLER_FORMAT", value(flag)?)?,
            )),
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
    let lib = find_lib(lib)?;
    if !lib.is_file() {
        return Err(fail(format!("cannot find the library {}", lib.display())));
    }
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    // ld.so splits LD_PRELOAD at spaces and colons: such a path would not
    // be preloaded at all, and the program would run without us.
    if lib
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .any(|b| matches!(b, b' ' | b':' | b'\t' | b'\n'))
    {
        return Err(fail(format!(
            "the library's path {:?} holds a space or a colon, which LD_PRELOAD cannot carry; \
             install it elsewhere, or pass --lib with another path",
            lib.display()
        )));
    }
    // After what is preloaded already: a sanitizer runtime (ASan) must
    // come first in the initial library list, or it refuses to start.
    let preload = match std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        Some(mut old) => {
            old.push(":");
            old.push(lib.into_os_string());
            old
        }
        None => lib.into_os_string(),
    };
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

/// Check one value with the library's own validator (the one the
/// preloaded library will apply to the variable): an option's value is
/// refused here, before the program starts, never silently ignored there.
fn checked(flag: &str, var: &str, v: OsString) -> Result<OsString, UsageError> {
    let env = faulthandler::env::Env::read_from(|k| (k == var).then(|| v.clone()));
    match env.warnings.first() {
        None => Ok(v),
        Some(w) => {
            let expected = w.split_once(": expected ").map_or(w.as_str(), |(_, e)| e);
            Err(fail(format!("{flag} takes {expected}, not {v:?}")))
        }
    }
}

/// The library to preload: `--lib`, else `FAULTHANDLER_LIB`, else next to
/// this program (`libfaulthandler.so`, or `faulthandler-preload` as
/// `cargo install` puts it), else in `../lib` (a `make install`-style
/// prefix).
fn find_lib(given: Option<PathBuf>) -> Result<PathBuf, UsageError> {
    if let Some(l) = given {
        return Ok(l);
    }
    if let Some(l) = std::env::var_os("FAULTHANDLER_LIB").filter(|v| !v.is_empty()) {
        return Ok(l.into());
    }
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find myself: {e}")))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let candidates = [
        dir.join("libfaulthandler.so"),
        dir.join("faulthandler-preload"),
        dir.join("../lib/libfaulthandler.so"),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            fail(format!(
                "cannot find the library to preload: looked for {}; pass --lib PATH or set FAULTHANDLER_LIB",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}
