//! The `faulthandler` command: run a program with crash reports, ask a
//! running process for a dump, and symbolize reports offline.
//!
//! ```text
//! faulthandler run [OPTIONS] -- CMD [ARGS...]
//! faulthandler dump PID [--signal S] [--wait-ready SECS]
//! faulthandler symbolize [--debug-dir DIR]... [FILE]
//! faulthandler help [COMMAND]
//! faulthandler --version
//! ```

mod dump;
mod run;
mod symbolize;

use std::process::ExitCode;

const USAGE: &str = "\
faulthandler: crash and hang reports for any Linux program

Usage:
  faulthandler run [OPTIONS] -- CMD [ARGS...]
      Run CMD with libfaulthandler.so preloaded. run becomes CMD (like
      env): the pid, signals, exit code and death by signal are CMD's own.
  faulthandler dump PID [--signal S] [--wait-ready SECS]
      Ask process PID for a dump of every thread's stack, but only once it
      catches the signal (sending it earlier would kill it).
  faulthandler symbolize [--debug-dir DIR]... [FILE]
      Add FILE:LINE and inlined calls to a report, offline, checking each
      module's build-id.

Run 'faulthandler help COMMAND' (or 'faulthandler COMMAND --help') for the
options of a command, and 'faulthandler --version' for the version.
";

/// A command-line problem: the message, and exit code 2.
pub(crate) struct UsageError(pub String);

pub(crate) fn fail(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// `faulthandler help [COMMAND]`.
fn help(cmd: Option<String>) -> Result<ExitCode, UsageError> {
    let text = match cmd.as_deref() {
        None => USAGE,
        Some("run") => run::HELP,
        Some("dump") => dump::HELP,
        Some("symbolize") => symbolize::HELP,
        Some(other) => {
            return Err(fail(format!(
                "no command {other:?}; the commands are run, dump and symbolize"
            )))
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(cmd) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<_> = args.collect();
    let result = match cmd.to_str() {
        Some("run") => run::main(rest),
        Some("dump") => dump::main(rest),
        Some("symbolize") => symbolize::main(rest),
        Some("-h" | "--help") => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some("help") => help(rest.first().map(|s| s.to_string_lossy().into_owned())),
        Some("-V" | "--version" | "version") => {
            println!("faulthandler {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(fail(format!(
            "unknown command {:?}; see 'faulthandler --help'",
            cmd.to_string_lossy()
        ))),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("faulthandler: {msg}");
            ExitCode::from(2)
        }
    }
}
