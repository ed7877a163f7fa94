//! The child side: what a scenario body uses, and the `child: ...` lines
//! it prints for the parent ([`Info`]).

use std::collections::HashMap;

/// Exit code of a child whose own checks failed (before its crash).
pub const CHECK_FAILED: i32 = 98;
/// Exit code of a child that survived its crash.
pub const SURVIVED: i32 = 97;

/// This is the control run: do not enable faulthandler.
pub fn control() -> bool {
    std::env::var_os(super::runner::CONTROL_ENV).is_some()
}

/// Exit with [`CHECK_FAILED`] unless `ok`.
pub fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("child: CHECK FAILED: {what}");
        std::process::exit(CHECK_FAILED);
    }
}

/// Enable faulthandler with `config`, unless this is the control run.
pub fn enable(config: faulthandler::Config) {
    if control() {
        return;
    }
    if let Err(e) = config.enable() {
        eprintln!("child: CHECK FAILED: enable: {e}");
        std::process::exit(CHECK_FAILED);
    }
    check(faulthandler::is_enabled(), "is_enabled() after enable()");
}

pub fn enable_default() {
    enable(faulthandler::Config::new());
}

/// Wait, at most `limit`, until `ready` holds for the background builder's
/// work (the index, the line tables); false when it never did. The builder
/// is hurried to the normal priority meanwhile, as a crash that waits for
/// it does: on a busy machine its idle priority may get it no CPU at all.
pub fn wait_for_builder(limit: std::time::Duration, ready: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while !ready() {
        if start.elapsed() > limit {
            return false;
        }
        faulthandler::__bench::hurry_builder();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

/// Check and print the wait status of a vfork child that a fixture made
/// (`-1`: vfork or waitpid failed), as the checks read it.
pub fn announce_vfork_child(status: i32) {
    check(status >= 0, "vfork and waitpid");
    if libc::WIFSIGNALED(status) {
        eprintln!(
            "child: vfork child ended by signal {}",
            libc::WTERMSIG(status)
        );
    } else {
        eprintln!("child: vfork child status {status:#x}");
    }
}

/// The crash did not end the process.
pub fn survived() -> ! {
    eprintln!("child: survived the crash");
    std::process::exit(SURVIVED)
}

pub fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// `child: pid=P uid=U`.
pub fn announce_process() {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    eprintln!("child: pid={} uid={uid}", std::process::id());
}

/// `child: thread tid=T comm=C` for the calling thread.
pub fn announce_thread() {
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
    eprintln!("child: thread tid={} comm={}", gettid(), comm.trim_end());
}

/// `child: fn=NAME addr=0xADDR`: the function expected to fault.
pub fn announce_fn(name: &str, addr: usize) {
    eprintln!("child: fn={name} addr={addr:#x}");
}

/// What a child said about itself on its `child: ...` lines.
#[derive(Default, Debug)]
pub struct Info {
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    /// (tid, comm) of each announced thread.
    pub threads: Vec<(i32, String)>,
    /// (name, runtime address) of the faulting function.
    pub func: Option<(String, usize)>,
    pub fault_addr: Option<usize>,
}

pub fn parse_hex(s: &str) -> Option<usize> {
    usize::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

impl Info {
    pub fn parse(stderr: &str) -> Info {
        let mut info = Info::default();
        for line in stderr.lines() {
            let Some(rest) = line.strip_prefix("child: ") else {
                continue;
            };
            let kv: HashMap<&str, &str> =
                rest.split(' ').filter_map(|t| t.split_once('=')).collect();
            if let Some(p) = kv.get("pid") {
                info.pid = p.parse().ok();
                info.uid = kv.get("uid").and_then(|u| u.parse().ok());
            } else if rest.starts_with("thread ") {
                if let (Some(t), Some(c)) = (kv.get("tid"), kv.get("comm")) {
                    if let Ok(t) = t.parse() {
                        info.threads.push((t, c.to_string()));
                    }
                }
            } else if let (Some(f), Some(a)) = (kv.get("fn"), kv.get("addr")) {
                info.func = parse_hex(a).map(|a| (f.to_string(), a));
            } else if rest.starts_with("fault ") {
                info.fault_addr = kv.get("addr").and_then(|a| parse_hex(a));
            }
        }
        info
    }

    pub fn pid(&self) -> Result<i32, String> {
        self.pid
            .ok_or_else(|| "the child did not print its pid".into())
    }

    pub fn uid(&self) -> Result<u32, String> {
        self.uid
            .ok_or_else(|| "the child did not print its uid".into())
    }
}
