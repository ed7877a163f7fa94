/* The ASan row of cli/tests/hosts.rs: a heap overflow (ASan's report and
 * exit 1), or with "segv" a write to 0x10 (ASan's SEGV report). */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "segv") == 0) {
        *(volatile int *)16 = 1;
        return 0;
    }
    char *p = malloc(8);
    p[8 + (argc > 5)] = 1;
    free(p);
    return 0;
}
