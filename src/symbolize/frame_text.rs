//! Async-signal-safe. The text of the frames already written in one
//! report, by address: what follows `in ` on a frame's line (name, offset,
//! file:line, module) and its inlined calls.
//!
//! The threads of a process share most of their frames (a pool of workers
//! parked in one place), and a frame's text depends only on its address
//! and on whether that address is an interrupted instruction or a return
//! address. Written once, it is copied for every later frame at that
//! address in the same report: no symbol lookup, no line-table search,
//! no demangling, no escaping. A report starts the cache afresh (a
//! library may have been unloaded and another loaded at its address).
//!
//! Fixed storage, part of the symbolizer's (the reporter claim's
//! scratch): [`SLOTS`] entries, direct-mapped by address, and an arena of
//! [`ARENA`] bytes filled in order; once it is full, frames are written
//! the long way.

/// Entries, direct-mapped by address.
pub(crate) const SLOTS: usize = 2048;
/// Bytes of frame text one report keeps.
pub(crate) const ARENA: usize = 192 << 10;
/// Longest text kept for one frame.
pub(crate) const MAX_TEXT: usize = crate::runtime::writer::TEE;

#[derive(Clone, Copy)]
struct Slot {
    /// The report (generation) this entry belongs to; 0 is never current.
    generation: u32,
    len: u32,
    at: u32,
    key: usize,
}

const EMPTY: Slot = Slot {
    generation: 0,
    len: 0,
    at: 0,
    key: 0,
};

/// The cache (see the module docs).
pub(crate) struct FrameText {
    generation: u32,
    used: usize,
    slots: [Slot; SLOTS],
    arena: [u8; ARENA],
}

/// The key of a frame: its address, and whether it is an interrupted
/// instruction (looked up as is) or a return address (looked up one
/// byte before).
pub(crate) fn key(ip: usize, is_pc: bool) -> usize {
    (ip << 1) | usize::from(is_pc)
}

fn slot_of(key: usize) -> usize {
    // Fibonacci hashing: neighbouring return addresses spread out.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - 11)) % SLOTS
}

impl FrameText {
    /// An empty cache, for static storage.
    pub(crate) const fn new() -> FrameText {
        FrameText {
            generation: 1,
            used: 0,
            slots: [EMPTY; SLOTS],
            arena: [0; ARENA],
        }
    }

    /// A new report: forget every frame.
    pub(crate) fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1).max(1);
        self.used = 0;
    }

    /// The text written for the frame `key` earlier in this report.
    pub(crate) fn get(&self, key: usize) -> Option<&[u8]> {
        let s = self.slots.get(slot_of(key))?;
        if s.generation != self.generation || s.key != key {
            return None;
        }
        let at = s.at as usize;
        self.arena.get(at..at.checked_add(s.len as usize)?)
    }

    /// Keep `text` as the frame `key`'s, when there is room.
    pub(crate) fn put(&mut self, key: usize, text: &[u8]) {
        if text.is_empty() || text.len() > MAX_TEXT {
            return;
        }
        let at = self.used;
        let Some(dst) = self.arena.get_mut(at..at + text.len()) else {
            return;
        };
        dst.copy_from_slice(text);
        self.used += text.len();
        let generation = self.generation;
        if let Some(s) = self.slots.get_mut(slot_of(key)) {
            *s = Slot {
                generation,
                len: text.len() as u32,
                at: at as u32,
                key,
            };
        }
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

    #[test]
    fn keeps_frames_for_one_report() {
        let mut c = Box::new(FrameText::new());
        c.begin();
        let (a, b) = (key(0x1000, false), key(0x1000, true));
        assert_eq!(c.get(a), None);
        c.put(a, b"f+0x10 (/bin/x +0x1000)\n");
        assert_eq!(c.get(a), Some(&b"f+0x10 (/bin/x +0x1000)\n"[..]));
        // The same address as an interrupted instruction is another frame.
        assert_eq!(c.get(b), None);
        // Too long: not kept.
        c.put(b, &[b'x'; MAX_TEXT + 1]);
        assert_eq!(c.get(b), None);
        // A new report forgets.
        c.begin();
        assert_eq!(c.get(a), None);
        // A full arena keeps nothing more, and says nothing wrong.
        for i in 0..(ARENA / MAX_TEXT + 8) {
            c.put(key(0x10_0000 + i * 16, false), &[b'y'; MAX_TEXT]);
        }
        assert!(c.used <= ARENA);
        let last = key(0x10_0000 + (ARENA / MAX_TEXT + 7) * 16, false);
        assert_eq!(c.get(last), None);
    }
}
