/* For tests/threads.rs: a thread whose frame chain is corrupt while it
 * waits, so that unwinding it faults inside the unwinder.
 *
 * The function keeps a frame pointer (its unwind info then computes the
 * caller's frame from rbp), sets rbp to an unmapped address, and waits in
 * raw pause(2) system calls until *stop is set; then it puts rbp back.
 * A signal handler that walks this thread's stack reads the return
 * address at rbp + 8: unmapped. */
#if defined(__x86_64__)
__attribute__((noinline, optimize("no-omit-frame-pointer")))
void fh_threads_wait_with_corrupt_frames(volatile int *stop) {
    __asm__ volatile(
        "mov %%rbp, %%r12\n\t"
        "mov $0x10, %%rbp\n\t"
        "1:\n\t"
        "mov $34, %%eax\n\t" /* SYS_pause */
        "syscall\n\t"
        "cmpl $0, (%0)\n\t"
        "je 1b\n\t"
        "mov %%r12, %%rbp\n\t"
        :
        : "r"(stop)
        : "rax", "rcx", "r11", "r12", "memory");
}
#endif
