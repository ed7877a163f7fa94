use super::*;
use object::{Object, ObjectSection};
use std::path::{Path, PathBuf};

fn p(s: &str) -> FilePath {
    FilePath::from_bytes(s.as_bytes()).unwrap()
}

fn text(p: &FilePath) -> &str {
    std::str::from_utf8(p.as_bytes()).unwrap()
}

#[test]
fn crc32_known_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn paths_join_as_pathbuf_does() {
    for (a, b) in [
        ("/a", "b"),
        ("/a/", "b"),
        ("/a", "/b"),
        ("", "b"),
        ("a", "b/c"),
        ("/", "x"),
        ("/a", ""),
        ("/usr/lib/debug", "usr/lib"),
    ] {
        let want = Path::new(a).join(b);
        let got = p(a).join(b.as_bytes()).unwrap();
        assert_eq!(text(&got), want.to_str().unwrap(), "{a} + {b}");
        assert_eq!(got.as_bytes_with_nul().last(), Some(&0));
        assert_eq!(got.as_bytes_with_nul().len(), got.as_bytes().len() + 1);
    }
}

#[test]
fn parents_as_path_gives_them() {
    for a in [
        "/a/b",
        "/a",
        "/",
        "",
        "a",
        "a/b",
        "/a/b/",
        "/a//b",
        "/usr/lib/x.so",
    ] {
        let want = Path::new(a)
            .parent()
            .map(|q| q.to_str().unwrap().to_string());
        let got = p(a)
            .parent()
            .map(|q| std::str::from_utf8(q).unwrap().to_string());
        assert_eq!(got, want, "{a:?}");
    }
    assert_eq!(p("/usr/lib").strip_root(), b"usr/lib");
    assert_eq!(p("//usr").strip_root(), b"usr");
    assert_eq!(p("rel/x").strip_root(), b"rel/x");
}

#[test]
fn build_id_paths() {
    let mut d = p("/usr/lib/debug");
    d.push_build_id(&[0xab, 0x01, 0xff]).unwrap();
    assert_eq!(text(&d), "/usr/lib/debug/.build-id/ab/01ff.debug");
    let mut short = p("/x");
    assert!(short.push_build_id(&[1]).is_none());
    assert!(short.push_build_id(&[]).is_none());
    assert_eq!(text(&short), "/x");
}

#[test]
fn too_long_paths_are_refused_and_leave_the_path_alone() {
    let long = "x".repeat(PATH_CAP - 1);
    assert!(FilePath::from_bytes(long.as_bytes()).is_some());
    assert!(FilePath::from_bytes("x".repeat(PATH_CAP).as_bytes()).is_none());
    assert!(FilePath::from_bytes(b"a\0b").is_none());
    let mut a = p("/a");
    assert!(a.push(long.as_bytes()).is_none());
    assert_eq!(text(&a), "/a");
    assert!(a.push(b"b\0").is_none());
    assert_eq!(text(&a), "/a");
    let mut near = FilePath::from_bytes("y".repeat(PATH_CAP - 40).as_bytes()).unwrap();
    let before = near.clone();
    assert!(near.push_build_id(&[7u8; 20]).is_none());
    assert_eq!(near, before);
    assert_eq!(near.as_bytes_with_nul().last(), Some(&0));
}

#[test]
fn mapped_files() {
    let exe = std::env::current_exe().unwrap();
    let m = Mapped::open(&p(exe.to_str().unwrap())).unwrap();
    assert_eq!(m.bytes(), &std::fs::read(&exe).unwrap()[..]);
    assert!(Mapped::open(&p("/")).is_none(), "a directory");
    assert!(
        Mapped::open(&p("/dev/null")).is_none(),
        "not a regular file"
    );
    assert!(Mapped::open(&p("/nonexistent/x")).is_none());
    assert!(Mapped::open(&FilePath::new()).is_none());
}

/// Our view of `data` against object's: every section's name, address,
/// size, flags and (uncompressed) bytes, the build-id, the debuglink,
/// the executable ranges and the DWARF size.
fn same_as_object(data: &[u8]) {
    let ours = Elf::parse(data).expect("ELF");
    let obj = object::File::parse(data).unwrap();
    let theirs: Vec<_> = obj.sections().collect();
    let mine: Vec<_> = ours.sections().collect();
    assert_eq!(mine.len(), theirs.len());
    for (a, b) in mine.iter().zip(&theirs) {
        assert_eq!(a.index, b.index().0);
        assert_eq!(a.name, b.name_bytes().unwrap());
        assert_eq!(a.address, b.address(), "{:?}", b.name());
        assert_eq!(a.size, b.size(), "{:?}", b.name());
        let object::SectionFlags::Elf { sh_flags, sh_type } = b.flags() else {
            panic!()
        };
        assert_eq!(a.flags, sh_flags.0);
        assert_eq!(a.sh_type, sh_type.0);
        assert_eq!(a.is_nobits(), sh_type == object::elf::SHT_NOBITS);
        let range = b.compressed_file_range().unwrap();
        assert_eq!(
            a.uncompressed_size(),
            range.uncompressed_size,
            "{:?}",
            b.name()
        );
        assert_eq!(
            a.is_compressed(),
            range.format != object::CompressionFormat::None
        );
        let by_name = ours.section(a.name).unwrap();
        assert_eq!(by_name.name, a.name);
    }
    assert_eq!(
        ours.build_id().as_ref().map(BuildId::bytes),
        obj.build_id().unwrap()
    );
    assert_eq!(ours.gnu_debuglink(), obj.gnu_debuglink().unwrap());
    let exec = |v: Vec<(u64, u64)>| v;
    assert_eq!(
        exec(
            ours.sections()
                .filter(Section::is_executable)
                .map(|s| (s.address, s.address + s.size))
                .collect()
        ),
        exec(
            obj.sections()
                .filter(
                    |s| matches!(s.flags(), object::SectionFlags::Elf { sh_flags, .. }
                    if sh_flags.contains(object::elf::SHF_EXECINSTR))
                )
                .map(|s| (s.address(), s.address() + s.size()))
                .collect()
        )
    );
    assert!(ours.sections().any(|s| s.is_executable()));
    #[cfg(feature = "symbolize")]
    {
        for s in obj.sections() {
            let name = s.name_bytes().unwrap();
            if !name.starts_with(b".debug_") && !name.starts_with(b".zdebug_") {
                continue;
            }
            let want = s.uncompressed_data().unwrap();
            let got = ours.section(name).unwrap().uncompressed_data().unwrap();
            assert_eq!(&*got, &*want, "{:?}", s.name());
        }
        // What the line tables' budget counts, as setup::lines counts it.
        const NAMES: &[&[u8]] = &[
            b".debug_abbrev",
            b".debug_addr",
            b".debug_info",
            b".debug_line",
            b".debug_line_str",
            b".debug_ranges",
            b".debug_rnglists",
            b".debug_str",
            b".debug_str_offsets",
        ];
        assert_eq!(
            ours.uncompressed_size_of(NAMES),
            NAMES
                .iter()
                .filter_map(|n| obj.section_by_name_bytes(n))
                .map(|s| s.compressed_file_range().unwrap().uncompressed_size)
                .sum::<u64>()
        );
        for n in NAMES {
            let a = ours.section(n).map(|s| (s.index, s.uncompressed_size()));
            let b = obj.section_by_name_bytes(n).map(|s| {
                (
                    s.index().0,
                    s.compressed_file_range().unwrap().uncompressed_size,
                )
            });
            assert_eq!(a, b, "{}", String::from_utf8_lossy(n));
        }
    }
}

#[test]
fn reads_our_own_binary_as_object_does() {
    let exe = std::env::current_exe().unwrap();
    let map = Mapped::open(&p(exe.to_str().unwrap())).unwrap();
    same_as_object(map.bytes());
    let elf = Elf::parse(map.bytes()).unwrap();
    assert!(elf.build_id().is_some(), "rustc links a build-id");
    let text = elf.section(b".text").unwrap();
    assert!(text.is_executable() && !text.is_compressed());
    assert!(matches!(
        text.uncompressed_data(),
        Some(SectionData::Borrowed(b)) if b.len() as u64 == text.size
    ));
    let bss = elf.section(b".bss").unwrap();
    assert!(bss.is_nobits() && bss.data == Some(&[][..]) && bss.uncompressed_size() == 0);
    assert!(elf.section(b".no_such_section").is_none());
}

#[test]
fn the_decompressor_fits_on_the_stack() {
    #[cfg(feature = "symbolize")]
    {
        let n = core::mem::size_of::<miniz_oxide::inflate::core::DecompressorOxide>();
        assert!(n < 16 << 10, "{n} bytes");
    }
}

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-file-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &str, args: &[&std::ffi::OsStr]) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A small binary with DWARF, compiled with `cc -g`; `None` without a C
/// compiler.
fn small_binary(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("small.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nstatic int sq(int x) { return x * x; }\n\
         int main(int c, char **v) { (void)v; printf(\"%d\\n\", sq(c)); return 0; }\n",
    )
    .unwrap();
    let out = dir.join("small");
    run(
        "cc",
        &[
            "-g".as_ref(),
            "-O1".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            src.as_os_str(),
        ],
    )
    .then_some(out)
}

/// `bin` compressed with `objcopy --compress-debug-sections=how`; `None`
/// when objcopy is missing or does not know `how`.
fn compressed(bin: &Path, how: &str) -> Option<Vec<u8>> {
    let out = bin.with_extension(how);
    let arg = format!("--compress-debug-sections={how}");
    run("objcopy", &[arg.as_ref(), bin.as_os_str(), out.as_os_str()])
        .then(|| std::fs::read(out).unwrap())
}

/// (Without `symbolize`, compressed sections are not uncompressed.)
#[cfg(feature = "symbolize")]
#[test]
fn compressed_sections_give_what_object_gives() {
    let dir = scratch("compressed");
    let Some(bin) = small_binary(&dir) else {
        eprintln!("no C compiler: compressed sections not tested");
        return;
    };
    let plain = std::fs::read(&bin).unwrap();
    same_as_object(&plain);
    let mut tried = 0;
    for how in ["zlib", "zlib-gnu", "zstd"] {
        let Some(data) = compressed(&bin, how) else {
            eprintln!("objcopy cannot make {how} sections: skipped");
            continue;
        };
        tried += 1;
        same_as_object(&data);
        let elf = Elf::parse(&data).unwrap();
        let info = elf.section(b".debug_info").expect("DWARF");
        assert!(info.is_compressed(), "{how}");
        assert_eq!(info.name.starts_with(b".zdebug_"), how == "zlib-gnu");
        let got = info.uncompressed_data().unwrap();
        let plain_elf = Elf::parse(&plain).unwrap();
        let want = plain_elf.section(b".debug_info").unwrap();
        assert_eq!(&*got, want.data.unwrap(), "{how}");
        assert!(matches!(got, SectionData::Mapped(_)), "{how}");
        // A cut stream or a size that lies gives nothing.
        let mut bad = info;
        bad.data = bad.data.map(|d| &d[..d.len() / 2]);
        assert!(bad.uncompressed_data().is_none(), "{how}");
        let mut lie = info.data.unwrap().to_vec();
        let size_at = if how == "zlib-gnu" { 8..12 } else { 8..16 };
        for byte in &mut lie[size_at.clone()] {
            *byte = 0x7f; // Hundreds of GiB (or 2 GiB): refused, not filled.
        }
        let mut liar = info;
        liar.data = Some(&lie);
        assert!(liar.uncompressed_size() > 1 << 30, "{how}");
        assert!(liar.uncompressed_data().is_none(), "{how}");
        let mut short = info.data.unwrap().to_vec();
        if how == "zlib-gnu" {
            short[8..12].copy_from_slice(&100u32.to_be_bytes());
        } else {
            short[8..16].copy_from_slice(&100u64.to_le_bytes());
        }
        let mut shorter = info;
        shorter.data = Some(&short);
        assert!(
            shorter.uncompressed_data().is_none(),
            "{how}: too small a size"
        );
    }
    if tried == 0 {
        eprintln!("no objcopy: compressed sections not tested");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_and_truncated_files_give_none() {
    assert!(Elf::parse(b"").is_none());
    assert!(Elf::parse(b"\x7fELF").is_none());
    assert!(Elf::parse(&[0xffu8; 4096]).is_none());
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    // 32-bit and big-endian files are refused.
    let mut other = exe.clone();
    other[4] = 1;
    assert!(Elf::parse(&other).is_none());
    other[4] = 2;
    other[5] = 2;
    assert!(Elf::parse(&other).is_none());
    // Cut anywhere before the end of the section headers: none, or (cut
    // after them) sections whose bytes are missing show as None.
    for cut in (0..exe.len()).step_by(exe.len() / 997 + 1).chain(0..256) {
        if let Some(e) = Elf::parse(&exe[..cut]) {
            for s in e.sections() {
                let _ = (
                    s.data.map(elf::parse_build_id_note),
                    s.uncompressed_size(),
                    s.is_compressed(),
                );
                let _ = s.uncompressed_data();
            }
            let _ = (e.build_id(), e.gnu_debuglink(), e.section(b".debug_info"));
        }
    }
    // Headers with every byte of the file header flipped in turn, and
    // random section tables.
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let head = &exe[..exe.len().min(1 << 16)];
    for i in 0..64 {
        for v in [0u8, 0xff, 0x7f, 1] {
            let mut m = head.to_vec();
            m[i] = v;
            poke(&m);
        }
    }
    let shoff = u64::from_le_bytes(exe[0x28..0x30].try_into().unwrap()) as usize;
    let mut m = exe.clone();
    for _ in 0..2000 {
        let mut saved = [(0usize, 0u8); 8];
        for slot in &mut saved {
            let at = shoff + (rand() as usize) % (exe.len() - shoff);
            *slot = (at, m[at]);
            m[at] = rand() as u8;
        }
        poke(&m);
        for &(at, v) in saved.iter().rev() {
            m[at] = v;
        }
    }
    // A zero-length file, and an ELF header alone.
    poke(&exe[..64]);
}

/// Everything an `Elf` offers, on bytes that may be garbage.
fn poke(data: &[u8]) {
    let Some(e) = Elf::parse(data) else {
        return;
    };
    let _ = (e.build_id(), e.gnu_debuglink(), e.section_count());
    let _ = e.uncompressed_size_of(&[b".debug_info", b".debug_line"]);
    for s in e.sections().take(100) {
        let _ = (s.uncompressed_size(), s.is_compressed(), s.is_executable());
        if s.is_compressed() && s.uncompressed_size() < 1 << 26 {
            let _ = s.uncompressed_data();
        }
    }
}

#[test]
fn finds_libcs_debug_file_by_its_build_id() {
    crate::indexer::modules::snapshot();
    let getpid = libc::getpid as *const () as usize;
    let m = crate::runtime::modules::lookup_in_snapshot(getpid).unwrap();
    let path = Path::new(std::str::from_utf8(m.path()).unwrap());
    let fp = p(path.to_str().unwrap());
    let map = Mapped::open(&fp).unwrap();
    let elf = Elf::parse(map.bytes()).unwrap();
    assert_eq!(
        elf.build_id().as_ref().map(BuildId::bytes),
        Some(m.build_id())
    );
    let new = find_debug_file(&fp, &elf, m.build_id());
    // Where the build-id says, when it is there (libc6-dbg installs it).
    let hex: String = m.build_id().iter().map(|b| format!("{b:02x}")).collect();
    let want = format!("/usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..]);
    if Path::new(&want).exists() {
        assert_eq!(new.as_ref().map(|(q, _)| text(q)), Some(want.as_str()));
    }
    let Some((found, dmap)) = new else {
        eprintln!("no debug file for {}: skipped", path.display());
        return;
    };
    eprintln!("libc's debug file: {}", text(&found));
    let d = Elf::parse(dmap.bytes()).unwrap();
    assert_eq!(
        d.build_id().as_ref().map(BuildId::bytes),
        Some(m.build_id())
    );
    assert!(d.section(b".debug_info").is_some_and(|s| s.size > 0));
}

#[test]
fn debuglink_search_checks_the_crc_without_a_build_id() {
    let dir = scratch("debuglink");
    let Some(bin) = small_binary(&dir) else {
        eprintln!("no C compiler: debuglink search not tested");
        return;
    };
    // The debug file apart, the binary stripped and linked to it, in
    // `.debug/` next to the binary.
    let dbg = dir.join("small.dbg");
    let stripped = dir.join("small.stripped");
    let ok = run(
        "objcopy",
        &[
            "--only-keep-debug".as_ref(),
            bin.as_os_str(),
            dbg.as_os_str(),
        ],
    ) && run(
        "objcopy",
        &[
            "--strip-debug".as_ref(),
            "--remove-section=.note.gnu.build-id".as_ref(),
            format!("--add-gnu-debuglink={}", dbg.display()).as_ref(),
            bin.as_os_str(),
            stripped.as_os_str(),
        ],
    );
    if !ok {
        eprintln!("no objcopy: debuglink search not tested");
        return;
    }
    std::fs::create_dir_all(dir.join(".debug")).unwrap();
    std::fs::rename(&dbg, dir.join(".debug/small.dbg")).unwrap();
    let fp = p(stripped.to_str().unwrap());
    let map = Mapped::open(&fp).unwrap();
    let elf = Elf::parse(map.bytes()).unwrap();
    assert!(elf.build_id().is_none());
    let (name, _) = elf.gnu_debuglink().unwrap();
    assert_eq!(name, b"small.dbg");
    let (found, _) = find_debug_file(&fp, &elf, &[]).expect("found by debuglink");
    assert_eq!(text(&found), dir.join(".debug/small.dbg").to_str().unwrap());
    // A file of that name with another CRC is refused.
    std::fs::write(dir.join(".debug/small.dbg"), std::fs::read(&bin).unwrap()).unwrap();
    assert!(find_debug_file(&fp, &elf, &[]).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn configured_debug_dirs_are_kept_and_searched() {
    // Only this test sets the list; others read it through the search,
    // where an extra directory changes nothing that is found.
    let dirs: [&[u8]; 2] = [b"/nonexistent/a", b"/nonexistent/b"];
    set_debug_dirs(dirs.iter().copied());
    assert_eq!(configured_debug_dirs(), &dirs[..]);
    let before = DEBUG_DIRS.load(Ordering::Acquire);
    set_debug_dirs(dirs.iter().copied());
    assert_eq!(
        DEBUG_DIRS.load(Ordering::Acquire),
        before,
        "kept, not stored again"
    );
    assert_eq!(
        debug_dirs().collect::<Vec<_>>(),
        [&b"/nonexistent/a"[..], b"/nonexistent/b", b"/usr/lib/debug"]
    );
}
