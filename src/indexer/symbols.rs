//! Builds one module's symbol index (`symbolize::index`): its code
//! symbols, sorted by address, from the module's own file or, when that
//! has only `.dynsym`, from its separate debug file (whose names are then
//! kept in memory). Normal context, malloc-free: what it keeps is leaked
//! into memory of our own, for a handler to read at any time.

use super::mem::{self, MapVec, U64Map};
use crate::runtime::elf::{self, SYM_SIZE};
use crate::runtime::modules::Module;
use crate::symbolize::index::{Entry, ModuleIndex};

/// The index of the module `m`, from its file.
pub(crate) fn build(m: &Module) -> Option<ModuleIndex> {
    let mut path = [0u8; crate::runtime::modules::PATH_MAX + 1];
    let p = m.path();
    path.get_mut(..p.len())?.copy_from_slice(p);
    let fd = elf::open_cstr(path.get(..=p.len())?);
    if fd < 0 {
        return None;
    }
    let ix = build_from_fd(fd, m);
    elf::close(fd);
    ix
}

/// Build an index for the file open as `fd` as if it were mapped as `m`
/// (benchmarks: the index of a big system binary that is not loaded).
pub(crate) fn build_for_file(fd: i32, m: &Module) -> Option<ModuleIndex> {
    build_from_fd(fd, m)
}

fn build_from_fd(fd: i32, m: &Module) -> Option<ModuleIndex> {
    let mut scratch = [0u8; 4096];
    let info = elf::inspect(fd, &mut scratch)?;
    if !m.build_id().is_empty() && info.build_id() != m.build_id() {
        return None;
    }
    // Only dynamic symbols here: a separate debug file has them all.
    if info.symtab.is_none_or(|t| t.dynamic) {
        if let Some(ix) = from_debug_file(m) {
            return Some(ix);
        }
    }
    let table = info.symtab?;
    let (sorted, _) = read_code_symbols(fd, &table, None)?;
    Some(ModuleIndex::new(m, table, mem::leak_slice(&sorted)?))
}

/// The index from the module's separate debug file, names kept in memory.
#[cfg(feature = "symbolize")]
fn from_debug_file(m: &Module) -> Option<ModuleIndex> {
    use super::file;
    let path = file::FilePath::from_bytes(m.path())?;
    let map = file::Mapped::open(&path)?;
    let obj = file::Elf::parse(map.bytes())?;
    let own = obj.build_id();
    let id = match m.build_id() {
        [] => own.as_ref().map_or(&[][..], |b| b.bytes()),
        given => given,
    };
    let (dpath, _) = file::find_debug_file(&path, &obj, id)?;
    let fd = elf::open_cstr(dpath.as_bytes_with_nul());
    if fd < 0 {
        return None;
    }
    let ix = debug_file_index(fd, m);
    elf::close(fd);
    ix
}

#[cfg(feature = "symbolize")]
fn debug_file_index(fd: i32, m: &Module) -> Option<ModuleIndex> {
    let mut scratch = [0u8; 4096];
    let info = elf::inspect(fd, &mut scratch)?;
    let table = info.symtab.filter(|t| !t.dynamic)?;
    let size = usize::try_from(table.str_size).ok()?.min(256 << 20);
    let mut strtab = MapVec::filled(size, 0u8)?;
    let got = elf::pread_full(fd, &mut strtab, table.str_offset);
    strtab.truncate(got);
    let (sorted, pool) = read_code_symbols(fd, &table, Some(&strtab))?;
    let mut ix = ModuleIndex::new(m, table, mem::leak_slice(&sorted)?);
    ix.names = mem::leak_slice(&pool)?;
    Some(ix)
}

#[cfg(not(feature = "symbolize"))]
fn from_debug_file(_: &Module) -> Option<ModuleIndex> {
    None
}

/// The code symbols of `table`, sorted by address (one entry an address:
/// the best ranked symbol there, see `elf::Sym::rank`, then the biggest,
/// then the first). With `strtab`, each entry's name is copied into the
/// returned pool (without a `@VERSION` suffix) and the entry points there.
fn read_code_symbols(
    fd: i32,
    table: &elf::SymTable,
    strtab: Option<&[u8]>,
) -> Option<(MapVec<Entry>, MapVec<u8>)> {
    let table = *table;
    let expect = usize::try_from(table.count).unwrap_or(0).min(1 << 22);
    // Sort keys: address, rank, size (bigger first), position.
    let mut keys: MapVec<u128> = MapVec::with_capacity(expect)?;
    let mut names: MapVec<u32> = MapVec::with_capacity(expect)?;
    let mut buf = [0u8; SYM_SIZE * 1024];
    let mut first = 0u64;
    loop {
        let n = elf::read_syms(fd, &table, first, &mut buf);
        if n == 0 {
            break;
        }
        for chunk in buf.chunks_exact(SYM_SIZE).take(n) {
            if let Some(s) = elf::parse_sym(chunk) {
                if s.is_code() {
                    if names.len() >= MAX_SYMBOLS {
                        return None;
                    }
                    let size = u32::try_from(s.size).unwrap_or(u32::MAX);
                    keys.push(
                        (u128::from(s.value) << 64)
                            | (u128::from(s.rank()) << 56)
                            | (u128::from(u32::MAX - size) << POS_BITS)
                            | names.len() as u128,
                    )?;
                    names.push(s.name)?;
                }
            }
        }
        first += n as u64;
    }
    radix_sort(&mut keys)?;
    let mut sorted: MapVec<Entry> = MapVec::with_capacity(keys.len())?;
    for &k in keys.iter() {
        let addr = (k >> 64) as u64;
        if sorted.last().is_some_and(|l| l.addr == addr) {
            continue;
        }
        let pos = (k & (MAX_SYMBOLS as u128 - 1)) as usize;
        sorted.push(Entry {
            addr,
            size: u32::MAX - (k >> POS_BITS) as u32,
            name: names.get(pos).copied().unwrap_or(0),
        })?;
    }
    drop(names);
    drop(keys);
    let mut pool = MapVec::new();
    if let Some(strs) = strtab {
        // Names shared by several entries (aliases) are copied once.
        let mut seen: U64Map<u32> = U64Map::default();
        for e in sorted.iter_mut() {
            if let Some(at) = seen.get(u64::from(e.name)) {
                e.name = at;
                continue;
            }
            let name = strs.get(e.name as usize..).unwrap_or(&[]);
            let n = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            // `memcpy@@GLIBC_2.14`: the version is not part of the name.
            let n = name
                .get(..n)
                .and_then(|s| s.iter().position(|&b| b == b'@'))
                .filter(|&at| at > 0)
                .unwrap_or(n);
            let at = u32::try_from(pool.len()).ok()?;
            pool.extend_from_slice(name.get(..n).unwrap_or(&[]))?;
            pool.push(0)?;
            seen.insert(u64::from(e.name), at)?;
            e.name = at;
        }
    }
    Some((sorted, pool))
}

/// Bits of a sort key that hold the symbol's position.
const POS_BITS: u32 = 24;
/// Code symbols indexed in one module at most: a module with more is
/// named by scans.
const MAX_SYMBOLS: usize = 1 << POS_BITS;

/// Sort `keys` (address in the high 64 bits): a stable least-significant
/// digit radix sort on the address bits that differ, 11 at a time, then
/// each run of equal addresses by its whole key. Two or three linear
/// passes where a comparison sort needs seventeen.
fn radix_sort(keys: &mut MapVec<u128>) -> Option<()> {
    const DIGIT: u32 = 11;
    let addr = |k: u128| (k >> 64) as u64;
    let (Some(lo), Some(hi)) = (
        keys.iter().map(|&k| addr(k)).min(),
        keys.iter().map(|&k| addr(k)).max(),
    ) else {
        return Some(());
    };
    let bits = 64 - (hi - lo).leading_zeros();
    let mut other = MapVec::filled(keys.len(), 0u128)?;
    let mut count = [0usize; 1 << DIGIT];
    let mut shift = 0;
    while shift < bits {
        let digit = |k: u128| ((addr(k) - lo) >> shift) as usize & ((1 << DIGIT) - 1);
        count.fill(0);
        for &k in keys.iter() {
            count[digit(k)] += 1;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for &k in keys.iter() {
            let d = digit(k);
            other[count[d]] = k;
            count[d] += 1;
        }
        core::mem::swap(keys, &mut other);
        shift += DIGIT;
    }
    // Equal addresses: by rank, size and position (the low 64 bits).
    let mut i = 0;
    while i < keys.len() {
        let a = addr(keys[i]);
        let mut j = i + 1;
        while j < keys.len() && addr(keys[j]) == a {
            j += 1;
        }
        if j - i > 1 {
            keys[i..j].sort_unstable();
        }
        i = j;
    }
    Some(())
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
    use crate::symbolize::index;

    #[test]
    fn radix_sort_orders_like_a_sort() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (n, spread) in [
            (0usize, 1u64),
            (1, 1),
            (5000, 1 << 40),
            (5000, 64),
            (3000, u64::MAX),
        ] {
            let mut keys = MapVec::new();
            for _ in 0..n {
                keys.push(
                    (u128::from(0x40_0000u64.wrapping_add(next() % spread)) << 64)
                        | u128::from(next()),
                )
                .unwrap();
            }
            let mut want = keys.to_vec();
            want.sort_unstable();
            radix_sort(&mut keys).unwrap();
            assert_eq!(&*keys, &want[..], "{n} keys over {spread}");
        }
    }

    #[test]
    fn index_of_our_own_binary_finds_our_functions() {
        crate::indexer::modules::snapshot();
        super::super::run::build_missing();
        let here = index_of_our_own_binary_finds_our_functions as *const () as usize;
        let m = crate::runtime::modules::lookup_in_snapshot(here).unwrap();
        let ix = index::find(m).expect("the exe is indexed");
        assert!(ix.len() > 1000);
        let e = ix.lookup((here - m.bias) as u64 + 1).expect("found");
        assert_eq!(e.addr, (here - m.bias) as u64);
        assert!(e.size > 0);
        let mut name = [0u8; 512];
        let f = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        use std::os::fd::AsRawFd;
        let (len, whole) = elf::read_name(f.as_raw_fd(), &ix.table, e.name, &mut name).unwrap();
        assert!(whole);
        let name = std::str::from_utf8(&name[..len]).unwrap();
        assert!(
            name.contains("index_of_our_own_binary_finds_our_functions"),
            "{name}"
        );
        // Below the first symbol, and far past the last, nothing.
        assert!(ix.lookup(0).is_none());
        assert!(ix.lookup(u64::MAX).is_none());
    }
}
