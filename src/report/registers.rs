//! Async-signal-safe. The opt-in registers block of a crash report
//! (`Config::registers(true)`, `FAULTHANDLER_REGISTERS=1`): the crashing
//! thread's general registers, as the signal's context holds them, and
//! the code bytes around its pc.
//!
//! ```text
//! Registers:
//!   rax 0x0000000000000000  rbx 0x00007ffd5a1c2e80  rcx 0x0000000000000001  rdx 0x0000000000000000
//!   ...
//! Code around pc 0x000055d1c2a3b1f4 (16 bytes before it, 16 from it):
//!   48 89 e5 48 83 ec 10 48 89 7d f8 48 8b 45 f8 90 > 8b 07 89 45 f4 8b 45 f4 48 83 c4 10 5d c3 0f 1f
//! ```
//!
//! The code is read with `process_vm_readv` on our own process, so an
//! unmapped pc (a call through a null pointer) gives `??` bytes, never a
//! fault inside the handler.

use crate::runtime::fmt::{Buf, HexInt};
use crate::runtime::sys;
use crate::runtime::writer::Writer;

/// The registers of one context, named, in the order they are printed.
pub(crate) struct Registers<'a> {
    /// (name, value) pairs.
    pub regs: &'a [(&'static str, u64)],
    /// The pc.
    pub pc: usize,
}

/// Write the block: four registers a line, then the code bytes.
pub(crate) fn write_registers(w: &mut Writer, r: &Registers<'_>) {
    w.write(b"Registers:\n");
    let mut line = Buf::<160>::new();
    for row in r.regs.chunks(4) {
        line.clear();
        line.str(" ");
        for (name, value) in row {
            line.str(" ")
                .str(name)
                .byte(b' ')
                .addr(*value as usize)
                .str(" ");
        }
        // Trailing space off.
        let bytes = line.as_bytes();
        let end = bytes.len().saturating_sub(1);
        w.write(bytes.get(..end).unwrap_or(bytes));
        w.write(b"\n");
    }
    line.clear();
    line.str("Code around pc ")
        .addr(r.pc)
        .str(" (16 bytes before it, 16 from it):\n");
    w.write(line.as_bytes());
    line.clear();
    line.str(" ");
    let mut before = [0u8; 16];
    let mut after = [0u8; 16];
    let nb = read_back(r.pc, &mut before);
    let na = sys::read_memory(r.pc, &mut after);
    // `before` holds its last `nb` bytes (those next to the pc).
    for (i, b) in before.iter().enumerate() {
        hex_byte(&mut line, (i >= 16 - nb).then_some(*b));
    }
    line.str(" >");
    for (i, b) in after.iter().enumerate() {
        hex_byte(&mut line, (i < na).then_some(*b));
    }
    line.byte(b'\n');
    w.write(line.as_bytes());
}

/// The bytes just below `pc` that can be read: the whole 16, or else
/// the readable tail next to the pc (a mapping that starts in between).
/// Returns how many of the last bytes of `out` are valid.
fn read_back(pc: usize, out: &mut [u8; 16]) -> usize {
    if sys::read_memory(pc.wrapping_sub(16), out) == 16 {
        return 16;
    }
    // A page boundary in between: the mapping starts at the page of pc.
    let page = sys::page_size().max(1);
    let start = pc - pc % page;
    let n = pc - start;
    if n == 0 || n >= 16 {
        return 0;
    }
    let tail = out.get_mut(16 - n..).unwrap_or(&mut []);
    if sys::read_memory(start, tail) == n {
        n
    } else {
        0
    }
}

fn hex_byte<const N: usize>(out: &mut Buf<N>, b: Option<u8>) {
    out.byte(b' ');
    match b {
        Some(b) => {
            out.push(HexInt::new(u64::from(b), 2).as_bytes());
        }
        None => {
            out.str("??");
        }
    }
}
