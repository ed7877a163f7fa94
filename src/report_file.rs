//! Per-crash report files: a path template, created safely at enable time
//! and removed at a clean exit if nothing was written to it.
//!
//! A report cannot open files (the handler may run with the heap or the
//! loader in any state, and a path can be raced), so the file is created up
//! front: `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC`, mode 0600. `O_EXCL` refuses
//! any existing file, symlinks included, so a link planted at the path
//! cannot redirect the report; a missing parent directory is an error, never
//! a fallback to some world-writable place.
//!
//! Normal context only; the handler sees just the fd.

use crate::error::Error;
use crate::runtime::late_file;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Expand a template: `%p` pid, `%t` unix time (seconds), `%e` executable
/// name, `%%` a literal `%`. Any other `%` sequence is an error.
pub(crate) fn expand(template: &Path, pid: u32, time: u64, exe: &str) -> Result<PathBuf, Error> {
    let bytes = template.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid("the report file template is empty"));
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut it = bytes.iter();
    while let Some(&b) = it.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'p') => out.extend_from_slice(pid.to_string().as_bytes()),
            Some(b't') => out.extend_from_slice(time.to_string().as_bytes()),
            Some(b'e') => out.extend_from_slice(exe.as_bytes()),
            Some(b'%') => out.push(b'%'),
            Some(&c) => {
                return Err(Error::invalid(format!(
                    "unknown code %{} in report file template {:?} (use %p, %t, %e or %%)",
                    c as char,
                    template.display().to_string()
                )))
            }
            None => {
                return Err(Error::invalid(format!(
                    "report file template {:?} ends with a lone %",
                    template.display().to_string()
                )))
            }
        }
    }
    Ok(PathBuf::from(OsString::from_vec(out)))
}

/// Whether `template` expands `%p` (the pid) somewhere; `%%` is a
/// literal `%`.
pub(crate) fn has_pid(template: &Path) -> bool {
    let mut it = template.as_os_str().as_bytes().iter();
    while let Some(&b) = it.next() {
        if b == b'%' && it.next() == Some(&b'p') {
            return true;
        }
    }
    false
}

/// Create the report file at `path`: new, 0600, never through a symlink.
/// With `pid_in_name` (the template has `%p`), an empty file of ours
/// already there is taken over: an earlier image of this process (before
/// an `exec`, which keeps the pid) created it.
pub(crate) fn create(path: &Path, pid_in_name: bool) -> Result<OwnedFd, Error> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::invalid(format!(
            "cannot create report file {}: directory {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match file {
        Ok(f) => Ok(f.into()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && pid_in_name => {
            take_over_from_an_earlier_image(path)
                .ok_or(e)
                .or_else(|e| refuse(path, e))
        }
        Err(e) => refuse(path, e),
    }
}

/// The file at `path` (whose name holds our pid) already exists: when it
/// is what an earlier image of this very process left behind, having
/// created it before it called `exec` (the file stays, the fd was
/// close-on-exec), take it over: a regular file, not a link, ours (uid,
/// mode 0600, one link) and still empty. Checked again on the open fd, so
/// a file swapped in between is refused.
fn take_over_from_an_earlier_image(path: &Path) -> Option<OwnedFd> {
    use std::os::unix::fs::MetadataExt;
    let fits = |m: &std::fs::Metadata| {
        m.file_type().is_file()
            && m.uid() == current_euid()
            && m.mode() & 0o7777 == 0o600
            && m.nlink() == 1
            && m.len() == 0
    };
    let before = std::fs::symlink_metadata(path).ok().filter(fits)?;
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let after = f.metadata().ok().filter(fits)?;
    (before.dev() == after.dev() && before.ino() == after.ino()).then(|| f.into())
}

fn current_euid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

fn refuse(path: &Path, e: std::io::Error) -> Result<OwnedFd, Error> {
    match e {
        e if e.kind() == std::io::ErrorKind::AlreadyExists => {
            use std::os::unix::fs::FileTypeExt;
            let what = match std::fs::symlink_metadata(path).map(|m| m.file_type()) {
                Ok(t) if t.is_symlink() => "a symbolic link",
                Ok(t) if t.is_dir() => "a directory",
                Ok(t) if t.is_fifo() => "a FIFO",
                Ok(t) if t.is_socket() => "a socket",
                Ok(t) if t.is_char_device() || t.is_block_device() => "a device",
                _ => "a file",
            };
            Err(Error::invalid(format!(
                "refusing to write the report to {}: {what} already exists there \
                 (add %p to the template for one file per process)",
                path.display()
            )))
        }
        e => Err(Error::with_io(
            format!("cannot create report file {}", path.display()),
            e,
        )),
    }
}

/// The current report file: its path and identity, for removal at exit,
/// and the process that created it (the only one that may remove it: a
/// forked child that exits leaves its parent's file alone).
struct Current {
    path: PathBuf,
    dev: u64,
    ino: u64,
    creator: u32,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

/// Remember `path` (just created) as the report file, and make sure an
/// empty one is removed at a clean exit.
pub(crate) fn track(path: &Path) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let previous = CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(Current {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
            creator: std::process::id(),
        });
    // A crash after the removal at exit (in an atexit handler the program
    // registered before enable) creates the file again from this path.
    late_file::keep(path.as_os_str().as_bytes());
    if let Some(prev) = previous {
        remove_if_empty(&prev);
    }
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registering a plain extern "C" fn with no arguments.
        #[allow(unsafe_code)]
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

/// Whether a report file is in use (reports go to it, and dumps without
/// an fd of their own too).
pub(crate) fn is_tracked() -> bool {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// Stop tracking the report file, removing it if it is empty.
pub(crate) fn untrack() {
    late_file::forget();
    let prev = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(prev) = prev {
        remove_if_empty(&prev);
    }
}

extern "C" fn at_exit() {
    // Never panic across the C boundary; try_lock so an exit from inside a
    // locked section cannot deadlock.
    let _ = std::panic::catch_unwind(|| {
        if let Ok(mut cur) = CURRENT.try_lock() {
            if let Some(c) = cur.take() {
                if remove_if_empty(&c) {
                    late_file::mark_removed();
                }
            }
        }
    });
}

/// Remove the file if it is the very one we created, nothing was written
/// to it, and this process created it. Returns whether it was removed.
fn remove_if_empty(c: &Current) -> bool {
    if c.creator != std::process::id() {
        return false;
    }
    match std::fs::symlink_metadata(&c.path) {
        Ok(m) if m.is_file() && m.len() == 0 && m.dev() == c.dev && m.ino() == c.ino => {
            std::fs::remove_file(&c.path).is_ok()
        }
        _ => false,
    }
}

/// The executable's file name, for `%e`.
pub(crate) fn exe_name() -> String {
    std::fs::read_link("/proc/self/exe")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.as_bytes().to_vec()))
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn expands_codes() {
        let p = expand(Path::new("/tmp/crash-%e.%p.%t.%%"), 42, 1700, "prog").unwrap();
        assert_eq!(p, Path::new("/tmp/crash-prog.42.1700.%"));
        assert!(expand(Path::new("/tmp/x%q"), 1, 1, "e")
            .unwrap_err()
            .to_string()
            .contains("%q"));
        assert!(expand(Path::new("/tmp/x%"), 1, 1, "e").is_err());
        assert!(expand(Path::new(""), 1, 1, "e").is_err());
    }

    fn scratch_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fh-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn an_empty_file_of_ours_with_our_pid_is_taken_over() {
        assert!(has_pid(Path::new("/tmp/r-%p.txt")));
        assert!(!has_pid(Path::new("/tmp/r-%%p.txt")));
        let d = scratch_dir("takeover");
        let p = d.join("report-1234");
        drop(create(&p, true).unwrap());
        // As after an exec: the earlier image's file is there, empty.
        drop(create(&p, true).expect("taken over"));
        // Not without %p, not once it holds a report, not another mode.
        assert!(create(&p, false).is_err());
        std::fs::write(&p, b"Fatal signal 11").unwrap();
        assert!(create(&p, true).is_err());
        let q = d.join("report-other-mode");
        std::fs::write(&q, b"").unwrap();
        std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(create(&q, true).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn creates_0600_and_refuses_existing_and_links() {
        let d = scratch_dir("create");
        let p = d.join("report");
        let fd = create(&p, false).unwrap();
        drop(fd);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = create(&p, false).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        let target = d.join("target");
        let link = d.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = create(&link, false).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!target.exists(), "the link must not be followed");
        let e = create(&d.join("missing/report"), false).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        // Whatever is there, the error says what it is.
        let dir = d.join("a-dir");
        std::fs::create_dir(&dir).unwrap();
        let e = create(&dir, false).unwrap_err();
        assert!(e.to_string().contains("a directory already exists"), "{e}");
        let fifo = d.join("a-fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        let e = create(&fifo, false).unwrap_err();
        assert!(e.to_string().contains("a FIFO already exists"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn untrack_removes_only_an_empty_file() {
        let d = scratch_dir("track");
        let empty = d.join("empty");
        drop(create(&empty, false).unwrap());
        track(&empty);
        untrack();
        assert!(!empty.exists());
        let full = d.join("full");
        let fd = create(&full, false).unwrap();
        std::io::Write::write_all(&mut std::fs::File::from(fd), b"x").unwrap();
        track(&full);
        untrack();
        assert!(full.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
