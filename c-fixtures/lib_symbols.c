/* Symbols fixture: three C functions, never inlined, linked into the
 * integration tests. The innermost one writes through the pointer it is
 * given (null, to crash). Each does work after its call, so no call is a
 * tail call and every frame stays on the stack. */

__attribute__((noinline)) int fh_sym_c_crash(volatile int *p) {
    *p = 42; /* @c_crash */
    return *p + 1;
}

__attribute__((noinline)) int fh_sym_c_middle(volatile int *p) {
    return fh_sym_c_crash(p) + 1; /* @c_middle */
}

__attribute__((noinline)) int fh_sym_c_outer(volatile int *p) {
    return fh_sym_c_middle(p) + 1; /* @c_outer */
}
