//! `faulthandler symbolize` for JSON-lines reports: each line that is a
//! report object gets, on every frame it can resolve, `file` and `line`
//! (the location in the frame's own function), `inlined` (the calls
//! inlined at that address, outermost first, each `{"name", "file",
//! "line"}`), a `name` and `offset` for a frame the report had as `null`,
//! and `symbolize_problem` when the module's debug info could not be used.
//! The module's build-id comes from the report's `modules`, as for text.
//! Normal-context code.

use super::{Cache, FrameLine, Resolved};
use serde_json::{Map, Value};

/// The symbolized line, when `line` is a JSON-lines report; `None` for
/// any other line (copied as is by the caller).
pub(super) fn symbolize_line(line: &[u8], cache: &mut Cache<'_>) -> Option<String> {
    if !line.starts_with(b"{") {
        return None;
    }
    let mut report: Value = serde_json::from_slice(line).ok()?;
    let obj = report.as_object_mut()?;
    let build_ids: Vec<(String, Option<String>)> = obj
        .get("modules")?
        .as_array()?
        .iter()
        .filter_map(|m| {
            Some((
                m.get("path")?.as_str()?.to_string(),
                m.get("build_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ))
        })
        .collect();
    for thread in obj.get_mut("threads")?.as_array_mut()? {
        let Some(frames) = thread.get_mut("frames").and_then(Value::as_array_mut) else {
            continue;
        };
        for frame in frames.iter_mut().filter_map(Value::as_object_mut) {
            symbolize_frame(frame, &build_ids, cache);
        }
    }
    serde_json::to_string(&report).ok()
}

fn symbolize_frame(
    frame: &mut Map<String, Value>,
    build_ids: &[(String, Option<String>)],
    cache: &mut Cache<'_>,
) {
    if frame.contains_key("file") {
        // Symbolized already.
        return;
    }
    let (Some(module), Some(offset), Some(number)) = (
        frame.get("module").and_then(Value::as_str),
        frame
            .get("module_offset")
            .and_then(Value::as_str)
            .and_then(|o| o.strip_prefix("0x"))
            .and_then(|o| u64::from_str_radix(o, 16).ok()),
        frame.get("n").and_then(Value::as_u64),
    ) else {
        return;
    };
    let name = frame.get("name").and_then(Value::as_str);
    let line = FrameLine {
        head: String::new(),
        indent: String::new(),
        number,
        name: name.unwrap_or("??").to_string(),
        module: module.to_string(),
        offset,
    };
    let build_id = build_ids
        .iter()
        .find(|(p, _)| *p == line.module)
        .and_then(|(_, id)| id.as_deref());
    let r: Resolved = cache.resolve(&line, build_id);
    if let (Some((name, off)), None) = (&r.name, name) {
        frame.insert("name".into(), Value::from(name.as_str()));
        frame.insert("offset".into(), Value::from(format!("0x{off:x}")));
    }
    if let Some(loc) = &r.location {
        put_location(frame, loc);
    }
    if !r.inlined.is_empty() {
        let inlined = r
            .inlined
            .iter()
            .map(|(func, loc)| {
                let mut o = Map::new();
                o.insert("name".into(), Value::from(func.as_str()));
                match loc {
                    Some(loc) => put_location(&mut o, loc),
                    None => {
                        o.insert("file".into(), Value::Null);
                        o.insert("line".into(), Value::Null);
                    }
                }
                Value::Object(o)
            })
            .collect();
        frame.insert("inlined".into(), Value::Array(inlined));
    }
    if let Some(p) = &r.problem {
        frame.insert("symbolize_problem".into(), Value::from(p.as_str()));
    }
}

/// `FILE:LINE` (or `FILE`) as `"file"` and `"line"` (a number, or null).
fn put_location(o: &mut Map<String, Value>, loc: &str) {
    let (file, line) = match loc.rsplit_once(':') {
        Some((f, l)) if l.parse::<u64>().is_ok() => (f, l.parse::<u64>().ok()),
        _ => (loc, None),
    };
    o.insert("file".into(), Value::from(file));
    o.insert("line".into(), line.map_or(Value::Null, Value::from));
}
