/* Installs its dump handler (SIGUSR1) only 1 s after it starts, like a
 * service that initialises first: the window in which a dump request would
 * kill it. Then waits up to 10 s, printing nothing more itself. */
#include "faulthandler.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    sleep(1);
    if (faulthandler_register(SIGUSR1, -1, 1, 0) != 0) {
        perror("faulthandler_register");
        return 1;
    }
    fprintf(stderr, "late: registered\n");
    /* Dumps interrupt sleeps (never restarted), so sleep to a deadline. */
    time_t end = time(NULL) + 10;
    while (time(NULL) < end) usleep(100 * 1000);
    return 0;
}
