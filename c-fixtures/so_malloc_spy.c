/*
 * LD_PRELOAD malloc spy for the "zero malloc in the handler" tests.
 *
 * Interposes the allocator entry points and forwards them to glibc's
 * __libc_* implementations. A call made while the calling thread runs on
 * its alternate signal stack (sigaltstack reports SS_ONSTACK), or while
 * its signal mask blocks all five crash signals (as faulthandler's fatal
 * handler's sa_mask does, on any stack) without blocking everything (as
 * helper threads do), is flagged with a marker line on fd 2, written with
 * write(2) only:
 *
 *   malloc-spy: VIOLATION malloc on the alternate signal stack
 *   malloc-spy: VIOLATION malloc with the crash signals blocked
 *
 * The constructor prints "malloc-spy: active" so a test can prove the spy
 * was loaded at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* All five crash signals blocked, but not every signal. */
static int in_crash_mask(void) {
    sigset_t cur;
    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0)
        return 0;
    static const int crash[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (unsigned i = 0; i < sizeof crash / sizeof crash[0]; i++)
        if (sigismember(&cur, crash[i]) != 1)
            return 0;
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP && sigismember(&cur, s) != 1)
            return 1;
    return 0;
}

static void check(const char *what) {
    int saved = errno;
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
        say("malloc-spy: VIOLATION ");
        say(what);
        say(" on the alternate signal stack\n");
    } else if (in_crash_mask()) {
        say("malloc-spy: VIOLATION ");
        say(what);
        say(" with the crash signals blocked\n");
    }
    errno = saved;
}

__attribute__((constructor)) static void spy_init(void) {
    say("malloc-spy: active\n");
}

void *malloc(size_t n) {
    check("malloc");
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
    check("calloc");
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
    check("realloc");
    return __libc_realloc(p, n);
}

void free(void *p) {
    check("free");
    __libc_free(p);
}

void *memalign(size_t align, size_t n) {
    check("memalign");
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n) {
    check("aligned_alloc");
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    check("posix_memalign");
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}
