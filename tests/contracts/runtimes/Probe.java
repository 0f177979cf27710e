import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/** A long-lived JVM client's clocks under libfaketime (tests/contracts/test_runtimes.py): one JSON
 * line per command on stdin. "probe": the clocks and how long waits take; "arm": a timer of 3 s;
 * "timer": whether it fired, and after how long. Run as a single source file: java Probe.java */
public class Probe {
    static volatile long armedAt;
    static volatile long fired = -1;

    interface Wait {
        void run() throws Exception;
    }

    static long took(Wait wait) throws Exception {
        long started = System.nanoTime();
        wait.run();
        return (System.nanoTime() - started) / 1_000_000;
    }

    public static void main(String[] args) throws Exception {
        ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        Object monitor = new Object();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String answer;
            if (line.trim().equals("probe")) {
                long sleep = took(() -> Thread.sleep(200));
                long wait = took(() -> { synchronized (monitor) { monitor.wait(200); } });
                long park = took(() -> LockSupport.parkNanos(200_000_000L));
                answer = String.format("{\"wall\": %.3f, \"millis\": %.3f, \"mono\": %.3f, \"sleep\": %d, \"wait\": %d, \"park\": %d}",
                        Instant.now().toEpochMilli() / 1000.0, System.currentTimeMillis() / 1000.0,
                        System.nanoTime() / 1e9, sleep, wait, park);
            } else if (line.trim().equals("arm")) {
                armedAt = System.nanoTime();
                fired = -1;
                timers.schedule(() -> { fired = (System.nanoTime() - armedAt) / 1_000_000; }, 3, TimeUnit.SECONDS);
                answer = "{\"armed\": true}";
            } else {
                answer = fired < 0 ? "{\"fired\": null}" : "{\"fired\": " + fired + "}";
            }
            System.out.println(answer);
            System.out.flush();
        }
        timers.shutdownNow();
    }
}
