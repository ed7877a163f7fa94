//! ELF facts the checks need, read with the `object` crate.

use object::{Object, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

type Table = Arc<HashMap<String, (u64, u64)>>;

/// (link-time address, size) of every function symbol of `path` (the
/// static symbol table, or the dynamic one when there is none), read once.
pub fn functions(path: &Path) -> Result<Table, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Table>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(t) = cache.lock().unwrap().get(path) {
        return Ok(Arc::clone(t));
    }
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("cannot parse the ELF file {}: {e}", path.display()))?;
    let mut out = HashMap::new();
    for dynamic in [false, true] {
        if !out.is_empty() {
            break;
        }
        let syms = if dynamic {
            file.dynamic_symbols()
        } else {
            file.symbols()
        };
        for s in syms.filter(|s| s.kind() == SymbolKind::Text) {
            if let Ok(name) = s.name() {
                out.entry(name.to_string())
                    .or_insert((s.address(), s.size()));
            }
        }
    }
    let table = Arc::new(out);
    cache
        .lock()
        .unwrap()
        .insert(path.to_path_buf(), Arc::clone(&table));
    Ok(table)
}

/// The GNU build-id of `path`, in lowercase hex.
pub fn build_id_hex(path: &Path) -> Result<String, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
    let id = file
        .build_id()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .ok_or_else(|| format!("{} has no build-id", path.display()))?;
    Ok(id.iter().map(|b| format!("{b:02x}")).collect())
}
