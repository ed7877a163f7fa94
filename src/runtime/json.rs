//! Async-signal-safe. Follows the syntax of the JSON a report writes, byte
//! by byte, so that a report cut short (by the write deadline, or by a
//! fault inside the handler) can still be ended as a valid JSON object.
//!
//! The [`Writer`](super::writer::Writer) of a JSON-lines report feeds every
//! byte it queues to a [`Track`]: a small fixed state (a stack of at most
//! [`MAX_DEPTH`] open brackets, whether a string, an escape or a bare word
//! is open, what the grammar expects next). From any point of the text,
//! [`Track::close`] writes the shortest suffix that completes it: it
//! finishes an open escape (with `0` digits) and string, gives a key
//! without a value `null`, completes a bare word (`nu` becomes `null`),
//! closes every bracket, and adds `"cut_short":"REASON"` to the outermost
//! object. Nothing is allocated; every step is bounded.

/// The deepest nesting followed; a report nests 5 deep at most.
pub(crate) const MAX_DEPTH: usize = 16;

/// What the grammar expects next, outside strings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// A value (at the top, after `:`, after `,` in an array).
    Value,
    /// A value or `]` (right after `[`).
    ValueOrEnd,
    /// A key or `}` (right after `{`).
    KeyOrEnd,
    /// A key (after `,` in an object).
    Key,
    /// The `:` after a key.
    Colon,
    /// `,` or the end of the container (after a value).
    More,
}

/// The syntax state of a JSON text at one point.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Track {
    /// Open brackets, `{` or `[`, outermost first.
    stack: [u8; MAX_DEPTH],
    depth: usize,
    expect: Expect,
    /// Inside a string, and whether it is a key.
    in_string: bool,
    key: bool,
    /// Inside a string: 0, or 5 right after `\`, or the hex digits still
    /// due after `\u` (4 down to 1).
    escape: u8,
    /// A bare word (number, `true`, `false`, `null`) in progress: its
    /// first byte and its length so far; 0 when none.
    word: u8,
    word_len: u8,
    /// The word's last byte.
    word_last: u8,
    /// Brackets beyond [`MAX_DEPTH`]: the text is not ours to close.
    lost: bool,
}

impl Track {
    /// The state before any text.
    pub(crate) const fn new() -> Self {
        Track {
            stack: [0; MAX_DEPTH],
            depth: 0,
            expect: Expect::Value,
            in_string: false,
            key: false,
            escape: 0,
            word: 0,
            word_len: 0,
            word_last: 0,
            lost: false,
        }
    }

    /// How many brackets are open.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The innermost open bracket (`{` or `[`), or 0 at the top.
    pub(crate) fn innermost(&self) -> u8 {
        self.depth
            .checked_sub(1)
            .and_then(|i| self.stack.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Whether the innermost container already has a member (so the next
    /// one needs a `,` first).
    pub(crate) fn needs_comma(&self) -> bool {
        self.expect == Expect::More || self.word != 0
    }

    /// A bare word ends at the next separator: end it now.
    fn end_word(&mut self) {
        if self.word != 0 {
            self.word = 0;
            self.word_len = 0;
            self.expect = Expect::More;
        }
    }

    /// Whether a string is open.
    #[cfg(test)]
    pub(crate) fn in_string(&self) -> bool {
        self.in_string
    }

    /// Follow every byte of `data`.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        for &b in data {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.in_string {
            match self.escape {
                0 => match b {
                    b'\\' => self.escape = 5,
                    b'"' => {
                        self.in_string = false;
                        self.expect = if self.key {
                            Expect::Colon
                        } else {
                            Expect::More
                        };
                    }
                    _ => {}
                },
                5 => self.escape = if b == b'u' { 4 } else { 0 },
                n => self.escape = n - 1,
            }
            return;
        }
        if self.word != 0 {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+') {
                self.word_len = self.word_len.saturating_add(1);
                self.word_last = b;
                return;
            }
            self.word = 0;
            self.word_len = 0;
            self.expect = Expect::More;
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.escape = 0;
                self.key = matches!(self.expect, Expect::Key | Expect::KeyOrEnd);
            }
            b'{' | b'[' => {
                match self.stack.get_mut(self.depth) {
                    Some(slot) => *slot = b,
                    None => self.lost = true,
                }
                self.depth += 1;
                self.expect = if b == b'{' {
                    Expect::KeyOrEnd
                } else {
                    Expect::ValueOrEnd
                };
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                self.expect = Expect::More;
            }
            b':' => self.expect = Expect::Value,
            b',' => {
                self.expect = if self.innermost() == b'{' {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            b'\n' if self.depth == 0 => {
                // One report ends; the next starts from scratch.
                self.expect = Expect::Value;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                self.word = b;
                self.word_len = 1;
                self.word_last = b;
            }
        }
    }

    /// Write, through `out`, what completes the current token (an escape,
    /// a string, a bare word, a key's missing value), so that a member or
    /// a bracket may follow.
    pub(crate) fn finish_token(&mut self, out: &mut dyn FnMut(&[u8])) {
        let mut emit = |t: &mut Track, s: &[u8]| {
            t.feed(s);
            out(s);
        };
        if self.in_string {
            match self.escape {
                0 => {}
                // A lone `\`: make it `\\`.
                5 => emit(self, b"\\"),
                n => {
                    let zeros = b"0000";
                    emit(self, zeros.get(..usize::from(n)).unwrap_or(zeros));
                }
            }
            emit(self, b"\"");
        }
        if self.word != 0 {
            let full: &[u8] = match self.word {
                b'n' => b"null",
                b't' => b"true",
                b'f' => b"false",
                // A number cut after `-`, `.`, `e` or a sign gets a digit.
                _ if !self.word_last.is_ascii_digit() => b"0",
                _ => b"",
            };
            let rest = if full == b"0" {
                full
            } else {
                full.get(usize::from(self.word_len)..).unwrap_or(&[])
            };
            emit(self, rest);
            self.end_word();
        }
        match self.expect {
            Expect::Colon => emit(self, b":null"),
            Expect::Value if self.depth > 0 => emit(self, b"null"),
            _ => {}
        }
        self.end_word();
    }

    /// End the text: complete the current token, close every bracket down
    /// to `depth`, and, when that closes the outermost object, add
    /// `"cut_short":"REASON"` to it and end the line. `reason` is ASCII
    /// without `"` or `\`.
    pub(crate) fn close(&mut self, depth: usize, reason: &[u8], out: &mut dyn FnMut(&[u8])) {
        if self.lost {
            return;
        }
        self.finish_token(out);
        if self.depth == 0 && depth == 0 {
            // Nothing of a report is open: say so in an object of its own,
            // on a line of its own.
            let mut emit = |s: &[u8]| out(s);
            if self.expect == Expect::More {
                emit(b"\n");
            }
            emit(b"{\"cut_short\":\"");
            emit(reason);
            emit(b"\"}\n");
            return;
        }
        let mut emit = |t: &mut Track, s: &[u8]| {
            t.feed(s);
            out(s);
        };
        while self.depth > depth.max(1) {
            if self.innermost() == b'{' {
                if self.expect == Expect::Key {
                    // After a `,`: an object needs one more member.
                    emit(self, b"\"cut_short\":true");
                }
                emit(self, b"}");
            } else {
                emit(self, b"]");
            }
        }
        if depth == 0 && self.depth == 1 {
            let sep: &[u8] = match self.expect {
                Expect::More => b",\"cut_short\":\"",
                _ => b"\"cut_short\":\"",
            };
            emit(self, sep);
            emit(self, reason);
            emit(self, b"\"}\n");
        }
    }
}

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(
        r#"{"kind":"fatal","n":-12.5e3,"ok":true,"no":false,"x":null,"#,
        r#""s":"a\"b\\c\u001fd","e":[],"o":{},"#,
        r#""threads":[{"tid":1,"frames":[{"n":0,"name":null},{"n":1,"name":"f"}]},"#,
        r#"{"tid":2,"no_stack":"why"}],"modules":[{"path":"/bin/x"}]}"#,
        "\n"
    );

    fn closed(text: &str, depth: usize) -> String {
        let mut t = Track::new();
        t.feed(text.as_bytes());
        let mut out = text.as_bytes().to_vec();
        t.close(depth, b"the write deadline passed", &mut |s| {
            out.extend_from_slice(s)
        });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_cut_point_closes_to_valid_json() {
        // A whole report first, so the cut also falls in a second line.
        let two = format!("{SAMPLE}{SAMPLE}");
        for k in 0..two.len() {
            let text = closed(&two[..k], 0);
            let last = text.lines().last().unwrap();
            let v: serde_json::Value =
                serde_json::from_str(last).unwrap_or_else(|e| panic!("cut at {k}: {e}: {text}"));
            assert_eq!(
                v["cut_short"], "the write deadline passed",
                "cut at {k}: {text}"
            );
            assert!(text.ends_with("}\n"), "cut at {k}: {text}");
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
    }

    #[test]
    fn closing_to_a_depth_keeps_the_outer_object_open() {
        let cut = r#"{"kind":"fatal","threads":[{"tid":1,"frames":[{"n":0,"na"#;
        let mut t = Track::new();
        t.feed(cut.as_bytes());
        assert!(t.in_string());
        let mut out = cut.as_bytes().to_vec();
        t.close(1, b"", &mut |s| out.extend_from_slice(s));
        assert_eq!(t.depth(), 1);
        assert!(t.needs_comma());
        let mut tail = b",\"modules\":[]".to_vec();
        t.feed(&tail);
        out.append(&mut tail);
        t.close(0, b"signal 11 (SIGSEGV) inside the handler", &mut |s| {
            out.extend_from_slice(s)
        });
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["threads"][0]["frames"][0]["na"], serde_json::Value::Null);
        assert_eq!(v["cut_short"], "signal 11 (SIGSEGV) inside the handler");
        assert_eq!(t.depth(), 0);
    }

    #[test]
    fn whole_reports_need_nothing() {
        let mut t = Track::new();
        t.feed(SAMPLE.as_bytes());
        assert_eq!(t.depth(), 0);
        assert!(!t.in_string());
    }
}
