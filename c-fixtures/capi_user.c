/* A C program that uses faulthandler through its header: enables it,
 * checks the API, then crashes (or exits, with "exit" as argv[1]). */
#include "faulthandler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static int capi_crash_here(volatile int *p) { return *p; }

int main(int argc, char **argv) {
    if (faulthandler_is_enabled() != 0) { fprintf(stderr, "enabled too early\n"); return 10; }
    errno = 0;
    if (faulthandler_enable(-1, 1, 100000) != -1 || errno != EINVAL) {
        fprintf(stderr, "max_frames 100000 accepted (errno %d)\n", errno);
        return 11;
    }
    if (faulthandler_enable(-1, 1, 0) != 0) { perror("faulthandler_enable"); return 12; }
    if (faulthandler_is_enabled() != 1) { fprintf(stderr, "not enabled\n"); return 13; }
    if (faulthandler_install_thread_altstack() != 0) { perror("altstack"); return 14; }
    fprintf(stderr, "capi: enabled\n");
    if (argc > 1 && strcmp(argv[1], "exit") == 0) {
        if (faulthandler_disable() != 1 || faulthandler_is_enabled() != 0) return 15;
        return 0;
    }
    return capi_crash_here((volatile int *)16);
}
