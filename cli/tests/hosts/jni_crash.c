/* The JNI crash of cli/tests/hosts.rs: a write to address 0x10. */
#include <jni.h>

JNIEXPORT void JNICALL Java_Crash_crash(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    *(volatile int *)16 = 1;
}
