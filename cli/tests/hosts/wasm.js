// node rows of cli/tests/hosts.rs: 1000 out-of-bounds loads in wasm (V8
// turns each SIGSEGV into a RuntimeError), then, with "kill", a SIGSEGV sent
// to itself.
// (module (memory 1) (func (export "load") (param i32) (result i32)
//   local.get 0 i32.load))
const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0,
  5, 3, 1, 0, 1, 7, 8, 1, 4, 108, 111, 97, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 40, 2, 0, 11]);
const m = new WebAssembly.Instance(new WebAssembly.Module(bytes));
let traps = 0;
for (let i = 0; i < 1000; i++) {
  try {
    m.exports.load(0x7fff0000);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) traps++;
  }
}
console.log("traps " + traps);
if (process.argv[2] === "kill") process.kill(process.pid, "SIGSEGV");
