//! JSON-lines reports (`Format::JsonLines`, `FAULTHANDLER_FORMAT=json`),
//! parsed with serde_json: the one place the tests read them, next to
//! `report.rs` for the text.

use super::child::{parse_hex, Info};
use serde_json::Value;
use std::path::Path;

/// Every line of `out` that is a report (it starts with `{`), each parsed
/// as exactly one JSON object. Fails on a report line that is not one
/// valid object, and on a line that is a text report's first line.
pub fn reports(out: &str) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    for line in out.lines() {
        for text_start in [
            "Fatal signal ",
            "Dump requested ",
            "Stack dump requested",
            "Timeout (",
        ] {
            if line.starts_with(text_start) {
                return Err(format!("a text report line in JSON-lines output: {line:?}"));
            }
        }
        if !line.starts_with('{') {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("a report line that is not one JSON object ({e}): {line}"))?;
        if !v.is_object() {
            return Err(format!("not an object: {line}"));
        }
        all.push(v);
    }
    Ok(all)
}

/// The one report in `out` (of any kind).
pub fn report(out: &str) -> Result<Value, String> {
    let mut all = reports(out)?;
    match all.len() {
        1 => Ok(all.remove(0)),
        n => Err(format!("{n} JSON reports, not 1, in:\n{out}")),
    }
}

/// An address field (`"0x..."`, 16 digits).
pub fn addr(v: &Value) -> Result<usize, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("not an address string: {v}"))?;
    if !(s.len() == 18 && s.starts_with("0x")) {
        return Err(format!("not 0x and 16 hex digits: {s:?}"));
    }
    parse_hex(s).ok_or_else(|| format!("not hex: {s:?}"))
}

/// The current thread's object.
pub fn current_thread(rep: &Value) -> Result<&Value, String> {
    let threads = rep["threads"].as_array().ok_or("no \"threads\" list")?;
    let first = threads.first().ok_or("an empty \"threads\" list")?;
    if first["current"] != true {
        return Err(format!("the first thread is not the current one: {first}"));
    }
    if threads.iter().skip(1).any(|t| t["current"] != false) {
        return Err("another thread marked current".into());
    }
    Ok(first)
}

/// A crash report that matches what the child said about itself: the
/// signal, the fault address, the current thread's tid and name, a frame
/// inside the faulting function (`range`, runtime addresses), and the
/// executable among the modules with its build-id.
pub fn check_fatal(
    rep: &Value,
    signo: i32,
    signame: &str,
    address: Option<usize>,
    info: &Info,
    range: (u64, u64),
    exe: &Path,
) -> Result<(), String> {
    let ctx = || format!("in {rep}");
    let want = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} {}", ctx()))
        }
    };
    want(rep["kind"] == "fatal", "kind is not fatal")?;
    let header = rep["header"].as_str().ok_or("no header")?;
    want(
        header.starts_with(&format!("Fatal signal {signo} ({signame}): ")),
        "header",
    )?;
    want(rep["signal"]["number"] == signo, "signal number")?;
    want(rep["signal"]["name"] == signame, "signal name")?;
    match address {
        Some(a) => want(addr(&rep["signal"]["address"])? == a, "address")?,
        None => want(rep["signal"]["address"].is_null(), "an address")?,
    }
    want(
        rep["process"]["pid"].as_i64() == info.pid.map(i64::from),
        "process pid",
    )?;
    let cur = current_thread(rep)?;
    let (tid, comm) = info
        .threads
        .first()
        .ok_or("the child announced no thread")?;
    want(cur["tid"] == *tid, "current tid")?;
    want(cur["name"] == comm.as_str(), "current thread name")?;
    let frames = cur["frames"].as_array().ok_or("no frames")?;
    let mut inside = false;
    for (i, f) in frames.iter().enumerate() {
        let a = addr(&f["addr"])? as u64;
        want(f["n"].as_u64().is_some(), "a frame without n")?;
        if i == 0 {
            want(f["n"] == 0, "the first frame is not #0")?;
        }
        inside |= (range.0..range.1).contains(&a);
    }
    want(inside, "no frame in the faulting function")?;
    // Frame #0 is the faulting instruction, in the faulting function, and
    // named after it unless the in-handler lookup ran out of time (it is
    // bounded; an unoptimised build may not name it in time).
    let f0 = &frames[0];
    want(
        (range.0..range.1).contains(&(addr(&f0["addr"])? as u64)),
        "frame #0 is not in the faulting function",
    )?;
    let (name, _) = info.func.as_ref().ok_or("no faulting function announced")?;
    want(
        f0["name"].is_null()
            || f0["name"]
                .as_str()
                .is_some_and(|n| n.contains(name.as_str())),
        "frame #0 is named after another function",
    )?;
    let exe = exe.canonicalize().map_err(|e| e.to_string())?;
    let modules = rep["modules"].as_array().ok_or("no modules")?;
    let me = modules
        .iter()
        .find(|m| m["path"] == exe.to_string_lossy().as_ref())
        .ok_or_else(|| format!("the executable is not among the modules {}", ctx()))?;
    want(
        me["build_id"] == super::elf::build_id_hex(&exe)?.as_str(),
        "the executable's build-id",
    )?;
    let (start, end) = (addr(&me["start"])?, addr(&me["end"])?);
    want(start < end, "module range")?;
    want(
        rep.get("cut_short").is_none(),
        "cut_short in a whole report",
    )?;
    Ok(())
}
