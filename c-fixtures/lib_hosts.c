/*
 * C "hosts" that own SIGSEGV, for cli/tests/hosts.rs: one handler whose
 * behaviour is chosen at install time, standing in for the JVM, a garbage
 * collector that uses mprotect, a crash reporter that resets SIG_DFL, one
 * that _exits, one that siglongjmps, one that aborts, and so on.
 *
 * The handler prints one line per signal it sees (unless told to stay
 * quiet) with what the kernel gave it and the signal mask it runs with, so
 * that the test can compare those lines with the same run without
 * faulthandler: they must be identical.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum {
    FH_HOST_FIX_PAGE = 1,     /* mprotect the faulting page RW and return */
    FH_HOST_RESET_RETURN = 2, /* a crash reporter: SIG_DFL, return */
    FH_HOST_EXIT = 3,         /* _exit(FH_HOST_EXIT_CODE) */
    FH_HOST_LONGJMP = 4,      /* siglongjmp out once, then as RESET_RETURN */
    FH_HOST_ABORT = 5,        /* abort() */
    FH_HOST_LOOP = 6,         /* return without fixing; _exit after 100 */
    FH_HOST_RESETHAND = 7,    /* SA_RESETHAND, return */
    FH_HOST_RETURN = 8,       /* just return (sent signals) */
};

#define FH_HOST_EXIT_CODE 47
#define FH_HOST_LOOP_EXIT_CODE 46

static int host_mode;
static int host_chain;
static int host_quiet;
static struct sigaction host_prev;
static char *host_page;
static volatile int host_fixed;
static volatile int host_loops;
static sigjmp_buf host_env;
static volatile int host_jmp_armed;

static void put(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_num(const char *key, unsigned long v, int base) {
    char buf[40];
    char *p = buf + sizeof buf;
    *--p = '\0';
    do {
        *--p = "0123456789abcdef"[v % (unsigned)base];
        v /= (unsigned)base;
    } while (v != 0);
    if (base == 16) {
        *--p = 'x';
        *--p = '0';
    }
    put(key);
    put(p);
}

static void describe(int sig, siginfo_t *si) {
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    put_num("host: caught sig=", (unsigned long)sig, 10);
    put_num(" code=", (unsigned long)(long)si->si_code, 10);
    if (si->si_code > 0) {
        uintptr_t a = (uintptr_t)si->si_addr;
        if (host_page != NULL && a >= (uintptr_t)host_page && a < (uintptr_t)host_page + 4096)
            put_num(" page+", (unsigned long)(a - (uintptr_t)host_page), 16);
        else
            put_num(" addr=", (unsigned long)a, 16);
    }
    put_num(" segv_blocked=", (unsigned long)sigismember(&now, SIGSEGV), 10);
    put_num(" usr2_blocked=", (unsigned long)sigismember(&now, SIGUSR2), 10);
    put_num(" abrt_blocked=", (unsigned long)sigismember(&now, SIGABRT), 10);
    put_num(" usr1_blocked=", (unsigned long)sigismember(&now, SIGUSR1), 10);
    put("\n");
}

/* Not ours: hand it to the action from before (a well-behaved host), or
 * put back SIG_DFL and return so that the fault fires again. */
static void foreign(int sig, siginfo_t *si, void *uc) {
    if (host_chain) {
        if (host_prev.sa_flags & SA_SIGINFO) {
            if ((void *)host_prev.sa_sigaction != (void *)SIG_DFL &&
                (void *)host_prev.sa_sigaction != (void *)SIG_IGN) {
                host_prev.sa_sigaction(sig, si, uc);
                return;
            }
        } else if (host_prev.sa_handler != SIG_DFL && host_prev.sa_handler != SIG_IGN) {
            host_prev.sa_handler(sig);
            return;
        }
    }
    signal(sig, SIG_DFL);
}

static void host_handler(int sig, siginfo_t *si, void *uc) {
    if (!host_quiet)
        describe(sig, si);
    switch (host_mode) {
    case FH_HOST_FIX_PAGE: {
        uintptr_t a = (uintptr_t)si->si_addr;
        if (si->si_code > 0 && host_page != NULL && a >= (uintptr_t)host_page &&
            a < (uintptr_t)host_page + 4096) {
            mprotect(host_page, 4096, PROT_READ | PROT_WRITE);
            host_fixed++;
            return;
        }
        foreign(sig, si, uc);
        return;
    }
    case FH_HOST_RESET_RETURN:
        foreign(sig, si, uc);
        return;
    case FH_HOST_EXIT:
        _exit(FH_HOST_EXIT_CODE);
    case FH_HOST_LONGJMP:
        if (host_jmp_armed) {
            host_jmp_armed = 0;
            siglongjmp(host_env, 1);
        }
        foreign(sig, si, uc);
        return;
    case FH_HOST_ABORT:
        abort();
    case FH_HOST_LOOP:
        if (++host_loops >= 100) {
            put("host: gave up after 100 faults\n");
            _exit(FH_HOST_LOOP_EXIT_CODE);
        }
        return;
    case FH_HOST_RESETHAND:
    case FH_HOST_RETURN:
    default:
        return;
    }
}

/* Install the host's SIGSEGV handler (SA_SIGINFO, SIGUSR2 in its sa_mask).
 * chain: hand faults that are not its own to the action it replaced. */
int fh_host_install(int mode, int chain) {
    host_mode = mode;
    host_chain = chain;
    host_quiet = mode == FH_HOST_LOOP;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = host_handler;
    sa.sa_flags = SA_SIGINFO | (mode == FH_HOST_RESETHAND ? SA_RESETHAND : 0);
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    return sigaction(SIGSEGV, &sa, &host_prev);
}

/* n writes to a page that is made inaccessible before each: n faults the
 * host fixes. Returns how many it fixed. */
int fh_host_mprotect_faults(int n) {
    if (host_page == NULL) {
        void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        host_page = p;
    }
    host_fixed = 0;
    for (int i = 0; i < n; i++) {
        mprotect(host_page, 4096, PROT_NONE);
        ((volatile char *)host_page)[(i * 64) % 4096] = (char)i;
    }
    return host_fixed;
}

/* The same, quiet, for the bench: n faults fixed by the host. */
int fh_host_mprotect_faults_quiet(int n) {
    host_quiet = 1;
    int r = fh_host_mprotect_faults(n);
    host_quiet = 0;
    return r;
}

__attribute__((noinline)) void fh_host_null_deref(void) {
    *(volatile int *)0x10 = 1;
}

/* A fault the host recovers from with siglongjmp. Returns 1 once back. */
int fh_host_longjmp_fault(void) {
    if (sigsetjmp(host_env, 1) == 0) {
        host_jmp_armed = 1;
        fh_host_null_deref();
        return 0;
    }
    return 1;
}

__attribute__((noinline)) static int recurse(int n) {
    volatile char pad[256];
    pad[0] = (char)n;
    return recurse(n + 1) + pad[0];
}

static void *overflow_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)recurse(0);
}

/* A stack overflow on a thread created by C (pthread_create). */
void fh_host_overflow_on_c_thread(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, overflow_thread, NULL) == 0)
        pthread_join(t, NULL);
}

static void usr2_handler(int sig) {
    (void)sig;
    put("host: its own SIGUSR2 handler ran\n");
}

/* The program's own handler for SIGUSR2 (signal(3)), then SIGUSR2 sent to
 * itself. */
int fh_host_usr2(void) {
    if (signal(SIGUSR2, usr2_handler) == SIG_ERR)
        return -1;
    return raise(SIGUSR2);
}

/* A vfork child that makes n faults the host fixes, then one it gives up
 * on (a null write: SIG_DFL, and the child dies of it), all while it
 * shares the parent's memory. Returns the child's wait status, or -1
 * when vfork or waitpid fails. */
#include <sys/wait.h>
int fh_host_vfork_child_faults(int n) {
    if (fh_host_mprotect_faults(0) != 0)
        return -1;
    pid_t p = vfork();
    if (p < 0)
        return -1;
    if (p == 0) {
        if (fh_host_mprotect_faults(n) == n)
            fh_host_null_deref();
        _exit(1);
    }
    int status = 0;
    if (waitpid(p, &status, 0) != p)
        return -1;
    return status;
}
