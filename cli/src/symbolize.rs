//! `faulthandler symbolize`: add file:line and inlined calls to a report.

use crate::{fail, UsageError};
use faulthandler::offline::{symbolize_report, SymbolizeOptions};
use std::ffi::OsString;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) const HELP: &str = "\
Usage: faulthandler symbolize [--debug-dir DIR]... [--no-system-debug-dir] [--trust-paths] [FILE]

Reads a faulthandler crash report from FILE (or standard input when FILE is
missing or -) and writes it to standard output with source locations added:
each frame line gets ` at FILE:LINE` after its name, followed by one line per
call inlined at that address, innermost first, marked `(inlined)`. Frames of
stripped binaries get their names back from the debug info. Rust and C++
names are demangled (C++ as c++filt prints them).

Each module is looked up at the path the report gives, and used only if its
build-id matches the report's Modules block. Otherwise, or when it has no
debug info, a file with that build-id is looked for in:
  DIR/.build-id/xx/rest.debug and any ELF file directly in DIR, for each
      --debug-dir DIR, in order;
  /usr/lib/debug/.build-id/xx/rest.debug (unless --no-system-debug-dir).
A report cut short before its Modules block gives no build-ids: its
modules are then not used (a rebuilt binary would give wrong lines) unless
--trust-paths is given, and the frames say so. Only regular files are read
(mapped, up to 8 GiB): a FIFO, a device or a directory at a module's path
is refused. A frame that cannot be resolved says why at the end of its
line, in `[symbolize: ...]`. Lines that are not frame lines pass through
unchanged.

Options:
  --debug-dir DIR          also search DIR for debug files (repeatable)
  --no-system-debug-dir    do not search /usr/lib/debug
  --trust-paths            use the file at a module's path even when the
                           report has no build-id to check it against
                           (frames resolved so say they were not checked)
  -h, --help               this help

Example:
  faulthandler symbolize --debug-dir ./unstripped crash-4242.txt
";

pub(crate) fn main(args: Vec<OsString>) -> Result<ExitCode, UsageError> {
    let mut opts = SymbolizeOptions::new();
    let mut file: Option<PathBuf> = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        match s.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            "--debug-dir" => match it.next() {
                Some(d) => opts = opts.debug_dir(PathBuf::from(d)),
                None => return Err(fail("--debug-dir needs a directory")),
            },
            "--no-system-debug-dir" => opts = opts.system_debug_dir(false),
            "--trust-paths" => opts = opts.trust_paths(true),
            _ if s.starts_with("--debug-dir=") => {
                opts = opts.debug_dir(&s["--debug-dir=".len()..]);
            }
            _ if s.starts_with('-') && s != "-" => {
                return Err(fail(format!(
                    "unknown option {s:?}; see 'faulthandler symbolize --help'"
                )));
            }
            _ => {
                if file.is_some() {
                    return Err(fail("symbolize takes at most one FILE"));
                }
                file = Some(PathBuf::from(a));
            }
        }
    }
    let out = io::BufWriter::new(io::stdout().lock());
    let result = match file.filter(|f| f.as_os_str() != "-") {
        Some(f) => {
            let input = match std::fs::File::open(&f) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("faulthandler: cannot read {}: {e}", f.display());
                    return Ok(ExitCode::from(1));
                }
            };
            symbolize_report(BufReader::new(input), out, &opts)
        }
        None => symbolize_report(io::stdin().lock(), out, &opts),
    };
    match result.and_then(|()| io::stdout().flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A reader that went away (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("faulthandler: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
