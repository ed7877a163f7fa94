//! The `faulthandler` command: `faulthandler symbolize` adds file:line to
//! crash reports.
fn main() {}
