/* Lines fixture: a small library that the line tests dlopen, whose crash
 * is in a function inlined into its caller (always_inline overrides the
 * fixtures' -fno-inline). Its DWARF is tiny, so its line tables are built
 * in no time at any optimisation level. */

static inline __attribute__((always_inline)) void fh_inl_store(volatile int *p) {
    *p = 9; /* @inl_store */
}

__attribute__((noinline)) int fh_inl_entry(volatile int *p) {
    fh_inl_store(p); /* @inl_call */
    return *p + 1;
}
