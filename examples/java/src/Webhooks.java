import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * A partner's receiver for Wise webhooks, on the JDK alone ({@code com.sun.net.httpserver} and
 * {@code java.security}); it knows nothing of mockwise. What Wise asks of a receiver
 * (docs/wise-reference.md §8.9):
 *
 * <ol>
 *   <li>verify {@code X-Signature-SHA256} over the raw body with the sandbox's public key, before
 *       anything else, and refuse what does not verify: no signature, a wrong one, only v1's
 *       {@code X-Signature}, one made with another key (production's, say) (§8.4);
 *   <li>answer at once (2xx within 5 seconds) and act afterwards, in a worker thread (§8.5);
 *   <li>act once per event, however often it is delivered: by what the event says, not by
 *       {@code X-Delivery-Id}, which may name each attempt (§8.4);
 *   <li>not act on test notifications ({@code X-Test-Notification: true}) as real data (§8.8);
 *   <li>keep each transfer's newest state by {@code occurred_at}: an older event arriving late
 *       changes nothing (§8.2).
 * </ol>
 */
class Webhooks {
    private static final int MAX_BODY = 1024 * 1024; // Wise's notifications are a few hundred bytes

    /** A transfer as the partner's records have it. */
    record Known(Instant at, String state) {}

    private final PublicKey publicKey;
    private final Map<Long, Known> transfers = new HashMap<>();
    private final List<Map<String, Object>> notices = new ArrayList<>(); // the customer is told once each
    private final Set<String> seen = new HashSet<>(); // events already taken (their identity)
    private final ExecutorService worker = Executors.newSingleThreadExecutor(task -> {
        Thread thread = new Thread(task, "webhook-worker");
        thread.setDaemon(true);
        return thread;
    });
    private int pending; // events received and not yet acted on
    private volatile long delayMillis; // how long acting takes (a slow downstream system)

    /** {@code publicKeyPem}: the key Wise publishes for the environment (the sandbox's here). */
    Webhooks(String publicKeyPem) throws GeneralSecurityException {
        String base64 = publicKeyPem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        publicKey = KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(base64)));
    }

    /** X-Signature-SHA256 over the bytes as they came: RSA, PKCS#1 v1.5, SHA-256 (§8.4). */
    boolean verified(Map<String, String> headers, byte[] body) {
        String signature = headers.get("x-signature-sha256");
        if (signature == null) return false; // absent, or only v1's X-Signature (RSA-SHA1)
        try {
            Signature verifier = Signature.getInstance("SHA256withRSA");
            verifier.initVerify(publicKey);
            verifier.update(body);
            return verifier.verify(Base64.getDecoder().decode(signature.trim()));
        } catch (GeneralSecurityException | IllegalArgumentException refused) {
            return false;
        }
    }

    /**
     * An event's identity: its type and data (keys in order, however they were written), whichever
     * delivery (or attempt) brought it.
     */
    String identity(Map<String, Object> event, Map<String, String> headers) {
        return Json.write(Arrays.asList(event.get("event_type"), canonical(event.get("data"))));
    }

    private static Object canonical(Object value) {
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> sorted = new TreeMap<>();
            map.forEach((key, item) -> sorted.put(String.valueOf(key), canonical(item)));
            return sorted;
        }
        if (value instanceof List<?> list) return list.stream().map(Webhooks::canonical).toList();
        return value;
    }

    /**
     * One delivery ({@code headers} with lower-case names, {@code body} the raw bytes): the status
     * to answer. Quick: the work happens afterwards, in the worker.
     */
    int receive(Map<String, String> headers, byte[] body) {
        String delivery = headers.getOrDefault("x-delivery-id", "?");
        if (!verified(headers, body)) {
            say("refused " + delivery + ": the signature does not verify with the sandbox key");
            return 401;
        }
        Map<String, Object> event;
        try {
            event = Json.object(new String(body, StandardCharsets.UTF_8));
        } catch (RuntimeException notJson) {
            return 400;
        }
        if ("true".equalsIgnoreCase(headers.get("x-test-notification"))) {
            say("verified test notification " + delivery + " (" + event.get("event_type") + "): not acted on");
            return 200;
        }
        synchronized (this) {
            if (!seen.add(identity(event, headers))) {
                say("verified " + delivery + ": an event already taken, acknowledged again");
                return 200;
            }
            pending++;
        }
        worker.execute(() -> work(event));
        return 200;
    }

    private void work(Map<String, Object> event) {
        try {
            if (delayMillis > 0) Thread.sleep(delayMillis);
            act(event);
        } catch (InterruptedException stopped) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException failure) {
            say("could not act on an event: " + failure);
        } finally {
            synchronized (this) {
                pending--;
                notifyAll();
            }
        }
    }

    /** Keep the partner's copy of each transfer's state (Wise recommends it, §8.3). */
    void act(Map<String, Object> event) {
        if (!"transfers#state-change".equals(event.get("event_type"))) return;
        if (!(event.get("data") instanceof Map<?, ?> data) || !(data.get("resource") instanceof Map<?, ?> resource)) return;
        if (!(resource.get("id") instanceof Long transfer) || !(data.get("current_state") instanceof String state)) return;
        Instant at;
        try {
            at = Instant.parse(String.valueOf(data.get("occurred_at"))); // seconds (2.0.0) or milliseconds (4.0.0)
        } catch (DateTimeParseException unreadable) {
            return;
        }
        synchronized (this) {
            Known known = transfers.get(transfer);
            if (known != null && known.at().isAfter(at)) {
                say("transfer " + transfer + ": " + state + " at " + at + " is older than " + known.state() + ": ignored");
                return;
            }
            transfers.put(transfer, new Known(at, state));
            Map<String, Object> notice = new LinkedHashMap<>();
            notice.put("transfer_id", transfer);
            notice.put("state", state);
            notices.add(notice);
        }
        say("transfer " + transfer + " is now " + state);
    }

    synchronized String transferState(long transfer) {
        Known known = transfers.get(transfer);
        return known == null ? null : known.state();
    }

    synchronized List<Map<String, Object>> notices() {
        return new ArrayList<>(notices);
    }

    void processing(double seconds) {
        delayMillis = Math.round(seconds * 1000);
    }

    /** Whether everything received has been acted on, waiting up to {@code timeoutMillis}. */
    synchronized boolean idle(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000;
        while (pending > 0) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return false;
            wait(left);
        }
        return true;
    }

    void close() {
        worker.shutdownNow();
    }

    static void say(String line) {
        System.err.println(line);
    }

    /**
     * The receiver on HTTPS, every path, on {@code port} of the loopback address (0: any free
     * one), with the certificate and key of a PKCS#12 key store.
     */
    static HttpsServer listen(Webhooks receiver, String keystore, char[] password, int port)
            throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(Path.of(keystore))) {
            store.load(in, password);
        }
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(store, password);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(keys.getKeyManagers(), null, null);
        HttpsServer server = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
        server.setExecutor(Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "webhook-https");
            thread.setDaemon(true);
            return thread;
        }));
        server.createContext("/", exchange -> answer(receiver, exchange));
        server.start();
        return server;
    }

    private static void answer(Webhooks receiver, HttpExchange exchange) throws IOException {
        try (exchange) {
            int status;
            if (!"POST".equals(exchange.getRequestMethod())) {
                status = 405;
            } else {
                byte[] body = exchange.getRequestBody().readNBytes(MAX_BODY + 1); // the raw bytes
                Map<String, String> headers = new HashMap<>();
                exchange.getRequestHeaders().forEach((name, values) -> headers.put(name.toLowerCase(Locale.ROOT), values.get(0)));
                status = body.length > MAX_BODY ? 413 : receiver.receive(headers, body);
            }
            exchange.sendResponseHeaders(status, -1);
        }
    }
}
