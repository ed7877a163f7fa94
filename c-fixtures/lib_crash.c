/*
 * Crash fixtures linked into the integration tests (see build.rs): C
 * functions that fault in ways Rust cannot express safely, and signal
 * handlers that stand in for "whatever was installed before faulthandler".
 *
 * Everything a handler here calls is async-signal-safe (write, _exit,
 * strlen), except in fh_c_install_malloc_handler, whose handler calls
 * malloc on purpose: it is the control case proving that the malloc spy
 * (so_malloc_spy.c) notices allocations made on an alternate stack.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit codes of the handlers below (FH_*_EXIT) come from
 * crates/fixtures/src/exit_codes.rs, as -D flags; the tests read the same table. */

static void put_str(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_hex(uintptr_t v) {
    char buf[2 + 2 * sizeof v + 1];
    char *p = buf + sizeof buf;
    *--p = '\0';
    do {
        *--p = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v != 0);
    *--p = 'x';
    *--p = '0';
    put_str(p);
}

static void put_dec(long v) {
    char buf[24];
    char *p = buf + sizeof buf;
    *--p = '\0';
    int neg = v < 0;
    unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (neg)
        *--p = '-';
    put_str(p);
}

/* SIGFPE (FPE_INTDIV on x86_64): an integer division by a zero that the
 * compiler cannot see. */
__attribute__((noinline)) int fh_c_divide_by_zero(int dividend) {
    volatile int zero = 0;
    return dividend / zero;
}

/* The "previous handler" for the chaining test: prints the fault address
 * it was given, then ends the process with a known code. */
static void recording_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    put_str("prev-handler: sig=");
    put_dec(sig);
    put_str(" si_addr=");
    put_hex((uintptr_t)si->si_addr);
    put_str("\n");
    _exit(FH_PREV_HANDLER_EXIT);
}

/* Install recording_handler for SIGSEGV (SA_SIGINFO, no alt stack). */
int fh_c_install_recording_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = recording_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, NULL);
}

void *volatile fh_c_malloc_sink;

/* A deliberately bad handler: allocates on the alternate stack. */
static void malloc_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
    fh_c_malloc_sink = malloc(64);
    put_str("malloc-handler: called malloc\n");
    _exit(FH_MALLOC_HANDLER_EXIT);
}

static char malloc_handler_stack[64 * 1024];

/* Give the calling thread an alternate stack and install malloc_handler
 * for SIGSEGV on it (SA_SIGINFO | SA_ONSTACK). */
int fh_c_install_malloc_handler(void) {
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = malloc_handler_stack;
    ss.ss_size = sizeof malloc_handler_stack;
    if (sigaltstack(&ss, NULL) != 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = malloc_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, NULL);
}


/* A previous handler installed without SA_SIGINFO. */
static void plain_handler(int sig) {
    put_str("prev-plain-handler: sig=");
    put_dec(sig);
    put_str("\n");
    _exit(FH_PLAIN_HANDLER_EXIT);
}

/* Install plain_handler for SIGSEGV (sa_handler, no SA_SIGINFO). */
int fh_c_install_plain_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain_handler;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, NULL);
}

/* A previous SIGABRT handler: prints who sent the signal and how. */
static void abrt_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    put_str("prev-abrt-handler: sig=");
    put_dec(sig);
    put_str(" si_code=");
    put_dec(si->si_code);
    put_str(" si_pid=");
    put_dec(si->si_pid);
    put_str("\n");
    _exit(FH_ABRT_HANDLER_EXIT);
}

/* Install abrt_handler for SIGABRT (SA_SIGINFO). */
int fh_c_install_abrt_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = abrt_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGABRT, &sa, NULL);
}

/* Install malloc_handler for SIGSEGV on the thread's own stack (no
 * SA_ONSTACK), with the five crash signals in its sa_mask, as
 * faulthandler's fatal handler has them. */
int fh_c_install_malloc_mask_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = malloc_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGSEGV);
    sigaddset(&sa.sa_mask, SIGBUS);
    sigaddset(&sa.sa_mask, SIGILL);
    sigaddset(&sa.sa_mask, SIGFPE);
    sigaddset(&sa.sa_mask, SIGABRT);
    return sigaction(SIGSEGV, &sa, NULL);
}

/* A "library" that installs its SIGSEGV handler over whatever is there and
 * chains to it by calling it directly (as signal-hook and many runtimes
 * do): it writes a marker line, then runs the saved action as the kernel
 * would have (a handler with its signature; SIG_DFL: reset and return, so
 * the fault fires again into the default). */
static struct sigaction chained_prev;

static void chaining_handler(int sig, siginfo_t *si, void *uc) {
    put_str("chaining-handler: called\n");
    if (chained_prev.sa_flags & SA_SIGINFO) {
        if (chained_prev.sa_sigaction != NULL) {
            chained_prev.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (chained_prev.sa_handler != SIG_DFL && chained_prev.sa_handler != SIG_IGN) {
        chained_prev.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
}

int fh_c_install_chaining_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = chaining_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, &chained_prev);
}

/* For tests/crash.rs: a vfork child that crashes (a null read), sharing
 * the parent's memory until it dies. Returns the child's wait status, or
 * -1 when vfork or waitpid fails. */
#include <sys/wait.h>
int fh_c_vfork_child_crashes(void) {
    pid_t p = vfork();
    if (p < 0)
        return -1;
    if (p == 0) {
        volatile int *null = (volatile int *)0x10;
        (void)*null;
        _exit(0);
    }
    int status = 0;
    if (waitpid(p, &status, 0) != p)
        return -1;
    return status;
}
