//! Offline symbolization of a report: file:line and inlined calls, from
//! DWARF (the `faulthandler symbolize` command is built on it). Needs the
//! default feature `symbolize`. Normal-context code (it allocates and reads
//! files); never reached from a handler.
//!
//! # How the report names its frames, in the handler
//!
//! A crash report names every frame whose module has a symbol table,
//! `.symtab` or else `.dynsym`, with no heap and no lock, as
//! `NAME+0xOFF`; Rust names are demangled (legacy and v0, without the
//! hash), C++ names as `c++filt` prints them:
//! - `enable()` does no symbol work itself. It starts a background thread
//!   that reads each loaded module's symbol table into a sorted array (16
//!   bytes a function; names stay in the file), published through an
//!   atomic pointer. A lookup is a binary search and one `pread` for the
//!   name.
//! - Until that index is ready, and for libraries `dlopen`ed after
//!   `enable()`, the handler scans the file's symbol table with `pread`,
//!   once per module and stack, bounded in time (50 ms a scan, 200 ms a
//!   report); past the bound a frame is `??`.
//! - A file is used only if its build-id is the mapped module's.
//! - Demangling runs on a stack of its own (1 MiB, mapped at `enable()`),
//!   and names longer than 2048 bytes are cut rather than demangled.
//!
//! What a handler cannot add, this module adds afterwards: ` at FILE:LINE`
//! on each frame, and the inlined calls.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use object::{Object, ObjectSection, ObjectSymbol};

mod json;

/// Where [`symbolize_report`] looks for debug info besides each module's
/// own path.
///
/// ```
/// let opts = faulthandler::offline::SymbolizeOptions::new()
///     .debug_dir("/opt/myprog/debug")
///     .system_debug_dir(false);
/// # drop(opts);
/// ```
#[derive(Clone, Debug)]
pub struct SymbolizeOptions {
    debug_dirs: Vec<PathBuf>,
    system_debug_dir: bool,
    trust_paths: bool,
    max_file_size: u64,
}

/// Largest module or debug file read, by default: 8 GiB (files are mapped,
/// not read whole, so only the parts used take memory).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 << 30;

impl Default for SymbolizeOptions {
    fn default() -> Self {
        SymbolizeOptions {
            debug_dirs: Vec::new(),
            system_debug_dir: true,
            trust_paths: false,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

impl SymbolizeOptions {
    /// No extra debug directories; `/usr/lib/debug/.build-id` is searched.
    ///
    /// ```
    /// let opts = faulthandler::offline::SymbolizeOptions::new();
    /// # drop(opts);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Also look in `dir` for a file with the module's build-id: as
    /// `dir/.build-id/xx/rest.debug`, or as any ELF file directly in `dir`
    /// (an unstripped copy of the binary, or its `.debug` file). Can be
    /// given several times; directories are searched in order.
    ///
    /// ```
    /// let opts = faulthandler::offline::SymbolizeOptions::new().debug_dir("target/debug");
    /// # drop(opts);
    /// ```
    pub fn debug_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.debug_dirs.push(dir.into());
        self
    }

    /// Whether to search `/usr/lib/debug/.build-id/xx/rest.debug` (the
    /// default), where distributions install debug info.
    ///
    /// ```
    /// let opts = faulthandler::offline::SymbolizeOptions::new().system_debug_dir(false);
    /// # drop(opts);
    /// ```
    pub fn system_debug_dir(mut self, yes: bool) -> Self {
        self.system_debug_dir = yes;
        self
    }

    /// Whether to use the file at a module's path when the report gives
    /// no build-id to check it against (a report cut short before its
    /// `Modules:` block, or a module without a build-id). Off by default:
    /// a rebuilt binary would give wrong lines, so such frames say
    /// `[symbolize: ... no build-id ...]` instead. When on, those frames
    /// are symbolized and say that the file was not checked.
    ///
    /// ```
    /// let opts = faulthandler::offline::SymbolizeOptions::new().trust_paths(true);
    /// # drop(opts);
    /// ```
    pub fn trust_paths(mut self, yes: bool) -> Self {
        self.trust_paths = yes;
        self
    }

    /// The largest module or debug file to read, in bytes (default
    /// [`DEFAULT_MAX_FILE_SIZE`]). Only regular files are read at all:
    /// a FIFO, a device or a directory at a module's path is refused.
    ///
    /// ```
    /// let opts = faulthandler::offline::SymbolizeOptions::new().max_file_size(1 << 30);
    /// # drop(opts);
    /// ```
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }
}

/// Read a report from `input` and write it to `output` with file:line
/// added: each frame line gets ` at FILE:LINE` after its name, followed by
/// one line per call inlined at that address, innermost (most recent)
/// first, each marked `(inlined)`:
///
/// ```text
///   #0  0x000055d1c2a3b1f4 in myprog::parse+0x14 at src/parse.rs:40 (/usr/bin/myprog +0x3b1f4)
///       (inlined) core::ptr::read at /rustc/.../ptr/mod.rs:1200
/// ```
///
/// A frame named `??` in the report (a stripped binary) gets its name from
/// the debug file. Frame `#0` is looked up at its address (the faulting
/// instruction); every other frame at its address minus one (inside the
/// call instruction).
///
/// Each module is found by the path in the report, and used only when its
/// build-id is the one the report's `Modules:` block gives. A report cut
/// short before that block gives no build-id: its modules are then used
/// only with [`SymbolizeOptions::trust_paths`], and such frames say that
/// the file was not checked. Only regular files are read (mapped, up to
/// [`SymbolizeOptions::max_file_size`]); a FIFO, a device or a directory
/// at a module's path is refused, and the frame says so. When the path
/// is missing, has no debug info, or has another build-id, a file with that
/// build-id is searched in the [debug directories](SymbolizeOptions). A
/// frame that cannot be resolved says why at the end of its line, for
/// example `[symbolize: /usr/bin/myprog has build-id 1234..., the report
/// says abcd...]`; a mismatched file is never used.
///
/// Lines that are not frame lines (and any text around the report) are
/// copied unchanged.
///
/// # Errors
///
/// Only errors reading `input` or writing `output`; problems with a
/// module's files are reported on its frames instead.
///
/// ```no_run
/// use faulthandler::offline::{symbolize_report, SymbolizeOptions};
/// let report = std::fs::read("crash.txt")?;
/// let opts = SymbolizeOptions::new().debug_dir("/opt/myprog/debug");
/// symbolize_report(&report[..], std::io::stdout().lock(), &opts)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn symbolize_report(
    mut input: impl BufRead,
    mut output: impl Write,
    opts: &SymbolizeOptions,
) -> io::Result<()> {
    // One buffer, lines as slices of it; each line then costs O(its
    // length) (the Modules block that applies is found by a cursor that
    // only moves forward, and each distinct frame is resolved once).
    let mut data = Vec::new();
    input.read_to_end(&mut data)?;
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let blocks = parse_module_blocks(&lines);
    let mut cache = Cache::new(opts);
    let mut next_block = 0usize;
    let mut out = io::BufWriter::with_capacity(1 << 16, &mut output);
    for (i, line) in lines.iter().enumerate() {
        while blocks.get(next_block).is_some_and(|b| b.first_line <= i) {
            next_block += 1;
        }
        let block = blocks.get(next_block);
        let text = strip_eol(line);
        if let Some(done) = json::symbolize_line(text, &mut cache) {
            out.write_all(done.as_bytes())?;
            out.write_all(&line[text.len()..])?;
            continue;
        }
        let Some(frame) = std::str::from_utf8(text)
            .ok()
            .and_then(|t| parse_frame_line(t, block.map_or(&[][..], |b| &b.modules[..])))
        else {
            out.write_all(line)?;
            continue;
        };
        let build_id = block
            .and_then(|b| b.modules.iter().find(|m| m.path == frame.module))
            .and_then(|m| m.build_id.as_deref());
        let rendered = cache.render(&frame, build_id);
        out.write_all(rendered.as_bytes())?;
        out.write_all(&line[text.len()..])?;
    }
    out.flush()?;
    drop(out);
    output.flush()
}

fn strip_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// One module line of a `Modules:` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReportModule {
    pub path: String,
    pub build_id: Option<String>,
}

/// A `Modules:` block and the line it starts on.
#[derive(Debug)]
pub(crate) struct ModuleBlock {
    pub first_line: usize,
    pub modules: Vec<ReportModule>,
}

/// Find every `Modules:` block: the heading, then lines
/// `  0xSTART-0xEND PATH [build-id HEX]`.
pub(crate) fn parse_module_blocks(lines: &[&[u8]]) -> Vec<ModuleBlock> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if strip_eol(lines[i]) != b"Modules:" {
            i += 1;
            continue;
        }
        let first_line = i;
        let mut modules = Vec::new();
        i += 1;
        while let Some(m) = lines
            .get(i)
            .and_then(|l| std::str::from_utf8(strip_eol(l)).ok())
            .and_then(parse_module_line)
        {
            modules.push(m);
            i += 1;
        }
        blocks.push(ModuleBlock {
            first_line,
            modules,
        });
    }
    blocks
}

fn parse_module_line(l: &str) -> Option<ReportModule> {
    let rest = l.strip_prefix("  0x")?;
    let (range, rest) = rest.split_once(' ')?;
    let (a, b) = range.split_once("-0x")?;
    u64::from_str_radix(a, 16).ok()?;
    u64::from_str_radix(b, 16).ok()?;
    let (path, build_id) = match rest.rsplit_once(" build-id ") {
        Some((p, id)) if !id.is_empty() && id.bytes().all(|c| c.is_ascii_hexdigit()) => {
            (p, Some(id.to_ascii_lowercase()))
        }
        _ => (rest, None),
    };
    Some(ReportModule {
        path: path.to_string(),
        build_id,
    })
}

/// A parsed frame line: `INDENT#N  0xADDR in NAME (MODULE +0xOFF)`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FrameLine {
    /// Everything up to and including `NAME` (kept verbatim).
    pub head: String,
    /// The leading whitespace.
    pub indent: String,
    pub number: u64,
    /// The name as the report gives it (`??`, or `name+0xOFF`).
    pub name: String,
    pub module: String,
    pub offset: u64,
}

pub(crate) fn parse_frame_line(l: &str, known: &[ReportModule]) -> Option<FrameLine> {
    let trimmed = l.trim_start_matches(' ');
    let indent = &l[..l.len() - trimmed.len()];
    let rest = trimmed.strip_prefix('#')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = rest.get(..digits)?.parse().ok()?;
    let rest = rest.get(digits..)?.trim_start_matches(' ');
    let rest = rest.strip_prefix("0x")?;
    let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
    if hex == 0 {
        return None;
    }
    let rest = rest.get(hex..)?.strip_prefix(" in ")?;
    // `NAME (MODULE +0xOFF)`: the offset is after the last " +0x".
    let body = rest.strip_suffix(')')?;
    let (before, off) = body.rsplit_once(" +0x")?;
    let offset = u64::from_str_radix(off, 16).ok()?;
    // The module: a path the Modules block knows (longest first), else the
    // text after the last " (".
    let (name, module) = known
        .iter()
        .filter_map(|m| {
            before
                .strip_suffix(m.path.as_str())
                .and_then(|n| n.strip_suffix(" ("))
                .map(|n| (n, m.path.as_str()))
        })
        .max_by_key(|(_, p)| p.len())
        .or_else(|| before.rsplit_once(" ("))?;
    if name.contains(" at ") || name.is_empty() {
        // Already symbolized, or not ours.
        return None;
    }
    let head_len = l.len() - rest.len() + name.len();
    Some(FrameLine {
        head: l.get(..head_len)?.to_string(),
        indent: indent.to_string(),
        number,
        name: name.to_string(),
        module: module.to_string(),
        offset,
    })
}

/// What was found for one frame.
#[derive(Clone, Debug, Default)]
struct Resolved {
    /// A name for a frame the report had as `??`, with its offset.
    name: Option<(String, u64)>,
    /// The location in the frame's own function.
    location: Option<String>,
    /// Inlined calls, innermost first: (function, location).
    inlined: Vec<(String, Option<String>)>,
    /// Why nothing could be found.
    problem: Option<String>,
}

fn render(f: &FrameLine, r: &Resolved) -> String {
    let mut s = String::new();
    match (&r.name, f.name == "??") {
        (Some((name, off)), true) => {
            let prefix = &f.head[..f.head.len() - f.name.len()];
            s.push_str(prefix);
            s.push_str(&format!("{name}+0x{off:x}"));
        }
        _ => s.push_str(&f.head),
    }
    if let Some(loc) = &r.location {
        s.push_str(" at ");
        s.push_str(loc);
    }
    s.push_str(&format!(" ({} +0x{:x})", f.module, f.offset));
    if let Some(p) = &r.problem {
        s.push_str(&format!(" [symbolize: {p}]"));
    }
    for (func, loc) in &r.inlined {
        s.push('\n');
        s.push_str(&f.indent);
        s.push_str("    (inlined) ");
        s.push_str(func);
        if let Some(loc) = loc {
            s.push_str(" at ");
            s.push_str(loc);
        }
    }
    s
}

type Reader = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// A module's debug info, loaded.
struct Loaded {
    /// Used at its path with no build-id to check it against.
    unchecked: bool,
    dwarf: Option<addr2line::Context<Reader>>,
    /// Code symbols sorted by address: (address, size, name).
    symbols: Vec<(u64, u64, String)>,
}

impl Loaded {
    fn symbol(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.symbols.partition_point(|s| s.0 <= addr);
        self.symbols[..i]
            .iter()
            .rev()
            .take(8)
            .find(|s| addr - s.0 < s.1.max(1))
            .map(|s| (s.2.as_str(), s.0))
    }
}

/// A frame line's identity for [`Cache::render`]: everything it is
/// rendered from.
type FrameKey = (String, String, String, String, u64, bool, Option<String>);

struct Cache<'o> {
    opts: &'o SymbolizeOptions,
    /// By (path, build-id): the loaded file, or why there is none.
    modules: HashMap<(String, Option<String>), Result<Rc<Loaded>, String>>,
    /// Frame lines already rendered (reports repeat their frames).
    rendered: HashMap<FrameKey, Rc<str>>,
    /// Build-ids of the ELF files directly in each debug dir.
    dir_index: Option<Vec<(PathBuf, Vec<u8>)>>,
}

impl<'o> Cache<'o> {
    fn new(opts: &'o SymbolizeOptions) -> Self {
        Cache {
            opts,
            modules: HashMap::new(),
            rendered: HashMap::new(),
            dir_index: None,
        }
    }

    /// The symbolized text of a frame line, remembered.
    fn render(&mut self, f: &FrameLine, build_id: Option<&str>) -> Rc<str> {
        let key: FrameKey = (
            f.head.clone(),
            f.indent.clone(),
            f.name.clone(),
            f.module.clone(),
            f.offset,
            f.number == 0,
            build_id.map(str::to_string),
        );
        if let Some(r) = self.rendered.get(&key) {
            return Rc::clone(r);
        }
        let resolved = self.resolve(f, build_id);
        let text: Rc<str> = Rc::from(render(f, &resolved));
        if self.rendered.len() < 1 << 20 {
            self.rendered.insert(key, Rc::clone(&text));
        }
        text
    }

    fn resolve(&mut self, f: &FrameLine, build_id: Option<&str>) -> Resolved {
        let key = (f.module.clone(), build_id.map(str::to_string));
        if !self.modules.contains_key(&key) {
            let loaded = self.load(&f.module, build_id);
            self.modules.insert(key.clone(), loaded);
        }
        let loaded = match &self.modules[&key] {
            Ok(l) => l.clone(),
            Err(e) => {
                return Resolved {
                    problem: Some(e.clone()),
                    ..Resolved::default()
                }
            }
        };
        let probe = if f.number == 0 {
            f.offset
        } else {
            f.offset.saturating_sub(1)
        };
        let mut r = Resolved::default();
        if loaded.unchecked {
            r.problem = Some(format!(
                "{} used without a build-id check (--trust-paths)",
                f.module
            ));
        }
        if let Some((name, start)) = loaded.symbol(probe) {
            r.name = Some((readable(name), f.offset.wrapping_sub(start)));
        }
        let Some(ctx) = &loaded.dwarf else {
            return r;
        };
        let mut frames: Vec<(Option<String>, Option<String>)> = Vec::new();
        if let Ok(mut it) = ctx.find_frames(probe).skip_all_loads() {
            while let Ok(Some(fr)) = it.next() {
                let func = fr
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok())
                    .map(|n| readable(&n[..]));
                let loc = fr.location.as_ref().and_then(format_location);
                frames.push((func, loc));
            }
        }
        if frames.is_empty() {
            if let Ok(Some(loc)) = ctx.find_location(probe) {
                r.location = format_location(&loc);
            }
            return r;
        }
        // frames: innermost first; the last is the function that owns the
        // code.
        let (outer_func, outer_loc) = frames.pop().unwrap_or((None, None));
        r.location = outer_loc;
        if r.name.is_none() {
            if let Some(func) = outer_func {
                r.name = Some((func, 0));
            }
        }
        // The rest are the inlined calls, innermost (most recent) first,
        // as everywhere else in a report.
        r.inlined = frames
            .into_iter()
            .map(|(f, l)| (f.unwrap_or_else(|| "??".to_string()), l))
            .collect();
        r
    }

    /// Find and load the file for a module.
    fn load(&mut self, path: &str, build_id: Option<&str>) -> Result<Rc<Loaded>, String> {
        let want = build_id.and_then(parse_hex);
        if want.is_none() && !self.opts.trust_paths {
            return Err(format!(
                "the report gives no build-id for {path} (a cut report?), so the file there \
                 may not be the one that ran; --trust-paths uses it anyway"
            ));
        }
        let mut problem: Option<String> = None;
        let mut at_path: Option<Loaded> = None;
        match map_regular_file(Path::new(path), self.opts.max_file_size) {
            Ok(data) => {
                let data = &data[..];
                let have = file_build_id(data);
                match (&want, &have) {
                    (Some(w), Some(h)) if w != h => {
                        problem = Some(format!(
                            "{path} has build-id {}, the report says {}",
                            hex(h),
                            hex(w)
                        ));
                    }
                    (Some(w), None) => {
                        problem = Some(format!(
                            "{path} has no build-id, the report says {}",
                            hex(w)
                        ));
                    }
                    _ => match load_data(data) {
                        Ok(mut l) => {
                            l.unchecked = want.is_none();
                            at_path = Some(l);
                        }
                        Err(e) => problem = Some(format!("{path}: {e}")),
                    },
                }
            }
            Err(e) => problem = Some(e),
        }
        if let Some(l) = at_path.take_if(|l| l.dwarf.is_some()) {
            return Ok(Rc::new(l));
        }
        // The path is missing, mismatched, or has no debug info: look for
        // the build-id elsewhere.
        if let Some(w) = &want {
            for candidate in self.candidates(w) {
                let Ok(data) = map_regular_file(&candidate, self.opts.max_file_size) else {
                    continue;
                };
                if file_build_id(&data).as_ref() != Some(w) {
                    continue;
                }
                if let Ok(mut debug) = load_data(&data) {
                    if debug.symbols.is_empty() {
                        if let Some(l) = at_path.take() {
                            debug.symbols = l.symbols;
                        }
                    }
                    return Ok(Rc::new(debug));
                }
            }
        }
        match at_path {
            Some(l) => Ok(Rc::new(l)),
            None => Err(match (problem, &want) {
                (Some(p), Some(w)) => format!("{p}; no other file with build-id {} found", hex(w)),
                (Some(p), None) => p,
                (None, _) => format!("{path}: no debug info"),
            }),
        }
    }

    /// Files that may have build-id `id`, in search order.
    fn candidates(&mut self, id: &[u8]) -> Vec<PathBuf> {
        let h = hex(id);
        let rel = if h.len() > 2 {
            format!(".build-id/{}/{}.debug", &h[..2], &h[2..])
        } else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for d in &self.opts.debug_dirs {
            out.push(d.join(&rel));
        }
        if self.dir_index.is_none() {
            let mut idx = Vec::new();
            for d in &self.opts.debug_dirs {
                let Ok(rd) = fs::read_dir(d) else { continue };
                let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                files.sort();
                for p in files {
                    if let Some(id) = build_id_of_path(&p) {
                        idx.push((p, id));
                    }
                }
            }
            self.dir_index = Some(idx);
        }
        for (p, pid) in self.dir_index.iter().flatten() {
            if pid == id {
                out.push(p.clone());
            }
        }
        if self.opts.system_debug_dir {
            out.push(Path::new("/usr/lib/debug").join(&rel));
        }
        out
    }
}

/// Open `p` for reading if it is a regular file: without blocking (a FIFO
/// would wait for a writer), and checked with `fstat` on the open file.
fn open_regular(p: &Path) -> Result<(fs::File, u64), String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(p)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    let meta = f.metadata().map_err(|e| format!("{}: {e}", p.display()))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_dir() {
            "a directory"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!("{} is {what}, not read", p.display()));
    }
    Ok((f, meta.len()))
}

/// A read-only mapping of a whole regular file.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    #[allow(unsafe_code)]
    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` is a live PROT_READ mapping of `len` bytes (made
        // in map_regular_file, unmapped only in drop), and we never write
        // through it. A file truncated meanwhile would raise SIGBUS on
        // access, as with any mmap reader; module files are not rewritten
        // in place by builds (they are replaced), which keeps our mapping.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping the mapping we made, once; no slice of it
            // outlives `self` (they borrow it).
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

/// Map the regular file `p` (at most `cap` bytes): never a FIFO, a
/// device or a directory, and never read whole.
#[allow(unsafe_code)]
fn map_regular_file(p: &Path, cap: u64) -> Result<Mapped, String> {
    use std::os::fd::AsRawFd;
    let (f, len) = open_regular(p)?;
    if len > cap {
        return Err(format!(
            "{} is {len} bytes, over the {cap}-byte limit, not read",
            p.display()
        ));
    }
    let len = usize::try_from(len).map_err(|_| format!("{}: too large", p.display()))?;
    if len == 0 {
        return Ok(Mapped {
            ptr: std::ptr::null_mut(),
            len: 0,
        });
    }
    // SAFETY: a fresh private read-only mapping of an fd we hold open for
    // the call; the kernel picks the address. The result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(format!("{}: {}", p.display(), io::Error::last_os_error()));
    }
    Ok(Mapped { ptr, len })
}

/// The build-id of the ELF file at `p`, reading only its headers.
fn build_id_of_path(p: &Path) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let (f, _) = open_regular(p).ok()?;
    let mut scratch = vec![0u8; 4096];
    let info = crate::runtime::elf::inspect(f.as_raw_fd(), &mut scratch)?;
    let id = info.build_id();
    (!id.is_empty()).then(|| id.to_vec())
}

fn file_build_id(data: &[u8]) -> Option<Vec<u8>> {
    let obj = object::File::parse(data).ok()?;
    obj.build_id().ok().flatten().map(<[u8]>::to_vec)
}

fn load_data(data: &[u8]) -> Result<Loaded, String> {
    let obj = object::File::parse(data).map_err(|e| format!("not an object file: {e}"))?;
    let mut symbols: Vec<(u64, u64, String)> = obj
        .symbols()
        .chain(obj.dynamic_symbols())
        .filter(|s| s.kind() == object::SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .collect();
    symbols.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    symbols.dedup_by_key(|s| s.0);
    let has_dwarf = obj.section_by_name(".debug_info").is_some();
    let dwarf = if has_dwarf {
        let endian = if obj.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
            let data: Cow<'_, [u8]> = obj
                .section_by_name(id.name())
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or(Cow::Borrowed(&[]));
            Ok(gimli::EndianRcSlice::new(Rc::from(&*data), endian))
        };
        let dwarf = gimli::Dwarf::load(load).map_err(|e| format!("bad DWARF: {e}"))?;
        Some(addr2line::Context::from_dwarf(dwarf).map_err(|e| format!("bad DWARF: {e}"))?)
    } else {
        None
    };
    if dwarf.is_none() && symbols.is_empty() {
        return Err("no symbols and no debug info".to_string());
    }
    Ok(Loaded {
        unchecked: false,
        dwarf,
        symbols,
    })
}

fn format_location(l: &addr2line::Location<'_>) -> Option<String> {
    let file = l.file?;
    Some(match l.line {
        Some(n) => format!("{file}:{n}"),
        None => file.to_string(),
    })
}

/// A readable name: Rust names demangled without the hash, C++ names as
/// `c++filt` prints them (the handler's own demangler, with a larger
/// buffer); others as is.
fn readable(name: &str) -> String {
    use crate::symbolize::demangle;
    if name.starts_with("_Z") && !demangle::has_rust_hash(name.as_bytes()) {
        let mut out = vec![0u8; 64 << 10];
        if let Some(n) = demangle::cpp_into(name.as_bytes(), &mut out) {
            out.truncate(n);
            if let Ok(s) = String::from_utf8(out) {
                return s;
            }
        }
    }
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
some output before
Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address 0x0000000000000008
Process 4242 \"myprog\"

Current thread 4242 \"main\" (most recent call first):
  #0  0x000055d1c2a3b1f4 in crash_level3+0x14 (/usr/bin/my prog (x) +0x3b1f4)
  #1  0x000055d1c2a3b2a0 in ?? (/usr/bin/my prog (x) +0x3b2a0)
  #12  0x00007f3a1c2b3c4d in <(A, B) as t::T>::f+0x9 (/lib/libfoo.so.1 +0x1c4d)
  #3  0x0000000000001000 in ?? (??)
  ... 412 more frames not shown (max_frames 100)

Modules:
  0x000055d1c2a00000-0x000055d1c2b40000 /usr/bin/my prog (x) build-id 3F2A9c
  0x00007f3a1c000000-0x00007f3a1c1d0000 /lib/libfoo.so.1
trailing line without newline";

    fn lines() -> Vec<&'static [u8]> {
        REPORT.split_inclusive('\n').map(str::as_bytes).collect()
    }

    #[test]
    fn parses_the_modules_block() {
        let blocks = parse_module_blocks(&lines());
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].first_line, 11);
        assert_eq!(
            blocks[0].modules,
            vec![
                ReportModule {
                    path: "/usr/bin/my prog (x)".into(),
                    build_id: Some("3f2a9c".into())
                },
                ReportModule {
                    path: "/lib/libfoo.so.1".into(),
                    build_id: None
                },
            ]
        );
    }

    #[test]
    fn parses_frame_lines() {
        let blocks = parse_module_blocks(&lines());
        let known = &blocks[0].modules;
        let l = lines();
        let text = |i: usize| std::str::from_utf8(strip_eol(l[i])).unwrap().to_string();
        let f = parse_frame_line(&text(5), known).unwrap();
        assert_eq!(f.number, 0);
        assert_eq!(f.name, "crash_level3+0x14");
        assert_eq!(f.module, "/usr/bin/my prog (x)");
        assert_eq!(f.offset, 0x3b1f4);
        assert_eq!(f.indent, "  ");
        assert_eq!(f.head, "  #0  0x000055d1c2a3b1f4 in crash_level3+0x14");
        let f = parse_frame_line(&text(6), known).unwrap();
        assert_eq!((f.number, f.name.as_str()), (1, "??"));
        let f = parse_frame_line(&text(7), known).unwrap();
        assert_eq!(f.number, 12);
        assert_eq!(f.name, "<(A, B) as t::T>::f+0x9");
        assert_eq!(f.module, "/lib/libfoo.so.1");
        // Unknown module, truncation line, headings, other text: no.
        for i in [0, 1, 4, 8, 9, 11, 12, 14] {
            assert!(parse_frame_line(&text(i), known).is_none(), "line {i}");
        }
        // Without a Modules block, the last " (" splits.
        let f = parse_frame_line(&text(7), &[]).unwrap();
        assert_eq!(f.module, "/lib/libfoo.so.1");
        // Already symbolized lines are left alone.
        assert!(parse_frame_line(
            "  #0  0x0000000000001000 in f+0x1 at a.rs:3 (/x +0x1000)",
            &[]
        )
        .is_none());
    }

    #[test]
    fn passes_through_what_it_cannot_resolve() {
        let mut out = Vec::new();
        let opts = SymbolizeOptions::new().system_debug_dir(false);
        symbolize_report(REPORT.as_bytes(), &mut out, &opts).unwrap();
        let out = String::from_utf8(out).unwrap();
        let want_lines: Vec<&str> = REPORT.lines().collect();
        let got_lines: Vec<&str> = out.lines().collect();
        assert_eq!(got_lines.len(), want_lines.len());
        for (g, w) in got_lines.iter().zip(&want_lines) {
            if w.contains(" #") && w.contains("+0x") && !w.contains("(??)") {
                // The files do not exist: the frame says so.
                assert!(g.starts_with(w) && g.contains("[symbolize: "), "{g}");
            } else {
                assert_eq!(g, w);
            }
        }
        assert!(out.ends_with("trailing line without newline"));
    }

    /// A C++ library built now, whose `ns::outer` has `ns::mid` inlined,
    /// which has `ns::inner` inlined: its deepest address symbolizes with
    /// the calls innermost first and the names demangled as c++filt does.
    #[test]
    fn inlined_calls_innermost_first_with_cxx_names() {
        const SRC: &str = "\
namespace ns {
inline __attribute__((always_inline)) int inner(volatile int *p) {
    return *p + 1; /* LINE_INNER */
}
inline __attribute__((always_inline)) int mid(volatile int *p) {
    return inner(p) * 3; /* LINE_MID */
}
__attribute__((noinline)) int outer(volatile int *p) {
    return mid(p) - 2; /* LINE_OUTER */
}
}
";
        let dir = std::env::temp_dir().join(format!("fh-offline-inl-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("inl.cpp");
        fs::write(&src, SRC).unwrap();
        let so = dir.join("libinl.so");
        let built = std::process::Command::new("g++")
            .args(["-O1", "-g", "-shared", "-fPIC", "-Wl,--build-id", "-o"])
            .arg(&so)
            .arg(&src)
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("no g++: skipped");
            return;
        }
        let line_of = |tag: &str| SRC.lines().position(|l| l.contains(tag)).unwrap() + 1;
        let data = fs::read(&so).unwrap();
        let loaded = load_data(&data).unwrap();
        let (start, size) = loaded
            .symbols
            .iter()
            .find(|s| s.2 == "_ZN2ns5outerEPVi")
            .map(|s| (s.0, s.1))
            .expect("ns::outer in the library");
        let ctx = loaded.dwarf.as_ref().unwrap();
        // The first address of outer's code inside inner (three frames).
        let addr = (start..start + size)
            .find(|&a| {
                let mut n = 0;
                if let Ok(mut it) = ctx.find_frames(a).skip_all_loads() {
                    while let Ok(Some(_)) = it.next() {
                        n += 1;
                    }
                }
                n == 3
            })
            .expect("an address inside the inlined ns::inner");
        let id = hex(&file_build_id(&data).unwrap());
        let path = so.to_str().unwrap();
        let report = format!(
            "Current thread 1 \"x\" (most recent call first):\n  \
             #0  0x{addr:016x} in ?? ({path} +0x{addr:x})\n\n\
             Modules:\n  0x0000000000000000-0x0000000000100000 {path} build-id {id}\n"
        );
        let mut out = Vec::new();
        let opts = SymbolizeOptions::new().system_debug_dir(false);
        symbolize_report(report.as_bytes(), &mut out, &opts).unwrap();
        let out = String::from_utf8(out).unwrap();
        let _ = fs::remove_dir_all(&dir);
        let lines: Vec<&str> = out.lines().collect();
        let src_s = src.to_str().unwrap();
        assert!(
            lines[1].starts_with(&format!(
                "  #0  0x{addr:016x} in ns::outer(int volatile*)+0x{:x} at {src_s}:{} (",
                addr - start,
                line_of("LINE_OUTER")
            )),
            "{out}"
        );
        assert_eq!(
            lines[2],
            format!(
                "      (inlined) ns::inner(int volatile*) at {src_s}:{}",
                line_of("LINE_INNER")
            ),
            "{out}"
        );
        assert_eq!(
            lines[3],
            format!(
                "      (inlined) ns::mid(int volatile*) at {src_s}:{}",
                line_of("LINE_MID")
            ),
            "{out}"
        );
    }

    /// Many small reports, each with its Modules block: linear time (it
    /// was quadratic in the number of blocks: 100 MB took 233 s). 200k
    /// reports (26 MB) must take well under the bound.
    #[test]
    fn many_reports_take_linear_time() {
        let one = "Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR)\n\
                   Current thread 1 \"x\" (most recent call first):\n  \
                   #0  0x0000000000001000 in f+0x1 (/nonexistent/m +0x1000)\n\n\
                   Modules:\n  0x0000000000000000-0x0000000000100000 /nonexistent/m build-id ab\n\n";
        let input = one.repeat(200_000);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let t = std::time::Instant::now();
            let mut out = Vec::new();
            let opts = SymbolizeOptions::new().system_debug_dir(false);
            symbolize_report(input.as_bytes(), &mut out, &opts).unwrap();
            let _ = tx.send((t.elapsed(), out.len()));
        });
        let (took, len) = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("26 MB of reports symbolized within 30 s");
        eprintln!("200k reports: {took:?}");
        assert!(len > 200_000 * one.len());
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(parse_hex("0f0"), None);
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}
