/*
 * A C host for the cdylib: no Rust runtime init, SIGPIPE at SIG_DFL.
 *
 *   exe_c_host [PATH/libfaulthandler.so]
 *
 * With a path it dlopens the library, calls faulthandler_enable(-1, 0, 0)
 * (stderr, current thread, default max_frames) and checks
 * faulthandler_is_enabled(). Without one it is the control run. Either
 * way it prints "child: ..." lines for the test, then reads address 0x10
 * in host_crash().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) int host_crash(volatile int *p) {
    return *p + 1;
}

__attribute__((noinline)) int host_work(volatile int *p) {
    return host_crash(p) * 3;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "child: dlopen failed: %s\n", dlerror());
            return 2;
        }
        int (*enable)(int, int, size_t) =
            (int (*)(int, int, size_t))dlsym(h, "faulthandler_enable");
        int (*is_enabled)(void) = (int (*)(void))dlsym(h, "faulthandler_is_enabled");
        if (enable == NULL || is_enabled == NULL) {
            fprintf(stderr, "child: dlsym failed: %s\n", dlerror());
            return 3;
        }
        if (enable(-1, 0, 0) != 0) {
            perror("child: faulthandler_enable");
            return 4;
        }
        if (is_enabled() != 1) {
            fprintf(stderr, "child: not enabled after enable\n");
            return 5;
        }
    }
    char comm[64] = "?";
    FILE *f = fopen("/proc/thread-self/comm", "r");
    if (f != NULL) {
        if (fgets(comm, sizeof comm, f) != NULL)
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
    fprintf(stderr, "child: pid=%d uid=%d\n", (int)getpid(), (int)getuid());
    fprintf(stderr, "child: thread tid=%ld comm=%s\n", (long)syscall(SYS_gettid), comm);
    fprintf(stderr, "child: fn=host_crash addr=%p\n", (void *)host_crash);
    return host_work((volatile int *)0x10);
}
