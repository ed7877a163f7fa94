//! Async-signal-safe. Fixed-capacity text buffers and number formatting.
//!
//! Everything here works on caller-provided stack or static storage: no heap,
//! no locks, no `core::fmt` machinery, and no panics (every index is checked,
//! and a full buffer truncates instead of failing).

/// A fixed-capacity byte buffer that text is appended to.
///
/// Appending past the capacity drops the excess and sets [`Buf::truncated`];
/// it never panics.
pub(crate) struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> Buf<N> {
    /// An empty buffer.
    pub(crate) const fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// The text appended so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// Number of bytes held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether something was dropped because the buffer was full.
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// Forget the contents.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Append raw bytes, truncating at capacity.
    pub(crate) fn push(&mut self, src: &[u8]) -> &mut Self {
        let room = N - self.len;
        let n = if src.len() > room {
            self.truncated = true;
            room
        } else {
            src.len()
        };
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(self.len..self.len + n), src.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        self
    }

    /// Append a string.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.push(s.as_bytes())
    }

    /// Append one byte.
    pub(crate) fn byte(&mut self, b: u8) -> &mut Self {
        self.push(&[b])
    }

    /// Append bytes escaped as the report format wants names and paths:
    /// `"` as `\"`, `\` as `\\`, and anything outside printable ASCII as
    /// `\xNN`, so the report stays ASCII, one item a line, and a name
    /// cannot end its quotes early. Up to 4 bytes out for each byte in.
    pub(crate) fn ascii(&mut self, src: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in src {
            match b {
                b'"' | b'\\' => {
                    self.byte(b'\\').byte(b);
                }
                0x20..=0x7e => {
                    self.byte(b);
                }
                _ => {
                    let digit = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'?');
                    self.str("\\x").byte(digit(b >> 4)).byte(digit(b & 15));
                }
            }
        }
        self
    }

    /// Append bytes escaped as the inside of a JSON string: `"` as `\"`,
    /// `\` as `\\`, newline as `\n`, and every other byte outside
    /// printable ASCII (controls, and each byte of 0x80 and above) as
    /// `\u00NN`, the byte's value as the code point. The result is ASCII
    /// and valid JSON whatever the bytes (a name that is not UTF-8 too); a
    /// reader gets the original bytes back by taking each character of the
    /// string as one byte (Latin-1). Up to 6 bytes out for each byte in.
    pub(crate) fn json(&mut self, src: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in src {
            match b {
                b'"' | b'\\' => {
                    self.byte(b'\\').byte(b);
                }
                b'\n' => {
                    self.str("\\n");
                }
                0x20..=0x7e => {
                    self.byte(b);
                }
                _ => {
                    let digit = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
                    self.str("\\u00").byte(digit(b >> 4)).byte(digit(b & 15));
                }
            }
        }
        self
    }

    /// Append an unsigned decimal number.
    pub(crate) fn dec(&mut self, v: u64) -> &mut Self {
        let d = DecInt::new(v);
        self.push(d.as_bytes())
    }

    /// Append `0x` and lowercase hex digits, at least `min_digits` of them.
    pub(crate) fn hex(&mut self, v: u64, min_digits: usize) -> &mut Self {
        let h = HexInt::new(v, min_digits);
        self.str("0x").push(h.as_bytes())
    }

    /// Append an address as the report format wants it: `0x` and 16 digits.
    pub(crate) fn addr(&mut self, v: usize) -> &mut Self {
        self.hex(v as u64, 16)
    }

    /// Append a NUL byte, for handing the text to a syscall as a C string.
    /// Returns false when there was no room for it.
    pub(crate) fn nul_terminate(&mut self) -> bool {
        if self.len < N {
            self.byte(0);
            true
        } else {
            false
        }
    }
}

/// A number rendered in decimal on the stack (at most 20 digits).
pub(crate) struct DecInt {
    digits: [u8; 20],
    start: usize,
}

impl DecInt {
    /// Render `v`.
    pub(crate) fn new(mut v: u64) -> Self {
        let mut digits = [b'0'; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(slot) = digits.get_mut(i) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        DecInt { digits, start: i }
    }

    /// The digits.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.digits.get(self.start..).unwrap_or(&[])
    }
}

/// A number rendered in lowercase hex on the stack (without the `0x`).
pub(crate) struct HexInt {
    digits: [u8; 16],
    start: usize,
}

impl HexInt {
    /// Render `v` with at least `min_digits` digits (capped at 16).
    pub(crate) fn new(mut v: u64, min_digits: usize) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [b'0'; 16];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(slot) = digits.get_mut(i) {
                *slot = HEX[(v & 0xf) as usize];
            }
            v >>= 4;
            if v == 0 || i == 0 {
                break;
            }
        }
        let min_start = 16usize.saturating_sub(min_digits.min(16));
        HexInt {
            digits,
            start: i.min(min_start),
        }
    }

    /// The digits.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.digits.get(self.start..).unwrap_or(&[])
    }
}

/// Parse a lowercase or uppercase hex number; `None` on anything else or overflow.
pub(crate) fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
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

    #[test]
    fn decimal() {
        for v in [0u64, 7, 10, 4242, u64::MAX] {
            let mut b = Buf::<32>::new();
            b.dec(v);
            assert_eq!(b.as_bytes(), v.to_string().as_bytes());
        }
    }

    #[test]
    fn hex_and_addr() {
        let mut b = Buf::<64>::new();
        b.addr(0x55d1c2a3b1f4)
            .str(" ")
            .hex(0x14, 1)
            .str(" ")
            .hex(0, 1);
        assert_eq!(b.as_bytes(), b"0x000055d1c2a3b1f4 0x14 0x0");
        let mut b = Buf::<64>::new();
        b.addr(usize::MAX);
        assert_eq!(b.as_bytes(), b"0xffffffffffffffff");
    }

    #[test]
    fn truncates_instead_of_panicking() {
        let mut b = Buf::<4>::new();
        b.str("abcdef");
        assert_eq!(b.as_bytes(), b"abcd");
        assert!(b.truncated());
        assert!(!b.nul_terminate());
        let mut b = Buf::<32>::new();
        b.ascii(b"a\xffb\n\"q\"\\");
        assert_eq!(b.as_bytes(), br#"a\xffb\x0a\"q\"\\"#);
    }

    #[test]
    fn json_escapes() {
        let mut b = Buf::<64>::new();
        b.json(b"a\xffb\n\x01\"q\"\\\xc3\xa9");
        assert_eq!(b.as_bytes(), br#"a\u00ffb\n\u0001\"q\"\\\u00c3\u00a9"#);
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_hex(b"7f3a1c2b3c4d"), Some(0x7f3a1c2b3c4d));
        assert_eq!(parse_hex(b"12g"), None);
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"11112222333344445"), None);
    }
}
