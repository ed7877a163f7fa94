//! Files for the `fh-symbols` thread, without the heap: paths on the
//! stack ([`FilePath`]), whole files mapped read-only ([`Mapped`]), a
//! reader of 64-bit ELF files in memory ([`Elf`], [`Section`]) that
//! uncompresses sections ([`SectionData`]), and the search for a separate
//! debug file ([`find_debug_file`]).
//!
//! Normal context, malloc-free: compressed debug sections are
//! uncompressed into a [`MapVec`], zlib ones with `miniz_oxide`'s core
//! and zstd ones with our own decoder ([`zstd`](super::zstd)), neither of
//! which allocates.
//!
//! Only 64-bit ELF of the host's byte order (little-endian: x86_64,
//! aarch64) is read; anything else, or a file whose headers point outside
//! it, gives `None`. Nothing here panics on any input.
#![allow(unsafe_code)]

use super::mem::MapVec;
use crate::runtime::elf::{self, u32_at, u64_at, BUILD_ID_MAX, SHDR_SIZE, SHT_NOTE};
use core::sync::atomic::{AtomicPtr, Ordering};

/// Bytes a [`FilePath`] holds, its terminating NUL included (Linux's
/// `PATH_MAX`).
pub(crate) const PATH_CAP: usize = 4096;

/// A path on the stack, always NUL-terminated (for libc), without NUL
/// bytes inside. Operations that would make it longer than
/// [`PATH_CAP`]` - 1` bytes give `None` and leave it as it was.
#[derive(Clone)]
pub(crate) struct FilePath {
    buf: [u8; PATH_CAP],
    /// `buf[len]` is the NUL; `len < PATH_CAP`.
    len: usize,
}

impl PartialEq for FilePath {
    fn eq(&self, other: &FilePath) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl core::fmt::Debug for FilePath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.as_bytes().escape_ascii(), f)
    }
}

impl FilePath {
    /// The empty path.
    pub(crate) const fn new() -> FilePath {
        FilePath {
            buf: [0; PATH_CAP],
            len: 0,
        }
    }

    /// A path of the bytes `p`; `None` when it is too long or holds a NUL.
    pub(crate) fn from_bytes(p: &[u8]) -> Option<FilePath> {
        let mut out = FilePath::new();
        out.append(p)?;
        Some(out)
    }

    /// The path's bytes, without the NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The path's bytes with the terminating NUL, for libc.
    pub(crate) fn as_bytes_with_nul(&self) -> &[u8] {
        self.buf.get(..=self.len).unwrap_or(&[0])
    }

    /// Whether the path is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cut back to `len` bytes (no longer than now).
    fn cut(&mut self, len: usize) {
        if len <= self.len {
            self.len = len;
            if let Some(b) = self.buf.get_mut(len) {
                *b = 0;
            }
        }
    }

    /// Append `bytes` as they are; on failure nothing changes.
    fn append(&mut self, bytes: &[u8]) -> Option<()> {
        if bytes.contains(&0) {
            return None;
        }
        let end = self.len.checked_add(bytes.len())?;
        if end >= PATH_CAP {
            return None;
        }
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        *self.buf.get_mut(end)? = 0;
        self.len = end;
        Some(())
    }

    /// Add `rel` as `PathBuf::push` does: an absolute `rel` replaces the
    /// path; otherwise it follows a `/` (none is added to an empty path or
    /// after a trailing `/`). On failure the path is unchanged.
    #[must_use]
    pub(crate) fn push(&mut self, rel: &[u8]) -> Option<()> {
        let old = self.len;
        if rel.first() == Some(&b'/') {
            if rel.len() >= PATH_CAP || rel.contains(&0) {
                return None;
            }
            self.cut(0);
            return self.append(rel);
        }
        if !self.is_empty() && self.as_bytes().last() != Some(&b'/') {
            self.append(b"/")?;
        }
        if self.append(rel).is_none() {
            self.cut(old);
            return None;
        }
        Some(())
    }

    /// This path with `rel` added ([`FilePath::push`]).
    pub(crate) fn join(&self, rel: &[u8]) -> Option<FilePath> {
        let mut p = self.clone();
        p.push(rel)?;
        Some(p)
    }

    /// Add `.build-id/xx/rest.debug` for the build-id `id` (lower-case
    /// hex; `xx` is its first byte). `None` for an id shorter than 2
    /// bytes or longer than 64, or a path too long; the path is then
    /// unchanged.
    #[must_use]
    pub(crate) fn push_build_id(&mut self, id: &[u8]) -> Option<()> {
        let (first, rest) = id.split_first()?;
        if rest.is_empty() || rest.len() >= 64 {
            return None;
        }
        let mut name = [0u8; 2 * 64 + 6];
        let mut n = 0;
        for &b in rest {
            let [hi, lo] = hex_byte(b);
            *name.get_mut(n)? = hi;
            *name.get_mut(n + 1)? = lo;
            n += 2;
        }
        name.get_mut(n..n + 6)?.copy_from_slice(b".debug");
        n += 6;
        let old = self.len;
        let ok = self
            .push(b".build-id")
            .and_then(|()| self.push(&hex_byte(*first)))
            .and_then(|()| self.push(name.get(..n)?));
        if ok.is_none() {
            self.cut(old);
        }
        ok
    }

    /// The directory part, as `Path::parent` gives it: `/a/b` → `/a`,
    /// `/a` → `/`, `a` → the empty path, and `None` for `/` and the empty
    /// path. Trailing and repeated slashes are skipped.
    pub(crate) fn parent(&self) -> Option<&[u8]> {
        parent_of(self.as_bytes())
    }

    /// The path without its leading slashes (`Path::strip_prefix("/")`);
    /// a relative path as it is.
    pub(crate) fn strip_root(&self) -> &[u8] {
        let b = self.as_bytes();
        let n = b.iter().take_while(|&&c| c == b'/').count();
        b.get(n..).unwrap_or(&[])
    }
}

impl Default for FilePath {
    fn default() -> Self {
        FilePath::new()
    }
}

fn trim_end_slashes(p: &[u8]) -> &[u8] {
    let n = p.iter().rev().take_while(|&&c| c == b'/').count();
    p.get(..p.len() - n).unwrap_or(&[])
}

/// [`FilePath::parent`] of bytes.
fn parent_of(p: &[u8]) -> Option<&[u8]> {
    let trimmed = trim_end_slashes(p);
    if trimmed.is_empty() {
        return None;
    }
    match trimmed.iter().rposition(|&c| c == b'/') {
        None => Some(&[]),
        Some(i) => {
            let head = trim_end_slashes(trimmed.get(..i)?);
            if head.is_empty() {
                // Only slashes before the last name: the root.
                p.get(..1)
            } else {
                Some(head)
            }
        }
    }
}

/// The two lower-case hex digits of `b`.
fn hex_byte(b: u8) -> [u8; 2] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]
}

/// An fd closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: an fd we opened and own; nothing uses it after this.
        unsafe { libc::close(self.0) };
    }
}

/// A whole regular file mapped read-only and private, unmapped on drop.
pub(crate) struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by the `Mapped` alone; any
// thread may read it, and the one that drops it unmaps it.
unsafe impl Send for Mapped {}
// SAFETY: as above: shared access only reads.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Map the file at `path`: `None` when it cannot be opened, is not a
    /// regular file, is empty, or the mapping fails.
    pub(crate) fn open(path: &FilePath) -> Option<Mapped> {
        let name = path.as_bytes_with_nul();
        let fd = loop {
            // SAFETY: `name` is NUL-terminated (FilePath's invariant) and
            // lives across the call. O_NONBLOCK: a FIFO where a module
            // file was must not block the thread (fstat then refuses it).
            let fd = unsafe {
                libc::open(
                    name.as_ptr().cast(),
                    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
                )
            };
            if fd >= 0 {
                break Fd(fd);
            }
            if crate::runtime::sys::errno() != libc::EINTR {
                return None;
            }
        };
        // SAFETY: `stat` is plain integers, for which all zeroes is a
        // valid value.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `fd` is open; `st` is a writable `stat`.
        if unsafe { libc::fstat(fd.0, &mut st) } != 0 {
            return None;
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let len = usize::try_from(st.st_size).ok().filter(|&n| n > 0)?;
        // SAFETY: a new private read-only mapping of a file we opened; the
        // kernel picks the address, so no memory of anyone's is replaced.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                fd.0,
                0,
            )
        };
        if ptr == libc::MAP_FAILED || ptr.is_null() {
            return None;
        }
        Some(Mapped { ptr, len })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes and lives as long as
        // `self`. (A file truncated meanwhile could fault a read; module
        // files and debug files are not rewritten in place.)
        unsafe { core::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: our own mapping of `len` bytes; `bytes()` borrows end
        // with `self`, so nothing refers to it after this.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Section type: no bytes in the file (`.bss`, and the allocated sections
/// of a separate debug file).
pub(crate) const SHT_NOBITS: u32 = 8;
/// Section flag: executable code.
pub(crate) const SHF_EXECINSTR: u64 = 0x4;
/// Section flag: the bytes start with a compression header.
pub(crate) const SHF_COMPRESSED: u64 = 0x800;
/// Compression header type: zlib.
pub(crate) const ELFCOMPRESS_ZLIB: u32 = 1;
/// Compression header type: zstd.
pub(crate) const ELFCOMPRESS_ZSTD: u32 = 2;
/// Size of `Elf64_Chdr`.
const CHDR_SIZE: usize = 24;
/// Section index escape (`SHN_XINDEX`): the real one is elsewhere.
const SHN_XINDEX: u16 = 0xffff;

/// A 64-bit ELF file of the host's byte order, in memory.
#[derive(Clone, Copy)]
pub(crate) struct Elf<'a> {
    data: &'a [u8],
    /// The section header table (`SHDR_SIZE` bytes each; empty without).
    shdrs: &'a [u8],
    /// The section names.
    shstrtab: &'a [u8],
    phoff: u64,
    phnum: usize,
    phentsize: usize,
}

/// A GNU build-id (at most [`BUILD_ID_MAX`] bytes are kept).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BuildId {
    id: [u8; BUILD_ID_MAX],
    len: usize,
}

impl BuildId {
    /// The id's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.id.get(..self.len).unwrap_or(&[])
    }
}

/// One section of an [`Elf`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section<'a> {
    /// Its index in the section header table (the tests compare it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub index: usize,
    /// Its name (empty when the name table has none for it).
    pub name: &'a [u8],
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_addr`: where it is in memory, at the link addresses.
    pub address: u64,
    /// `sh_size`: its size in memory (compressed: in the file).
    pub size: u64,
    /// Its bytes in the file, as they are there (compressed ones with
    /// their header): empty for `SHT_NOBITS`; `None` when the header
    /// points outside the file.
    pub data: Option<&'a [u8]>,
}

/// How a section's bytes are compressed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    None,
    Zlib,
    Zstd,
}

/// A section's bytes, uncompressed.
pub(crate) enum SectionData<'a> {
    /// The file's own bytes (the section was not compressed).
    Borrowed(&'a [u8]),
    /// Uncompressed (zlib, zstd) into a mapping of our own.
    Mapped(MapVec<u8>),
}

impl SectionData<'_> {
    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            SectionData::Borrowed(b) => b,
            SectionData::Mapped(m) => m,
        }
    }
}

impl core::ops::Deref for SectionData<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

/// `len` bytes at `offset` of `data`.
fn range(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

/// The NUL-terminated string at `at` in `table` (to its end when there is
/// no NUL).
fn cstr_at(table: &[u8], at: usize) -> Option<&[u8]> {
    let s = table.get(at..)?;
    Some(s.get(..s.iter().position(|&b| b == 0)?).unwrap_or(s))
}

impl<'a> Elf<'a> {
    /// Read the headers of the ELF file `data`. `None` for anything but a
    /// well-formed 64-bit ELF file of the host's byte order.
    pub(crate) fn parse(data: &'a [u8]) -> Option<Elf<'a>> {
        // `runtime::elf` reads little-endian headers only.
        if !cfg!(target_endian = "little") {
            return None;
        }
        let h = elf::parse_ehdr(data)?;
        let mut e = Elf {
            data,
            shdrs: &[],
            shstrtab: &[],
            phoff: h.phoff,
            phnum: h.phnum,
            phentsize: h.phentsize,
        };
        if h.shoff == 0 {
            // No section headers (a valid file: the program headers say
            // where its segments go).
            return Some(e);
        }
        if h.shentsize != SHDR_SIZE {
            return None;
        }
        // Section 0 holds the real count and name table index when they
        // do not fit the file header.
        let first = range(data, h.shoff, SHDR_SIZE as u64)?;
        let mut shnum = u64::from(h.shnum);
        if shnum == 0 {
            shnum = u64_at(first, 32)?;
        }
        let mut shstrndx = u32::from(h.shstrndx);
        if h.shstrndx == SHN_XINDEX {
            shstrndx = u32_at(first, 40)?;
        }
        e.shdrs = range(data, h.shoff, shnum.checked_mul(SHDR_SIZE as u64)?)?;
        if shstrndx != 0 {
            let names = e.header(usize::try_from(shstrndx).ok()?)?;
            e.shstrtab = range(data, names.offset, names.size)?;
        }
        Some(e)
    }

    /// Number of section headers, the null one (index 0) included.
    pub(crate) fn section_count(&self) -> usize {
        self.shdrs.len() / SHDR_SIZE
    }

    fn header(&self, i: usize) -> Option<Shdr> {
        let at = i.checked_mul(SHDR_SIZE)?;
        let b = self.shdrs.get(at..at.checked_add(SHDR_SIZE)?)?;
        Some(Shdr {
            name: u32_at(b, 0)?,
            sh_type: u32_at(b, 4)?,
            flags: u64_at(b, 8)?,
            addr: u64_at(b, 16)?,
            offset: u64_at(b, 24)?,
            size: u64_at(b, 32)?,
        })
    }

    /// Section `i` (0 is the null section).
    pub(crate) fn section_at(&self, i: usize) -> Option<Section<'a>> {
        let h = self.header(i)?;
        let name = usize::try_from(h.name)
            .ok()
            .and_then(|at| cstr_at(self.shstrtab, at))
            .unwrap_or(&[]);
        let data = if h.sh_type == SHT_NOBITS {
            Some(&[][..])
        } else {
            range(self.data, h.offset, h.size)
        };
        Some(Section {
            index: i,
            name,
            sh_type: h.sh_type,
            flags: h.flags,
            address: h.addr,
            size: h.size,
            data,
        })
    }

    /// The sections, in order, the null section left out.
    pub(crate) fn sections(&self) -> Sections<'a> {
        Sections {
            elf: *self,
            next: 1,
        }
    }

    /// The first section named `name`. A DWARF section `.debug_x` not
    /// found is looked for as `.zdebug_x` too (GNU's older compression).
    pub(crate) fn section(&self, name: &[u8]) -> Option<Section<'a>> {
        if let Some(s) = self.sections().find(|s| s.name == name) {
            return Some(s);
        }
        let rest = name.strip_prefix(b".debug_")?;
        let mut z = [0u8; 128];
        let zname = z.get_mut(..8 + rest.len())?;
        zname.get_mut(..8)?.copy_from_slice(b".zdebug_");
        zname.get_mut(8..)?.copy_from_slice(rest);
        let zname = &*zname;
        self.sections().find(|s| s.name == zname)
    }

    /// The GNU build-id: from the note sections, or, in a file without
    /// section headers, from its `PT_NOTE` segments.
    pub(crate) fn build_id(&self) -> Option<BuildId> {
        let found = if self.section_count() > 0 {
            self.sections()
                .filter(|s| s.sh_type == SHT_NOTE)
                .find_map(|s| elf::parse_build_id_note(s.data?))
        } else {
            self.note_segments()
        };
        let (id, len) = found?;
        Some(BuildId { id, len })
    }

    /// The build-id in the `PT_NOTE` segments, read from the file.
    fn note_segments(&self) -> Option<([u8; BUILD_ID_MAX], usize)> {
        if self.phentsize != elf::PHDR_SIZE {
            return None;
        }
        let table = range(
            self.data,
            self.phoff,
            u64::try_from(self.phnum.checked_mul(elf::PHDR_SIZE)?).ok()?,
        )?;
        table
            .chunks_exact(elf::PHDR_SIZE)
            .filter_map(elf::parse_phdr)
            .filter(|p| p.p_type == elf::PT_NOTE)
            .find_map(|p| elf::parse_build_id_note(range(self.data, p.offset, p.filesz)?))
    }

    /// `.gnu_debuglink`: the debug file's name and the CRC-32 of its
    /// bytes.
    pub(crate) fn gnu_debuglink(&self) -> Option<(&'a [u8], u32)> {
        let data = self
            .sections()
            .find(|s| s.name == b".gnu_debuglink")?
            .data?;
        let name = data.get(..data.iter().position(|&b| b == 0)?)?;
        let crc_at = name.len().checked_add(1)?.checked_next_multiple_of(4)?;
        Some((name, u32_at(data, crc_at)?))
    }

    /// The uncompressed size of the sections named `names` (those the
    /// file has), without decompressing them: what a build would read.
    pub(crate) fn uncompressed_size_of(&self, names: &[&[u8]]) -> u64 {
        names
            .iter()
            .filter_map(|n| self.section(n))
            .fold(0u64, |sum, s| sum.saturating_add(s.uncompressed_size()))
    }
}

/// The section header fields we use.
struct Shdr {
    name: u32,
    sh_type: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
}

/// The sections of an [`Elf`] ([`Elf::sections`]).
pub(crate) struct Sections<'a> {
    elf: Elf<'a>,
    next: usize,
}

impl<'a> Iterator for Sections<'a> {
    type Item = Section<'a>;
    fn next(&mut self) -> Option<Section<'a>> {
        let s = self.elf.section_at(self.next)?;
        self.next = self.next.saturating_add(1);
        Some(s)
    }
}

impl<'a> Section<'a> {
    /// Whether it holds code (`SHF_EXECINSTR`).
    pub(crate) fn is_executable(&self) -> bool {
        self.flags & SHF_EXECINSTR != 0
    }

    /// Whether it has no bytes in the file (`SHT_NOBITS`).
    pub(crate) fn is_nobits(&self) -> bool {
        self.sh_type == SHT_NOBITS
    }

    /// Whether its bytes are compressed (`SHF_COMPRESSED`, or a GNU
    /// `.zdebug_` section).
    #[cfg(test)]
    pub(crate) fn is_compressed(&self) -> bool {
        matches!(self.compression(), Some((f, _, _)) if f != Format::None)
    }

    /// How the bytes are compressed: the format, the compressed stream
    /// and the uncompressed size. `None` for a bad or unknown header.
    fn compression(&self) -> Option<(Format, &'a [u8], u64)> {
        let data = self.data?;
        if self.flags & SHF_COMPRESSED != 0 {
            let format = match u32_at(data, 0)? {
                ELFCOMPRESS_ZLIB => Format::Zlib,
                ELFCOMPRESS_ZSTD => Format::Zstd,
                _ => return None,
            };
            return Some((format, data.get(CHDR_SIZE..)?, u64_at(data, 8)?));
        }
        if self.name.starts_with(b".zdebug_") && !self.is_nobits() {
            // "ZLIB", 4 zero bytes, the size in 4 big-endian bytes.
            if data.get(..8)? != b"ZLIB\0\0\0\0" {
                return None;
            }
            let size = u32::from_be_bytes(data.get(8..12)?.try_into().ok()?);
            return Some((Format::Zlib, data.get(12..)?, u64::from(size)));
        }
        Some((Format::None, data, data.len() as u64))
    }

    /// Its size once uncompressed, read from the compression header (its
    /// size for a bad header; 0 for `SHT_NOBITS`), as the `object` crate
    /// counts it.
    pub(crate) fn uncompressed_size(&self) -> u64 {
        if self.is_nobits() {
            // Claimed compression without bytes is a bad header.
            let claims = self.flags & SHF_COMPRESSED != 0 || self.name.starts_with(b".zdebug_");
            return if claims { self.size } else { 0 };
        }
        match self.compression() {
            Some((_, _, size)) => size,
            None => self.size,
        }
    }

    /// Its bytes, uncompressed: the file's own, or uncompressed (zlib,
    /// zstd) into a mapping ([`SectionData`]).
    /// `None` for bad or unknown compressed data, bytes outside the file,
    /// or when memory runs out.
    pub(crate) fn uncompressed_data(&self) -> Option<SectionData<'a>> {
        let (format, stream, size) = self.compression()?;
        let size = usize::try_from(size).ok()?;
        // A header may lie: no more than the format can make of the
        // stream is filled (deflate gives at most 1032 bytes a byte; zstd
        // at most a 128 KiB block for 4 bytes).
        let most = match format {
            Format::None => usize::MAX,
            Format::Zlib => stream.len().saturating_mul(1032).saturating_add(1024),
            Format::Zstd => stream
                .len()
                .saturating_mul(32 << 10)
                .saturating_add(128 << 10),
        };
        if size > most {
            return None;
        }
        match format {
            Format::None => Some(SectionData::Borrowed(stream)),
            Format::Zlib => inflate(stream, size).map(SectionData::Mapped),
            Format::Zstd => unzstd(stream, size).map(SectionData::Mapped),
        }
    }
}

/// Inflate the zlib stream `z` into exactly `size` bytes, in a mapping.
#[cfg(feature = "symbolize")]
fn inflate(z: &[u8], size: usize) -> Option<MapVec<u8>> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    let mut out = MapVec::filled(size, 0u8)?;
    // About 11 KiB, on the stack (the thread's is at least 256 KiB).
    let mut state = DecompressorOxide::new();
    // The whole output at once: the stream may refer back anywhere in it.
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (mut at_in, mut at_out) = (0usize, 0usize);
    loop {
        let input = z.get(at_in..)?;
        let (status, used, wrote) = decompress(&mut state, input, &mut out, at_out, flags);
        at_in = at_in.checked_add(used)?;
        at_out = at_out.checked_add(wrote)?;
        match status {
            TINFLStatus::Done => break,
            // Only when the stream goes on past `size` bytes (or gave
            // nothing): a header that lied.
            TINFLStatus::HasMoreOutput if at_out < size && (used | wrote) != 0 => {}
            _ => return None,
        }
    }
    (at_out == size).then_some(out)
}

#[cfg(not(feature = "symbolize"))]
fn inflate(_: &[u8], _: usize) -> Option<MapVec<u8>> {
    None
}

/// Decompress the zstd frames `z` into exactly `size` bytes, in a
/// mapping.
#[cfg(feature = "symbolize")]
fn unzstd(z: &[u8], size: usize) -> Option<MapVec<u8>> {
    let mut out = MapVec::filled(size, 0u8)?;
    let n = super::zstd::decompress(z, &mut out)?;
    (n == size).then_some(out)
}

#[cfg(not(feature = "symbolize"))]
fn unzstd(_: &[u8], _: usize) -> Option<MapVec<u8>> {
    None
}

/// The debug directories given in the configuration (`Config::debug_dir`),
/// searched before [`SYSTEM_DEBUG_DIR`]. Each new list is leaked (it may
/// be read at any time), and not behind a lock, which a `fork()` during a
/// read would leave locked in the child.
static DEBUG_DIRS: AtomicPtr<DirList> = AtomicPtr::new(core::ptr::null_mut());

/// A published list of debug directories.
struct DirList {
    dirs: &'static [&'static [u8]],
}

/// The system's debug directory.
pub(crate) const SYSTEM_DEBUG_DIR: &[u8] = b"/usr/lib/debug";

/// Set the configured debug directories (`enable()`), each as its path's
/// bytes. A list equal to the current one is not stored again; when
/// memory runs out the old one stays.
pub(crate) fn set_debug_dirs<'d, I>(dirs: I)
where
    I: IntoIterator<Item = &'d [u8]> + Clone,
{
    if dirs
        .clone()
        .into_iter()
        .eq(configured_debug_dirs().iter().copied())
    {
        return;
    }
    let mut list: MapVec<&'static [u8]> = MapVec::new();
    for d in dirs {
        let Some(kept) = super::mem::leak_slice(d) else {
            return;
        };
        if list.push(kept).is_none() {
            return;
        }
    }
    let Some(dirs) = super::mem::leak_slice(&list) else {
        return;
    };
    let Some(l) = super::mem::leak(DirList { dirs }) else {
        return;
    };
    DEBUG_DIRS.store((l as *const DirList).cast_mut(), Ordering::Release);
}

/// The configured debug directories ([`set_debug_dirs`]).
pub(crate) fn configured_debug_dirs() -> &'static [&'static [u8]] {
    let p = DEBUG_DIRS.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: every pointer stored is a leaked `DirList`, never freed or
    // written after it was published (the Release store pairs with the
    // Acquire load above).
    unsafe { (*p).dirs }
}

/// The debug directories in the order they are searched: the configured
/// ones, then [`SYSTEM_DEBUG_DIR`].
fn debug_dirs() -> impl Iterator<Item = &'static [u8]> + Clone {
    configured_debug_dirs()
        .iter()
        .copied()
        .chain(core::iter::once(SYSTEM_DEBUG_DIR))
}

/// A separate debug file for the module file at `path` (read as `file`),
/// whose build-id is `build_id` (empty: none). The candidates, in order:
/// `.build-id/xx/rest.debug` in each debug directory; then, through
/// `.gnu_debuglink`, the name next to the file, in its `.debug/`, and
/// under each debug directory plus the file's own directory. A candidate
/// is taken when its build-id is `build_id`, or, without a build-id, when
/// its CRC-32 is the debuglink's. Gives the path and the mapping.
pub(crate) fn find_debug_file(
    path: &FilePath,
    file: &Elf<'_>,
    build_id: &[u8],
) -> Option<(FilePath, Mapped)> {
    let link = file.gnu_debuglink();
    let accept = |c: &FilePath| -> Option<Mapped> {
        if c == path {
            return None;
        }
        let map = Mapped::open(c)?;
        let elf = Elf::parse(map.bytes())?;
        let ok = if build_id.is_empty() {
            // No build-id to compare: the debuglink's CRC decides.
            link.is_some_and(|(_, crc)| crc32(map.bytes()) == crc)
        } else {
            elf.build_id().as_ref().map_or(&[][..], BuildId::bytes) == build_id
        };
        ok.then_some(map)
    };
    let found = |c: Option<FilePath>| -> Option<(FilePath, Mapped)> {
        let c = c?;
        let map = accept(&c)?;
        Some((c, map))
    };
    if build_id.len() > 1 {
        for d in debug_dirs() {
            let c = FilePath::from_bytes(d).and_then(|mut c| {
                c.push_build_id(build_id)?;
                Some(c)
            });
            if let Some(hit) = found(c) {
                return Some(hit);
            }
        }
    }
    let (name, _) = link?;
    let dir = FilePath::from_bytes(path.parent().unwrap_or(b"/"))?;
    if let Some(hit) = found(dir.join(name)) {
        return Some(hit);
    }
    if let Some(hit) = found(dir.join(b".debug").and_then(|d| d.join(name))) {
        return Some(hit);
    }
    for d in debug_dirs() {
        let c = FilePath::from_bytes(d)
            .and_then(|d| d.join(dir.strip_root()))
            .and_then(|d| d.join(name));
        if let Some(hit) = found(c) {
            return Some(hit);
        }
    }
    None
}

/// The CRC-32 (IEEE) table, made at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE), as `.gnu_debuglink` uses it.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod tests;
