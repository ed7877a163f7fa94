//! The `faulthandler` command: run a program with crash reports, ask a
//! running process for a dump, and symbolize reports offline.
//!
//! ```text
//! faulthandler run [OPTIONS] -- CMD [ARGS...]
//! faulthandler dump PID [--signal S] [--wait-ready SECS]
//! faulthandler symbolize [--debug-dir DIR]... [FILE]
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

Run 'faulthandler COMMAND --help' for the options of a command.
";

/// A command-line problem: the message, and exit code 2.
pub(crate) struct UsageError(pub String);

pub(crate) fn fail(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
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
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
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
