//! Enables faulthandler, then crashes a few calls deep with a null pointer
//! dereference, so you can see a real report:
//!
//! ```text
//! cargo run --example crash            # SIGSEGV (null dereference)
//! cargo run --example crash -- abort   # SIGABRT
//! cargo run --example crash -- overflow  # stack overflow
//! cargo run --example crash -- thread  # SIGSEGV on a spawned thread
//! ```

use std::hint::black_box;

#[inline(never)]
fn parse_record(ptr: *const u64) -> u64 {
    // SAFETY: it is not: `ptr` is null, and this is the crash we want.
    unsafe { std::ptr::read_volatile(ptr.add(1)) }
}

#[inline(never)]
fn load_config(ptr: *const u64) -> u64 {
    black_box(parse_record(black_box(ptr))) + 1
}

#[inline(never)]
fn start_service(ptr: *const u64) -> u64 {
    black_box(load_config(black_box(ptr))) + 1
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let pad = black_box([depth; 32]);
    black_box(recurse(black_box(depth + 1))) + pad[3]
}

fn main() -> Result<(), faulthandler::Error> {
    faulthandler::enable()?;
    match std::env::args().nth(1).as_deref() {
        Some("abort") => std::process::abort(),
        Some("overflow") => {
            black_box(recurse(0));
        }
        Some("thread") => {
            // A std thread keeps std's own small alternate stack.
            std::thread::Builder::new()
                .name("worker".into())
                .spawn(|| black_box(start_service(black_box(std::ptr::null()))))
                .expect("spawn")
                .join()
                .ok();
        }
        _ => {
            black_box(start_service(black_box(std::ptr::null())));
        }
    }
    Ok(())
}
