//! Async-signal-safe. The text of the frames already written in one
//! report, by address: what follows `in ` on a frame's line (name, offset,
//! file:line, module) and its inlined calls.
//!
//! The threads of a process share most of their frames (a pool of workers
//! parked in one place), and a frame's text depends only on its address
//! and on whether that address is an interrupted instruction or a return
//! address. Written once, it is copied for every later frame at that
//! address in the same report: no symbol lookup, no line-table search,
//! no demangling, no escaping.
//!
//! A report normally starts the cache afresh: a library may have been
//! unloaded and another loaded at its address. A report whose caller can
//! vouch that nothing changed ([`World`]: the same module snapshot, the
//! same published indexes, and no library loaded or unloaded since the
//! last report, as the loader counts them) keeps the frames of modules in
//! the snapshot, so a repeated dump of a warm process names nothing.
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
    /// For a lasting entry, the world (epoch) it belongs to; 0 otherwise.
    epoch: u32,
    len: u32,
    at: u32,
    key: usize,
}

const EMPTY: Slot = Slot {
    generation: 0,
    epoch: 0,
    len: 0,
    at: 0,
    key: 0,
};

/// What a frame's text depends on besides its address, as the caller of
/// a report sees it. Two reports with equal worlds name every address of
/// the module snapshot alike.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct World {
    /// The published module snapshot and index set (their addresses:
    /// each is leaked, and a new one is a new address).
    pub modules: usize,
    pub indexes: usize,
    /// The loader's counts of objects loaded and unloaded so far
    /// (`dl_iterate_phdr`'s `dlpi_adds` and `dlpi_subs`).
    pub loads: u64,
    pub unloads: u64,
    /// The symbolizer's switches (index, lines, naming).
    pub switches: u8,
}

/// The cache (see the module docs).
pub(crate) struct FrameText {
    generation: u32,
    /// Bumped whenever lasting entries are dropped; 0 is never current.
    epoch: u32,
    /// The world the lasting entries were written in.
    world: Option<World>,
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
            epoch: 1,
            world: None,
            used: 0,
            slots: [EMPTY; SLOTS],
            arena: [0; ARENA],
        }
    }

    /// A new report: forget every frame, except, when `world` is the one
    /// the lasting frames were written in, those (while they fill at most
    /// half the arena, so that the report has room for its own).
    pub(crate) fn begin(&mut self, world: Option<World>) {
        self.generation = self.generation.wrapping_add(1).max(1);
        if world.is_none() || world != self.world || self.used > ARENA / 2 {
            self.epoch = self.epoch.wrapping_add(1).max(1);
            self.world = world;
            self.used = 0;
        }
    }

    /// The text written for the frame `key` earlier in this report.
    pub(crate) fn get(&self, key: usize) -> Option<&[u8]> {
        let s = self.slots.get(slot_of(key))?;
        let current = s.generation == self.generation || s.epoch == self.epoch;
        if !current || s.key != key {
            return None;
        }
        let at = s.at as usize;
        self.arena.get(at..at.checked_add(s.len as usize)?)
    }

    /// Keep `text` as the frame `key`'s, when there is room: for this
    /// report, or, when `lasting` (the frame's module is in the snapshot),
    /// for as long as the world stays the same.
    pub(crate) fn put(&mut self, key: usize, text: &[u8], lasting: bool) {
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
                epoch: if lasting && self.world.is_some() {
                    self.epoch
                } else {
                    0
                },
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
        c.begin(None);
        let (a, b) = (key(0x1000, false), key(0x1000, true));
        assert_eq!(c.get(a), None);
        c.put(a, b"f+0x10 (/bin/x +0x1000)\n", true);
        assert_eq!(c.get(a), Some(&b"f+0x10 (/bin/x +0x1000)\n"[..]));
        // The same address as an interrupted instruction is another frame.
        assert_eq!(c.get(b), None);
        // Too long: not kept.
        c.put(b, &[b'x'; MAX_TEXT + 1], false);
        assert_eq!(c.get(b), None);
        // A new report forgets.
        c.begin(None);
        assert_eq!(c.get(a), None);
        // A full arena keeps nothing more, and says nothing wrong.
        for i in 0..(ARENA / MAX_TEXT + 8) {
            c.put(key(0x10_0000 + i * 16, false), &[b'y'; MAX_TEXT], false);
        }
        assert!(c.used <= ARENA);
        let last = key(0x10_0000 + (ARENA / MAX_TEXT + 7) * 16, false);
        assert_eq!(c.get(last), None);
    }

    fn world(loads: u64) -> Option<World> {
        Some(World {
            modules: 0x1000,
            indexes: 0x2000,
            loads,
            unloads: 0,
            switches: 7,
        })
    }

    #[test]
    fn keeps_snapshot_frames_while_the_world_stays() {
        let mut c = Box::new(FrameText::new());
        c.begin(world(3));
        let (a, b) = (key(0x1000, false), key(0x2000, false));
        c.put(a, b"lasting\n", true);
        c.put(b, b"this report only\n", false);
        // The same world: the snapshot's frame stays, the other goes.
        c.begin(world(3));
        assert_eq!(c.get(a), Some(&b"lasting\n"[..]));
        assert_eq!(c.get(b), None);
        // A library loaded since: everything goes.
        c.begin(world(4));
        assert_eq!(c.get(a), None);
        c.put(a, b"lasting again\n", true);
        // A report that cannot vouch for the world forgets too, and so
        // does the next one, even in the old world.
        c.begin(None);
        assert_eq!(c.get(a), None);
        c.put(a, b"written without a world\n", true);
        c.begin(world(4));
        assert_eq!(c.get(a), None);
        // Lasting frames never take more than half the arena from a report.
        for i in 0..(ARENA / MAX_TEXT) {
            c.put(key(0x10_0000 + i * 16, false), &[b'z'; MAX_TEXT], true);
        }
        let first = key(0x10_0000, false);
        assert!(c.get(first).is_some());
        c.begin(world(4));
        assert_eq!(c.get(first), None);
        assert_eq!(c.used, 0);
    }
}
