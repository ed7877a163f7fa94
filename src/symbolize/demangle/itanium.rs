//! Async-signal-safe. Our own Itanium C++ ABI demangler, printing names
//! the way GNU `c++filt` does.
//!
//! No heap, no panics, bounded work:
//! - the output goes into the caller's buffer; a name that does not fit
//!   is refused;
//! - substitutions (`S_`, `S0_`, ...) and template arguments (`T_`, ...)
//!   are kept as spans of the *input* in fixed tables ([`MAX_SUBS`],
//!   [`MAX_TARGS`]) and printed again by parsing their span once more
//!   (with no new table entries), so nothing but the input and the output
//!   is needed;
//! - recursion is bounded ([`MAX_DEPTH`]) and so is the total work
//!   ([`FUEL`] steps), since a substitution may be printed many times;
//! - every byte is read with `get`, every number with checked arithmetic.
//!
//! What it does not know (expressions, `decltype`, some rare forms) makes
//! it give up: [`demangle`] returns `None` and the caller shows the
//! mangled name. Whatever it does return is meant to be exactly what
//! `c++filt` prints; the tests compare the two on real names.

/// Substitution table size.
const MAX_SUBS: usize = 128;
/// Template arguments remembered (including the elements of packs).
const MAX_TARGS: usize = 32;
/// Deepest nesting of types and names.
const MAX_DEPTH: u32 = 40;
/// Most parse steps for one name.
const FUEL: u32 = 40_000;
/// Most modifiers (`P`, `R`, `K`, ...) on one type.
const MAX_MODS: usize = 12;
/// Longest input accepted (spans are `u16`).
const MAX_INPUT: usize = 4096;

/// A span of the input: `start..end`.
#[derive(Clone, Copy, Default)]
struct Span {
    start: u16,
    end: u16,
    /// For substitutions: a type (`true`) or a name prefix (`false`).
    /// For template arguments: a pack (`true`), whose elements are
    /// `pack_first..pack_first + pack_len` in the table.
    flag: bool,
    pack_first: u8,
    pack_len: u8,
}

/// A type modifier, printed after (or around) the base type.
#[derive(Clone, Copy, Default)]
struct Mod {
    /// `P`, `R`, `O`, `K`, `V`, `r`, `M` (pointer to member of the class
    /// at `a..b`) or `U` (vendor qualifier named by `a..b`).
    kind: u8,
    a: u16,
    b: u16,
    /// Read from the type's own input (not from a substitution).
    own: bool,
}

/// What a type turned out to be, for the callers that care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Printed as one piece (`int`, `A<int>*`).
    Plain,
    /// A function or array type, printed around its modifiers
    /// (`void (*)(int)`): c++filt nests these in ways we do not follow.
    Around,
}

/// The name's last unqualified part, for constructors and destructors.
#[derive(Clone, Copy)]
enum Last {
    None,
    Input(u16, u16),
    Fixed(&'static [u8]),
}

/// What a name was, for the encoding that follows it.
#[derive(Clone, Copy, Default)]
struct NameInfo {
    /// Ends with template arguments (so a function has a return type).
    template: bool,
    /// A constructor, destructor or conversion operator (no return type
    /// even when a template).
    ctor_like: bool,
    /// Method qualifiers of a nested name: bit 0 const, 1 volatile, 2
    /// restrict.
    cv: u8,
    /// The same, in mangled order (`K`, `V`, `r`), printed in reverse.
    cv_seq: [u8; 3],
    /// Method ref-qualifier: 0 none, 1 `&`, 2 `&&`.
    rq: u8,
}

struct Dm<'i, 'o> {
    inp: &'i [u8],
    pos: usize,
    end: usize,
    out: &'o mut [u8],
    len: usize,
    subs: [Span; MAX_SUBS],
    nsubs: usize,
    targs: [Span; MAX_TARGS],
    ntargs: usize,
    /// Elements of packs in `targs` (the top-level list only).
    elems: [Span; MAX_TARGS],
    /// The list being read at an encoding's name, and its packs'
    /// elements: `targs` once complete.
    pending: [Span; MAX_TARGS],
    pending_elems: [Span; MAX_TARGS],
    committing: bool,
    /// Inside a re-parse of a span: add nothing to the tables.
    replay: u32,
    /// Pack expansion in progress: which element a pack `T_` stands for.
    pack_index: Option<u8>,
    /// Inside a lambda's signature, where `T_` means its own `auto`.
    in_lambda: u32,
    /// The function or array type being printed was reached through a
    /// substitution.
    base_jumped: bool,
    depth: u32,
    fuel: u32,
    last: Last,
}

/// Demangle the Itanium C++ name `raw` (starting `_Z`) into `out` and
/// return the length written, or `None` when the name is not one, uses a
/// form we do not print, or does not fit.
pub(crate) fn demangle(raw: &[u8], out: &mut [u8]) -> Option<usize> {
    if raw.len() > MAX_INPUT || !raw.starts_with(b"_Z") {
        return None;
    }
    let mut d = Dm {
        inp: raw,
        pos: 2,
        end: raw.len(),
        out,
        len: 0,
        subs: [Span::default(); MAX_SUBS],
        nsubs: 0,
        targs: [Span::default(); MAX_TARGS],
        ntargs: 0,
        elems: [Span::default(); MAX_TARGS],
        pending: [Span::default(); MAX_TARGS],
        pending_elems: [Span::default(); MAX_TARGS],
        committing: false,
        replay: 0,
        pack_index: None,
        in_lambda: 0,
        base_jumped: false,
        depth: 0,
        fuel: FUEL,
        last: Last::None,
    };
    let function = d.encoding(true)?;
    if d.pos < raw.len() && !function {
        return None; // c++filt takes clone suffixes on functions only
    }
    d.clone_suffixes()?;
    if d.pos != raw.len() {
        return None;
    }
    Some(d.len)
}

impl Dm<'_, '_> {
    // ----- input -----

    fn peek(&self) -> u8 {
        if self.pos < self.end {
            self.inp.get(self.pos).copied().unwrap_or(0)
        } else {
            0
        }
    }

    fn peek_at(&self, k: usize) -> u8 {
        match self.pos.checked_add(k) {
            Some(p) if p < self.end => self.inp.get(p).copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == c && c != 0 {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// A decimal `<number>` (with `n` for negative when `neg` is allowed).
    fn number(&mut self) -> Option<usize> {
        let mut n: usize = 0;
        let mut any = false;
        while self.peek().is_ascii_digit() {
            n = n
                .checked_mul(10)?
                .checked_add(usize::from(self.peek() - b'0'))?;
            self.pos += 1;
            any = true;
        }
        any.then_some(n)
    }

    /// A `<seq-id>` in base 36, then `_`: `_` is 0, `0_` is 1, ...
    fn seq_id(&mut self) -> Option<usize> {
        if self.eat(b'_') {
            return Some(0);
        }
        let mut n: usize = 0;
        let mut any = false;
        loop {
            let c = self.peek();
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'A'..=b'Z' => c - b'A' + 10,
                _ => break,
            };
            n = n.checked_mul(36)?.checked_add(usize::from(v))?;
            self.pos += 1;
            any = true;
        }
        if !any {
            return None;
        }
        self.expect(b'_')?;
        n.checked_add(1)
    }

    /// `_` (0) or `<number> _` (number + 1): template param and unnamed
    /// type indices.
    fn opt_number_underscore(&mut self) -> Option<usize> {
        if self.eat(b'_') {
            return Some(0);
        }
        let n = self.number()?;
        self.expect(b'_')?;
        n.checked_add(1)
    }

    fn step(&mut self) -> Option<()> {
        self.fuel = self.fuel.checked_sub(1)?;
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.step()?;
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        Some(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Run `f` over the input span `start..end`, as a replay (nothing is
    /// added to the tables), and require it to use the whole span.
    fn replay_span<T>(
        &mut self,
        start: u16,
        end: u16,
        f: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        self.enter()?;
        let (pos, e) = (self.pos, self.end);
        self.pos = usize::from(start);
        self.end = usize::from(end);
        self.replay += 1;
        let r = f(self);
        let whole = self.pos == self.end;
        self.replay -= 1;
        self.pos = pos;
        self.end = e;
        self.leave();
        if whole {
            r
        } else {
            None
        }
    }

    // ----- output -----

    fn put(&mut self, s: &[u8]) -> Option<()> {
        let end = self.len.checked_add(s.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(s);
        self.len = end;
        Some(())
    }

    fn put_input(&mut self, a: u16, b: u16) -> Option<()> {
        let s = self.inp.get(usize::from(a)..usize::from(b))?;
        let end = self.len.checked_add(s.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(s);
        self.len = end;
        Some(())
    }

    fn put_num(&mut self, mut n: usize) -> Option<()> {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i = i.checked_sub(1)?;
            *buf.get_mut(i)? = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = buf.get(i..)?;
        let end = self.len.checked_add(digits.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(digits);
        self.len = end;
        Some(())
    }

    fn last_out(&self) -> u8 {
        self.len
            .checked_sub(1)
            .and_then(|i| self.out.get(i).copied())
            .unwrap_or(0)
    }

    fn span16(&self, start: usize) -> Option<(u16, u16)> {
        Some((u16::try_from(start).ok()?, u16::try_from(self.pos).ok()?))
    }

    fn add_sub(&mut self, start: usize, is_type: bool) -> Option<()> {
        if self.replay > 0 {
            return Some(());
        }
        let (a, b) = self.span16(start)?;
        let slot = self.subs.get_mut(self.nsubs)?;
        *slot = Span {
            start: a,
            end: b,
            flag: is_type,
            pack_first: 0,
            pack_len: 0,
        };
        self.nsubs += 1;
        Some(())
    }

    // ----- encodings -----

    /// `<encoding>`: a special name, or a name with its parameter types
    /// when it is a function. `top` is the whole symbol's encoding.
    /// Returns whether it is a function (has parameters).
    fn encoding(&mut self, top: bool) -> Option<bool> {
        self.enter()?;
        let r = self.encoding_inner(top);
        self.leave();
        r
    }

    fn encoding_inner(&mut self, top: bool) -> Option<bool> {
        if self.peek() == b'T' || (self.peek() == b'G' && self.peek_at(1) != 0) {
            return self.special_name();
        }
        let start = self.len;
        let info = self.name(true)?;
        if !info.template && top && self.replay == 0 {
            // `T_` means the arguments of the function's own template.
            self.ntargs = 0;
        }
        let c = self.peek();
        if c == 0 || c == b'E' || c == b'.' {
            // A variable (or `main` in a local name): no parameters.
            if info.cv != 0 || info.rq != 0 {
                return None;
            }
            return Some(false);
        }
        if info.template && !info.ctor_like {
            // The return type goes first: print it after the name, then
            // rotate it to the front.
            let name_end = self.len;
            let shape = self.type_()?;
            if shape == Shape::Around {
                return None;
            }
            self.put(b" ")?;
            let moved = self.len.checked_sub(name_end)?;
            self.out.get_mut(start..self.len)?.rotate_right(moved);
        }
        self.params()?;
        let ncv = info.cv.count_ones() as usize;
        for &q in info.cv_seq.get(..ncv)?.iter().rev() {
            self.put(match q {
                b'K' => b" const",
                b'V' => b" volatile",
                _ => b" restrict",
            })?;
        }
        match info.rq {
            1 => self.put(b" &")?,
            2 => self.put(b" &&")?,
            _ => {}
        }
        Some(true)
    }

    /// `<bare-function-type>`: `(T1, T2)`, `()` for a lone `v`.
    fn params(&mut self) -> Option<()> {
        self.put(b"(")?;
        if self.peek() == b'v' {
            self.pos += 1;
        } else {
            let mut first = true;
            let mut parsed = 0usize;
            loop {
                let c = self.peek();
                if c == 0 || c == b'E' || c == b'.' {
                    if parsed == 0 {
                        return None;
                    }
                    break;
                }
                parsed += 1;
                let before = self.len;
                if !first {
                    self.put(b", ")?;
                }
                first = false;
                let at = self.len;
                self.type_()?;
                if self.len == at {
                    // An empty pack expansion: fine alone (`f<>()`),
                    // refused among other parameters.
                    if parsed > 1 || !matches!(self.peek(), 0 | b'E' | b'.') {
                        return None;
                    }
                    self.len = before;
                }
            }
        }
        self.put(b")")
    }

    /// `T...` and `G...` special names.
    fn special_name(&mut self) -> Option<bool> {
        let a = self.peek();
        let b = self.peek_at(1);
        self.pos += 2;
        match (a, b) {
            (b'T', b'V') => {
                self.put(b"vtable for ")?;
                self.type_plain().map(|()| false)
            }
            (b'T', b'T') => {
                self.put(b"VTT for ")?;
                self.type_plain().map(|()| false)
            }
            (b'T', b'I') => {
                self.put(b"typeinfo for ")?;
                self.type_plain().map(|()| false)
            }
            (b'T', b'S') => {
                self.put(b"typeinfo name for ")?;
                self.type_plain().map(|()| false)
            }
            (b'T', b'h') => {
                self.put(b"non-virtual thunk to ")?;
                self.call_offset(b'h')?;
                self.encoding(false).and_then(|f| f.then_some(true))
            }
            (b'T', b'v') => {
                self.put(b"virtual thunk to ")?;
                self.call_offset(b'v')?;
                self.encoding(false).and_then(|f| f.then_some(true))
            }
            (b'T', b'c') => {
                self.put(b"covariant return thunk to ")?;
                let k = self.peek();
                self.pos += 1;
                self.call_offset(k)?;
                let k = self.peek();
                self.pos += 1;
                self.call_offset(k)?;
                self.encoding(false).and_then(|f| f.then_some(true))
            }
            (b'T', b'H') => {
                self.put(b"TLS init function for ")?;
                self.name(false)
                    .and_then(|i| (i.cv == 0 && i.rq == 0).then_some(false))
            }
            (b'T', b'W') => {
                self.put(b"TLS wrapper function for ")?;
                self.name(false)
                    .and_then(|i| (i.cv == 0 && i.rq == 0).then_some(false))
            }
            (b'T', b'C') => {
                // construction vtable for B-in-A: `TC <A> <offset> _ <B>`.
                let start = self.len;
                self.type_plain()?;
                let derived_end = self.len;
                self.eat(b'n');
                self.number()?;
                self.expect(b'_')?;
                self.type_plain()?;
                self.put(b"-in-")?;
                // Now: "A" "B" "-in-": rotate to "B-in-" "A".
                let moved = self.len.checked_sub(derived_end)?;
                self.out.get_mut(start..self.len)?.rotate_right(moved);
                let text = b"construction vtable for ";
                self.put(text)?;
                let l = self.len;
                self.out.get_mut(start..l)?.rotate_right(text.len());
                Some(false)
            }
            (b'G', b'T') if self.peek() == b't' => {
                self.pos += 1;
                self.put(b"transaction clone for ")?;
                self.encoding(false).and_then(|f| f.then_some(true))
            }
            (b'G', b'V') => {
                self.put(b"guard variable for ")?;
                self.name(false)
                    .and_then(|i| (i.cv == 0 && i.rq == 0).then_some(false))
            }
            _ => None,
        }
    }

    /// `h <number> _` or `v <number> _ <number> _`.
    fn call_offset(&mut self, kind: u8) -> Option<()> {
        match kind {
            b'h' => {
                self.eat(b'n');
                self.number()?;
                self.expect(b'_')
            }
            b'v' => {
                self.eat(b'n');
                self.number()?;
                self.expect(b'_')?;
                self.eat(b'n');
                self.number()?;
                self.expect(b'_')
            }
            _ => None,
        }
    }

    /// Clone suffixes: `.cold`, `.isra.0`, `.constprop.1.isra.0`, each
    /// printed ` [clone .NAME]`.
    fn clone_suffixes(&mut self) -> Option<()> {
        while self.pos < self.inp.len() {
            let s = self.inp.get(self.pos..)?;
            let mut i = 0usize;
            if s.first() != Some(&b'.') {
                return None;
            }
            let ok = |c: u8| c.is_ascii_lowercase() || c == b'_' || c.is_ascii_digit();
            if !s.get(1).is_some_and(|&c| ok(c)) {
                return None;
            }
            i += 1;
            if s.get(1)
                .is_some_and(|&c| c.is_ascii_lowercase() || c == b'_')
            {
                while s
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_lowercase() || c == b'_')
                {
                    i += 1;
                }
            }
            loop {
                if s.get(i).is_some_and(u8::is_ascii_digit) {
                    while s.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                } else if s.get(i) == Some(&b'.') && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                } else {
                    break;
                }
            }
            self.put(b" [clone ")?;
            self.put(s.get(..i)?)?;
            self.put(b"]")?;
            self.pos += i;
        }
        Some(())
    }

    // ----- names -----

    /// `<name>`: nested (`N...E`), local (`Z...E`), or unscoped, with
    /// template arguments. `encoding_level` says the name is an
    /// encoding's, whose template arguments the `T_` of its types mean.
    fn name(&mut self, encoding_level: bool) -> Option<NameInfo> {
        self.enter()?;
        let r = self.name_inner(encoding_level);
        self.leave();
        r
    }

    fn name_inner(&mut self, enc: bool) -> Option<NameInfo> {
        match self.peek() {
            b'N' => {
                self.pos += 1;
                self.nested(enc)
            }
            b'Z' => self.local_name(enc),
            _ => {
                let start = self.pos;
                let mut info = NameInfo::default();
                if self.peek() == b'S' && self.peek_at(1) != b't' {
                    // A substitution, maybe with template arguments.
                    self.substitution_as_name()?;
                } else {
                    if self.peek() == b'S' {
                        self.pos += 2;
                        self.put(b"std::")?;
                    }
                    if matches!(self.peek(), b'C' | b'D') {
                        return None;
                    }
                    info.ctor_like = self.unqualified()?;
                    if self.peek() == b'I' {
                        self.add_sub(start, false)?;
                    }
                }
                if self.peek() == b'I' {
                    self.template_args(enc)?;
                    info.template = true;
                }
                Some(info)
            }
        }
    }

    /// `Z <encoding> E <entity> [<discriminator>]`, or `... E s` for a
    /// string literal.
    fn local_name(&mut self, enc: bool) -> Option<NameInfo> {
        self.expect(b'Z')?;
        self.encoding(false)?;
        self.expect(b'E')?;
        self.put(b"::")?;
        let info = if self.eat(b's') {
            self.put(b"string literal")?;
            NameInfo::default()
        } else {
            if self.peek() == b'd' {
                return None; // default argument scopes
            }
            self.name(enc)?
        };
        // Discriminator: `_ <digit>` or `__ <number> _`; not printed.
        if self.peek() == b'_' {
            self.pos += 1;
            if self.eat(b'_') {
                if self.number()? < 10 {
                    return None;
                }
                self.expect(b'_')?;
            } else {
                if !self.peek().is_ascii_digit() {
                    return None;
                }
                self.pos += 1;
            }
        }
        Some(info)
    }

    /// The rest of `N [<CV>] [<ref>] <prefix>... E`.
    fn nested(&mut self, enc: bool) -> Option<NameInfo> {
        let mut info = NameInfo::default();
        loop {
            let bit = match self.peek() {
                b'r' => 4,
                b'V' => 2,
                b'K' => 1,
                _ => break,
            };
            if info.cv & bit != 0 {
                return None;
            }
            *info.cv_seq.get_mut(info.cv.count_ones() as usize)? = self.peek();
            info.cv |= bit;
            self.pos += 1;
        }
        if self.eat(b'R') {
            info.rq = 1;
        } else if self.eat(b'O') {
            info.rq = 2;
        }
        let start = self.pos;
        let lone_sub = self.peek() == b'S';
        let parts = self.components(start, enc, &mut info)?;
        if parts == 0 || (parts == 1 && lone_sub && !info.template) {
            return None;
        }
        self.expect(b'E')?;
        Some(info)
    }

    /// The components of a prefix up to `E` (or the end of the span),
    /// joined with `::`, each prefix added as a substitution. Returns the
    /// number of components.
    fn components(&mut self, start: usize, enc: bool, info: &mut NameInfo) -> Option<usize> {
        let mut n = 0usize;
        loop {
            self.step()?;
            let c = self.peek();
            if c == 0 || c == b'E' {
                return Some(n);
            }
            if c == b'I' {
                if n == 0 {
                    return None;
                }
                self.template_args(enc)?;
                info.template = true;
                if self.peek() != b'E' {
                    self.add_sub(start, false)?;
                }
                continue;
            }
            if n == 0 && matches!(c, b'C' | b'D') {
                return None; // a constructor of nothing
            }
            if n > 0 {
                self.put(b"::")?;
            }
            info.template = false;
            info.ctor_like = false;
            match c {
                b'S' if self.peek_at(1) == b't' => {
                    if n > 0 || matches!(self.peek_at(2), 0 | b'E' | b'I') {
                        return None;
                    }
                    self.pos += 2;
                    self.put(b"std")?;
                    n += 1;
                    continue;
                }
                b'S' | b'T' if n > 0 => return None,
                b'S' => {
                    self.substitution_as_name()?;
                    n += 1;
                    continue;
                }
                b'T' => {
                    self.template_param_as_name()?;
                }
                b'D' if matches!(self.peek_at(1), b'T' | b't' | b'C') => return None,
                _ => {
                    info.ctor_like = self.unqualified()?;
                }
            }
            n += 1;
            if self.peek() != b'E' {
                self.add_sub(start, false)?;
            }
        }
    }

    /// A substitution where a name is expected: `S_`, `S0_`, `Sa`, ...
    fn substitution_as_name(&mut self) -> Option<()> {
        self.expect(b'S')?;
        if let Some(s) = self.std_abbrev()? {
            return self.put_std(s);
        }
        let i = self.seq_id()?;
        let sub = *self.subs.get(i)?;
        if self.replay == 0 && i >= self.nsubs {
            return None;
        }
        if sub.flag {
            self.replay_span(sub.start, sub.end, |d| d.type_().map(|_| ()))
        } else {
            self.replay_span(sub.start, sub.end, |d| {
                let mut info = NameInfo::default();
                let start = d.pos;
                d.components(start, false, &mut info).map(|_| ())
            })
        }
    }

    /// After `S`: one of the `std::` abbreviations (consumed), or `None`
    /// for a numbered substitution.
    fn std_abbrev(&mut self) -> Option<Option<u8>> {
        let c = self.peek();
        if matches!(c, b'a' | b'b' | b's' | b'i' | b'o' | b'd') {
            self.pos += 1;
            return Some(Some(c));
        }
        Some(None)
    }

    fn put_std(&mut self, c: u8) -> Option<()> {
        let (text, last): (&[u8], &'static [u8]) = match c {
            b'a' => (b"std::allocator", b"allocator"),
            b'b' => (b"std::basic_string", b"basic_string"),
            b's' => (
                b"std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
                b"basic_string",
            ),
            b'i' => (
                b"std::basic_istream<char, std::char_traits<char> >",
                b"basic_istream",
            ),
            b'o' => (
                b"std::basic_ostream<char, std::char_traits<char> >",
                b"basic_ostream",
            ),
            b'd' => (
                b"std::basic_iostream<char, std::char_traits<char> >",
                b"basic_iostream",
            ),
            _ => return None,
        };
        self.last = Last::Fixed(last);
        self.put(text)
    }

    /// `T_` where a name is expected.
    fn template_param_as_name(&mut self) -> Option<()> {
        self.expect(b'T')?;
        let i = self.opt_number_underscore()?;
        let t = *self.targs.get(i)?;
        if i >= self.ntargs || t.flag || self.in_lambda > 0 {
            return None;
        }
        self.replay_span(t.start, t.end, |d| d.type_().map(|_| ()))
    }

    /// `<unqualified-name>` (with its ABI tags). Returns whether it is a
    /// constructor, destructor or conversion operator.
    fn unqualified(&mut self) -> Option<bool> {
        let c = self.peek();
        let mut ctor_like = false;
        match c {
            b'0'..=b'9' => self.source_name(true)?,
            b'L' if self.peek_at(1).is_ascii_digit() => {
                self.pos += 1;
                self.source_name(true)?;
            }
            b'C' => {
                self.pos += 1;
                match self.peek() {
                    b'1'..=b'5' => self.pos += 1,
                    _ => return None,
                }
                self.put_last()?;
                ctor_like = true;
            }
            b'D' => {
                self.pos += 1;
                match self.peek() {
                    b'0' | b'1' | b'2' | b'4' | b'5' => self.pos += 1,
                    _ => return None,
                }
                self.put(b"~")?;
                self.put_last()?;
                ctor_like = true;
            }
            b'U' => self.unnamed()?,
            b'a'..=b'z' => {
                ctor_like = self.operator_name()?;
            }
            _ => return None,
        }
        while self.peek() == b'B' {
            self.pos += 1;
            self.put(b"[abi:")?;
            let n = self.number()?;
            if n == 0 {
                return None;
            }
            let a = self.pos;
            let b = a.checked_add(n)?;
            if b > self.end {
                return None;
            }
            self.pos = b;
            self.put_input(u16::try_from(a).ok()?, u16::try_from(b).ok()?)?;
            self.put(b"]")?;
        }
        Some(ctor_like)
    }

    fn put_last(&mut self) -> Option<()> {
        match self.last {
            Last::None => None,
            Last::Input(a, b) => self.put_input(a, b),
            Last::Fixed(s) => self.put(s),
        }
    }

    /// `<length> <identifier>`.
    fn source_name(&mut self, remember: bool) -> Option<()> {
        let n = self.number()?;
        let a = self.pos;
        let b = a.checked_add(n)?;
        if n == 0 || b > self.end {
            return None;
        }
        self.pos = b;
        let id = self.inp.get(a..b)?;
        if !id
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'.')
        {
            return None;
        }
        if id.starts_with(b"_GLOBAL_")
            && matches!(id.get(8), Some(b'.' | b'_' | b'$'))
            && id.get(9) == Some(&b'N')
        {
            // `_GLOBAL__N_1`: the anonymous namespace.
            self.put(b"(anonymous namespace)")?;
        } else {
            self.put(id)?;
        }
        if remember {
            self.last = Last::Input(u16::try_from(a).ok()?, u16::try_from(b).ok()?);
        }
        Some(())
    }

    /// `Ut [n] _` and `Ul <params> E [n] _`.
    fn unnamed(&mut self) -> Option<()> {
        self.expect(b'U')?;
        match self.peek() {
            b't' => {
                self.pos += 1;
                let n = self.opt_number_underscore()?;
                self.put(b"{unnamed type#")?;
                self.put_num(n.checked_add(1)?)?;
                self.put(b"}")
            }
            b'l' => {
                self.pos += 1;
                self.put(b"{lambda")?;
                let saved = self.last;
                self.in_lambda += 1;
                let r = self.params();
                self.in_lambda -= 1;
                r?;
                self.last = saved;
                self.expect(b'E')?;
                let n = self.opt_number_underscore()?;
                self.put(b"#")?;
                self.put_num(n.checked_add(1)?)?;
                self.put(b"}")
            }
            _ => None,
        }
    }

    /// A two-letter operator name, `cv <type>` or `li <source-name>`.
    /// Returns whether it is a conversion operator.
    fn operator_name(&mut self) -> Option<bool> {
        let a = self.peek();
        let b = self.peek_at(1);
        self.pos += 2;
        if (a, b) == (b'c', b'v') {
            self.put(b"operator ")?;
            let saved = self.last;
            self.type_()?;
            self.last = saved;
            return Some(true);
        }
        if (a, b) == (b'l', b'i') {
            self.put(b"operator\"\" ")?;
            self.source_name(false)?;
            return Some(false);
        }
        let text: &[u8] = match (a, b) {
            (b'n', b'w') => b" new",
            (b'n', b'a') => b" new[]",
            (b'd', b'l') => b" delete",
            (b'd', b'a') => b" delete[]",
            (b'p', b's') => b"+",
            (b'n', b'g') => b"-",
            (b'a', b'd') => b"&",
            (b'd', b'e') => b"*",
            (b'c', b'o') => b"~",
            (b'p', b'l') => b"+",
            (b'm', b'i') => b"-",
            (b'm', b'l') => b"*",
            (b'd', b'v') => b"/",
            (b'r', b'm') => b"%",
            (b'a', b'n') => b"&",
            (b'o', b'r') => b"|",
            (b'e', b'o') => b"^",
            (b'a', b'S') => b"=",
            (b'p', b'L') => b"+=",
            (b'm', b'I') => b"-=",
            (b'm', b'L') => b"*=",
            (b'd', b'V') => b"/=",
            (b'r', b'M') => b"%=",
            (b'a', b'N') => b"&=",
            (b'o', b'R') => b"|=",
            (b'e', b'O') => b"^=",
            (b'l', b's') => b"<<",
            (b'r', b's') => b">>",
            (b'l', b'S') => b"<<=",
            (b'r', b'S') => b">>=",
            (b'e', b'q') => b"==",
            (b'n', b'e') => b"!=",
            (b'l', b't') => b"<",
            (b'g', b't') => b">",
            (b'l', b'e') => b"<=",
            (b'g', b'e') => b">=",
            (b's', b's') => b"<=>",
            (b'n', b't') => b"!",
            (b'a', b'a') => b"&&",
            (b'o', b'o') => b"||",
            (b'p', b'p') => b"++",
            (b'm', b'm') => b"--",
            (b'c', b'm') => b",",
            (b'p', b'm') => b"->*",
            (b'p', b't') => b"->",
            (b'c', b'l') => b"()",
            (b'i', b'x') => b"[]",
            (b'q', b'u') => b"?",
            (b'a', b'w') => b" co_await",
            _ => return None,
        };
        self.put(b"operator")?;
        self.put(text)?;
        Some(false)
    }

    // ----- template arguments -----

    /// `I <arg>+ E`, printed `<a, b>` (`> >` when the last ends in `>`).
    /// At `commit` (an encoding's name), they become what `T_` means.
    fn template_args(&mut self, commit: bool) -> Option<()> {
        self.enter()?;
        let commit = commit && self.replay == 0 && !self.committing;
        if commit {
            self.committing = true;
        }
        let r = self.template_args_inner(commit);
        if commit {
            self.committing = false;
        }
        self.leave();
        r
    }

    fn template_args_inner(&mut self, commit: bool) -> Option<()> {
        self.expect(b'I')?;
        let saved_last = self.last;
        if self.last_out() == b'<' {
            self.put(b" ")?;
        }
        self.put(b"<")?;
        let mut n = 0usize;
        let mut ne = 0usize;
        while self.peek() != b'E' {
            if self.peek() == 0 {
                return None;
            }
            if n > 0 {
                self.put(b", ")?;
            }
            let start = self.pos;
            let pack = if self.peek() == b'J' {
                let first = ne;
                self.pos += 1;
                let mut k = 0usize;
                while !self.eat(b'E') {
                    if self.peek() == 0 {
                        return None;
                    }
                    if k > 0 {
                        self.put(b", ")?;
                    }
                    let s = self.pos;
                    self.template_arg()?;
                    let (a, b) = self.span16(s)?;
                    if commit {
                        *self.pending_elems.get_mut(ne)? = Span {
                            start: a,
                            end: b,
                            ..Span::default()
                        };
                        ne += 1;
                    }
                    k += 1;
                }
                if k == 0 && (n > 0 || self.peek() != b'E') {
                    // c++filt's spacing around empty packs among other
                    // arguments is not followed.
                    return None;
                }
                Some((first, k))
            } else {
                self.template_arg()?;
                None
            };
            if commit {
                let (a, b) = self.span16(start)?;
                let entry = Span {
                    start: a,
                    end: b,
                    flag: pack.is_some(),
                    pack_first: u8::try_from(pack.map_or(0, |p| p.0)).ok()?,
                    pack_len: u8::try_from(pack.map_or(0, |p| p.1)).ok()?,
                };
                *self.pending.get_mut(n)? = entry;
            }
            n += 1;
        }
        self.pos += 1;
        if self.last_out() == b'>' {
            self.put(b" ")?;
        }
        self.put(b">")?;
        self.last = saved_last;
        if commit {
            self.targs = self.pending;
            self.ntargs = n;
            self.elems = self.pending_elems;
        }
        Some(())
    }

    /// One `<template-arg>`: a type, a literal `L...E`, or refused.
    fn template_arg(&mut self) -> Option<()> {
        match self.peek() {
            b'L' => self.literal(),
            b'X' => self.expression(),
            b'J' => None,
            _ => self.type_().map(|_| ()),
        }
    }

    /// `X <expression> E`, for the simple expressions of SFINAE'd
    /// library templates: a (variable) template name with arguments,
    /// `sr <type> <name>` (`std::is_x<T>::value`), a template parameter
    /// or a literal. Anything else is refused.
    fn expression(&mut self) -> Option<()> {
        self.enter()?;
        let r = self.expression_inner();
        self.leave();
        r
    }

    fn expression_inner(&mut self) -> Option<()> {
        self.expect(b'X')?;
        let saved_last = self.last;
        match self.peek() {
            b'0'..=b'9' => {
                self.source_name(false)?;
                if self.peek() == b'I' {
                    self.template_args(false)?;
                }
            }
            b's' if self.peek_at(1) == b'r' => {
                self.pos += 2;
                if !matches!(self.peek(), b'S' | b'T' | b'0'..=b'9') {
                    return None;
                }
                self.type_plain()?;
                self.put(b"::")?;
                self.source_name(false)?;
                if self.peek() == b'I' {
                    self.template_args(false)?;
                }
            }
            b'L' => self.literal()?,
            b'T' => self.type_plain()?,
            _ => return None,
        }
        self.last = saved_last;
        self.expect(b'E')
    }

    /// `L <type> <value> E` or `L _Z <encoding> E`.
    fn literal(&mut self) -> Option<()> {
        self.expect(b'L')?;
        if self.peek() == b'_' && self.peek_at(1) == b'Z' {
            self.pos += 2;
            self.encoding(false)?;
            return self.expect(b'E');
        }
        if self.peek() == b'Z' {
            self.pos += 1;
            self.encoding(false)?;
            return self.expect(b'E');
        }
        let ty = self.peek();
        if builtin(ty, self.peek_at(1)).is_none() {
            // An enumerator: `(E)2`.
            self.put(b"(")?;
            self.type_plain()?;
            self.put(b")")?;
            if self.eat(b'n') {
                self.put(b"-")?;
            }
            let a = self.pos;
            self.number()?;
            let b = self.pos;
            self.expect(b'E')?;
            return self.put_input(u16::try_from(a).ok()?, u16::try_from(b).ok()?);
        }
        self.pos += 1;
        let neg = self.eat(b'n');
        let a = self.pos;
        self.number()?;
        let b = self.pos;
        self.expect(b'E')?;
        let (a, b) = (u16::try_from(a).ok()?, u16::try_from(b).ok()?);
        let suffix: Option<&[u8]> = match ty {
            b'i' => Some(b""),
            b'j' => Some(b"u"),
            b'l' => Some(b"l"),
            b'm' => Some(b"ul"),
            b'x' => Some(b"ll"),
            b'y' => Some(b"ull"),
            _ => None,
        };
        if let Some(suf) = suffix {
            if neg {
                self.put(b"-")?;
            }
            self.put_input(a, b)?;
            return self.put(suf);
        }
        if ty == b'b' && !neg {
            return match self.inp.get(usize::from(a)..usize::from(b))? {
                b"0" => self.put(b"false"),
                b"1" => self.put(b"true"),
                _ => None,
            };
        }
        let name = builtin(ty, 0)?.0;
        if matches!(ty, b'v' | b'z' | b'f' | b'd' | b'e' | b'g') {
            return None; // c++filt prints floats as `[hex]`
        }
        self.put(b"(")?;
        self.put(name)?;
        self.put(b")")?;
        if neg {
            self.put(b"-")?;
        }
        self.put_input(a, b)
    }

    // ----- types -----

    /// A type that must print as one piece.
    fn type_plain(&mut self) -> Option<()> {
        match self.type_()? {
            Shape::Plain => Some(()),
            Shape::Around => None,
        }
    }

    /// `<type>`: modifiers, then a base type; printed the way c++filt
    /// does (`char const*`, `void (*)(int)`, `int (&) [3]`).
    fn type_(&mut self) -> Option<Shape> {
        self.enter()?;
        let r = self.type_inner();
        self.leave();
        r
    }

    fn type_inner(&mut self) -> Option<Shape> {
        let mut mods = [Mod::default(); MAX_MODS];
        let mut nmods = 0usize;
        // Where the modifiers of our own input start (substitutions for
        // `PKc` are `Kc` and `PKc`), while not inside a replayed span.
        let mut own = [0u16; MAX_MODS];
        let mut nown = 0usize;
        // Substitutions followed into their spans (to restore after).
        let mut saved: Option<(usize, usize)> = None;
        let mut jumps = 0u32;
        let mut prev_cv = false;
        // The base was a `T_` of our own input (a substitution itself).
        let mut own_param: Option<usize> = None;
        let shape;
        loop {
            self.step()?;
            let c = self.peek();
            let at = self.pos;
            prev_cv = prev_cv && matches!(c, b'K' | b'V' | b'r');
            match c {
                b'P' | b'R' | b'O' | b'K' | b'V' | b'r' | b'C' | b'G' => {
                    self.pos += 1;
                    if matches!(c, b'K' | b'V' | b'r') {
                        // The same qualifier twice in a row is no type.
                        let mut k = nmods;
                        while let Some(prev) = k.checked_sub(1).and_then(|i| mods.get(i)) {
                            if !matches!(prev.kind, b'K' | b'V' | b'r') {
                                break;
                            }
                            if prev.kind == c {
                                return None;
                            }
                            k -= 1;
                        }
                    }
                    *mods.get_mut(nmods)? = Mod {
                        kind: c,
                        a: 0,
                        b: 0,
                        own: jumps == 0,
                    };
                    nmods += 1;
                    // A run of cv-qualifiers is one substitution.
                    let cv = matches!(c, b'K' | b'V' | b'r');
                    if jumps == 0 && !(cv && prev_cv) {
                        *own.get_mut(nown)? = u16::try_from(at).ok()?;
                        nown += 1;
                    }
                    prev_cv = cv;
                    continue;
                }
                b'M' => {
                    // Pointer to member: the class now (its substitutions
                    // are added in order), printed later by replay.
                    self.pos += 1;
                    let cls = self.pos;
                    let mark = self.len;
                    self.type_plain()?;
                    self.len = mark;
                    let (a, b) = self.span16(cls)?;
                    *mods.get_mut(nmods)? = Mod {
                        kind: b'M',
                        a,
                        b,
                        own: jumps == 0,
                    };
                    nmods += 1;
                    if jumps == 0 {
                        *own.get_mut(nown)? = u16::try_from(at).ok()?;
                        nown += 1;
                    }
                }
                b'U' if self.peek_at(1).is_ascii_digit() => {
                    // Vendor qualifier: `U <source-name> <type>`.
                    self.pos += 1;
                    let n = self.number()?;
                    let a = self.pos;
                    let b = a.checked_add(n)?;
                    if n == 0 || b > self.end {
                        return None;
                    }
                    self.pos = b;
                    if self.peek() == b'I' {
                        return None;
                    }
                    *mods.get_mut(nmods)? = Mod {
                        kind: b'U',
                        a: u16::try_from(a).ok()?,
                        b: u16::try_from(b).ok()?,
                        own: jumps == 0,
                    };
                    nmods += 1;
                    if jumps == 0 {
                        *own.get_mut(nown)? = u16::try_from(at).ok()?;
                        nown += 1;
                    }
                }
                b'S' if !matches!(
                    self.peek_at(1),
                    b't' | b'a' | b'b' | b's' | b'i' | b'o' | b'd'
                ) =>
                {
                    // A numbered substitution: follow a type into its
                    // span (its modifiers join ours); a name is a base.
                    let p = self.pos;
                    self.pos += 1;
                    let i = self.seq_id()?;
                    if self.replay == 0 && i >= self.nsubs {
                        return None;
                    }
                    let sub = *self.subs.get(i)?;
                    if sub.flag && self.peek() != b'I' {
                        self.jump(&mut saved, sub.start, sub.end)?;
                        jumps += 1;
                        continue;
                    }
                    self.pos = p;
                    nmods = collapse_refs(&mut mods, nmods)?;
                    self.base_jumped = jumps > 0;
                    shape = self.base_around(mods.get(..nmods)?)?;
                    break;
                }
                b'T' => {
                    let p = self.pos;
                    self.pos += 1;
                    let i = self.opt_number_underscore()?;
                    if self.peek() == b'I' {
                        return None; // template template parameter
                    }
                    if i >= self.ntargs || self.in_lambda > 0 {
                        return None;
                    }
                    let mut t = *self.targs.get(i)?;
                    if t.flag {
                        let k = self.pack_index?;
                        if k >= t.pack_len {
                            return None;
                        }
                        t = *self
                            .elems
                            .get(usize::from(t.pack_first).checked_add(usize::from(k))?)?;
                    }
                    if jumps == 0 {
                        own_param = Some(p);
                    }
                    self.jump(&mut saved, t.start, t.end)?;
                    jumps += 1;
                    if self.peek() == b'L' {
                        return None;
                    }
                }
                _ => {
                    nmods = collapse_refs(&mut mods, nmods)?;
                    self.base_jumped = jumps > 0;
                    shape = self.base_around(mods.get(..nmods)?)?;
                    break;
                }
            }
        }
        // Back from the spans we followed.
        if let Some((pos, end)) = saved {
            if self.pos != self.end {
                return None;
            }
            self.pos = pos;
            self.end = end;
            self.replay = self.replay.checked_sub(jumps)?;
        }
        if let Some(p) = own_param {
            self.add_sub(p, true)?;
        }
        for &m in own.get(..nown)?.iter().rev() {
            self.add_sub(usize::from(m), true)?;
        }
        Some(shape)
    }

    /// Follow the span `start..end` as the rest of the current type.
    fn jump(&mut self, saved: &mut Option<(usize, usize)>, start: u16, end: u16) -> Option<()> {
        self.enter()?;
        self.leave();
        if saved.is_none() {
            *saved = Some((self.pos, self.end));
        } else if self.pos != self.end {
            // A type substitution is always the whole rest of the type.
            return None;
        }
        self.pos = usize::from(start);
        self.end = usize::from(end);
        self.replay += 1;
        Some(())
    }

    /// The base type, with the modifiers `mods` (outermost first) printed
    /// after it, or inside it for functions and arrays.
    fn base_around(&mut self, mods: &[Mod]) -> Option<Shape> {
        match self.peek() {
            b'F' => self.function_type(mods),
            b'A' => self.array_type(mods),
            _ => {
                let s = self.base()?;
                self.put_mods(mods, false)?;
                Some(s)
            }
        }
    }

    /// Print modifiers innermost first. `inside`: within `(...)` of a
    /// function or array type.
    fn put_mods(&mut self, mods: &[Mod], inside: bool) -> Option<()> {
        for (k, m) in mods.iter().enumerate().rev() {
            match m.kind {
                b'P' => self.put(b"*")?,
                b'R' => self.put(b"&")?,
                b'O' => self.put(b"&&")?,
                b'K' => self.put(b" const")?,
                b'V' => self.put(b" volatile")?,
                b'r' => self.put(b" restrict")?,
                b'C' => self.put(b" _Complex")?,
                b'G' => self.put(b" _Imaginary")?,
                b'U' => {
                    self.put(b" ")?;
                    self.put_input(m.a, m.b)?;
                }
                b'M' => {
                    let innermost = k + 1 == mods.len();
                    if !(inside && innermost) {
                        self.put(b" ")?;
                    }
                    self.replay_span(m.a, m.b, |d| d.type_plain())?;
                    self.put(b"::*")?;
                }
                _ => return None,
            }
        }
        Some(())
    }

    /// `F [Y] <return> <params> E`.
    fn function_type(&mut self, mods: &[Mod]) -> Option<Shape> {
        let jumped = self.base_jumped;
        let start = self.pos;
        self.expect(b'F')?;
        self.eat(b'Y');
        let saved_last = self.last;
        if self.type_()? == Shape::Around {
            return None;
        }
        // cv-qualifiers right before `F` qualify the function itself.
        let mut split = mods.len();
        while split > 0
            && mods
                .get(split - 1)
                .is_some_and(|m| matches!(m.kind, b'K' | b'V' | b'r'))
        {
            split -= 1;
        }
        let (outer, quals) = mods.split_at(split);
        if quals.iter().any(|m| m.own) && jumped {
            // Qualifiers on a substituted function type: c++filt prints
            // them elsewhere.
            return None;
        }
        if !outer.is_empty() {
            self.put(b" (")?;
            self.put_mods(outer, true)?;
            self.put(b")")?;
        } else {
            self.put(b" ")?;
        }
        self.params()?;
        if matches!(self.peek(), b'R' | b'O') {
            return None;
        }
        self.expect(b'E')?;
        self.put_mods(quals, true)?;
        self.last = saved_last;
        if quals.is_empty() {
            // A cv-qualified function type is one substitution with its
            // qualifiers (added by the caller at the first of them).
            self.add_sub(start, true)?;
        }
        Some(Shape::Around)
    }

    /// `A <number> _ <type>` or `A _ <type>`.
    fn array_type(&mut self, mods: &[Mod]) -> Option<Shape> {
        if mods
            .last()
            .is_some_and(|m| matches!(m.kind, b'K' | b'V' | b'r' | b'C' | b'G' | b'U'))
        {
            return None; // c++filt moves these to the element type
        }
        let start = self.pos;
        self.expect(b'A')?;
        let a = self.pos;
        if !self.eat(b'_') {
            self.number()?;
            self.expect(b'_')?;
        }
        let b = self.pos.checked_sub(1)?;
        // Nested arrays print `int [2][3]`: collect the bounds first.
        let mut dims = [(0u16, 0u16); 4];
        let mut nd = 1usize;
        *dims.get_mut(0)? = (u16::try_from(a).ok()?, u16::try_from(b).ok()?);
        let mut starts = [0u16; 4];
        *starts.get_mut(0)? = u16::try_from(start).ok()?;
        while self.peek() == b'A' {
            let s = self.pos;
            self.pos += 1;
            let a = self.pos;
            if !self.eat(b'_') {
                self.number()?;
                self.expect(b'_')?;
            }
            let b = self.pos.checked_sub(1)?;
            *dims.get_mut(nd)? = (u16::try_from(a).ok()?, u16::try_from(b).ok()?);
            *starts.get_mut(nd)? = u16::try_from(s).ok()?;
            nd += 1;
        }
        if self.type_()? == Shape::Around {
            return None;
        }
        if mods.is_empty() {
            self.put(b" ")?;
        } else {
            self.put(b" (")?;
            self.put_mods(mods, true)?;
            self.put(b") ")?;
        }
        for &(a, b) in dims.get(..nd)? {
            self.put(b"[")?;
            self.put_input(a, b)?;
            self.put(b"]")?;
        }
        for &s in starts.get(..nd)?.iter().rev() {
            self.add_sub(usize::from(s), true)?;
        }
        Some(Shape::Around)
    }

    /// A base type: builtin, class/enum name (with template arguments),
    /// substitution, pack expansion.
    fn base(&mut self) -> Option<Shape> {
        let start = self.pos;
        let c = self.peek();
        if let Some((name, len)) = builtin(c, self.peek_at(1)) {
            if c == b'D' && self.peek_at(1) == b'F' {
                // `DF <number> _`: _FloatN.
                self.pos += 2;
                let a = self.pos;
                self.number()?;
                let b = self.pos;
                self.expect(b'_')?;
                self.put(b"_Float")?;
                return self
                    .put_input(u16::try_from(a).ok()?, u16::try_from(b).ok()?)
                    .map(|_| Shape::Plain);
            }
            self.pos += len;
            self.put(name)?;
            return Some(Shape::Plain);
        }
        match c {
            b'D' if self.peek_at(1) == b'p' => {
                // Pack expansion: `Dp <type>` over a pack `T_`.
                self.pos += 2;
                let operand = self.pos;
                let (n, end) = self.pack_of(operand)?;
                let saved = self.pack_index;
                for k in 0..n {
                    if k > 0 {
                        self.put(b", ")?;
                    }
                    self.pack_index = Some(k);
                    self.pos = operand;
                    let mark = self.replay;
                    self.replay = mark.checked_add(1)?;
                    let r = self.type_();
                    self.replay = mark;
                    r?;
                    if self.pos != end {
                        return None;
                    }
                }
                self.pack_index = saved;
                self.pos = end;
                // Add the operand's own substitutions once, silently.
                {
                    let mark = self.len;
                    self.pos = operand;
                    self.pack_index = Some(0);
                    let r = if n == 0 {
                        Some(Shape::Plain)
                    } else {
                        self.type_()
                    };
                    self.pack_index = saved;
                    self.len = mark;
                    r?;
                    self.pos = end;
                }
                self.add_sub(start, true)?;
                Some(Shape::Plain)
            }
            b'D' => None,
            b'u' => {
                self.pos += 1;
                self.source_name(false)?;
                self.add_sub(start, true)?;
                Some(Shape::Plain)
            }
            b'S' if self.peek_at(1) != b't' => {
                self.pos += 1;
                let is_abbrev = matches!(self.peek(), b'a' | b'b' | b's' | b'i' | b'o' | b'd');
                let saved_last = self.last;
                if is_abbrev {
                    let ab = self.peek();
                    self.pos += 1;
                    self.put_std(ab)?;
                } else {
                    let i = self.seq_id()?;
                    if self.replay == 0 && i >= self.nsubs {
                        return None;
                    }
                    let sub = *self.subs.get(i)?;
                    if sub.flag {
                        self.replay_span(sub.start, sub.end, |d| d.type_plain())?;
                    } else {
                        self.replay_span(sub.start, sub.end, |d| {
                            let mut info = NameInfo::default();
                            let s = d.pos;
                            d.components(s, false, &mut info).map(|_| ())
                        })?;
                    }
                }
                if self.peek() == b'I' {
                    self.template_args(false)?;
                    self.add_sub(start, true)?;
                }
                self.last = saved_last;
                Some(Shape::Plain)
            }
            b'0'..=b'9' | b'N' | b'Z' | b'S' => {
                // A class or enum type: a name.
                let saved_last = self.last;
                let info = self.name(false)?;
                if info.cv != 0 || info.rq != 0 {
                    return None;
                }
                self.last = saved_last;
                self.add_sub(start, true)?;
                Some(Shape::Plain)
            }
            _ => None,
        }
    }

    /// For `Dp <operand>`: the number of elements of the pack its `T_`
    /// names, and where the operand ends (parsed silently).
    fn pack_of(&mut self, operand: usize) -> Option<(u8, usize)> {
        // The operand is modifiers and then `T <n> _`, or a substitution
        // that is (modifiers and) `T <n> _`.
        let (pos, end) = (self.pos, self.end);
        self.pos = operand;
        let mut out_end = None;
        let mut hops = 0;
        let r = loop {
            while matches!(self.peek(), b'P' | b'R' | b'O' | b'K' | b'V' | b'r') {
                self.pos += 1;
            }
            match self.peek() {
                b'T' => {
                    self.pos += 1;
                    let Some(i) = self.opt_number_underscore() else {
                        break None;
                    };
                    if out_end.is_none() {
                        out_end = Some(self.pos);
                    }
                    break Some(i);
                }
                b'S' if hops < 4 => {
                    self.pos += 1;
                    let Some(i) = self.seq_id() else {
                        break None;
                    };
                    if out_end.is_none() {
                        out_end = Some(self.pos);
                    }
                    let Some(sub) = self
                        .subs
                        .get(i)
                        .copied()
                        .filter(|s| s.flag && i < self.nsubs)
                    else {
                        break None;
                    };
                    self.pos = usize::from(sub.start);
                    self.end = usize::from(sub.end);
                    hops += 1;
                }
                _ => break None,
            }
        };
        self.pos = pos;
        self.end = end;
        let i = r?;
        if i >= self.ntargs {
            return None;
        }
        let t = *self.targs.get(i)?;
        if !t.flag {
            return None;
        }
        Some((t.pack_len, out_end?))
    }
}

/// Reference collapsing, as c++filt prints a reference to a substituted
/// reference: `& &`, `& &&` and `&& &` are `&`; `&& &&` is `&&`. Only one
/// collapse, of a reference of our own onto one from a substitution (what
/// c++filt does with more is not followed). Returns the new count.
fn collapse_refs(mods: &mut [Mod; MAX_MODS], n: usize) -> Option<usize> {
    let mut n = n.min(MAX_MODS);
    let mut k = 0usize;
    let mut done = false;
    while k + 1 < n {
        let (outer, inner) = (*mods.get(k)?, *mods.get(k + 1)?);
        if matches!(outer.kind, b'R' | b'O') && matches!(inner.kind, b'R' | b'O') {
            if done || inner.own {
                return None;
            }
            done = true;
            let kind = if outer.kind == b'O' && inner.kind == b'O' {
                b'O'
            } else {
                b'R'
            };
            mods.get_mut(k)?.kind = kind;
            mods.get_mut(k..n)?.copy_within(2.., 1);
            n -= 1;
        } else {
            k += 1;
        }
    }
    Some(n)
}

/// A builtin type's name and code length, or `None`.
fn builtin(c: u8, next: u8) -> Option<(&'static [u8], usize)> {
    Some(match c {
        b'v' => (b"void", 1),
        b'w' => (b"wchar_t", 1),
        b'b' => (b"bool", 1),
        b'c' => (b"char", 1),
        b'a' => (b"signed char", 1),
        b'h' => (b"unsigned char", 1),
        b's' => (b"short", 1),
        b't' => (b"unsigned short", 1),
        b'i' => (b"int", 1),
        b'j' => (b"unsigned int", 1),
        b'l' => (b"long", 1),
        b'm' => (b"unsigned long", 1),
        b'x' => (b"long long", 1),
        b'y' => (b"unsigned long long", 1),
        b'n' => (b"__int128", 1),
        b'o' => (b"unsigned __int128", 1),
        b'f' => (b"float", 1),
        b'd' => (b"double", 1),
        b'e' => (b"long double", 1),
        b'g' => (b"__float128", 1),
        b'z' => (b"...", 1),
        b'D' => match next {
            b'd' => (b"decimal64", 2),
            b'e' => (b"decimal128", 2),
            b'f' => (b"decimal32", 2),
            b'h' => (b"half", 2),
            b'i' => (b"char32_t", 2),
            b's' => (b"char16_t", 2),
            b'u' => (b"char8_t", 2),
            b'a' => (b"auto", 2),
            b'c' => (b"decltype(auto)", 2),
            b'n' => (b"decltype(nullptr)", 2),
            b'F' => (b"_Float", 2),
            _ => return None,
        },
        _ => return None,
    })
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
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    fn dm(name: &str) -> Option<String> {
        let mut out = vec![0u8; 1 << 16];
        let n = demangle(name.as_bytes(), &mut out)?;
        Some(String::from_utf8(out[..n].to_vec()).unwrap())
    }

    /// `c++filt` on each name (one process for all), or `None` when it is
    /// not installed.
    pub(crate) fn cplusfilt(names: &[String]) -> Option<Vec<String>> {
        let mut child = Command::new("c++filt")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take().unwrap();
        let input = names.join("\n") + "\n";
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(lines.len(), names.len());
        Some(lines)
    }

    /// The dynamic symbols of the system's libstdc++ (names only, without
    /// versions), or nothing when it or `nm` is missing.
    pub(crate) fn libstdcxx_names() -> Vec<String> {
        let paths = [
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6",
        ];
        for p in paths {
            let Ok(out) = Command::new("nm")
                .args(["-D", "--defined-only", p])
                .output()
            else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().last())
                .map(|n| n.split('@').next().unwrap_or(n).to_string())
                .filter(|n| n.starts_with("_Z"))
                .collect();
            v.sort();
            v.dedup();
            return v;
        }
        Vec::new()
    }

    /// Compare with c++filt: every name we demangle must read exactly as
    /// c++filt prints it. Returns (demangled by c++filt, by us).
    pub(crate) fn compare(names: &[String]) -> Option<(usize, usize, Vec<String>)> {
        let want = cplusfilt(names)?;
        let (mut theirs, mut ours) = (0, 0);
        let mut bad = Vec::new();
        let mut refused = Vec::new();
        for (n, w) in names.iter().zip(&want) {
            let got = dm(n);
            if w != n {
                theirs += 1;
            }
            match got {
                Some(g) if &g == w => ours += 1,
                Some(g) => bad.push(format!("{n}\n  ours:     {g}\n  c++filt:  {w}")),
                None if w != n => refused.push(n.clone()),
                None => {}
            }
        }
        assert!(
            bad.is_empty(),
            "{} differ from c++filt:\n{}",
            bad.len(),
            bad.join("\n")
        );
        Some((theirs, ours, refused))
    }

    #[test]
    fn handpicked_names_match_cplusfilt() {
        let names: Vec<String> = HANDPICKED.iter().map(|s| s.to_string()).collect();
        let Some((theirs, ours, refused)) = compare(&names) else {
            eprintln!("c++filt not installed: skipped");
            return;
        };
        assert_eq!(ours, theirs, "refused: {refused:#?}");
    }

    #[test]
    fn libstdcxx_names_match_cplusfilt() {
        let names = libstdcxx_names();
        if names.is_empty() {
            eprintln!("no libstdc++ or nm: skipped");
            return;
        }
        let Some((theirs, ours, refused)) = compare(&names) else {
            eprintln!("c++filt not installed: skipped");
            return;
        };
        eprintln!(
            "libstdc++: {ours} of {theirs} names demangled as c++filt does ({:.1}%); refused e.g. {:?}",
            100.0 * ours as f64 / theirs as f64,
            refused.iter().filter(|n| !n.starts_with("_ZGTt")).take(40).collect::<Vec<_>>()
        );
        assert!(
            ours * 100 >= theirs * 90,
            "match rate too low: {ours}/{theirs}"
        );
    }

    /// Every C++ symbol of the fixture `c-fixtures/so_cxx.cpp`
    /// (namespaces, templates, operators, lambdas, std:: types), compiled
    /// now with the system C++ compiler, demangles exactly as c++filt
    /// prints it.
    #[test]
    fn cxx_fixture_names_match_cplusfilt() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("c-fixtures/so_cxx.cpp");
        let dir = std::env::temp_dir().join(format!("fh-cxx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let obj = dir.join("so_cxx.o");
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
        let built = Command::new(&cxx)
            .args(["-O1", "-g", "-fno-inline", "-c", "-o"])
            .arg(&obj)
            .arg(&src)
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("no C++ compiler ({cxx}): skipped");
            return;
        }
        let out = Command::new("nm").arg(&obj).output().expect("nm");
        let _ = std::fs::remove_dir_all(&dir);
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .filter(|n| n.starts_with("_Z"))
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        assert!(names.len() > 100, "{names:?}");
        for must in [
            "_ZN3acc6WidgetIiE4pokeEiPKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
            "_ZTVN3acc7DerivedE",
        ] {
            assert!(names.iter().any(|n| n == must), "{must} not in the fixture");
        }
        let Some((theirs, ours, refused)) = compare(&names) else {
            eprintln!("c++filt not installed: skipped");
            return;
        };
        eprintln!(
            "fixture: {ours} of {theirs} names demangled as c++filt does; refused: {refused:?}"
        );
        // Only names with expressions in them (SFINAE's `enable_if<X...E>`)
        // are refused.
        let unexplained: Vec<&String> = refused
            .iter()
            .filter(|n| !n.contains("IX") && !n.contains("DT"))
            .collect();
        assert!(unexplained.is_empty(), "refused: {unexplained:#?}");
        assert!(ours * 100 >= theirs * 95, "{ours}/{theirs}");
    }

    /// Random cuts and byte changes of real names never panic, never
    /// overrun the buffer, and stay bounded.
    #[test]
    fn mutated_names_never_panic() {
        let mut names: Vec<String> = HANDPICKED.iter().map(|s| s.to_string()).collect();
        names.extend(libstdcxx_names().into_iter().step_by(
            if std::env::var("FH_MUTANTS").is_ok() {
                1
            } else {
                7
            },
        ));
        let alphabet = b"_0123456789ABCDEFIJKLMNOPRSTUVZabcdefghijklmnopqrstuvwxyz.$";
        // FH_MUTANTS=N tries N mutants a name (40 by default), with seed
        // FH_SEED.
        let rounds: usize = std::env::var("FH_MUTANTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        let mut seed: u64 = std::env::var("FH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut out = [0u8; 512];
        let mut small = [0u8; 16];
        let mut runs = 0;
        let mut accepted = Vec::new();
        for n in &names {
            let b = n.as_bytes();
            for cut in 0..=b.len() {
                let _ = demangle(&b[..cut], &mut out);
            }
            for _ in 0..rounds {
                let mut m = b.to_vec();
                for _ in 0..1 + rand() % 3 {
                    let i = (rand() as usize) % m.len();
                    let c = alphabet[(rand() as usize) % alphabet.len()];
                    match rand() % 3 {
                        0 => m[i] = c,
                        1 => m.insert(i, c),
                        _ => {
                            m.remove(i);
                        }
                    }
                    if m.is_empty() {
                        break;
                    }
                }
                if let Some(len) = demangle(&m, &mut out) {
                    assert!(len <= out.len());
                    if let Ok(s) = String::from_utf8(m.clone()) {
                        accepted.push(s);
                    }
                }
                let _ = demangle(&m, &mut small);
                runs += 1;
            }
        }
        assert!(runs > 1000);
        // What we accept of the mutants must still read as c++filt
        // prints it (the names c++filt refuses too included).
        accepted.retain(|n| !n.contains(char::is_whitespace) && !n.is_empty());
        accepted.sort();
        accepted.dedup();
        if let Some(want) = cplusfilt(&accepted) {
            let bad: Vec<String> = accepted
                .iter()
                .zip(&want)
                .filter(|(n, w)| dm(n).as_ref() != Some(*w))
                .map(|(n, w)| format!("{n}\n  ours:    {:?}\n  c++filt: {w}", dm(n)))
                .collect();
            eprintln!(
                "mutants accepted: {}, differing: {}",
                accepted.len(),
                bad.len()
            );
            assert!(bad.is_empty(), "{}", bad[..bad.len().min(30)].join("\n"));
        }
        // Pathological nesting and repetition: refused, not overflowed.
        let deep = format!("_Z1f{}iE", "PFv".repeat(300));
        assert!(demangle(deep.as_bytes(), &mut out).is_none());
        let deep = format!("_Z1fI{}iE{}vv", "N1AI".repeat(200), "EE".repeat(200));
        assert!(demangle(deep.as_bytes(), &mut out).is_none());
        let subs = format!("_Z1fP1A{}", "S_S0_S1_S2_".repeat(100));
        let _ = demangle(subs.as_bytes(), &mut out);
        // Output that does not fit is refused.
        assert!(demangle(b"_ZN3acc6WidgetIiE4pokeEi", &mut small).is_none());
    }

    /// The demangler's stack use stays small: every libstdc++ name on a
    /// 16 KiB thread stack, and the deepest nesting it accepts on 32 KiB
    /// (the test build is not the release build; the handler runs it on
    /// the 1 MiB symbolizer stack).
    #[test]
    fn fits_a_small_stack() {
        let mut names: Vec<String> = HANDPICKED.iter().map(|s| s.to_string()).collect();
        names.extend(libstdcxx_names());
        let run = |names: Vec<String>, kib: usize| {
            std::thread::Builder::new()
                .stack_size(kib << 10)
                .spawn(move || {
                    let mut out = [0u8; 512];
                    names
                        .iter()
                        .filter(|n| demangle(n.as_bytes(), &mut out).is_some())
                        .count()
                })
                .unwrap()
                .join()
                .unwrap()
        };
        assert!(run(names, 16) > 50);
        let deep = vec![
            format!("_Z1fI{}iE{}vv", "N1AI".repeat(60), "EE".repeat(60)),
            format!("_Z1f{}vE", "PFPFv".repeat(60)),
            format!("_Z1fI{}iE{}vv", "1AI".repeat(60), "E".repeat(60)),
        ];
        run(deep, 32);
    }

    /// The stack the demangler uses, measured: the stack below us is
    /// painted, every libstdc++ name demangled, and the deepest byte
    /// touched found. Printed, and bounded (16 KiB for real names).
    #[test]
    #[allow(unsafe_code)]
    fn stack_use_is_measured() {
        let mut names: Vec<String> = HANDPICKED.iter().map(|s| s.to_string()).collect();
        names.extend(libstdcxx_names());
        let deep = vec![
            format!("_Z1fI{}iE{}vv", "N1AI".repeat(60), "EE".repeat(60)),
            format!("_Z1f{}vE", "PFPFv".repeat(60)),
        ];
        let measure = |names: Vec<String>| -> usize {
            std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || {
                    const PAINT: usize = 256 << 10;
                    let here = 0u8;
                    let top = std::hint::black_box(&here) as *const u8 as usize;
                    let low = top - PAINT;
                    // SAFETY: the thread's 1 MiB stack is mapped below
                    // us and unused (no signal handler runs on it here);
                    // we paint it below a 4 KiB margin, then read it back.
                    unsafe {
                        for a in low..top - 4096 {
                            std::ptr::write_volatile(a as *mut u8, 0xA5);
                        }
                    }
                    let mut out = [0u8; 512];
                    for n in &names {
                        let _ = std::hint::black_box(demangle(
                            std::hint::black_box(n.as_bytes()),
                            &mut out,
                        ));
                    }
                    let mut deepest = top - 4096;
                    // SAFETY: as above.
                    unsafe {
                        for a in low..top - 4096 {
                            if std::ptr::read_volatile(a as *const u8) != 0xA5 {
                                deepest = a;
                                break;
                            }
                        }
                    }
                    top - deepest
                })
                .unwrap()
                .join()
                .unwrap()
        };
        let short: Vec<String> = names.iter().filter(|n| n.len() <= 64).cloned().collect();
        let real = measure(names);
        let real_short = measure(short);
        let worst = measure(deep);
        eprintln!(
            "demangler stack: {real} bytes for libstdc++'s names ({real_short} for those of \
             at most 64 bytes), {worst} at the depth bound"
        );
        assert!(real <= 16 << 10, "{real}");
        assert!(worst <= 64 << 10, "{worst}");
    }

    /// Names with the forms the demangler knows, each checked against
    /// c++filt at test time.
    const HANDPICKED: &[&str] = &[
        "_Z1fv.isra.0.cold",
        "_Z1fv.cold",
        "_Z1fPFviE",
        "_Z1fSt8functionIFviEE",
        "_ZN1AIiE1fIcEEvT_",
        "_Z1fIiEvT_",
        "_Z1fIiET_v",
        "_ZNSsC1Ev",
        "_ZNSs4sizeEv",
        "_Z1fSs",
        "_Z1fSo",
        "_ZNSoC1Ev",
        "_Z1fRA3_i",
        "_Z1fA3_i",
        "_Z1fPA3_i",
        "_Z1fM1AFviE",
        "_Z1fM1Ai",
        "_ZNK1A1fEv",
        "_ZNR1A1fEv",
        "_ZNKO1A1fEv",
        "_Z1fKPFviE",
        "_Z1fIJicEEvDpT_",
        "_Z1fIJEEvDpT_",
        "_Z1fILi3ELb1ELj5ELc65ELl5ELm5EEvv",
        "_ZZ4mainENKUlvE_clEv",
        "_ZZ4mainENKUliE0_clEi",
        "_ZN12_GLOBAL__N_11fEv",
        "_ZTV1A",
        "_ZTI1A",
        "_ZTS1A",
        "_ZThn8_N1A1fEv",
        "_ZTv0_n24_N1A1fEv",
        "_ZGVZ1fvE1x",
        "_ZN1AcviEv",
        "_ZN1AlsERi",
        "_ZN1AclEv",
        "_ZN1AixEi",
        "_Z1fDn",
        "_Z1fPDn",
        "_ZN1A1fB5cxx11Ev",
        "_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC1Ev",
        "_Z1fNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
        "_ZN1AD0Ev",
        "_ZN1AC2Ev",
        "_Z1fU7_Atomici",
        "_Z1fVKi",
        "_Z1fPVKi",
        "_Z1frPi",
        "_Z1fPrKi",
        "_ZN1AUt_E",
        "_ZN1AUt0_1fEv",
        "_Z1fv.part.0.isra.0",
        "_Z1fv.constprop.0.isra.0",
        "_Z1fv.lto_priv.0",
        "_Z1fv.cold.1",
        "_ZlsIcEvv",
        "_ZltIcEvv",
        "_Z1fILin5ELx5ELy5ELs5ELt5ELa5ELh5ELb0ELw65EEvv",
        "_Z1fIL_Z1gvEEvv",
        "_Z1fA2_A3_i",
        "_Z1fz",
        "_Z1fiz",
        "_Z1fPFvvE",
        "_Z1fM1AKFvvE",
        "_Z1fPM1Ai",
        "_Z1fRKM1AFviE",
        "_Z1fIJicEEvDpPT_",
        "_ZN1AC1ERKS_",
        "_ZN1AIiEC1ERKS0_",
        "_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_",
        "_ZTC1B0_1A",
        "_ZTH1x",
        "_ZTW1x",
        "_ZTT1A",
        "_ZTcv0_n12_h8_N1A1fEv",
        "_ZNK1AcvPKcEv",
        "_ZL3foov",
        "_ZN1AL3fooEv",
        "_Z1fU3fooi",
        "_Z1fPU3fooi",
        "_ZN1AnwEm",
        "_ZN1AdaEPv",
        "_ZN1AawEv",
        "_ZN1AssERKS_",
        "_Z1fDF16_",
        "_Z1fDu",
        "_Z1fIiLi0EEvv",
        "_ZN1ApsEv",
        "_Z1fPKFvvE",
        "_Z1fIFivEEvv",
        "_Z1fIPFivEEvv",
        "_Z1fA_i",
        "_Z1fRA_i",
        "_ZNKSt8functionIFvvEEclEv",
        "_ZZ1fvE1x_0",
        "_ZZ1fvE1x__12_",
        "_ZZ1fvEs",
        "_Z1fIiEvv.cold",
        "_ZZ4mainENKUlvE_clERKS_",
        "_ZZ4mainENK1AclERKS_",
        "_ZZ1fvEN1A1gERKS_",
        "_ZN1A1fEPFvS_E",
        "_Z1fIiEvT_S_",
        "_Z1fIiEvT_S0_",
        "_ZN1AIiE1fES0_",
        "_ZN1AIiE1fES_",
        "_ZN3acc6WidgetIiE4pokeEi",
        "_ZNSt6vectorIiSaIiEE9push_backERKi",
        "_ZNSt6vectorIiSaIiEEC2Ev",
        "_ZNSt3mapIiSsSt4lessIiESaISt4pairIKiSsEEEixERS3_",
        "_ZSt4moveIRiEONSt16remove_referenceIT_E4typeEOS2_",
        "_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE4sizeEv",
    ];
}
