//! The `faulthandler` command.
//!
//! `faulthandler symbolize [--debug-dir DIR]... [FILE]` reads a crash
//! report (from FILE, or stdin) and writes it to stdout with ` at
//! FILE:LINE` on every frame it can resolve, and the inlined calls on
//! lines of their own. See [`faulthandler::symbolize::symbolize_report`].

use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use faulthandler::symbolize::{symbolize_report, SymbolizeOptions};

const USAGE: &str = "\
Usage: faulthandler symbolize [--debug-dir DIR]... [--no-system-debug-dir] [FILE]

Reads a faulthandler crash report from FILE (or standard input when FILE is
missing or -) and writes it to standard output with source locations added:
each frame line gets ` at FILE:LINE` after its name, followed by one line per
call inlined at that address, marked `(inlined)`. Frames of stripped binaries
get their names back from the debug info.

Each module is looked up at the path the report gives, and used only if its
build-id matches the report's Modules block. Otherwise, or when it has no
debug info, a file with that build-id is looked for in:
  DIR/.build-id/xx/rest.debug and any ELF file directly in DIR, for each
      --debug-dir DIR, in order;
  /usr/lib/debug/.build-id/xx/rest.debug (unless --no-system-debug-dir).
A frame that cannot be resolved says why at the end of its line, in
`[symbolize: ...]`. Lines that are not frame lines pass through unchanged.

Options:
  --debug-dir DIR          also search DIR for debug files (repeatable)
  --no-system-debug-dir    do not search /usr/lib/debug
  -h, --help               show this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            if !msg.is_empty() {
                eprintln!("faulthandler: {msg}");
            }
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Io(e)) => {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("faulthandler: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Io(io::Error),
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some(cmd) = args.first() else {
        return Err(Failure::Usage("missing command".into()));
    };
    match cmd.as_str() {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return Ok(());
        }
        "symbolize" => {}
        other => return Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
    let mut opts = SymbolizeOptions::new();
    let mut file: Option<PathBuf> = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--debug-dir" => match it.next() {
                Some(d) => opts = opts.debug_dir(d),
                None => return Err(Failure::Usage("--debug-dir needs a directory".into())),
            },
            "--no-system-debug-dir" => opts = opts.system_debug_dir(false),
            s if s.starts_with("--debug-dir=") => {
                opts = opts.debug_dir(&s["--debug-dir=".len()..]);
            }
            s if s.starts_with('-') && s != "-" => {
                return Err(Failure::Usage(format!("unknown option `{s}`")));
            }
            s => {
                if file.is_some() {
                    return Err(Failure::Usage("more than one FILE".into()));
                }
                file = Some(PathBuf::from(s));
            }
        }
    }
    let stdout = io::stdout();
    let out = io::BufWriter::new(stdout.lock());
    let result = match file.filter(|f| f.as_os_str() != "-") {
        Some(f) => {
            let input = std::fs::File::open(&f).map_err(|e| {
                Failure::Io(io::Error::new(e.kind(), format!("{}: {e}", f.display())))
            })?;
            symbolize_report(BufReader::new(input), out, &opts)
        }
        None => symbolize_report(io::stdin().lock(), out, &opts),
    };
    result.map_err(Failure::Io)?;
    io::stdout().flush().map_err(Failure::Io)
}
