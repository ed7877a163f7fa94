/*
 * faulthandler: crash and hang reports for native programs.
 *
 * Link with -lfaulthandler (libfaulthandler.so or libfaulthandler.a, built
 * by `cargo build --release`), or preload the shared library with
 * FAULTHANDLER=1 LD_PRELOAD=libfaulthandler.so to enable it without code.
 *
 * Every function returns 0 on success, or -1 with errno set (EINVAL for a
 * bad argument); none of them can abort the process.
 */
#ifndef FAULTHANDLER_H
#define FAULTHANDLER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Install the crash handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT.
 * fd < 0 writes reports to stderr; any other fd is duplicated (the caller
 * keeps its own). all_threads: nonzero shows every thread. max_frames: 1 to
 * 4096, or 0 for the default (100). Calling it again reconfigures.
 */
int faulthandler_enable(int fd, int all_threads, size_t max_frames);

/* Remove the crash handlers. Returns 1 if they were enabled, else 0. */
int faulthandler_disable(void);

/* 1 if the crash handlers are installed, else 0. */
int faulthandler_is_enabled(void);

/*
 * Give the calling thread a 64 KiB alternate signal stack, so that a stack
 * overflow on it can be reported. Call it at the start of your threads.
 */
int faulthandler_install_thread_altstack(void);

#ifdef __cplusplus
}
#endif

#endif /* FAULTHANDLER_H */
