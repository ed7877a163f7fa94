/* Symbols fixture: a library the test dlopens after faulthandler::enable().
 * The crashing function is static, so only the file's .symtab names it (it
 * is not in .dynsym). */

static __attribute__((noinline)) int fh_late_crash(volatile int *p) {
    *p = 7; /* @late_crash */
    return *p + 1;
}

__attribute__((noinline)) int fh_late_entry(volatile int *p) {
    return fh_late_crash(p) + 1; /* @late_entry */
}
