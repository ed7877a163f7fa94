// Tests run in normal context: heap, std::io and panics are fine.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use super::*;

/// Ours, into a buffer of exactly the expected size.
fn ours(z: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; size];
    let n = decompress(z, &mut out)?;
    out.truncate(n);
    Some(out)
}

/// Inputs of every kind a debug section may hold, and some it may not: our
/// own test binary's sections, text, zeros, runs, noise.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    if let Some(elf) = super::super::file::Elf::parse(&exe) {
        for name in [
            &b".debug_line"[..],
            b".debug_info",
            b".debug_str",
            b".debug_abbrev",
            b".text",
        ] {
            if let Some(d) = elf.section(name).and_then(|s| s.uncompressed_data()) {
                // A few MiB at most: the test stays quick at opt-level 0.
                let d = &d[..d.len().min(1 << 20)];
                v.push((String::from_utf8_lossy(name).into_owned(), d.to_vec()));
            }
        }
    }
    assert!(v.len() >= 3, "our own test binary has debug sections");
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rng = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    v.push(("empty".into(), Vec::new()));
    v.push(("one byte".into(), vec![7]));
    v.push(("zeros".into(), vec![0; 300_000]));
    v.push((
        "noise".into(),
        (0..200_000).map(|_| rng() as u8).collect::<Vec<u8>>(),
    ));
    v.push((
        "few symbols".into(),
        (0..200_000).map(|_| b"ab"[(rng() % 2) as usize]).collect(),
    ));
    // The same codes in every sequence (a byte, then the same 16 bytes
    // again): the sequence tables in RLE mode.
    let mut same = Vec::new();
    for _ in 0..20_000 {
        same.push(rng() as u8);
        same.extend_from_slice(b"0123456789abcdef");
    }
    v.push(("same sequences".into(), same));
    // Noise over a small, skewed alphabet: a Huffman tree with few
    // weights, written directly.
    for k in [3u64, 6, 12, 40] {
        let skewed = (0..60_000)
            .map(|_| (rng() % k).min(rng() % k) as u8)
            .collect();
        v.push((format!("{k}-symbol noise"), skewed));
    }
    let text: Vec<u8> = include_str!("../zstd.rs").bytes().collect();
    v.push(("text".into(), text.repeat(3)));
    for n in [
        1usize,
        5,
        31,
        32,
        33,
        100,
        1000,
        (128 << 10) - 1,
        128 << 10,
        (128 << 10) + 1,
    ] {
        let pattern: Vec<u8> = (0..n)
            .map(|i| (i % 251) as u8 ^ (rng() % 3) as u8)
            .collect();
        v.push((format!("{n} bytes"), pattern));
    }
    v
}

/// Every level of libzstd, with and without checksums, several frames
/// back to back, and skippable frames: byte for byte what went in.
#[test]
fn decodes_what_libzstd_makes() {
    let inputs = inputs();
    let mut frames = 0;
    for (name, data) in &inputs {
        let levels: &[i32] = if data.len() > 256 << 10 {
            &[1, 3, 19]
        } else {
            &[-5, 1, 2, 3, 5, 9, 12, 16, 19, 22]
        };
        for &level in levels {
            for checksum in [false, true] {
                let mut c = zstd::bulk::Compressor::new(level).unwrap();
                c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(checksum))
                    .unwrap();
                let z = c.compress(data).unwrap();
                assert_eq!(
                    ours(&z, data.len()).as_deref(),
                    Some(&data[..]),
                    "{name}, level {level}, checksum {checksum}"
                );
                frames += 1;
            }
        }
    }
    // Frames back to back, a skippable frame between them (as a section
    // may be written in pieces).
    let (_, a) = &inputs[0];
    let b = b"the second frame, after a skippable one".repeat(50);
    let mut z = zstd::bulk::compress(a, 3).unwrap();
    z.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
    z.extend_from_slice(&5u32.to_le_bytes());
    z.extend_from_slice(b"skip!");
    z.extend_from_slice(&zstd::bulk::compress(&b, 19).unwrap());
    let mut want = a.clone();
    want.extend_from_slice(&b);
    assert_eq!(ours(&z, want.len()), Some(want));
    assert!(frames > 100);
}

/// A frame without its content size, in many small blocks (the streaming
/// encoder), with long-distance matching and a big window.
#[test]
fn decodes_streamed_and_long_range_frames() {
    let inputs = inputs();
    for (name, data) in inputs.iter().take(3) {
        for long in [false, true] {
            let mut enc = zstd::stream::Encoder::new(Vec::new(), 19).unwrap();
            enc.include_contentsize(false).unwrap();
            enc.long_distance_matching(long).unwrap();
            if long {
                enc.window_log(27).unwrap();
            }
            for chunk in data.chunks(7_777) {
                std::io::Write::write_all(&mut enc, chunk).unwrap();
                std::io::Write::flush(&mut enc).unwrap();
            }
            let z = enc.finish().unwrap();
            assert_eq!(
                ours(&z, data.len()).as_deref(),
                Some(&data[..]),
                "{name}, long {long}"
            );
        }
    }
}

/// What does not fit, a wrong checksum, a dictionary, a cut stream or any
/// flipped byte: `None` or some bytes, never a panic or a write outside
/// the buffer.
#[test]
fn bad_streams_give_nothing_and_never_panic() {
    let data = inputs().swap_remove(0).1;
    let data = &data[..data.len().min(200_000)];
    let mut c = zstd::bulk::Compressor::new(9).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .unwrap();
    let z = c.compress(data).unwrap();
    assert_eq!(ours(&z, data.len()).as_deref(), Some(data));
    // One byte short of room.
    assert_eq!(ours(&z, data.len() - 1), None);
    // The checksum wrong.
    let mut bad = z.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(ours(&bad, data.len()), None);
    // A dictionary id (unsupported), by hand: the same one-byte frame
    // decodes without it.
    let frame = |descriptor: u8, dict: &[u8]| {
        let mut f = FRAME_MAGIC.to_le_bytes().to_vec();
        f.push(descriptor);
        f.extend_from_slice(dict);
        f.push(1); // Frame_Content_Size: 1 byte.
        f.extend_from_slice(&[0x09, 0, 0, b'x']); // The last block: raw, 1 byte.
        f
    };
    assert_eq!(ours(&frame(0x20, &[]), 1).as_deref(), Some(&b"x"[..]));
    assert_eq!(ours(&frame(0x21, &[5]), 1), None);
    // Cut anywhere.
    for cut in (0..z.len()).step_by(z.len() / 97 + 1) {
        assert_eq!(ours(&z[..cut], data.len()).filter(|o| o == data), None);
    }
    // Any byte flipped: no panic, and (with the checksum) never wrong
    // bytes passed off as right ones.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut bad = z.clone();
        let at = (seed % bad.len() as u64) as usize;
        bad[at] ^= 1 << ((seed >> 32) % 8);
        if let Some(out) = ours(&bad, data.len()) {
            assert_eq!(out, data, "flipped byte {at} decoded to other bytes");
        }
    }
    // And garbage after a good frame's magic.
    let mut garbage = FRAME_MAGIC.to_le_bytes().to_vec();
    garbage.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let _ = ours(&garbage, 1 << 20);
}

/// Literals in RLE form (libzstd writes them only for runs it finds no
/// match for), by hand: a compressed block of five `q`s and no sequences.
#[test]
fn decodes_rle_literals() {
    let mut f = FRAME_MAGIC.to_le_bytes().to_vec();
    f.extend_from_slice(&[0x20, 5]); // Single segment, content size 5.
    f.extend_from_slice(&[0x1D, 0, 0]); // The last block: compressed, 3 bytes.
    f.extend_from_slice(&[(5 << 3) | 1, b'q', 0]); // RLE literals x5, no sequences.
    assert_eq!(ours(&f, 5).as_deref(), Some(&b"qqqqq"[..]));
    // The content size says 6: refused.
    f[5] = 6;
    assert_eq!(ours(&f, 6), None);
}

#[test]
fn xxh64_known_values() {
    assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
    assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
}
