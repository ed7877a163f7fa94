//! Memory for the `fh-symbols` thread, which never calls `malloc`: a
//! growable array in a private anonymous mapping of its own ([`MapVec`]),
//! a hash map of `u64` keys ([`U64Map`]) and a byte-string interner
//! ([`Interner`]) built on it, a max-heap ([`MaxHeap`]), and memory that
//! lives for the rest of the process ([`leak`], [`leak_slice`]).
//!
//! Why: glibc gives a thread its own malloc arena at its first `malloc`,
//! and reserves 64 MiB of address space for it; one call would make our
//! thread cost the program 64 MiB of VmSize. Normal context.
//!
//! Every operation that needs memory returns `None` when the kernel
//! refuses it; a builder then gives up on the module.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A growable array of `T` in a mapping of its own, grown with `mremap`.
/// Empty ones map nothing.
pub(crate) struct MapVec<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    /// Elements the mapping holds (0: nothing mapped).
    cap: usize,
    _own: PhantomData<T>,
}

// SAFETY: a `MapVec` owns its mapping as a `Vec` owns its buffer; moving
// it to another thread moves that ownership.
unsafe impl<T: Copy + Send> Send for MapVec<T> {}

impl<T: Copy> Default for MapVec<T> {
    fn default() -> Self {
        MapVec::new()
    }
}

impl<T: Copy> MapVec<T> {
    /// An empty array.
    pub(crate) const fn new() -> MapVec<T> {
        MapVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            _own: PhantomData,
        }
    }

    /// An empty array with room for `n` elements.
    pub(crate) fn with_capacity(n: usize) -> Option<MapVec<T>> {
        let mut v = MapVec::new();
        v.reserve(n)?;
        Some(v)
    }

    /// `n` copies of `value`.
    pub(crate) fn filled(n: usize, value: T) -> Option<MapVec<T>> {
        let mut v = MapVec::with_capacity(n)?;
        v.resize(n, value)?;
        Some(v)
    }

    fn bytes_for(n: usize) -> Option<usize> {
        let page = crate::runtime::sys::page_size();
        n.checked_mul(core::mem::size_of::<T>())?
            .max(1)
            .checked_next_multiple_of(page)
    }

    /// Room for `extra` more elements.
    pub(crate) fn reserve(&mut self, extra: usize) -> Option<()> {
        let need = self.len.checked_add(extra)?;
        if need <= self.cap {
            return Some(());
        }
        debug_assert!(core::mem::size_of::<T>() > 0);
        debug_assert!(core::mem::align_of::<T>() <= crate::runtime::sys::page_size());
        let want = need.max(self.cap.saturating_mul(2));
        let bytes = Self::bytes_for(want)?;
        let p = if self.cap == 0 {
            // SAFETY: a fresh private anonymous mapping; no memory of
            // anyone else's is touched.
            unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            }
        } else {
            let old = Self::bytes_for(self.cap)?;
            // SAFETY: `ptr` is our own mapping of `old` bytes; MAYMOVE
            // lets the kernel move it, after which only the new address
            // is used (no reference into the array outlives `&mut self`).
            unsafe { libc::mremap(self.ptr.as_ptr().cast(), old, bytes, libc::MREMAP_MAYMOVE) }
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        self.ptr = NonNull::new(p.cast::<T>())?;
        self.cap = bytes / core::mem::size_of::<T>();
        Some(())
    }

    /// Append `v`.
    #[must_use]
    pub(crate) fn push(&mut self, v: T) -> Option<()> {
        if self.len == self.cap {
            self.reserve(1)?;
        }
        // SAFETY: `len < cap`: the slot is inside the mapping, aligned
        // (the mapping is page-aligned and slots are `size_of::<T>()`
        // apart), and not covered by any live reference.
        unsafe { self.ptr.as_ptr().add(self.len).write(v) };
        self.len += 1;
        Some(())
    }

    /// Append all of `v`.
    #[must_use]
    pub(crate) fn extend_from_slice(&mut self, v: &[T]) -> Option<()> {
        self.reserve(v.len())?;
        // SAFETY: `reserve` made room for `v.len()` more elements past
        // `len`; `v` cannot overlap them (they were not initialised, so
        // no slice covers them).
        unsafe {
            core::ptr::copy_nonoverlapping(v.as_ptr(), self.ptr.as_ptr().add(self.len), v.len())
        };
        self.len += v.len();
        Some(())
    }

    /// Grow to `n` elements with copies of `value`, or cut to `n`.
    #[must_use]
    pub(crate) fn resize(&mut self, n: usize, value: T) -> Option<()> {
        if n <= self.len {
            self.len = n;
            return Some(());
        }
        self.reserve(n - self.len)?;
        while self.len < n {
            // SAFETY: `len < n <= cap`, as in `push`.
            unsafe { self.ptr.as_ptr().add(self.len).write(value) };
            self.len += 1;
        }
        Some(())
    }

    /// Remove and return the last element.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: the slot at the old `len - 1` was initialised.
        Some(unsafe { self.ptr.as_ptr().add(self.len).read() })
    }

    /// Keep the first `n` elements.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Remove every element (the mapping stays, for reuse).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Keep only the elements `keep` says yes to, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut out = 0;
        for i in 0..self.len {
            let v = self[i];
            if keep(&v) {
                self[out] = v;
                out += 1;
            }
        }
        self.len = out;
    }

    /// Move the elements out into a new array and leave this one empty
    /// (its mapping goes with them).
    pub(crate) fn take(&mut self) -> MapVec<T> {
        core::mem::take(self)
    }
}

impl<T: Copy + PartialEq> MapVec<T> {
    /// Remove consecutive repeats.
    pub(crate) fn dedup(&mut self) {
        let mut out = 0;
        for i in 0..self.len {
            let v = self[i];
            if out == 0 || self[out - 1] != v {
                self[out] = v;
                out += 1;
            }
        }
        self.len = out;
    }
}

impl<T: Copy> core::ops::Deref for MapVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` slots are initialised and inside the
        // mapping (or `len` is 0 and the pointer is dangling but aligned).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> core::ops::DerefMut for MapVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the slice unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for MapVec<T> {
    fn drop(&mut self) {
        if self.cap == 0 {
            return;
        }
        if let Some(bytes) = Self::bytes_for(self.cap) {
            // SAFETY: our own mapping, of exactly this size; nothing
            // refers to it once the array is dropped.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), bytes) };
        }
    }
}

/// FNV-1a, 64 bits.
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn mix(k: u64) -> u64 {
    let k = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    k ^ (k >> 29)
}

/// A hash map from `u64` keys (any but `u64::MAX`) to `V`, with open
/// addressing (linear probes) in a [`MapVec`].
pub(crate) struct U64Map<V: Copy + Default> {
    slots: MapVec<(u64, V)>,
    used: usize,
}

const EMPTY: u64 = u64::MAX;

impl<V: Copy + Default> Default for U64Map<V> {
    fn default() -> Self {
        U64Map {
            slots: MapVec::new(),
            used: 0,
        }
    }
}

impl<V: Copy + Default> U64Map<V> {
    fn find(&self, k: u64) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let mut i = (mix(k) as usize) & (n - 1);
        loop {
            match self.slots[i].0 {
                EMPTY => return Some(i),
                key if key == k => return Some(i),
                _ => i = (i + 1) & (n - 1),
            }
        }
    }

    /// The value of `k`.
    pub(crate) fn get(&self, k: u64) -> Option<V> {
        let i = self.find(k)?;
        let (key, v) = self.slots[i];
        (key == k && k != EMPTY).then_some(v)
    }

    /// Set `k` to `v`. `None` when memory ran out, or for `u64::MAX`.
    #[must_use]
    pub(crate) fn insert(&mut self, k: u64, v: V) -> Option<()> {
        if k == EMPTY {
            return None;
        }
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow()?;
        }
        let i = self.find(k)?;
        if self.slots[i].0 == EMPTY {
            self.used += 1;
        }
        self.slots[i] = (k, v);
        Some(())
    }

    fn grow(&mut self) -> Option<()> {
        let n = (self.slots.len() * 2).max(64);
        let old = core::mem::replace(&mut self.slots, MapVec::filled(n, (EMPTY, V::default()))?);
        for &(k, v) in old.iter().filter(|s| s.0 != EMPTY) {
            let i = self.find(k)?;
            self.slots[i] = (k, v);
        }
        Some(())
    }
}

/// Byte strings kept once each in a pool: [`Interner::intern`] gives a
/// string's offset and length in [`Interner::pool`].
#[derive(Default)]
pub(crate) struct Interner {
    pool: MapVec<u8>,
    /// (offset, length) of each string, by hash; `u32::MAX` offsets are
    /// empty slots.
    slots: MapVec<(u32, u32)>,
    used: usize,
}

impl Interner {
    /// The pool.
    pub(crate) fn pool(&self) -> &[u8] {
        &self.pool
    }

    /// Take the pool out (the interner is left empty).
    pub(crate) fn take_pool(&mut self) -> MapVec<u8> {
        self.slots = MapVec::new();
        self.used = 0;
        self.pool.take()
    }

    fn text(&self, (at, len): (u32, u32)) -> &[u8] {
        self.pool
            .get(at as usize..at as usize + len as usize)
            .unwrap_or(&[])
    }

    fn find(&self, s: &[u8], h: u64) -> usize {
        let n = self.slots.len();
        let mut i = (h as usize) & (n - 1);
        loop {
            let slot = self.slots[i];
            if slot.0 == u32::MAX || self.text(slot) == s {
                return i;
            }
            i = (i + 1) & (n - 1);
        }
    }

    /// `s`'s (offset, length) in the pool, added if new. `None` when
    /// memory ran out or the pool would pass 4 GiB.
    pub(crate) fn intern(&mut self, s: &[u8]) -> Option<(u32, u32)> {
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow()?;
        }
        let h = hash_bytes(s);
        let i = self.find(s, h);
        if self.slots[i].0 != u32::MAX {
            return Some(self.slots[i]);
        }
        let at = u32::try_from(self.pool.len()).ok()?;
        let len = u32::try_from(s.len()).ok()?;
        at.checked_add(len).filter(|&e| e < u32::MAX)?;
        self.pool.extend_from_slice(s)?;
        self.slots[i] = (at, len);
        self.used += 1;
        Some((at, len))
    }

    fn grow(&mut self) -> Option<()> {
        let n = (self.slots.len() * 2).max(256);
        let old = core::mem::replace(&mut self.slots, MapVec::filled(n, (u32::MAX, 0))?);
        for &slot in old.iter().filter(|s| s.0 != u32::MAX) {
            let i = self.find(self.text(slot), hash_bytes(self.text(slot)));
            self.slots[i] = slot;
        }
        Some(())
    }
}

/// A max-heap (the greatest element on top), in a [`MapVec`].
pub(crate) struct MaxHeap<T: Copy + Ord> {
    v: MapVec<T>,
}

impl<T: Copy + Ord> Default for MaxHeap<T> {
    fn default() -> Self {
        MaxHeap { v: MapVec::new() }
    }
}

impl<T: Copy + Ord> MaxHeap<T> {
    /// The greatest element.
    pub(crate) fn peek(&self) -> Option<T> {
        self.v.first().copied()
    }

    /// Add `x`.
    #[must_use]
    pub(crate) fn push(&mut self, x: T) -> Option<()> {
        self.v.push(x)?;
        let mut i = self.v.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.v[parent] >= self.v[i] {
                break;
            }
            self.v.swap(parent, i);
            i = parent;
        }
        Some(())
    }

    /// Remove and return the greatest element.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let n = self.v.len();
        if n == 0 {
            return None;
        }
        self.v.swap(0, n - 1);
        let top = self.v.pop();
        let n = n - 1;
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut big = i;
            if l < n && self.v[l] > self.v[big] {
                big = l;
            }
            if r < n && self.v[r] > self.v[big] {
                big = r;
            }
            if big == i {
                break;
            }
            self.v.swap(i, big);
            i = big;
        }
        top
    }
}

/// Memory kept for the life of the process: small objects share chunks
/// mapped with `sys::map_apart` (no mapping of the program's merges with
/// them); a handler may read them at any time.
struct Chunks {
    /// Next free byte and end of the current chunk (0, 0: none yet).
    next: AtomicUsize,
    end: AtomicUsize,
    /// Held for a few instructions (and the mapping of a new chunk).
    lock: AtomicBool,
}

static CHUNKS: Chunks = Chunks {
    next: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    lock: AtomicBool::new(false),
};

const CHUNK: usize = 64 << 10;

/// After `fork()`: a thread of the parent that held the lock is not in
/// the child.
pub(crate) fn forget_lock_after_fork() {
    CHUNKS.lock.store(false, Ordering::Release);
}

/// `bytes` bytes aligned to `align`, for ever.
fn permanent(bytes: usize, align: usize) -> Option<NonNull<u8>> {
    let page = crate::runtime::sys::page_size();
    if bytes > CHUNK / 4 {
        let len = bytes.checked_next_multiple_of(page)?;
        let p = crate::runtime::sys::map_apart(len, libc::PROT_READ | libc::PROT_WRITE, 0).ok()?;
        return NonNull::new(p as *mut u8);
    }
    while CHUNKS
        .lock
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
    let mut at = CHUNKS.next.load(Ordering::Relaxed).next_multiple_of(align);
    if at == 0 || at + bytes > CHUNKS.end.load(Ordering::Relaxed) {
        match crate::runtime::sys::map_apart(CHUNK, libc::PROT_READ | libc::PROT_WRITE, 0) {
            Ok(p) => {
                CHUNKS.end.store(p + CHUNK, Ordering::Relaxed);
                at = p;
            }
            Err(_) => {
                CHUNKS.lock.store(false, Ordering::Release);
                return None;
            }
        }
    }
    CHUNKS.next.store(at + bytes, Ordering::Relaxed);
    CHUNKS.lock.store(false, Ordering::Release);
    NonNull::new(at as *mut u8)
}

/// `v`, moved into memory kept for the life of the process (never
/// dropped).
pub(crate) fn leak<T>(v: T) -> Option<&'static T> {
    let p = permanent(core::mem::size_of::<T>().max(1), core::mem::align_of::<T>())?;
    let p = p.cast::<T>();
    // SAFETY: fresh memory of `T`'s size and alignment that no one else
    // was given, never unmapped: the reference may live for ever.
    unsafe {
        p.as_ptr().write(v);
        Some(&*p.as_ptr())
    }
}

/// A copy of `v` kept for the life of the process.
pub(crate) fn leak_slice<T: Copy>(v: &[T]) -> Option<&'static [T]> {
    if v.is_empty() {
        return Some(&[]);
    }
    let bytes = core::mem::size_of_val(v);
    let p = permanent(bytes, core::mem::align_of::<T>())?.cast::<T>();
    // SAFETY: as in `leak`, for `v.len()` elements; `T: Copy`, so a
    // bytewise copy is a valid value.
    unsafe {
        core::ptr::copy_nonoverlapping(v.as_ptr(), p.as_ptr(), v.len());
        Some(core::slice::from_raw_parts(p.as_ptr(), v.len()))
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
    fn mapvec_grows_across_pages_and_keeps_order() {
        let mut v: MapVec<u64> = MapVec::new();
        for i in 0..100_000u64 {
            v.push(i * 3).unwrap();
        }
        assert_eq!(v.len(), 100_000);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
        v.retain(|&x| x % 2 == 0);
        assert_eq!(v.len(), 50_000);
        assert_eq!(v.pop(), Some(299_994));
        v.extend_from_slice(&[7, 7, 8]).unwrap();
        v.dedup();
        assert_eq!(&v[v.len() - 2..], &[7, 8]);
        v.sort_unstable();
        assert_eq!(v[0], 0);
        let mut t = v.take();
        assert!(v.is_empty() && t.len() > 3);
        t.clear();
        assert!(t.is_empty());
        let f = MapVec::filled(5, 9u8).unwrap();
        assert_eq!(&*f, &[9; 5]);
    }

    #[test]
    fn u64map_finds_what_was_put() {
        let mut m: U64Map<u32> = U64Map::default();
        assert_eq!(m.get(1), None);
        for k in 0..10_000u64 {
            m.insert(k * 7919, k as u32).unwrap();
        }
        m.insert(7919, 42).unwrap();
        assert_eq!(m.get(7919), Some(42));
        assert_eq!(m.get(9999 * 7919), Some(9999));
        assert_eq!(m.get(5), None);
        assert!(m.insert(u64::MAX, 1).is_none());
    }

    #[test]
    fn interner_keeps_each_string_once() {
        let mut i = Interner::default();
        let a = i.intern(b"alpha").unwrap();
        let b = i.intern(b"beta").unwrap();
        for n in 0..5000u32 {
            i.intern(&n.to_le_bytes()).unwrap();
        }
        assert_eq!(i.intern(b"alpha").unwrap(), a);
        assert_eq!(i.intern(b"beta").unwrap(), b);
        assert_eq!(&i.pool()[a.0 as usize..][..5], b"alpha");
        assert_eq!(i.intern(b"").unwrap().1, 0);
        let pool = i.take_pool();
        assert_eq!(pool.len(), 5 + 4 + 5000 * 4);
    }

    #[test]
    fn heap_pops_greatest_first() {
        let mut h = MaxHeap::default();
        for x in [5u32, 1, 9, 3, 9, 0, 7] {
            h.push(x).unwrap();
        }
        assert_eq!(h.peek(), Some(9));
        let mut out = std::vec::Vec::new();
        while let Some(x) = h.pop() {
            out.push(x);
        }
        assert_eq!(out, [9, 9, 7, 5, 3, 1, 0]);
    }

    #[test]
    fn leaked_memory_holds_values() {
        let a = leak([1u64, 2, 3]).unwrap();
        let b = leak_slice(&[4u16; 3000]).unwrap();
        let c = leak_slice(&[5u8; 100_000]).unwrap();
        assert_eq!(a, &[1, 2, 3]);
        assert!(b.iter().all(|&x| x == 4) && b.len() == 3000);
        assert!(c.iter().all(|&x| x == 5) && c.len() == 100_000);
        assert_eq!(leak_slice::<u32>(&[]).unwrap(), &[] as &[u32]);
    }
}
