/*
 * faulthandler: crash and hang reports for native programs.
 *
 * Link with -lfaulthandler (libfaulthandler.so or libfaulthandler.a, built
 * by `cargo build --release -p faulthandler-c`; `pkg-config --cflags --libs
 * faulthandler` once faulthandler.pc is installed), or preload the shared
 * library with FAULTHANDLER=1 LD_PRELOAD=libfaulthandler.so to enable it
 * without code.
 *
 * Every function returns 0 on success, or -1 with errno set (EINVAL for a
 * bad argument); none of them can abort the process.
 */
#ifndef FAULTHANDLER_H
#define FAULTHANDLER_H

#include <stddef.h>

/* The version of this header, and of the library it came with. */
#define FAULTHANDLER_VERSION_MAJOR 0
#define FAULTHANDLER_VERSION_MINOR 2
#define FAULTHANDLER_VERSION_PATCH 0
#define FAULTHANDLER_VERSION "0.2.0"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of the library in use, as "MAJOR.MINOR.PATCH": compare it
 * with FAULTHANDLER_VERSION to catch a header and a library that differ.
 */
const char *faulthandler_version(void);

/*
 * Install the crash handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT.
 * fd < 0 writes reports to stderr; any other fd is duplicated (the caller
 * keeps its own). all_threads: nonzero shows every thread. max_frames: 1 to
 * 4096, or 0 for the default (100). Calling it again reconfigures.
 */
int faulthandler_enable(int fd, int all_threads, size_t max_frames);

/*
 * on != 0: write a crash report before the handler the program installed
 * before faulthandler_enable runs (the older order, for programs whose own
 * handler is a crash reporter that exits). 0, the default: that handler
 * runs first, and a report is written only when the fault turns out fatal
 * (it put back SIG_DFL and returned, or called abort()). Takes effect at
 * once and for every later faulthandler_enable. Returns 0.
 * FAULTHANDLER_REPORT_FIRST=1 does the same for the LD_PRELOAD drop-in.
 */
int faulthandler_set_report_first(int on);

/* Report formats, for faulthandler_set_format. */
#define FAULTHANDLER_FORMAT_TEXT 0
#define FAULTHANDLER_FORMAT_JSON 1

/*
 * Write every report from now on (crashes, dumps on a signal, on request
 * and from the watchdog) as text (FAULTHANDLER_FORMAT_TEXT, the default)
 * or as JSON lines (FAULTHANDLER_FORMAT_JSON: one JSON object per report,
 * on one line; the schema is in the crate docs, "JSON lines"). Later
 * faulthandler_enable calls keep it. EINVAL for any other value.
 */
int faulthandler_set_format(int format);

/*
 * A setting for the next faulthandler_enable(), written as its environment
 * variable would be and checked by the same validator: name is
 * "max_threads" or "FAULTHANDLER_MAX_THREADS". The settings: "file" (a
 * report file template: %p pid, %t unix time, %e executable name, %% a %;
 * used when fd < 0), "all_threads", "report_first" and "registers" ("0"
 * or "1"; registers adds the crashing thread's registers and code bytes),
 * "max_frames" (1 to 4096), "max_threads" (1 to 100000), "thread_timeout"
 * (seconds, 0.001 to 60), "write_timeout" (seconds, 0.001 to 3600). The
 * all_threads and a nonzero max_frames given to faulthandler_enable() win.
 * EINVAL for an unknown name or a bad value, which changes nothing.
 */
int faulthandler_set(const char *name, const char *value);

/* Remove the crash handlers. Returns 1 if they were enabled, else 0. */
int faulthandler_disable(void);

/* 1 if the crash handlers are installed, else 0. */
int faulthandler_is_enabled(void);

/*
 * Give the calling thread a 64 KiB alternate signal stack, so that a stack
 * overflow on it can be reported. Call it at the start of your threads.
 */
int faulthandler_install_thread_altstack(void);

/*
 * Dump every thread's stack when signal `signum` arrives, then carry on
 * (SA_RESTART: no EINTR leaks into the program). fd < 0 writes to stderr;
 * any other fd is duplicated. chain: nonzero also runs the action that was
 * installed before. Crash signals, SIGKILL and SIGSTOP are refused (EINVAL).
 */
int faulthandler_register(int signum, int fd, int all_threads, int chain);

/* Put back the previous action. Returns 1 if signum was registered, else 0. */
int faulthandler_unregister(int signum);

/* Write a "Stack dump requested" report to fd now. */
int faulthandler_dump_traceback(int fd, int all_threads);

/*
 * Arm the hang watchdog: after `timeout` seconds, write "Timeout (...)!"
 * and every thread's stack to fd (stderr if fd < 0); with `repeat`, again
 * every `timeout` until cancelled; with `exit`, then _exit(1). Arming again
 * replaces the previous timer.
 */
int faulthandler_dump_traceback_later(double timeout, int repeat, int exit, int fd);

/* Disarm the watchdog (fine when it is not armed). */
int faulthandler_cancel_dump_traceback_later(void);

#ifdef __cplusplus
}
#endif

#endif /* FAULTHANDLER_H */
