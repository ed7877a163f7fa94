//! Async-signal-safe. A heapless reader for the parts of an ELF file that
//! name functions: the section headers, the symbol table (`.symtab`, or
//! `.dynsym` when the file was stripped), its string table, and the GNU
//! build-id note.
//!
//! Everything is read with `pread(2)` from an fd into caller-provided
//! buffers, so it works for symbols that are not mapped (`.symtab` never
//! is) and cannot fault on a truncated or hostile file: every offset and
//! length is checked, and a bad file simply yields `None`. Only 64-bit
//! little-endian ELF (x86_64, aarch64) is understood.
//!
//! The same checked parsers read ELF headers from memory for the module
//! map (`runtime::modules`), and the index builder uses them in normal
//! context.
//!
//! # Safety
//!
//! The only `unsafe` is the `pread`/`open`/`close` system calls, each on a
//! buffer we own, described by its own pointer and length.
#![allow(unsafe_code)]

use super::sys;

/// Size of one ELF64 symbol.
pub(crate) const SYM_SIZE: usize = 24;
/// Size of one ELF64 section header.
pub(crate) const SHDR_SIZE: usize = 64;
/// Longest build-id kept.
pub(crate) const BUILD_ID_MAX: usize = 32;

/// Size of the ELF64 file header.
pub(crate) const EHDR_SIZE: usize = 64;
/// Size of one ELF64 program header.
pub(crate) const PHDR_SIZE: usize = 56;
/// A loadable segment.
pub(crate) const PT_LOAD: u32 = 1;
/// A segment of notes.
pub(crate) const PT_NOTE: u32 = 4;

const SHT_SYMTAB: u32 = 2;
/// Section type: notes.
pub(crate) const SHT_NOTE: u32 = 7;
const SHT_DYNSYM: u32 = 11;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;
const NT_GNU_BUILD_ID: u32 = 3;

/// `pread` until `buf` is full, the file ends, or an error; returns the
/// number of bytes read. Loops on `EINTR` and short reads.
pub(crate) fn pread_full(fd: i32, buf: &mut [u8], offset: u64) -> usize {
    let mut got = 0usize;
    while got < buf.len() {
        let rest = buf.get_mut(got..).unwrap_or(&mut []);
        let Ok(off) = i64::try_from(offset.saturating_add(got as u64)) else {
            break;
        };
        // SAFETY: `rest` is writable for `rest.len()` bytes.
        let n = unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), off) };
        if n > 0 {
            got += n as usize;
        } else if n < 0 && sys::errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
    got
}

/// Open `path` read-only (close-on-exec). `path` must hold a NUL byte
/// somewhere; the name ends there. Returns -1 on failure.
pub(crate) fn open_cstr(path: &[u8]) -> i32 {
    if !path.contains(&0) {
        return -1;
    }
    loop {
        // SAFETY: `path` is NUL-terminated (checked above).
        // O_NONBLOCK: a FIFO put where a module was must not block us.
        let fd = unsafe {
            libc::open(
                path.as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd >= 0 || sys::errno() != libc::EINTR {
            return fd;
        }
    }
}

/// Close an fd opened by [`open_cstr`].
pub(crate) fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: closing an fd this module's caller opened and owns.
        unsafe { libc::close(fd) };
    }
}

/// The little-endian `u16` at `o` in `b`.
pub(crate) fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
/// The little-endian `u32` at `o` in `b`.
pub(crate) fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
/// The little-endian `u64` at `o` in `b`.
pub(crate) fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// Where a symbol table and its strings live in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SymTable {
    /// File offset of the first symbol.
    pub sym_offset: u64,
    /// Number of symbols.
    pub count: u64,
    /// File offset of the string table.
    pub str_offset: u64,
    /// Size of the string table.
    pub str_size: u64,
    /// Whether this is `.dynsym` (the file has no `.symtab`).
    pub dynamic: bool,
}

/// What one pass over the section headers found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ElfInfo {
    /// `.symtab`, else `.dynsym`.
    pub symtab: Option<SymTable>,
    /// The GNU build-id and its length.
    pub build_id: [u8; BUILD_ID_MAX],
    /// Length of `build_id`; 0 when the file has none.
    pub build_id_len: usize,
}

impl ElfInfo {
    /// The build-id, empty when there is none.
    pub(crate) fn build_id(&self) -> &[u8] {
        self.build_id.get(..self.build_id_len).unwrap_or(&[])
    }
}

/// One section header, the fields we use.
#[derive(Clone, Copy, Default)]
struct Shdr {
    sh_type: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

fn parse_shdr(b: &[u8]) -> Option<Shdr> {
    Some(Shdr {
        sh_type: u32_at(b, 4)?,
        offset: u64_at(b, 24)?,
        size: u64_at(b, 32)?,
        link: u32_at(b, 40)?,
        entsize: u64_at(b, 56)?,
    })
}

/// Read the section header with index `i`.
fn read_shdr(fd: i32, shoff: u64, i: u64) -> Option<Shdr> {
    let mut b = [0u8; SHDR_SIZE];
    let at = shoff.checked_add(i.checked_mul(SHDR_SIZE as u64)?)?;
    if pread_full(fd, &mut b, at) != SHDR_SIZE {
        return None;
    }
    parse_shdr(&b)
}

/// Scan the section headers of the ELF file open on `fd`: find the symbol
/// table and the build-id. `scratch` holds section headers while they are
/// scanned (any size from 64 bytes; 4 KiB reads 64 headers at once).
#[inline(never)]
pub(crate) fn inspect(fd: i32, scratch: &mut [u8]) -> Option<ElfInfo> {
    let mut ehdr = [0u8; EHDR_SIZE];
    if pread_full(fd, &mut ehdr, 0) != EHDR_SIZE {
        return None;
    }
    let h = parse_ehdr(&ehdr)?;
    let (shoff, shentsize) = (h.shoff, h.shentsize);
    let mut shnum = u64::from(h.shnum);
    if shoff == 0 || shentsize != SHDR_SIZE {
        return None;
    }
    if shnum == 0 {
        // Extended numbering: the real count is section 0's sh_size.
        shnum = read_shdr(fd, shoff, 0)?.size;
    }
    let shnum = shnum.min(1 << 16);
    let per_read = (scratch.len() / SHDR_SIZE).max(1) as u64;
    let mut info = ElfInfo::default();
    let mut symtab: Option<(Shdr, bool)> = None;
    // Note sections, read after the scan (in `scratch`, once it is free).
    let mut notes = [(0u64, 0u64); 4];
    let mut nnotes = 0usize;
    let mut i = 0u64;
    while i < shnum {
        let n = per_read.min(shnum - i);
        let bytes = (n as usize) * SHDR_SIZE;
        let chunk = scratch.get_mut(..bytes)?;
        let at = shoff.checked_add(i * SHDR_SIZE as u64)?;
        if pread_full(fd, chunk, at) != bytes {
            return None;
        }
        for k in 0..n as usize {
            let Some(sh) = chunk
                .get(k * SHDR_SIZE..(k + 1) * SHDR_SIZE)
                .and_then(parse_shdr)
            else {
                continue;
            };
            match sh.sh_type {
                SHT_SYMTAB => symtab = Some((sh, false)),
                SHT_DYNSYM if symtab.is_none() => symtab = Some((sh, true)),
                SHT_NOTE => {
                    if let Some(n) = notes.get_mut(nnotes) {
                        *n = (sh.offset, sh.size);
                        nnotes += 1;
                    }
                }
                _ => {}
            }
        }
        i += n;
    }
    for &(offset, size) in notes.get(..nnotes).unwrap_or(&[]) {
        if let Some((id, len)) = read_build_id_note(fd, offset, size, scratch) {
            info.build_id = id;
            info.build_id_len = len;
            break;
        }
    }
    if let Some((sh, dynamic)) = symtab {
        if sh.entsize == SYM_SIZE as u64 || sh.entsize == 0 {
            if let Some(strs) = read_shdr(fd, shoff, u64::from(sh.link)) {
                info.symtab = Some(SymTable {
                    sym_offset: sh.offset,
                    count: sh.size / SYM_SIZE as u64,
                    str_offset: strs.offset,
                    str_size: strs.size,
                    dynamic,
                });
            }
        }
    }
    Some(info)
}

/// The file header fields we use.
pub(crate) struct Ehdr {
    pub phoff: u64,
    pub phentsize: usize,
    pub phnum: usize,
    pub shoff: u64,
    pub shentsize: usize,
    pub shnum: u16,
    /// Index of the section names' string table (`0xffff`: in section
    /// 0's `sh_link`).
    pub shstrndx: u16,
}

/// Parse a 64-bit little-endian ELF file header.
pub(crate) fn parse_ehdr(b: &[u8]) -> Option<Ehdr> {
    if b.get(..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return None;
    }
    Some(Ehdr {
        phoff: u64_at(b, 0x20)?,
        shoff: u64_at(b, 0x28)?,
        phentsize: usize::from(u16_at(b, 0x36)?),
        phnum: usize::from(u16_at(b, 0x38)?),
        shentsize: usize::from(u16_at(b, 0x3a)?),
        shnum: u16_at(b, 0x3c)?,
        shstrndx: u16_at(b, 0x3e)?,
    })
}

/// The program header fields we use.
pub(crate) struct Phdr {
    pub p_type: u32,
    /// Where the segment's bytes are in the file.
    pub offset: u64,
    pub vaddr: u64,
    /// Bytes of the segment in the file.
    pub filesz: u64,
    pub memsz: u64,
}

/// Parse one ELF64 program header.
pub(crate) fn parse_phdr(b: &[u8]) -> Option<Phdr> {
    Some(Phdr {
        p_type: u32_at(b, 0)?,
        offset: u64_at(b, 8)?,
        vaddr: u64_at(b, 16)?,
        filesz: u64_at(b, 32)?,
        memsz: u64_at(b, 40)?,
    })
}

/// Parse the notes in `[offset, offset + size)` of the file for a GNU
/// build-id.
fn read_build_id_note(
    fd: i32,
    offset: u64,
    size: u64,
    notes: &mut [u8],
) -> Option<([u8; BUILD_ID_MAX], usize)> {
    let len = (size.min(notes.len() as u64)) as usize;
    let got = pread_full(fd, notes.get_mut(..len)?, offset);
    parse_build_id_note(notes.get(..got)?)
}

/// Find the GNU build-id in a block of ELF notes.
pub(crate) fn parse_build_id_note(notes: &[u8]) -> Option<([u8; BUILD_ID_MAX], usize)> {
    let mut off = 0usize;
    while off + 12 <= notes.len() {
        let namesz = u32_at(notes, off)? as usize;
        let descsz = u32_at(notes, off + 4)? as usize;
        let ntype = u32_at(notes, off + 8)?;
        let name_at = off + 12;
        let desc_at = name_at.checked_add(namesz.checked_add(3)? & !3)?;
        let next = desc_at.checked_add(descsz.checked_add(3)? & !3)?;
        if next > notes.len() {
            return None;
        }
        if ntype == NT_GNU_BUILD_ID && notes.get(name_at..name_at + namesz) == Some(b"GNU\0") {
            let mut id = [0u8; BUILD_ID_MAX];
            let n = descsz.min(BUILD_ID_MAX);
            id.get_mut(..n)?
                .copy_from_slice(notes.get(desc_at..desc_at + n)?);
            return Some((id, n));
        }
        off = next;
    }
    None
}

/// One symbol, the fields we use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sym {
    /// Offset of the name in the string table.
    pub name: u32,
    /// `st_info`: binding in the high nibble, type in the low one.
    pub info: u8,
    /// Section index; 0 is undefined.
    pub shndx: u16,
    /// Virtual address.
    pub value: u64,
    /// Size in bytes; 0 when unknown.
    pub size: u64,
}

impl Sym {
    /// Whether this symbol names code defined in this file.
    pub(crate) fn is_code(&self) -> bool {
        let t = self.info & 0xf;
        (t == STT_FUNC || t == STT_GNU_IFUNC) && self.shndx != 0 && self.value != 0
    }

    /// Whether `addr` lies in this symbol: inside `[value, value + size)`,
    /// or exactly at `value` for a symbol without a size.
    pub(crate) fn contains(&self, addr: u64) -> bool {
        if self.size == 0 {
            addr == self.value
        } else {
            self.value <= addr && addr - self.value < self.size
        }
    }

    /// A preference among symbols at the same address: global over weak
    /// over local (aliases such as `__GI_raise` and `raise`).
    pub(crate) fn rank(&self) -> u8 {
        match self.info >> 4 {
            1 => 0, // STB_GLOBAL
            2 => 1, // STB_WEAK
            _ => 2, // STB_LOCAL and anything else
        }
    }
}

/// Parse one ELF64 symbol.
pub(crate) fn parse_sym(b: &[u8]) -> Option<Sym> {
    Some(Sym {
        name: u32_at(b, 0)?,
        info: *b.get(4)?,
        shndx: u16_at(b, 6)?,
        value: u64_at(b, 8)?,
        size: u64_at(b, 16)?,
    })
}

/// Read symbols `first..` of `tab` into `buf` (a multiple of [`SYM_SIZE`]
/// bytes is used); returns how many whole symbols were read.
pub(crate) fn read_syms(fd: i32, tab: &SymTable, first: u64, buf: &mut [u8]) -> usize {
    if first >= tab.count {
        return 0;
    }
    let max = ((tab.count - first) as usize).min(buf.len() / SYM_SIZE);
    let Some(chunk) = buf.get_mut(..max * SYM_SIZE) else {
        return 0;
    };
    let at = tab.sym_offset.saturating_add(first * SYM_SIZE as u64);
    pread_full(fd, chunk, at) / SYM_SIZE
}

/// The first read of a name, in bytes.
const FIRST_NAME_READ: usize = 256;

/// Read the NUL-terminated name at `name` in the string table into `buf`.
/// Returns the name's length and whether it was complete: a name longer
/// than `buf` comes back cut, with `false`.
pub(crate) fn read_name(
    fd: i32,
    tab: &SymTable,
    name: u32,
    buf: &mut [u8],
) -> Option<(usize, bool)> {
    let name = u64::from(name);
    if name >= tab.str_size {
        return None;
    }
    let room = ((tab.str_size - name) as usize).min(buf.len());
    // Most names are short: read a first piece, and the rest only when
    // the name goes on (a 2 KiB read a name was most of a small dump).
    let first = room.min(FIRST_NAME_READ);
    let got = pread_full(fd, buf.get_mut(..first)?, tab.str_offset + name);
    if let Some(n) = buf.get(..got)?.iter().position(|&b| b == 0) {
        return Some((n, true));
    }
    let got = if got == first && room > first {
        first
            + pread_full(
                fd,
                buf.get_mut(first..room)?,
                tab.str_offset + name + first as u64,
            )
    } else {
        got
    };
    let text = buf.get(..got)?;
    match text.iter().position(|&b| b == 0) {
        Some(n) => Some((n, true)),
        None => Some((got, false)),
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
    use object::{Object, ObjectSection, ObjectSymbol};
    use std::os::fd::AsRawFd;

    fn exe() -> (std::fs::File, Vec<u8>) {
        let path = std::env::current_exe().unwrap();
        (
            std::fs::File::open(&path).unwrap(),
            std::fs::read(&path).unwrap(),
        )
    }

    #[test]
    fn reads_the_same_symbols_and_build_id_as_the_object_crate() {
        let (f, data) = exe();
        let obj = object::File::parse(&*data).unwrap();
        let mut scratch = [0u8; 200]; // small: forces several header reads
        let info = inspect(f.as_raw_fd(), &mut scratch).expect("our own test binary is ELF");
        assert_eq!(Some(info.build_id()), obj.build_id().unwrap());
        let tab = info.symtab.expect("a test binary has a .symtab");
        assert!(!tab.dynamic);
        let sec = obj.section_by_name(".symtab").unwrap();
        assert_eq!(tab.sym_offset, sec.file_range().unwrap().0);
        assert_eq!(tab.count, obj.symbols().count() as u64 + 1); // + the null symbol

        // Walk the whole table with a small buffer and compare names and
        // addresses of the functions with object's.
        let mut want: Vec<(u64, String)> = obj
            .symbols()
            .filter(|s| {
                s.kind() == object::SymbolKind::Text && s.is_definition() && s.address() != 0
            })
            .map(|s| (s.address(), s.name().unwrap().to_string()))
            .collect();
        want.sort();
        let mut got = Vec::new();
        let mut buf = [0u8; SYM_SIZE * 7 + 5];
        let mut first = 0;
        loop {
            let n = read_syms(f.as_raw_fd(), &tab, first, &mut buf);
            if n == 0 {
                break;
            }
            for k in 0..n {
                let s = parse_sym(&buf[k * SYM_SIZE..]).unwrap();
                if s.is_code() {
                    let mut name = [0u8; 4096];
                    let (len, whole) = read_name(f.as_raw_fd(), &tab, s.name, &mut name).unwrap();
                    assert!(whole);
                    got.push((s.value, String::from_utf8_lossy(&name[..len]).into_owned()));
                }
            }
            first += n as u64;
        }
        got.sort();
        assert_eq!(got, want);
        assert!(got
            .iter()
            .any(|(_, n)| n.contains("reads_the_same_symbols")));
    }

    #[test]
    fn cut_names_and_bad_files() {
        let (f, _) = exe();
        let mut scratch = [0u8; 4096];
        let info = inspect(f.as_raw_fd(), &mut scratch).unwrap();
        let tab = info.symtab.unwrap();
        // Find a name longer than 8 bytes and read it into 8.
        let mut buf = [0u8; SYM_SIZE * 64];
        let n = read_syms(f.as_raw_fd(), &tab, 1, &mut buf);
        let long = (0..n)
            .filter_map(|k| parse_sym(&buf[k * SYM_SIZE..]))
            .find(|s| {
                let mut b = [0u8; 64];
                matches!(read_name(f.as_raw_fd(), &tab, s.name, &mut b), Some((l, true)) if l > 8)
            })
            .unwrap();
        let mut small = [0u8; 8];
        assert_eq!(
            read_name(f.as_raw_fd(), &tab, long.name, &mut small),
            Some((8, false))
        );
        assert_eq!(read_name(f.as_raw_fd(), &tab, u32::MAX, &mut small), None);
        // Not ELF.
        let text = std::fs::File::open("Cargo.toml").unwrap();
        assert!(inspect(text.as_raw_fd(), &mut scratch).is_none());
        assert!(inspect(-1, &mut scratch).is_none());
    }

    #[test]
    fn notes() {
        let mut n = Vec::new();
        // An unrelated note first, then the build-id.
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(&1u32.to_le_bytes());
        n.extend_from_slice(b"GNU\0\x01\x02\x03\0");
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(b"GNU\0\xde\xad\xbe\xef");
        let (id, len) = parse_build_id_note(&n).unwrap();
        assert_eq!(&id[..len], b"\xde\xad\xbe\xef");
        assert!(parse_build_id_note(&n[..n.len() - 1]).is_none());
        assert!(parse_build_id_note(&[0xff; 12]).is_none());
    }
}
