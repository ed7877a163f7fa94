//! The one parser of the report format (`report-format.md`, crate docs).
//!
//! Lines it does not know are kept, never an error: in a thread block as
//! [`Thread::other`] (or [`Frame::extra`] right after a frame, e.g.
//! `(inlined) ...` and `... previous frame repeated N more times`), in
//! the header as [`Report::other`] (e.g. `Command line:`).

/// What the first line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Fatal signal N (SIGNAME): DESCRIPTION[ at address 0x...]`.
    Fatal {
        signo: i32,
        name: String,
        description: String,
        address: Option<u64>,
    },
    /// `Dump requested by signal N (SIGNAME) from pid P`.
    DumpRequest { signo: i32, name: String, pid: u32 },
    /// `Timeout (H:MM:SS.mmm)!`: the text between the parentheses.
    Timeout(String),
    /// `Stack dump requested`.
    StackDump,
}

/// `Process PID "NAME"[ at TIME][, up UPTIME s]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub name: String,
    /// Whatever follows the name (time, uptime), trimmed.
    pub rest: String,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` after ` at `, when it has that shape.
    pub time: Option<String>,
    /// The uptime in milliseconds, from `, up S.mmm s`.
    pub uptime_ms: Option<u64>,
}

/// Whether `t` is ISO 8601 UTC with milliseconds: `2026-12-01T21:22:58.123Z`.
pub fn is_utc_ms(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The seconds since the epoch of a time [`is_utc_ms`] accepts (for
/// comparing with the test's own clock), by the plain day count.
pub fn utc_ms_to_unix_ms(t: &str) -> Option<u64> {
    if !is_utc_ms(t) {
        return None;
    }
    let n = |a: usize, b: usize| t[a..b].parse::<u64>().ok();
    let (y, mo, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (h, mi, s, ms) = (n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?);
    let leap = |y: u64| y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let mut days = (1970..y)
        .map(|y| if leap(y) { 366 } else { 365 })
        .sum::<u64>();
    let len = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += len[..(mo as usize).checked_sub(1)?].iter().sum::<u64>() + d - 1;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// `  #N  0xADDR in NAME[+0xOFF][ at FILE:LINE] (MODULE +0xMODOFF)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub index: usize,
    pub addr: u64,
    /// `??` when unknown.
    pub name: String,
    pub offset: Option<u64>,
    /// `FILE:LINE` when the line has ` at FILE:LINE`.
    pub location: Option<String>,
    /// `None` for `(??)`.
    pub module: Option<String>,
    pub module_offset: Option<u64>,
    /// Text after the module's parentheses (`[symbolize: ...]`), trimmed.
    pub note: String,
    /// The `      (inlined) NAME[ at FILE:LINE]` lines after the frame,
    /// innermost first.
    pub inlined: Vec<Inlined>,
    /// Other lines that followed the frame and are not frames
    /// (repetition lines), trimmed.
    pub extra: Vec<String>,
    pub line: String,
}

/// `      (inlined) NAME[ at FILE:LINE]`: a call inlined at a frame's
/// address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inlined {
    pub name: String,
    /// `FILE:LINE`.
    pub location: Option<String>,
    pub line: String,
}

/// `FILE` and `LINE` of a `FILE:LINE` location.
pub fn file_line(location: &str) -> Option<(&str, u32)> {
    let (file, line) = location.rsplit_once(':')?;
    Some((file, line.parse().ok()?))
}

impl Frame {
    /// The frame's `FILE` and `LINE`, when it has ` at FILE:LINE`.
    pub fn file_line(&self) -> Option<(&str, u32)> {
        file_line(self.location.as_deref()?)
    }
}

impl Inlined {
    /// Its `FILE` and `LINE`, when it has ` at FILE:LINE`.
    pub fn file_line(&self) -> Option<(&str, u32)> {
        file_line(self.location.as_deref()?)
    }
}

pub fn parse_inlined(l: &str) -> Option<Inlined> {
    let r = l.strip_prefix("      (inlined) ")?;
    let (name, location) = match r.rsplit_once(" at ") {
        Some((n, loc)) if file_line(loc).is_some() => (n, Some(loc.to_string())),
        _ => (r, None),
    };
    Some(Inlined {
        name: name.to_string(),
        location,
        line: l.to_string(),
    })
}

/// `  ... [N ]more frames not shown (max_frames M)` (or another reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub count: Option<u64>,
    pub max_frames: Option<u32>,
    pub line: String,
}

/// A thread's block, or its `no stack: REASON` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub tid: u32,
    pub name: String,
    pub current: bool,
    pub frames: Vec<Frame>,
    pub no_stack: Option<String>,
    pub truncation: Option<Truncation>,
    /// Folded repetitions: (frames shown before the line, period, more).
    pub folds: Vec<(usize, usize, usize)>,
    /// How many frames come before the truncation line.
    pub truncation_after: Option<usize>,
    pub heading: String,
    pub other: Vec<String>,
}

impl Thread {
    /// The frame numbers the lines must carry, from the folds and the
    /// truncation count: each fold skips period × more numbers, and the
    /// bottom after a counted truncation line skips that count.
    pub fn expected_numbers(&self) -> Vec<usize> {
        let trunc_at = self.truncation_position();
        let mut want = Vec::new();
        let mut n = 0;
        for k in 0..self.frames.len() {
            if Some(k) == trunc_at {
                n += self.truncation.as_ref().and_then(|t| t.count).unwrap_or(0) as usize;
            }
            want.push(n);
            n += 1;
            for &(after, period, more) in &self.folds {
                if after == k + 1 {
                    n += period * more;
                }
            }
        }
        want
    }

    fn truncation_position(&self) -> Option<usize> {
        self.truncation.as_ref()?;
        self.truncation_after
    }
}

/// `  ... previous frame repeated N more times` or `  ... previous K
/// frames repeated N more times`: (K, N).
pub fn parse_fold(l: &str) -> Option<(usize, usize)> {
    let r = l.strip_prefix("  ... previous ")?;
    let (period, r) = match r.strip_prefix("frame repeated ") {
        Some(r) => (1, r),
        None => {
            let (k, r) = r.split_once(" frames repeated ")?;
            (k.parse().ok()?, r)
        }
    };
    let more = r.strip_suffix(" more times")?.parse().ok()?;
    Some((period, more))
}

/// `  0xSTART-0xEND PATH build-id HEX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub start: u64,
    pub end: u64,
    pub path: String,
    pub build_id: Option<String>,
    pub line: String,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub kind: Option<Kind>,
    pub first_line: String,
    /// `Last panic: ...` (without the prefix).
    pub last_panic: Option<String>,
    pub process: Option<Process>,
    /// `Command line: ...` (without the prefix).
    pub command_line: Option<String>,
    /// The opt-in registers block: `Registers:`, its register lines, the
    /// `Code around pc ...` line and the code bytes, as written.
    pub registers: Vec<String>,
    pub threads: Vec<Thread>,
    /// `... N more threads not shown (max_threads M)`: (N, M).
    pub threads_cut: Option<(u64, u64)>,
    /// `(the report was cut short ...)`.
    pub cut_short: Option<String>,
    pub modules: Vec<Module>,
    pub has_modules_block: bool,
    /// Lines of the report it does not know, in order.
    pub other: Vec<String>,
    /// The report's text, from its first line to the end of its modules
    /// block (or of the input), each line with its `\n` if it had one.
    pub text: String,
}

/// A first line of any kind of report.
pub fn is_first_line(l: &str) -> bool {
    l.starts_with("Fatal signal ")
        || l.starts_with("Dump requested by signal ")
        || (l.starts_with("Timeout (") && l.ends_with(")!"))
        || l == "Stack dump requested"
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// `N (SIGNAME)` at the start of `s`; the rest after `)`.
fn signal_part(s: &str) -> Option<(i32, String, &str)> {
    let (n, rest) = s.split_once(" (")?;
    let (name, rest) = rest.split_once(')')?;
    Some((n.parse().ok()?, name.to_string(), rest))
}

pub fn parse_kind(l: &str) -> Option<Kind> {
    if let Some(r) = l.strip_prefix("Fatal signal ") {
        let (signo, name, rest) = signal_part(r)?;
        let desc = rest.strip_prefix(": ")?;
        let (description, address) = match desc.rsplit_once(" at address ") {
            Some((d, a)) if hex(a).is_some() => (d.to_string(), hex(a)),
            _ => (desc.to_string(), None),
        };
        return Some(Kind::Fatal {
            signo,
            name,
            description,
            address,
        });
    }
    if let Some(r) = l.strip_prefix("Dump requested by signal ") {
        let (signo, name, rest) = signal_part(r)?;
        let pid = rest.strip_prefix(" from pid ")?.parse().ok()?;
        return Some(Kind::DumpRequest { signo, name, pid });
    }
    if let Some(r) = l.strip_prefix("Timeout (") {
        return Some(Kind::Timeout(r.strip_suffix(")!")?.to_string()));
    }
    (l == "Stack dump requested").then_some(Kind::StackDump)
}

/// A `"..."` string at the start of `s` (escapes kept as written), and
/// what follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('"')?;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((s[..i].to_string(), &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn parse_process(l: &str) -> Option<Process> {
    let r = l.strip_prefix("Process ")?;
    let (pid, r) = r.split_once(' ')?;
    let (name, rest) = quoted(r)?;
    let rest = rest.trim().to_string();
    let (time, up) = match rest.strip_prefix("at ") {
        Some(r) => match r.split_once(", up ") {
            Some((t, u)) => (Some(t), Some(u)),
            None => (Some(r), None),
        },
        None => (None, None),
    };
    let uptime_ms = up.and_then(|u| {
        let (s, ms) = u.strip_suffix(" s")?.split_once('.')?;
        (ms.len() == 3).then_some(())?;
        Some(s.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?)
    });
    Some(Process {
        pid: pid.parse().ok()?,
        name,
        time: time.filter(|t| is_utc_ms(t)).map(str::to_string),
        uptime_ms,
        rest,
    })
}

/// A thread heading or no-stack line.
fn parse_thread_line(l: &str) -> Option<Thread> {
    let (current, r) = if let Some(r) = l.strip_prefix("Current thread ") {
        (true, r)
    } else {
        (false, l.strip_prefix("Thread ")?)
    };
    let (tid, r) = r.split_once(' ')?;
    let (name, rest) = quoted(r)?;
    let no_stack = match rest {
        " (most recent call first):" => None,
        _ => Some(rest.strip_prefix(": no stack: ")?.to_string()),
    };
    Some(Thread {
        tid: tid.parse().ok()?,
        name,
        current,
        frames: Vec::new(),
        no_stack,
        truncation: None,
        folds: Vec::new(),
        truncation_after: None,
        heading: l.to_string(),
        other: Vec::new(),
    })
}

pub fn parse_frame(l: &str) -> Option<Frame> {
    let r = l.strip_prefix("  #")?;
    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
    let index = r[..digits].parse().ok()?;
    let r = r[digits..].trim_start_matches(' ');
    let addr_s = r.get(..18)?;
    let addr = hex(addr_s)?;
    let r = r[18..].strip_prefix(" in ")?;
    // The module part is the last ` (...)`; a `[...]` note may follow it.
    let (body, note) = match r.rfind(" [") {
        Some(i) if r.ends_with(']') => (&r[..i], r[i + 1..].to_string()),
        _ => (r, String::new()),
    };
    let (head, module_part) = body.rsplit_once(" (")?;
    let module_part = module_part.strip_suffix(')')?;
    let (module, module_offset) = if module_part == "??" {
        (None, None)
    } else {
        let (m, o) = module_part.rsplit_once(" +")?;
        (Some(m.to_string()), Some(hex(o)?))
    };
    let (head, location) = match head.rsplit_once(" at ") {
        Some((h, loc)) => (h, Some(loc.to_string())),
        None => (head, None),
    };
    let (name, offset) = match head.rsplit_once("+0x") {
        Some((n, o)) if u64::from_str_radix(o, 16).is_ok() => {
            (n.to_string(), u64::from_str_radix(o, 16).ok())
        }
        _ => (head.to_string(), None),
    };
    Some(Frame {
        index,
        addr,
        name,
        offset,
        location,
        module,
        module_offset,
        note,
        inlined: Vec::new(),
        extra: Vec::new(),
        line: l.to_string(),
    })
}

fn parse_truncation(l: &str) -> Option<Truncation> {
    let r = l.strip_prefix("  ... ")?;
    if !r.contains("frames not shown") {
        return None;
    }
    let (count, r) = match r.split_once(' ') {
        Some((n, rest)) if n.parse::<u64>().is_ok() => (n.parse().ok(), rest),
        _ => (None, r),
    };
    let max_frames = r
        .split_once("(max_frames ")
        .and_then(|(_, m)| m.strip_suffix(')'))
        .and_then(|m| m.parse().ok());
    Some(Truncation {
        count,
        max_frames,
        line: l.to_string(),
    })
}

fn parse_module(l: &str) -> Option<Module> {
    let r = l.strip_prefix("  ")?;
    let (range, r) = r.split_once(' ')?;
    let (s, e) = range.split_once('-')?;
    let (path, build_id) = match r.rsplit_once(" build-id ") {
        Some((p, id)) => (p.to_string(), Some(id.to_string())),
        None => (r.to_string(), None),
    };
    Some(Module {
        start: hex(s)?,
        end: hex(e)?,
        path,
        build_id,
        line: l.to_string(),
    })
}

fn threads_cut(l: &str) -> Option<(u64, u64)> {
    let r = l.strip_prefix("... ")?;
    let (n, r) = r.split_once(" more threads not shown (max_threads ")?;
    Some((n.parse().ok()?, r.strip_suffix(')')?.parse().ok()?))
}

impl Report {
    /// Every report in `text` (text outside reports is skipped).
    pub fn parse_all(text: &str) -> Vec<Report> {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let starts: Vec<usize> = (0..lines.len())
            .filter(|&i| is_first_line(lines[i].trim_end_matches('\n')))
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let end = starts.get(k + 1).copied().unwrap_or(lines.len());
                Report::parse_lines(&lines[s..end])
            })
            .collect()
    }

    /// The one report in `text`: an error if there is none, or more.
    pub fn find_one(text: &str) -> Result<Report, String> {
        let mut all = Report::parse_all(text);
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err("no report (no first line of a report)".into()),
            n => Err(format!("{n} reports, one expected")),
        }
    }

    /// The first report in `text`.
    pub fn first(text: &str) -> Result<Report, String> {
        Report::parse_all(text)
            .into_iter()
            .next()
            .ok_or_else(|| "no report (no first line of a report)".into())
    }

    /// `lines` start with a first line; parsing ends after the modules
    /// block (the first line there that is not indented).
    fn parse_lines(lines: &[&str]) -> Report {
        let mut rep = Report {
            first_line: lines[0].trim_end_matches('\n').to_string(),
            ..Report::default()
        };
        rep.kind = parse_kind(&rep.first_line);
        let mut text = String::from(lines[0]);
        let mut in_modules = false;
        let mut in_block = false;
        let mut in_registers = false;
        for raw in &lines[1..] {
            let l = raw.trim_end_matches('\n');
            if in_modules {
                match parse_module(l) {
                    Some(m) => rep.modules.push(m),
                    None if l.starts_with("  ") => rep.other.push(l.to_string()),
                    // A report cut short ends with its line after the
                    // modules known so far (a blank line between).
                    None if l.is_empty() => {}
                    None if l.starts_with("(the report was cut short") => {
                        rep.cut_short = Some(l.to_string());
                    }
                    None => break,
                }
                text.push_str(raw);
                continue;
            }
            text.push_str(raw);
            if in_registers && (l.starts_with("  ") || l.starts_with("Code around pc ")) {
                rep.registers.push(l.to_string());
                continue;
            }
            in_registers = false;
            if l == "Registers:" && rep.threads.is_empty() {
                in_registers = true;
                rep.registers.push(l.to_string());
            } else if l == "Modules:" {
                in_modules = true;
                rep.has_modules_block = true;
            } else if let Some(t) = parse_thread_line(l) {
                in_block = t.no_stack.is_none();
                rep.threads.push(t);
            } else if in_block && l.starts_with("  ") {
                let t = rep.threads.last_mut().unwrap();
                if let Some(f) = parse_frame(l) {
                    t.frames.push(f);
                } else if let (Some(i), Some(f)) = (parse_inlined(l), t.frames.last_mut()) {
                    f.inlined.push(i);
                } else if let Some(tr) = parse_truncation(l) {
                    t.truncation = Some(tr);
                    t.truncation_after = Some(t.frames.len());
                } else if let Some((period, more)) = parse_fold(l) {
                    t.folds.push((t.frames.len(), period, more));
                } else if let Some(f) = t.frames.last_mut() {
                    f.extra.push(l.trim().to_string());
                } else {
                    t.other.push(l.to_string());
                }
            } else if l.is_empty() {
                in_block = false;
            } else if let Some(p) = l.strip_prefix("Last panic: ") {
                rep.last_panic = Some(p.to_string());
            } else if let Some(c) = l
                .strip_prefix("Command line: ")
                .filter(|_| rep.command_line.is_none() && rep.threads.is_empty())
            {
                rep.command_line = Some(c.to_string());
            } else if rep.process.is_none() && l.starts_with("Process ") {
                rep.process = parse_process(l);
                if rep.process.is_none() {
                    rep.other.push(l.to_string());
                }
            } else if let Some(c) = threads_cut(l) {
                rep.threads_cut = Some(c);
            } else if l.starts_with("(the report was cut short") {
                rep.cut_short = Some(l.to_string());
            } else {
                if in_block {
                    if let Some(t) = rep.threads.last_mut() {
                        t.other.push(l.to_string());
                        continue;
                    }
                }
                rep.other.push(l.to_string());
            }
        }
        rep.text = text;
        rep
    }

    /// The `Current thread` block.
    pub fn current(&self) -> Result<&Thread, String> {
        self.threads
            .iter()
            .find(|t| t.current)
            .ok_or_else(|| "no `Current thread` block".to_string())
    }

    pub fn thread_named(&self, name: &str) -> Option<&Thread> {
        self.threads.iter().find(|t| t.name == name)
    }

    /// The report's lines (without their `\n`).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }

    /// The process lines as the contract has them: `Process PID "NAME" at
    /// TIME, up UPTIME s`, TIME within `window` before now (and not in the
    /// future, but for a second's slack), the uptime at most `window`, and
    /// `Command line: CMDLINE` right after.
    pub fn check_process_lines(
        &self,
        pid: u32,
        name: &str,
        cmdline: &str,
        window: std::time::Duration,
    ) -> Result<(), String> {
        let p = self.process.as_ref().ok_or("no `Process` line")?;
        let line = self
            .lines()
            .find(|l| l.starts_with("Process "))
            .unwrap_or_default();
        if p.pid != pid || p.name != name {
            return Err(format!(
                "process line {line:?}: wanted pid {pid} name {name:?}"
            ));
        }
        let t = p
            .time
            .as_deref()
            .ok_or_else(|| format!("no ` at TIME` in {line:?}"))?;
        let at = utc_ms_to_unix_ms(t).ok_or_else(|| format!("bad time in {line:?}"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let window_ms = window.as_millis() as u64 + 1000;
        if at > now + 1000 || at + window_ms < now {
            return Err(format!(
                "time {t} is not within {window_ms} ms before now ({now} ms)"
            ));
        }
        let up = p
            .uptime_ms
            .ok_or_else(|| format!("no `, up S.mmm s` in {line:?}"))?;
        if up > window_ms {
            return Err(format!(
                "uptime {up} ms, but the child ran less than {window_ms} ms"
            ));
        }
        let next = self
            .lines()
            .skip_while(|l| !l.starts_with("Process "))
            .nth(1)
            .unwrap_or_default();
        let want = format!("Command line: {cmdline}");
        if next != want {
            return Err(format!(
                "line after the process line\n  is:     {next:?}\n  wanted: {want:?}"
            ));
        }
        Ok(())
    }

    pub fn module(&self, path: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.path == path)
    }
}

impl Thread {
    pub fn addrs(&self) -> Vec<u64> {
        self.frames.iter().map(|f| f.addr).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.frames.iter().map(|f| f.name.clone()).collect()
    }
}

/// The parser's own tests, run as cases of every suite (see `harness`).
pub mod tests {
    use super::*;

    const SAMPLE: &str = "\
child: pid=4242 uid=0
Fatal signal 11 (SIGSEGV): address not mapped to object (SEGV_MAPERR) at address 0x0000000000000008
Last panic: boom at src/main.rs:3:5
Process 4242 \"my\\\"prog\" at 2026-12-01T21:22:58.123Z, up 3.204 s
Command line: /usr/bin/myprog --port 8080

Current thread 4242 \"main\" (most recent call first):
  #0  0x000055d1c2a3b1f4 in crash_level3+0x14 at src/parse.c:41 (/usr/bin/myprog +0x3b1f4)
      (inlined) read_field at src/parse.c:17
      (inlined) <T as a::B>::f at tests/x y.rs:3
      (inlined) no_line
  #1  0x000055d1c2a3b2a0 in <W<(A, (B, C))> as T>::f+0x20 (/usr/bin/myprog +0x3b2a0)
  ... previous frame repeated 28 more times
  #31 0x00007f3a1c2b3c4d in ?? (??)
  #32 0x00007f3a1c2b3c4e in ?? (/lib/libfoo.so +0x1c4e) [symbolize: no debug info]
  ... 30412 more frames not shown (max_frames 100)

Thread 4243 \"worker-1\" (most recent call first):
  #0  0x00007f3a1c0a1b2c in __futex_abstimed_wait_common+0x9c (/usr/lib/libc.so.6 +0x8ab2c)
  some new line

Thread 4250 \"db-pool\": no stack: the thread blocks the dump signal
Thread 4251 \"io\": no stack: no answer within 100 ms

... 37 more threads not shown (max_threads 100)

Modules:
  0x000055d1c2a00000-0x000055d1c2b40000 /usr/bin/myprog build-id 3f2a9c
  0x00007f3a1c000000-0x00007f3a1c1d0000 /usr/lib/libc.so.6 build-id 9a8b7c
child: after
Stack dump requested
Process 7 \"x\" at 2026-12-01T21:22:58.123Z
Command line: x

Current thread 7 \"x\" (most recent call first):
  #0  0x0000000000001000 in f+0x1 (/a +0x1000)

Modules:
  0x0000000000001000-0x0000000000002000 /a build-id 00
";

    pub fn parses_the_sample() {
        let all = Report::parse_all(SAMPLE);
        assert_eq!(all.len(), 2);
        let r = &all[0];
        assert_eq!(
            r.kind,
            Some(Kind::Fatal {
                signo: 11,
                name: "SIGSEGV".into(),
                description: "address not mapped to object (SEGV_MAPERR)".into(),
                address: Some(8),
            })
        );
        assert_eq!(r.last_panic.as_deref(), Some("boom at src/main.rs:3:5"));
        let p = r.process.as_ref().unwrap();
        assert_eq!((p.pid, p.name.as_str()), (4242, "my\\\"prog"));
        assert!(p.rest.starts_with("at 2026-"));
        assert_eq!(p.time.as_deref(), Some("2026-12-01T21:22:58.123Z"));
        assert_eq!(p.uptime_ms, Some(3204));
        assert_eq!(
            utc_ms_to_unix_ms("2026-12-01T21:22:58.123Z"),
            Some(1_796_160_178_123)
        );
        assert!(!is_utc_ms("2026-12-01 21:22:58.123Z"));
        assert_eq!(
            r.command_line.as_deref(),
            Some("/usr/bin/myprog --port 8080")
        );
        assert!(r.other.is_empty(), "{:?}", r.other);
        assert_eq!(r.threads.len(), 4);
        let c = r.current().unwrap();
        assert_eq!((c.tid, c.name.as_str()), (4242, "main"));
        assert_eq!(c.frames.len(), 4);
        let f0 = &c.frames[0];
        assert_eq!(f0.addr, 0x55d1c2a3b1f4);
        assert_eq!(f0.name, "crash_level3");
        assert_eq!(f0.offset, Some(0x14));
        assert_eq!(f0.location.as_deref(), Some("src/parse.c:41"));
        assert_eq!(f0.module.as_deref(), Some("/usr/bin/myprog"));
        assert_eq!(f0.module_offset, Some(0x3b1f4));
        assert!(f0.extra.is_empty());
        assert_eq!(f0.file_line(), Some(("src/parse.c", 41)));
        assert_eq!(f0.inlined.len(), 3);
        assert_eq!(f0.inlined[0].name, "read_field");
        assert_eq!(f0.inlined[0].file_line(), Some(("src/parse.c", 17)));
        assert_eq!(f0.inlined[1].name, "<T as a::B>::f");
        assert_eq!(f0.inlined[1].file_line(), Some(("tests/x y.rs", 3)));
        assert_eq!(
            (f0.inlined[2].name.as_str(), &f0.inlined[2].location),
            ("no_line", &None)
        );
        assert_eq!(c.frames[1].location, None);
        assert!(c.frames[1].inlined.is_empty());
        assert_eq!(c.frames[1].name, "<W<(A, (B, C))> as T>::f");
        assert!(c.frames[1].extra.is_empty());
        assert_eq!(c.folds, [(2, 1, 28)]);
        assert_eq!(c.frames[2].index, 31);
        assert_eq!(&c.expected_numbers()[..3], [0, 1, 30]);
        assert_eq!(
            (c.frames[2].name.as_str(), &c.frames[2].module),
            ("??", &None)
        );
        assert_eq!(c.frames[3].note, "[symbolize: no debug info]");
        assert_eq!(c.frames[3].module.as_deref(), Some("/lib/libfoo.so"));
        let t = c.truncation.as_ref().unwrap();
        assert_eq!((t.count, t.max_frames), (Some(30412), Some(100)));
        let w = &r.threads[1];
        assert!(!w.current && w.frames.len() == 1);
        assert_eq!(w.frames[0].extra, ["some new line"]);
        assert_eq!(
            r.threads[2].no_stack.as_deref(),
            Some("the thread blocks the dump signal")
        );
        assert_eq!(
            r.threads[3].no_stack.as_deref(),
            Some("no answer within 100 ms")
        );
        assert_eq!(r.threads_cut, Some((37, 100)));
        assert_eq!(r.modules.len(), 2);
        assert_eq!(r.modules[1].path, "/usr/lib/libc.so.6");
        assert_eq!(r.modules[1].build_id.as_deref(), Some("9a8b7c"));
        assert_eq!(r.modules[0].start, 0x55d1c2a00000);
        assert!(r.text.ends_with("build-id 9a8b7c\n") && !r.text.contains("child: after"));
        assert_eq!(all[1].kind, Some(Kind::StackDump));
        let p = all[1].process.as_ref().unwrap();
        assert_eq!((p.time.is_some(), p.uptime_ms), (true, None));
        assert_eq!(all[1].current().unwrap().frames[0].name, "f");
    }

    pub fn other_first_lines() {
        assert_eq!(
            parse_kind("Dump requested by signal 10 (SIGUSR1) from pid 77"),
            Some(Kind::DumpRequest {
                signo: 10,
                name: "SIGUSR1".into(),
                pid: 77
            })
        );
        assert_eq!(
            parse_kind("Timeout (0:00:00.200)!"),
            Some(Kind::Timeout("0:00:00.200".into()))
        );
        assert_eq!(
            parse_kind("Fatal signal 6 (SIGABRT): sent by pid 5 uid 0"),
            Some(Kind::Fatal {
                signo: 6,
                name: "SIGABRT".into(),
                description: "sent by pid 5 uid 0".into(),
                address: None
            })
        );
        assert!(Report::find_one("no report here\n").is_err());
    }
}
