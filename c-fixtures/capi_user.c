/* A C program that uses faulthandler through its header: enables it,
 * checks the API, then crashes (or exits, with "exit" as argv[1]). */
#include "faulthandler.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Sleep to a deadline: a dump interrupts nanosleep (the kernel never
 * restarts it), so one usleep() may return early. */
static void sleep_ms(long ms) {
    struct timespec req = {ms / 1000, (ms % 1000) * 1000000L}, rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}

__attribute__((noinline)) static int capi_crash_here(volatile int *p) { return *p; }

int main(int argc, char **argv) {
    if (faulthandler_is_enabled() != 0) { fprintf(stderr, "enabled too early\n"); return 10; }
    if (strcmp(faulthandler_version(), FAULTHANDLER_VERSION) != 0) {
        fprintf(stderr, "library %s, header %s\n", faulthandler_version(), FAULTHANDLER_VERSION);
        return 16;
    }
    /* An fd that is not open is EBADF, for every call that takes one. */
    errno = 0;
    if (faulthandler_enable(1000, 0, 0) != -1 || errno != EBADF) {
        fprintf(stderr, "enable(closed fd): errno %d\n", errno);
        return 17;
    }
    if (faulthandler_is_enabled() != 0) { fprintf(stderr, "enabled by a failed call\n"); return 18; }
    errno = 0;
    if (faulthandler_dump_traceback(9999, 1) != -1 || errno != EBADF) {
        fprintf(stderr, "dump_traceback(9999): errno %d\n", errno);
        return 19;
    }
    errno = 0;
    if (faulthandler_dump_traceback(-5, 1) != -1 || errno != EBADF) {
        fprintf(stderr, "dump_traceback(-5): errno %d\n", errno);
        return 28;
    }
    errno = 0;
    if (faulthandler_enable(-1, 1, 100000) != -1 || errno != EINVAL) {
        fprintf(stderr, "max_frames 100000 accepted (errno %d)\n", errno);
        return 11;
    }
    if (argc > 1 && strcmp(argv[1], "json") == 0) {
        errno = 0;
        if (faulthandler_set_format(7) != -1 || errno != EINVAL) return 29;
        if (faulthandler_set_format(FAULTHANDLER_FORMAT_JSON) != 0) { perror("set_format"); return 30; }
    }
    if (argc > 2 && strcmp(argv[1], "file") == 0) {
        /* The environment's settings, through the same validator. */
        errno = 0;
        if (faulthandler_set("max_threads", "0") != -1 || errno != EINVAL) return 30;
        errno = 0;
        if (faulthandler_set("nope", "1") != -1 || errno != EINVAL) return 31;
        errno = 0;
        if (faulthandler_set("signal", "USR1") != -1 || errno != EINVAL) return 32;
        errno = 0;
        if (faulthandler_set("thread_timeout", "61") != -1 || errno != EINVAL) return 33;
        errno = 0;
        if (faulthandler_set(NULL, "1") != -1 || errno != EINVAL) return 39;
        if (faulthandler_set("file", argv[2]) != 0) return 34;
        if (faulthandler_set("FAULTHANDLER_MAX_THREADS", "3") != 0) return 35;
        if (faulthandler_set("write_timeout", "1.5") != 0) return 36;
        if (faulthandler_set("thread_timeout", "0.2") != 0) return 37;
        if (faulthandler_set("report_first", "1") != 0) return 38;
    }
    if (faulthandler_enable(-1, 1, 0) != 0) { perror("faulthandler_enable"); return 12; }
    if (faulthandler_is_enabled() != 1) { fprintf(stderr, "not enabled\n"); return 13; }
    if (faulthandler_install_thread_altstack() != 0) { perror("altstack"); return 14; }
    fprintf(stderr, "capi: enabled\n");
    if (argc > 1 && strcmp(argv[1], "dumps") == 0) {
        errno = 0;
        if (faulthandler_register(SIGSEGV, -1, 1, 0) != -1 || errno != EINVAL) return 20;
        if (faulthandler_register(SIGUSR1, -1, 1, 0) != 0) { perror("register"); return 21; }
        raise(SIGUSR1);
        sleep_ms(300); /* the dumper thread writes it */
        if (faulthandler_unregister(SIGUSR1) != 1) return 22;
        if (faulthandler_unregister(SIGUSR1) != 0) return 23;
        fprintf(stderr, "capi: code dump\n");
        if (faulthandler_dump_traceback(2, 1) != 0) { perror("dump_traceback"); return 24; }
        errno = 0;
        if (faulthandler_dump_traceback_later(-1.0, 0, 0, -1) != -1 || errno != EINVAL) return 25;
        if (faulthandler_dump_traceback_later(0.1, 0, 0, -1) != 0) { perror("later"); return 26; }
        sleep_ms(400);
        if (faulthandler_cancel_dump_traceback_later() != 0) return 27;
        fprintf(stderr, "capi: dumps done\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "exit") == 0) {
        if (faulthandler_disable() != 1 || faulthandler_is_enabled() != 0) return 15;
        return 0;
    }
    return capi_crash_here((volatile int *)16);
}
