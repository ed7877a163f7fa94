// The JVM rows of cli/tests/hosts.rs: `java Crash jni` crashes in native
// code (libjnicrash.so, built from jni_crash.c); `java Crash healthy` throws
// 100k NullPointerExceptions and 200 StackOverflowErrors, which HotSpot
// turns into Java exceptions from SIGSEGVs it handles itself.
public class Crash {
    static native void crash();

    static int deep(int d) {
        return deep(d + 1) + 1;
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("healthy")) {
            long n = 0;
            for (int i = 0; i < 100000; i++) {
                Object o = (i % 2 == 0) ? null : "x";
                try {
                    n += o.hashCode() & 1;
                } catch (NullPointerException e) {
                    n += 2;
                }
            }
            int so = 0;
            for (int i = 0; i < 200; i++) {
                try {
                    deep(0);
                } catch (StackOverflowError e) {
                    so++;
                }
            }
            System.out.println("healthy: " + n + " " + so);
            return;
        }
        System.loadLibrary("jnicrash");
        System.out.println("calling the native crash");
        System.out.flush();
        crash();
    }
}
