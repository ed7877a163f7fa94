//! Our own zstd decoder (RFC 8878), for zstd-compressed debug sections
//! (`ELFCOMPRESS_ZSTD`). Normal context, malloc-free, like the rest of the
//! indexer: the output is the caller's buffer (the section's whole size is
//! known), the entropy tables live on the stack, and a block's literals in
//! one mapping of our own. No dictionaries (debug sections never use one);
//! skippable frames are skipped, and a frame's checksum, when it has one,
//! is checked.
//!
//! Everything read from the stream is checked: a bad stream gives `None`,
//! never a panic or a write outside the buffer.

use super::mem::MapVec;

const FRAME_MAGIC: u32 = 0xFD2F_B528;
/// Skippable frames: `0x184D2A50` to `0x184D2A5F`.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
/// The most a block decompresses to, and its literals.
const BLOCK_MAX: usize = 128 << 10;

/// Decompress every frame of `src` into `out`, from its start: the number
/// of bytes written, or `None` when the stream is bad, uses a dictionary,
/// or does not fit in `out`.
pub(crate) fn decompress(mut src: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut literals: MapVec<u8> = MapVec::filled(BLOCK_MAX, 0)?;
    let mut at = 0usize;
    while !src.is_empty() {
        let magic = le32(src, 0)?;
        if magic & !0xF == SKIPPABLE_MAGIC {
            let len = le32(src, 4)? as usize;
            src = src.get(8usize.checked_add(len)?..)?;
            continue;
        }
        if magic != FRAME_MAGIC {
            return None;
        }
        let mut frame = Frame::new(out, at, &mut literals);
        let used = frame.decode(src.get(4..)?)?;
        at = frame.pos;
        src = src.get(4usize.checked_add(used)?..)?;
    }
    Some(at)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le_n(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// One frame being decoded into `out`, from `start`.
struct Frame<'o, 'l> {
    out: &'o mut [u8],
    start: usize,
    pos: usize,
    literals: &'l mut MapVec<u8>,
    huffman: Option<Huffman>,
    ll: Option<Fse>,
    of: Option<Fse>,
    ml: Option<Fse>,
    reps: [usize; 3],
}

impl<'o, 'l> Frame<'o, 'l> {
    fn new(out: &'o mut [u8], start: usize, literals: &'l mut MapVec<u8>) -> Self {
        Frame {
            out,
            start,
            pos: start,
            literals,
            huffman: None,
            ll: None,
            of: None,
            ml: None,
            reps: [1, 4, 8],
        }
    }

    /// Decode the frame that `src` holds after its magic number; the bytes
    /// of `src` it used.
    fn decode(&mut self, src: &[u8]) -> Option<usize> {
        let descriptor = *src.first()?;
        let fcs_flag = descriptor >> 6;
        let single_segment = descriptor & 0x20 != 0;
        let has_checksum = descriptor & 0x04 != 0;
        if descriptor & 0x08 != 0 {
            return None; // Reserved bit.
        }
        let dict_len = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
        let mut at = 1 + usize::from(!single_segment);
        let dict = le_n(src.get(at..at + dict_len)?);
        if dict != 0 {
            return None;
        }
        at += dict_len;
        let fcs_len = match fcs_flag {
            0 => usize::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let fcs = le_n(src.get(at..at + fcs_len)?);
        let content_size = match fcs_len {
            0 => None,
            2 => Some(fcs + 256),
            _ => Some(fcs),
        };
        at += fcs_len;
        loop {
            let h = src.get(at..at + 3)?;
            let header = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
            at += 3;
            let last = header & 1 != 0;
            let size = (header >> 3) as usize;
            match (header >> 1) & 3 {
                0 => {
                    let raw = src.get(at..at.checked_add(size)?)?;
                    self.out
                        .get_mut(self.pos..self.pos.checked_add(size)?)?
                        .copy_from_slice(raw);
                    self.pos += size;
                    at += size;
                }
                1 => {
                    let byte = *src.get(at)?;
                    if size > BLOCK_MAX {
                        return None;
                    }
                    self.out
                        .get_mut(self.pos..self.pos.checked_add(size)?)?
                        .fill(byte);
                    self.pos += size;
                    at += 1;
                }
                2 => {
                    if size > BLOCK_MAX {
                        return None;
                    }
                    let block = src.get(at..at.checked_add(size)?)?;
                    let before = self.pos;
                    self.compressed_block(block)?;
                    if self.pos - before > BLOCK_MAX {
                        return None;
                    }
                    at += size;
                }
                _ => return None,
            }
            if last {
                break;
            }
        }
        let content = self.out.get(self.start..self.pos)?;
        if content_size.is_some_and(|n| n != content.len() as u64) {
            return None;
        }
        if has_checksum {
            let want = le32(src, at)?;
            if xxh64(content, 0) as u32 != want {
                return None;
            }
            at += 4;
        }
        Some(at)
    }

    fn compressed_block(&mut self, block: &[u8]) -> Option<()> {
        let (n_literals, used) = self.literals_section(block)?;
        self.sequences(block.get(used..)?, n_literals)
    }

    /// Decode the literals section into `self.literals`: (how many, the
    /// bytes of `block` it took).
    fn literals_section(&mut self, block: &[u8]) -> Option<(usize, usize)> {
        let b0 = *block.first()?;
        let kind = b0 & 3;
        let format = (b0 >> 2) & 3;
        if kind < 2 {
            // Raw or RLE: a size, then the bytes or the byte.
            let (size, header) = match format {
                0 | 2 => (usize::from(b0 >> 3), 1),
                1 => ((usize::from(b0) >> 4) | usize::from(*block.get(1)?) << 4, 2),
                _ => (
                    (usize::from(b0) >> 4)
                        | usize::from(*block.get(1)?) << 4
                        | usize::from(*block.get(2)?) << 12,
                    3,
                ),
            };
            let dst = self.literals.get_mut(..size)?;
            if kind == 0 {
                dst.copy_from_slice(block.get(header..header + size)?);
                return Some((size, header + size));
            }
            dst.fill(*block.get(header)?);
            return Some((size, header + 1));
        }
        // Compressed (with a Huffman tree) or treeless (the last tree).
        let (header, bits, streams) = match format {
            0 => (3, 10, 1),
            1 => (3, 10, 4),
            2 => (4, 14, 4),
            _ => (5, 18, 4),
        };
        let h = le_n(block.get(..header)?) >> 4;
        let mask = (1u64 << bits) - 1;
        let regenerated = (h & mask) as usize;
        let compressed = ((h >> bits) & mask) as usize;
        if regenerated > BLOCK_MAX {
            return None;
        }
        let mut data = block.get(header..header.checked_add(compressed)?)?;
        if kind == 2 {
            let (table, used) = Huffman::read(data)?;
            self.huffman = Some(table);
            data = data.get(used..)?;
        }
        let table = self.huffman.as_ref()?;
        let dst = self.literals.get_mut(..regenerated)?;
        if streams == 1 {
            table.decode_stream(data, dst)?;
        } else {
            let jump = data.get(..6)?;
            let s1 = usize::from(u16::from_le_bytes([jump[0], jump[1]]));
            let s2 = usize::from(u16::from_le_bytes([jump[2], jump[3]]));
            let s3 = usize::from(u16::from_le_bytes([jump[4], jump[5]]));
            let data = data.get(6..)?;
            let quarter = regenerated.div_ceil(4);
            if quarter * 3 > regenerated {
                return None;
            }
            let (a, rest) = dst.split_at_mut(quarter);
            let (b, rest) = rest.split_at_mut(quarter);
            let (c, d) = rest.split_at_mut(quarter);
            let e1 = s1;
            let e2 = e1.checked_add(s2)?;
            let e3 = e2.checked_add(s3)?;
            table.decode_stream(data.get(..e1)?, a)?;
            table.decode_stream(data.get(e1..e2)?, b)?;
            table.decode_stream(data.get(e2..e3)?, c)?;
            table.decode_stream(data.get(e3..)?, d)?;
        }
        Some((regenerated, header + compressed))
    }

    /// Decode the sequences section `src` and execute it, with the block's
    /// `n_literals` literals.
    fn sequences(&mut self, src: &[u8], n_literals: usize) -> Option<()> {
        let b0 = *src.first()?;
        let (count, mut at) = match b0 {
            0 => (0usize, 1usize),
            1..=127 => (usize::from(b0), 1),
            128..=254 => (
                ((usize::from(b0) - 128) << 8) | usize::from(*src.get(1)?),
                2,
            ),
            255 => (
                usize::from(*src.get(1)?) + (usize::from(*src.get(2)?) << 8) + 0x7F00,
                3,
            ),
        };
        let mut lit = 0usize;
        if count > 0 {
            let modes = *src.get(at)?;
            at += 1;
            if modes & 3 != 0 {
                return None;
            }
            at += Fse::choose(&mut self.ll, modes >> 6, src.get(at..)?, &LITERAL_LENGTHS)?;
            at += Fse::choose(&mut self.of, (modes >> 4) & 3, src.get(at..)?, &OFFSETS)?;
            at += Fse::choose(
                &mut self.ml,
                (modes >> 2) & 3,
                src.get(at..)?,
                &MATCH_LENGTHS,
            )?;
            let (ll, of, ml) = (self.ll.as_ref()?, self.of.as_ref()?, self.ml.as_ref()?);
            let mut bits = BackBits::new(src.get(at..)?)?;
            let mut ll_state = bits.read(ll.log)? as usize;
            let mut of_state = bits.read(of.log)? as usize;
            let mut ml_state = bits.read(ml.log)? as usize;
            for i in 0..count {
                let of_code = of.cells.get(of_state)?.symbol;
                let ll_code = ll.cells.get(ll_state)?.symbol;
                let ml_code = ml.cells.get(ml_state)?.symbol;
                if of_code > 31 {
                    return None;
                }
                let of_value = (1u64 << of_code) + bits.read(u32::from(of_code))?;
                let (ml_base, ml_bits) = *ML_CODES.get(usize::from(ml_code))?;
                let match_len = ml_base as usize + bits.read(u32::from(ml_bits))? as usize;
                let (ll_base, ll_bits) = *LL_CODES.get(usize::from(ll_code))?;
                let lit_len = ll_base as usize + bits.read(u32::from(ll_bits))? as usize;
                if i + 1 < count {
                    ll_state = ll.next(ll_state, &mut bits)?;
                    ml_state = ml.next(ml_state, &mut bits)?;
                    of_state = of.next(of_state, &mut bits)?;
                }
                let offset = repeat_offset(&mut self.reps, of_value, lit_len)?;
                // The literals, then the match (which may overlap itself).
                if lit + lit_len > n_literals {
                    return None;
                }
                let lits = self.literals.get(lit..lit + lit_len)?;
                let end = self.pos.checked_add(lit_len)?;
                self.out.get_mut(self.pos..end)?.copy_from_slice(lits);
                self.pos = end;
                lit += lit_len;
                if offset > self.pos - self.start {
                    return None;
                }
                let end = self.pos.checked_add(match_len)?;
                if end > self.out.len() {
                    return None;
                }
                // A match longer than its offset repeats the offset's
                // bytes: copied in chunks that double, each starting at a
                // multiple of the offset (so the same bytes as one at a
                // time), from bytes already written.
                let from = self.pos - offset;
                let mut k = 0usize;
                while k < match_len {
                    let chunk = (match_len - k).min(if k == 0 { offset } else { k });
                    self.out.copy_within(from..from + chunk, self.pos + k);
                    k += chunk;
                }
                self.pos = end;
            }
            if !bits.is_empty() {
                return None;
            }
        } else if at != src.len() {
            return None;
        }
        // The literals left after the last sequence.
        let rest = self.literals.get(lit..n_literals)?;
        let end = self.pos.checked_add(rest.len())?;
        self.out.get_mut(self.pos..end)?.copy_from_slice(rest);
        self.pos = end;
        Some(())
    }
}

/// The offset an offset value stands for, with the repeat offsets `reps`
/// updated (RFC 8878, 3.1.2.5).
fn repeat_offset(reps: &mut [usize; 3], value: u64, lit_len: usize) -> Option<usize> {
    let [r1, r2, r3] = *reps;
    if value > 3 {
        let off = usize::try_from(value - 3).ok()?;
        *reps = [off, r1, r2];
        return Some(off);
    }
    let which = value as usize - 1 + usize::from(lit_len == 0);
    let off = match which {
        0 => return Some(r1),
        1 => r2,
        2 => r3,
        _ => r1.checked_sub(1)?,
    };
    if off == 0 {
        return None;
    }
    *reps = if which == 1 {
        [off, r1, r3]
    } else {
        [off, r1, r2]
    };
    Some(off)
}

/// A backward bit stream (the entropy-coded parts): read from its end,
/// after the final byte's marker bit.
struct BackBits<'a> {
    src: &'a [u8],
    /// Bits not read yet; negative once the stream was read past its
    /// start (those bits read as zeros: fine for the last states only).
    left: isize,
}

impl<'a> BackBits<'a> {
    fn new(src: &'a [u8]) -> Option<Self> {
        let last = *src.last()?;
        if last == 0 {
            return None;
        }
        let padding = last.leading_zeros() as isize + 1;
        Some(BackBits {
            src,
            left: (src.len() as isize) * 8 - padding,
        })
    }

    /// The `n` bits (at most 56) below the read position, without
    /// consuming them.
    #[inline]
    fn peek(&self, n: u32) -> u64 {
        if n == 0 {
            return 0;
        }
        let start = self.left - n as isize;
        if start >= 0 {
            self.field(start as usize, n)
        } else if self.left > 0 {
            // Bits below the start read as zeros.
            self.field(0, self.left as u32) << (-start) as u32
        } else {
            0
        }
    }

    /// The `n` bits at bit position `start`, the lowest first.
    #[inline]
    fn field(&self, start: usize, n: u32) -> u64 {
        let byte = start / 8;
        let w = match self.src.get(byte..byte + 8) {
            Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            None => {
                let mut w = [0u8; 8];
                let have = self.src.get(byte..).unwrap_or(&[]);
                let take = have.len().min(8);
                w[..take].copy_from_slice(&have[..take]);
                u64::from_le_bytes(w)
            }
        };
        (w >> (start % 8)) & ((1u64 << n) - 1)
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.left -= n as isize;
    }

    /// Read `n` bits (at most 56). `None` once it is read far past its
    /// start (a bad stream).
    #[inline]
    fn read(&mut self, n: u32) -> Option<u64> {
        if n > 56 || self.left < -64 {
            return None;
        }
        let v = self.peek(n);
        self.consume(n);
        Some(v)
    }

    fn overflowed(&self) -> bool {
        self.left < 0
    }

    fn is_empty(&self) -> bool {
        self.left == 0
    }
}

/// A forward bit stream (an FSE table's description).
struct Bits<'a> {
    src: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Option<u64> {
        let byte = self.at / 8;
        if byte >= self.src.len() {
            return None;
        }
        let mut w = [0u8; 8];
        let have = &self.src[byte..];
        let take = have.len().min(8);
        w[..take].copy_from_slice(&have[..take]);
        let v = (u64::from_le_bytes(w) >> (self.at % 8)) & ((1u64 << n) - 1);
        self.at += n as usize;
        Some(v)
    }

    fn peek(&self, n: u32) -> Option<u64> {
        Bits {
            src: self.src,
            at: self.at,
        }
        .read(n)
    }

    fn bytes_used(&self) -> usize {
        self.at.div_ceil(8)
    }
}

#[derive(Clone, Copy, Default)]
struct Cell {
    symbol: u8,
    bits: u8,
    base: u16,
}

/// An FSE decoding table (at most 2^9 states).
#[derive(Clone)]
struct Fse {
    log: u32,
    cells: [Cell; 512],
}

/// The predefined distributions (RFC 8878, 3.1.1.3.2.2).
const LL_DEFAULT: [i16; 36] = [
    4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
    -1, -1, -1, -1,
];
const ML_DEFAULT: [i16; 53] = [
    1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1,
];
const OF_DEFAULT: [i16; 29] = [
    1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1,
];

/// What tells one sequences field's tables from another's.
struct Field {
    /// The predefined distribution, and its accuracy.
    default: &'static [i16],
    default_log: u32,
    /// The largest code, and the largest accuracy a table may have.
    max_symbol: u8,
    max_log: u32,
}

const LITERAL_LENGTHS: Field = Field {
    default: &LL_DEFAULT,
    default_log: 6,
    max_symbol: 35,
    max_log: 9,
};
const OFFSETS: Field = Field {
    default: &OF_DEFAULT,
    default_log: 5,
    max_symbol: 31,
    max_log: 8,
};
const MATCH_LENGTHS: Field = Field {
    default: &ML_DEFAULT,
    default_log: 6,
    max_symbol: 52,
    max_log: 9,
};

/// Literal lengths' codes: (base, extra bits).
const LL_CODES: [(u32, u8); 36] = [
    (0, 0),
    (1, 0),
    (2, 0),
    (3, 0),
    (4, 0),
    (5, 0),
    (6, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 0),
    (12, 0),
    (13, 0),
    (14, 0),
    (15, 0),
    (16, 1),
    (18, 1),
    (20, 1),
    (22, 1),
    (24, 2),
    (28, 2),
    (32, 3),
    (40, 3),
    (48, 4),
    (64, 6),
    (128, 7),
    (256, 8),
    (512, 9),
    (1024, 10),
    (2048, 11),
    (4096, 12),
    (8192, 13),
    (16384, 14),
    (32768, 15),
    (65536, 16),
];
/// Match lengths' codes: (base, extra bits).
const ML_CODES: [(u32, u8); 53] = [
    (3, 0),
    (4, 0),
    (5, 0),
    (6, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 0),
    (12, 0),
    (13, 0),
    (14, 0),
    (15, 0),
    (16, 0),
    (17, 0),
    (18, 0),
    (19, 0),
    (20, 0),
    (21, 0),
    (22, 0),
    (23, 0),
    (24, 0),
    (25, 0),
    (26, 0),
    (27, 0),
    (28, 0),
    (29, 0),
    (30, 0),
    (31, 0),
    (32, 0),
    (33, 0),
    (34, 0),
    (35, 1),
    (37, 1),
    (39, 1),
    (41, 1),
    (43, 2),
    (47, 2),
    (51, 3),
    (59, 3),
    (67, 4),
    (83, 4),
    (99, 5),
    (131, 7),
    (259, 8),
    (515, 9),
    (1027, 10),
    (2051, 11),
    (4099, 12),
    (8195, 13),
    (16387, 14),
    (32771, 15),
    (65539, 16),
];

impl Fse {
    /// The table for a sequences field in `mode` (predefined, RLE,
    /// described, repeated), into `slot`: the bytes of `src` it took.
    fn choose(slot: &mut Option<Fse>, mode: u8, src: &[u8], field: &Field) -> Option<usize> {
        let Field {
            default,
            default_log,
            max_symbol,
            max_log,
        } = *field;
        match mode {
            0 => {
                *slot = Some(Fse::build(default, default_log)?);
                Some(0)
            }
            1 => {
                let symbol = *src.first()?;
                if symbol > max_symbol {
                    return None;
                }
                let mut t = Fse {
                    log: 0,
                    cells: [Cell::default(); 512],
                };
                t.cells[0].symbol = symbol;
                *slot = Some(t);
                Some(1)
            }
            2 => {
                let (t, used) = Fse::read(src, max_symbol, max_log)?;
                *slot = Some(t);
                Some(used)
            }
            _ => slot.as_ref().map(|_| 0),
        }
    }

    /// Read a table's description (RFC 8878, 4.1.1): the table, and the
    /// bytes it took.
    fn read(src: &[u8], max_symbol: u8, max_log: u32) -> Option<(Fse, usize)> {
        let mut bits = Bits { src, at: 0 };
        let log = bits.read(4)? as u32 + 5;
        if log > max_log {
            return None;
        }
        let mut counts = [0i16; 256];
        let mut remaining: i32 = (1 << log) + 1;
        let mut threshold: i32 = 1 << log;
        let mut width = log + 1;
        let mut symbol = 0usize;
        while remaining > 1 {
            if symbol > usize::from(max_symbol) {
                return None;
            }
            let max = 2 * threshold - 1 - remaining;
            let low = bits.peek(width - 1)? as i32;
            let value = if low < max {
                bits.read(width - 1)?;
                low
            } else {
                let v = bits.read(width)? as i32;
                if v >= threshold {
                    v - max
                } else {
                    v
                }
            };
            let count = value - 1;
            remaining -= count.abs();
            *counts.get_mut(symbol)? = count as i16;
            symbol += 1;
            if count == 0 {
                // Runs of zero probabilities: 2-bit repeat counts.
                loop {
                    let repeat = bits.read(2)? as usize;
                    symbol += repeat;
                    if repeat != 3 {
                        break;
                    }
                }
                if symbol > usize::from(max_symbol) + 1 {
                    return None;
                }
            }
            while remaining < threshold && threshold > 1 {
                width -= 1;
                threshold >>= 1;
            }
        }
        if remaining != 1 || bits.at > src.len() * 8 {
            return None;
        }
        let table = Fse::build(counts.get(..symbol)?, log)?;
        Some((table, bits.bytes_used()))
    }

    /// Build the decoding table from normalized counts (-1: "less than
    /// one", given one cell at the top).
    fn build(counts: &[i16], log: u32) -> Option<Fse> {
        let size = 1usize << log;
        if size > 512 || counts.len() > 256 {
            return None;
        }
        let mut t = Fse {
            log,
            cells: [Cell::default(); 512],
        };
        let mut next = [0u16; 256];
        let mut high = size;
        let mut total = 0usize;
        for (s, &c) in counts.iter().enumerate() {
            if c == -1 {
                high = high.checked_sub(1)?;
                t.cells[high].symbol = s as u8;
                next[s] = 1;
                total += 1;
            } else if c >= 0 {
                next[s] = c as u16;
                total += c as usize;
            } else {
                return None;
            }
        }
        if total != size {
            return None;
        }
        let step = (size >> 1) + (size >> 3) + 3;
        let mask = size - 1;
        let mut pos = 0usize;
        for (s, &c) in counts.iter().enumerate() {
            for _ in 0..c.max(0) {
                t.cells[pos].symbol = s as u8;
                pos = (pos + step) & mask;
                while pos >= high {
                    pos = (pos + step) & mask;
                }
            }
        }
        if pos != 0 {
            return None;
        }
        for cell in t.cells.iter_mut().take(size) {
            let s = usize::from(cell.symbol);
            let state = u32::from(next[s]);
            next[s] += 1;
            if state == 0 {
                return None;
            }
            let bits = log - (31 - state.leading_zeros());
            cell.bits = bits as u8;
            cell.base = ((state << bits) as usize).checked_sub(size)? as u16;
        }
        Some(t)
    }

    /// The state after `state`, reading its bits from `bits`.
    #[inline]
    fn next(&self, state: usize, bits: &mut BackBits<'_>) -> Option<usize> {
        let c = self.cells.get(state)?;
        Some(usize::from(c.base) + bits.read(u32::from(c.bits))? as usize)
    }
}

/// A Huffman decoding table for literals (at most 2^11 entries).
struct Huffman {
    log: u32,
    /// (symbol, bits) for each `log`-bit prefix.
    cells: [(u8, u8); 2048],
}

impl Huffman {
    /// Read a tree description (RFC 8878, 4.2.1): the table, and the
    /// bytes it took.
    fn read(src: &[u8]) -> Option<(Huffman, usize)> {
        let header = *src.first()?;
        let mut weights = [0u8; 256];
        let (n, used) = if header >= 128 {
            // Direct: 4 bits a weight.
            let n = usize::from(header) - 127;
            let bytes = src.get(1..1 + n.div_ceil(2))?;
            for (i, w) in weights.iter_mut().take(n).enumerate() {
                let b = bytes[i / 2];
                *w = if i % 2 == 0 { b >> 4 } else { b & 0xF };
            }
            (n, 1 + n.div_ceil(2))
        } else {
            // FSE-compressed weights, two interleaved states.
            let body = src.get(1..1 + usize::from(header))?;
            let (table, desc) = Fse::read(body, 255, 6)?;
            let mut bits = BackBits::new(body.get(desc..)?)?;
            let mut s1 = bits.read(table.log)? as usize;
            let mut s2 = bits.read(table.log)? as usize;
            let mut n = 0usize;
            loop {
                *weights.get_mut(n)? = table.cells.get(s1)?.symbol;
                n += 1;
                s1 = table.next(s1, &mut bits)?;
                if bits.overflowed() {
                    *weights.get_mut(n)? = table.cells.get(s2)?.symbol;
                    n += 1;
                    break;
                }
                *weights.get_mut(n)? = table.cells.get(s2)?.symbol;
                n += 1;
                s2 = table.next(s2, &mut bits)?;
                if bits.overflowed() {
                    *weights.get_mut(n)? = table.cells.get(s1)?.symbol;
                    n += 1;
                    break;
                }
            }
            (n, 1 + usize::from(header))
        };
        if n > 255 {
            return None;
        }
        // The last symbol's weight is implied: it completes a power of 2.
        let mut total = 0u32;
        for &w in &weights[..n] {
            if w > 11 {
                return None;
            }
            if w > 0 {
                total += 1 << (w - 1);
            }
        }
        if total == 0 {
            return None;
        }
        let log = 32 - total.leading_zeros();
        if log > 11 {
            return None;
        }
        let rest = (1u32 << log) - total;
        if !rest.is_power_of_two() {
            return None;
        }
        weights[n] = (rest.trailing_zeros() + 1) as u8;
        let symbols = n + 1;
        // Codes in order of weight, lowest first (the longest codes at
        // the bottom of the table), then of symbol.
        let mut t = Huffman {
            log,
            cells: [(0, 0); 2048],
        };
        let mut at = 0usize;
        for w in 1..=log {
            let len = 1usize << (w - 1);
            let bits = (log + 1 - w) as u8;
            for (s, _) in weights[..symbols]
                .iter()
                .enumerate()
                .filter(|&(_, &x)| u32::from(x) == w)
            {
                t.cells.get_mut(at..at + len)?.fill((s as u8, bits));
                at += len;
            }
        }
        if at != 1 << log {
            return None;
        }
        Some((t, used))
    }

    /// Decode one stream into exactly `dst`.
    fn decode_stream(&self, src: &[u8], dst: &mut [u8]) -> Option<()> {
        let mut bits = BackBits::new(src)?;
        for d in dst.iter_mut() {
            let (symbol, n) = self.cells[bits.peek(self.log) as usize];
            bits.consume(u32::from(n));
            *d = symbol;
        }
        bits.is_empty().then_some(())
    }
}

/// XXH64 of `data` (a frame's checksum is its low 32 bits).
fn xxh64(data: &[u8], seed: u64) -> u64 {
    const P1: u64 = 0x9E37_79B1_85EB_CA87;
    const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P3: u64 = 0x1656_67B1_9E37_79F9;
    const P4: u64 = 0x85EB_CA77_C2B2_AE63;
    const P5: u64 = 0x27D4_EB2F_1656_67C5;
    let lane = |b: &[u8]| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let round = |acc: u64, x: u64| {
        acc.wrapping_add(x.wrapping_mul(P2))
            .rotate_left(31)
            .wrapping_mul(P1)
    };
    let merge = |h: u64, v: u64| (h ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4);
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 32 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, lane(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for x in v {
            h = merge(h, x);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u64);
    while rest.len() >= 8 {
        h = (h ^ round(0, lane(rest)))
            .rotate_left(27)
            .wrapping_mul(P1)
            .wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let x = u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]));
        h = (h ^ x.wrapping_mul(P1))
            .rotate_left(23)
            .wrapping_mul(P2)
            .wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h = (h ^ u64::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
#[path = "zstd/tests.rs"]
mod tests;
