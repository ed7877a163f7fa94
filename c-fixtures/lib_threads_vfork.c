/* For tests/threads.rs: a thread that cannot answer a signal for a while.
 *
 * The calling thread vforks; until the child exits, the parent thread sits
 * in the kernel (vfork completion, state D) and takes no signal. The child
 * closes its copies of stdout and stderr, so that it does not hold the
 * test's pipes open, sleeps with a raw system call, and exits. */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void fh_threads_vfork_stall(unsigned ms) {
    pid_t p = vfork();
    if (p == 0) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        syscall(SYS_close, 1);
        syscall(SYS_close, 2);
        syscall(SYS_nanosleep, &ts, (void *)0);
        _exit(0);
    }
}
