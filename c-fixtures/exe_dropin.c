/* An ordinary C program that knows nothing of faulthandler, for the
 * drop-in tests: `exe_dropin segv|exit3|sleep|ok`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) static int dropin_fault(volatile int *p) { return *p; }
__attribute__((noinline)) static int dropin_work(volatile int *p) { return dropin_fault(p) + 1; }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ok";
    printf("dropin: %s\n", mode);
    fflush(stdout);
    if (strcmp(mode, "segv") == 0) return dropin_work((volatile int *)0);
    if (strcmp(mode, "exit3") == 0) return 3;
    if (strcmp(mode, "env") == 0) {
        const char *v = getenv("FAULTHANDLER_READY_FD");
        printf("dropin: FAULTHANDLER_READY_FD=%s\n", v ? v : "(unset)");
        return 0;
    }
    if (strcmp(mode, "sleep") == 0) {
        /* sleep() returns early when any handled signal arrives (the kernel
         * never restarts it), so sleep to a deadline. */
        time_t end = time(NULL) + 30;
        while (time(NULL) < end) sleep(1);
        return 0;
    }
    return 0;
}
