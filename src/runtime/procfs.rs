//! Async-signal-safe. Reads `/proc` with `open`/`read`/`close` into fixed
//! buffers: thread names, the executable path and the memory map.
//!
//! # Safety
//!
//! Every `unsafe` block is a system call on a NUL-terminated path built in a
//! stack buffer, or a read into a buffer we own.
#![allow(unsafe_code)]

use crate::runtime::fmt::{parse_hex, Buf};
use crate::runtime::sys;

/// Read a small file into `buf`; returns the bytes read (0 on any error).
pub(crate) fn read_file(path: &[u8], buf: &mut [u8]) -> usize {
    let fd = open_ro(path);
    if fd < 0 {
        return 0;
    }
    let total = read_fd(fd, buf);
    close(fd);
    total
}

/// [`read_file`], and the file's whole length in `whole` (the bytes past
/// `buf` are read and dropped).
pub(crate) fn read_file_counting(path: &[u8], buf: &mut [u8], whole: &mut usize) -> usize {
    *whole = 0;
    let fd = open_ro(path);
    if fd < 0 {
        return 0;
    }
    let kept = read_fd(fd, buf);
    *whole = kept;
    if kept == buf.len() {
        let mut rest = [0u8; 512];
        loop {
            let n = read_fd(fd, &mut rest);
            *whole += n;
            if n < rest.len() {
                break;
            }
        }
    }
    close(fd);
    kept
}

/// Read from `fd` until `buf` is full or the file ends.
fn read_fd(fd: i32, buf: &mut [u8]) -> usize {
    let mut total = 0;
    while total < buf.len() {
        let rest = buf.get_mut(total..).unwrap_or(&mut []);
        // SAFETY: `rest` is writable for its length.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n > 0 {
            total += n as usize;
        } else if n < 0 && sys::errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
    total
}

/// Open `path` (without a NUL; it is added here) read-only and close-on-exec.
fn open_ro(path: &[u8]) -> i32 {
    let mut p = Buf::<256>::new();
    p.push(path);
    if p.truncated() || !p.nul_terminate() {
        return -1;
    }
    loop {
        // SAFETY: `p` holds a NUL-terminated path.
        let fd = unsafe {
            libc::open(
                p.as_bytes().as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd >= 0 || sys::errno() != libc::EINTR {
            return fd;
        }
    }
}

fn close(fd: i32) {
    // SAFETY: closing an fd this module opened.
    unsafe { libc::close(fd) };
}

/// Append the kernel name (comm) of thread `tid` of this process, without
/// its trailing newline. Appends `?` when it cannot be read.
pub(crate) fn write_thread_name<const N: usize>(out: &mut Buf<N>, tid: i32) {
    let mut name = [0u8; 32];
    let name = read_thread_name(tid, &mut name);
    if name.is_empty() {
        out.byte(b'?');
    } else {
        out.ascii(name);
    }
}

/// The kernel name (comm) of thread `tid` of this process, raw, without
/// its trailing newline; empty when it cannot be read.
pub(crate) fn read_thread_name(tid: i32, name: &mut [u8; 32]) -> &[u8] {
    if tid == sys::gettid() {
        // Our own: no file to open.
        let mut own = [0u8; 16];
        let n = sys::own_thread_name(&mut own);
        if let (Some(dst), Some(src)) = (name.get_mut(..n), own.get(..n)) {
            if n > 0 {
                dst.copy_from_slice(src);
                return name.get(..n).unwrap_or(&[]);
            }
        }
    }
    let mut path = Buf::<64>::new();
    path.str("/proc/self/task/").dec(tid as u64).str("/comm");
    let n = read_file(path.as_bytes(), name);
    let name = name.get(..n).unwrap_or(&[]);
    name.strip_suffix(b"\n").unwrap_or(name)
}

/// Append the file name (without directories) of the running executable.
pub(crate) fn write_exe_name<const N: usize>(out: &mut Buf<N>) {
    let mut path = [0u8; 512];
    let base = read_exe_name(&mut path);
    if base.is_empty() {
        out.byte(b'?');
    } else {
        out.ascii(base);
    }
}

/// The file name (without directories) of the running executable, raw;
/// empty when it cannot be read.
pub(crate) fn read_exe_name(path: &mut [u8; 512]) -> &[u8] {
    // SAFETY: the path literal is NUL-terminated and `path` is writable.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            path.as_mut_ptr().cast(),
            path.len(),
        )
    };
    let full = if n > 0 {
        path.get(..n as usize).unwrap_or(&[])
    } else {
        &[]
    };
    match full.iter().rposition(|&b| b == b'/') {
        Some(i) => full.get(i + 1..).unwrap_or(&[]),
        None => full,
    }
}

/// One line of `/proc/self/maps`.
pub(crate) struct Mapping<'a> {
    pub start: usize,
    pub end: usize,
    /// `rwxp` flags as the kernel prints them.
    pub perms: [u8; 4],
    /// Offset into the mapped file.
    pub offset: u64,
    /// The path, or a pseudo-name such as `[stack]`, or empty.
    pub path: &'a [u8],
}

impl Mapping<'_> {
    /// Readable.
    pub(crate) fn readable(&self) -> bool {
        self.perms[0] == b'r'
    }
    /// Writable.
    pub(crate) fn writable(&self) -> bool {
        self.perms[1] == b'w'
    }
    /// Whether the path is a real file (not `[heap]`, `[stack]`, anonymous).
    pub(crate) fn is_file(&self) -> bool {
        self.path.first() == Some(&b'/')
    }
}

/// Call `f` for every line of `/proc/self/maps`, in address order, until it
/// returns false. `scratch` holds the text being parsed; a line longer than
/// it (a very long path) is cut, its path shortened.
pub(crate) fn for_each_mapping(scratch: &mut [u8], mut f: impl FnMut(&Mapping<'_>) -> bool) {
    let fd = open_ro(b"/proc/self/maps");
    if fd < 0 {
        return;
    }
    let mut filled = 0usize;
    let mut eof = false;
    'outer: loop {
        if !eof && filled < scratch.len() {
            let rest = scratch.get_mut(filled..).unwrap_or(&mut []);
            // SAFETY: `rest` is writable for its length.
            let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
            if n > 0 {
                filled += n as usize;
            } else if n < 0 && sys::errno() == libc::EINTR {
                continue;
            } else {
                eof = true;
            }
        }
        let mut consumed = 0usize;
        loop {
            let text = scratch.get(consumed..filled).unwrap_or(&[]);
            let line_end = match text.iter().position(|&b| b == b'\n') {
                Some(i) => i,
                None if eof && !text.is_empty() => text.len(),
                None if filled == scratch.len() && consumed == 0 => text.len(),
                None => break,
            };
            let line = text.get(..line_end).unwrap_or(&[]);
            if let Some(m) = parse_maps_line(line) {
                if !f(&m) {
                    break 'outer;
                }
            }
            consumed += (line_end + 1).min(text.len());
        }
        if consumed == 0 && eof {
            break;
        }
        scratch.copy_within(consumed..filled, 0);
        filled -= consumed;
        if eof && filled == 0 {
            break;
        }
    }
    close(fd);
}

/// Parse `start-end perms offset dev inode path`.
pub(crate) fn parse_maps_line(line: &[u8]) -> Option<Mapping<'_>> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    let offset = fields.next()?;
    let _dev = fields.next()?;
    let _inode = fields.next()?;
    let path = fields.next().unwrap_or(&[]);
    let dash = range.iter().position(|&b| b == b'-')?;
    let start = parse_hex(range.get(..dash)?)? as usize;
    let end = parse_hex(range.get(dash + 1..)?)? as usize;
    let path = match path.iter().position(|&b| b != b' ') {
        Some(i) => path.get(i..).unwrap_or(&[]),
        None => &[],
    };
    let mut p = [b'-'; 4];
    for (dst, src) in p.iter_mut().zip(perms.iter()) {
        *dst = *src;
    }
    Some(Mapping {
        start,
        end,
        perms: p,
        offset: parse_hex(offset)?,
        path,
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

    #[test]
    fn counts_what_it_cannot_keep() {
        let dir = std::env::temp_dir().join(format!("fh-count-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let text: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        let p = path.as_os_str().as_encoded_bytes();
        let mut small = [0u8; 1024];
        let mut whole = 0;
        assert_eq!(read_file_counting(p, &mut small, &mut whole), 1024);
        assert_eq!(whole, 3000);
        assert_eq!(&small[..], &text[..1024]);
        let mut big = [0u8; 4096];
        assert_eq!(read_file_counting(p, &mut big, &mut whole), 3000);
        assert_eq!(whole, 3000);
        assert_eq!(
            read_file_counting(b"/nonexistent/x", &mut big, &mut whole),
            0
        );
        assert_eq!(whole, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_maps_lines() {
        let m =
            parse_maps_line(b"55d1c2a00000-55d1c2b40000 r-xp 00001000 fd:01 123 /usr/bin/my prog")
                .unwrap();
        assert_eq!(
            (m.start, m.end, m.offset),
            (0x55d1c2a00000, 0x55d1c2b40000, 0x1000)
        );
        assert_eq!(m.path, b"/usr/bin/my prog");
        assert!(m.readable() && !m.writable() && m.is_file());
        let anon = parse_maps_line(b"7ffd0000-7ffd1000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(anon.path, b"");
        assert!(parse_maps_line(b"garbage").is_none());
    }

    #[test]
    fn finds_our_own_code_in_maps() {
        let here = finds_our_own_code_in_maps as *const () as usize;
        let mut found = false;
        let mut count = 0;
        // A small scratch forces the refill path.
        let mut scratch = [0u8; 300];
        for_each_mapping(&mut scratch, |m| {
            count += 1;
            if m.start <= here && here < m.end {
                found = m.perms[2] == b'x' && m.is_file();
            }
            true
        });
        assert!(count > 5, "only {count} mappings");
        assert!(found);
    }

    #[test]
    fn thread_and_exe_names() {
        let mut b = Buf::<64>::new();
        write_thread_name(&mut b, sys::getpid());
        assert!(b.len() > 0 && b.as_bytes() != b"?");
        let mut e = Buf::<64>::new();
        write_exe_name(&mut e);
        let exe = std::env::current_exe().unwrap();
        assert_eq!(e.as_bytes(), exe.file_name().unwrap().as_encoded_bytes());
    }
}
