//! Async-signal-safe. Rust and C++ symbol demangling into a fixed buffer.
//!
//! `rustc-demangle` is `no_std` and allocates nothing; it formats through
//! `core::fmt::Write`, which we point at a byte buffer. `{:#}` leaves out
//! the legacy hash suffix (`17h0123456789abcdefE`).
//!
//! C++ names (Itanium ABI, `_Z...`) go through our own demangler
//! ([`itanium`]), which prints them as GNU `c++filt` does, with fixed
//! tables on the stack (about 3 KiB) and bounded recursion. Rust legacy
//! names also start with `_ZN`: a name ending in a Rust hash
//! (`17h<16 hex>E`) goes to `rustc-demangle` first; any other `_Z` name to
//! the C++ demangler, then to `rustc-demangle` if the C++ one refused it.
//! A C++ name that the demangler refuses (a form it does not know) or whose
//! readable form does not fit is shown mangled.
//!
//! Two bounds keep this safe in a crash handler:
//! - the input is capped at [`NAME_CAP`] bytes: a longer mangled name is
//!   not demangled but shown cut (its first bytes and `...`), so the work
//!   is bounded;
//! - v0 names are demangled recursively (up to 500 levels inside
//!   `rustc-demangle`, a few hundred bytes to 1.7 KB of stack each), which
//!   would overflow an 8 KiB alternate stack. The handler therefore calls
//!   [`demangle_into`] on the symbolizer's own stack (see `stack`).
//!
//! Output longer than the buffer is cut and ends with `...`.

use core::fmt::Write;

mod itanium;

/// Longest mangled name that is demangled; longer ones are shown cut.
pub(crate) const NAME_CAP: usize = 2048;

/// A `core::fmt::Write` sink over a byte slice that fails (stopping the
/// formatter) instead of overflowing.
struct SliceWriter<'a> {
    out: &'a mut [u8],
    len: usize,
    full: bool,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.out.len().saturating_sub(self.len);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.out.get_mut(self.len..self.len + n),
            s.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < s.len() {
            self.full = true;
            return Err(core::fmt::Error);
        }
        Ok(())
    }
}

/// Whether `raw` is a Rust legacy name: `_ZN...17h<16 hex>E`, maybe with
/// a `.suffix`.
pub(crate) fn has_rust_hash(raw: &[u8]) -> bool {
    // `17h` + 16 hex digits + `E`, then the end or a `.suffix`.
    raw.windows(20).enumerate().any(|(i, w)| {
        w.starts_with(b"17h")
            && w.get(3..19)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            && w.get(19) == Some(&b'E')
            && matches!(raw.get(i + 20), None | Some(b'.'))
    })
}

/// Demangle a C++ name into `out` as `c++filt` prints it, or `None` (the
/// C++ demangler's stack frame is only made when it runs).
#[inline(never)]
pub(crate) fn cpp_into(raw: &[u8], out: &mut [u8]) -> Option<usize> {
    itanium::demangle(raw, out)
}

/// Write the readable form of the symbol name `raw` into `out` and return
/// its length: a Rust name (legacy or v0) demangled without its hash; a
/// C++ name as `c++filt` prints it; any other name (C) as it is. `complete` says whether `raw` is the
/// whole name or was cut when it was read; a cut name, or one longer than
/// [`NAME_CAP`], is not demangled but shown as its first bytes and `...`.
/// Bytes outside printable ASCII become `?`.
pub(crate) fn demangle_into(raw: &[u8], complete: bool, out: &mut [u8]) -> usize {
    let mut w = SliceWriter {
        out,
        len: 0,
        full: false,
    };
    let cut = !complete || raw.len() > NAME_CAP;
    let cpp_first = raw.starts_with(b"_Z") && !has_rust_hash(raw);
    let demangled = if cut {
        false
    } else if let Some(n) = cpp_first.then(|| cpp_into(raw, w.out)).flatten() {
        w.len = n;
        true
    } else {
        match core::str::from_utf8(raw) {
            Ok(s) => match rustc_demangle::try_demangle(s) {
                Ok(d) => {
                    // The one use of core::fmt in a handler: rustc-demangle
                    // only speaks Display. It writes into `SliceWriter`'s
                    // fixed buffer, with no allocation (the malloc-spy
                    // tests check it), on the symbolizer's own stack.
                    #[allow(clippy::disallowed_macros)]
                    let _ = write!(w, "{d:#}");
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        }
    };
    if !demangled {
        w.len = 0;
        w.full = false;
        let shown = raw.get(..raw.len().min(NAME_CAP)).unwrap_or(&[]);
        for &b in shown {
            let b = if (0x21..0x7f).contains(&b) { b } else { b'?' };
            if w.write_str(ascii_str(&b)).is_err() {
                break;
            }
        }
        if cut && !w.full {
            let _ = w.write_str("...");
        }
    }
    let SliceWriter { out, mut len, full } = w;
    if full {
        // Mark the cut: replace the last three bytes with "...".
        let end = len.min(out.len());
        let start = end.saturating_sub(3);
        for b in out.get_mut(start..end).unwrap_or(&mut []) {
            *b = b'.';
        }
        len = end;
    }
    // Demangled text is ASCII in practice; keep the report ASCII anyway.
    for b in out.get_mut(..len).unwrap_or(&mut []) {
        if !(0x20..0x7f).contains(b) {
            *b = b'?';
        }
    }
    len
}

/// One ASCII byte as a `&str`.
fn ascii_str(b: &u8) -> &str {
    core::str::from_utf8(core::slice::from_ref(b)).unwrap_or("?")
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

    fn dm(raw: &str, cap: usize) -> String {
        let mut out = vec![0u8; cap];
        let n = demangle_into(raw.as_bytes(), true, &mut out);
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn legacy_and_v0_without_hash() {
        assert_eq!(
            dm("_ZN5crash12parse_record17hb3617f5e8e935f13E", 256),
            "crash::parse_record"
        );
        assert_eq!(
            dm("_RNvCs1234_7mycrate3foo", 256),
            "mycrate::foo",
            "v0 without the crate disambiguator"
        );
        // v0 generics.
        assert_eq!(
            dm(
                "_RINvCs1234_7mycrate3fooNtNtCs5678_5alloc6string6StringEB2_",
                256
            ),
            "mycrate::foo::<alloc::string::String>"
        );
        // Legacy trait impl on a generic type: `$LT$` etc. decoded.
        assert_eq!(
            dm("_ZN70_$LT$alloc..vec..Vec$LT$T$C$A$GT$$u20$as$u20$core..ops..drop..Drop$GT$4drop17h0123456789abcdefE", 256),
            "<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop"
        );
    }

    #[test]
    fn other_names_pass_through() {
        assert_eq!(dm("main", 64), "main");
        assert_eq!(dm("raise\u{1}x", 64), "raise?x");
        assert_eq!(dm("_Zfoo", 64), "_Zfoo"); // not a valid C++ name
    }

    #[test]
    fn cpp_names_as_cplusfilt_prints_them() {
        assert_eq!(dm("_ZN3foo3barEv", 64), "foo::bar()");
        assert_eq!(
            dm("_ZN3acc6WidgetIiE4pokeEi", 64),
            "acc::Widget<int>::poke(int)"
        );
        assert_eq!(
            dm("_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC1Ev", 512),
            "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string()"
        );
        assert_eq!(dm("_Z5crashv.cold", 64), "crash() [clone .cold]");
        // A C++ variable is the same for both demanglers.
        assert_eq!(dm("_ZN3foo3barE", 64), "foo::bar");
        // Rust legacy names (with the hash) stay Rust's.
        assert_eq!(dm("_ZN3foo3bar17h0123456789abcdefE", 64), "foo::bar");
        // A C++ name whose readable form does not fit is shown mangled,
        // cut.
        assert_eq!(dm("_ZN3acc6WidgetIiE4pokeEi", 16), "_ZN3acc6Widge...");
        // A name cut at read time is never demangled.
        let mut out = [0u8; 64];
        let n = demangle_into(b"_ZN3foo3barEv", false, &mut out);
        assert_eq!(&out[..n], b"_ZN3foo3barEv...");
        assert!(has_rust_hash(b"_ZN3foo3bar17h0123456789abcdefE.llvm.123"));
        assert!(!has_rust_hash(b"_ZN3foo3barEv"));
    }

    #[test]
    fn small_buffers_cut_with_dots() {
        let s = dm("_ZN70_$LT$alloc..vec..Vec$LT$T$C$A$GT$$u20$as$u20$core..ops..drop..Drop$GT$4drop17h0123456789abcdefE", 16);
        assert_eq!(s, "<alloc::vec::...");
        assert_eq!(dm("a_plain_c_name_that_is_long", 8), "a_pla...");
        assert_eq!(dm("abc", 2), "..");
        assert_eq!(dm("abc", 0), "");
    }

    #[test]
    fn names_over_the_cap_are_cut_not_demangled() {
        let mut long = String::from("_ZN");
        while long.len() <= NAME_CAP {
            long.push_str("7segment");
        }
        long.push('E');
        let s = dm(&long, 64);
        assert!(s.starts_with("_ZN7segment7segment"), "{s}");
        assert!(s.ends_with("..."), "{s}");
        assert_eq!(s.len(), 64);
        // A name cut at read time is shown cut too.
        let mut out = [0u8; 64];
        let n = demangle_into(b"_ZN5crash12parse", false, &mut out);
        assert_eq!(&out[..n], b"_ZN5crash12parse...");
    }

    #[test]
    fn deep_v0_nesting_is_refused_not_overflowed() {
        // 600 nested references: beyond rustc-demangle's recursion limit
        // (500). It must come back as text, not crash. Run it on a big
        // thread stack: this test is about the result, the handler runs it
        // on the symbolizer stack.
        let mut name = String::from("_RINvCs1234_7mycrate3foo");
        name.push_str(&"R".repeat(600));
        name.push_str("uE");
        let out = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || dm(&name, 128))
            .unwrap()
            .join()
            .unwrap();
        assert!(!out.is_empty());
    }
}
