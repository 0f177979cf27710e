import com.sun.net.httpserver.HttpsServer;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The receiver suite's JSON-lines protocol (docs/receiver-contracts.md, "Receivers in other
 * languages"), served on stdin/stdout for a {@link Webhooks} receiver: it listens on HTTPS with the
 * key store the suite gives (a certificate from the sandbox CA, for localhost) and names that URL,
 * so the sandbox delivers to it for real. Requests are answered as they finish ({@code idle} waits
 * without holding up the others). Logs go to stderr: stdout carries protocol messages only.
 */
final class ReceiverProtocol {
    interface Maker {
        Webhooks make(String publicKeyPem) throws Exception;
    }

    private final PrintStream out;
    private final Webhooks receiver;
    private final String url;

    private ReceiverProtocol(PrintStream out, Webhooks receiver, String url) {
        this.out = out;
        this.receiver = receiver;
        this.url = url;
    }

    /** Answer the protocol with {@code maker}'s receiver. */
    static void serve(Maker maker) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        System.setOut(System.err); // nothing but protocol messages on stdout, whatever prints
        Webhooks receiver = maker.make(Files.readString(Path.of(System.getenv("MOCKWISE_WEBHOOK_PUBLIC_KEY"))));
        char[] password = System.getenv("MOCKWISE_STORE_PASSWORD").toCharArray();
        HttpsServer server = Webhooks.listen(receiver, System.getenv("MOCKWISE_SERVER_KEYSTORE"), password, 0);
        String url = "https://localhost:" + server.getAddress().getPort() + "/wise/webhooks";
        warmUp(url, System.getenv("MOCKWISE_CA_CERT"));
        new ReceiverProtocol(out, receiver, url).run();
        server.stop(0);
        receiver.close();
        System.exit(0); // the HTTPS server's dispatcher thread would keep the JVM alive
    }

    /**
     * One request to itself before the suite's first: a cold JVM's first TLS handshake and first
     * signature check take a good part of a second on a busy machine, which a receiver in service
     * pays once when it starts, not on a notification (the suite's timeout is 1 s). The request is
     * refused (its signature is no signature): nothing is acted on.
     */
    private static void warmUp(String url, String caFile) {
        try {
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            try (InputStream in = Files.newInputStream(Path.of(caFile))) {
                int n = 0;
                for (Certificate ca : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    trusted.setCertificateEntry("ca" + n++, ca);
                }
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(trusted);
            SSLContext tls = SSLContext.getInstance("TLS");
            tls.init(null, trust.getTrustManagers(), null);
            HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                    .header("X-Delivery-Id", "warm-up")
                    .header("X-Signature-SHA256", Base64.getEncoder().encodeToString(new byte[256]))
                    .POST(HttpRequest.BodyPublishers.ofString("{}"))
                    .build();
            HttpClient.newBuilder().sslContext(tls).build().send(request, HttpResponse.BodyHandlers.discarding());
        } catch (Exception failure) { // only slower: the receiver works without it
            System.err.println("warm-up failed: " + failure);
        }
    }

    private void answer(Object id, Map<String, Object> reply) {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("id", id);
        message.putAll(reply);
        String line = Json.write(message);
        synchronized (out) {
            out.print(line + "\n");
            out.flush();
        }
    }

    private void run() throws Exception {
        ExecutorService workers = Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "receiver-operation");
            thread.setDaemon(true);
            return thread;
        });
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.isBlank()) continue;
            Map<String, Object> message = Json.object(line);
            Object id = message.get("id");
            if ("close".equals(message.get("op"))) {
                answer(id, Map.of("ok", true));
                break;
            }
            workers.execute(() -> answer(id, perform(message)));
        }
        workers.shutdownNow();
    }

    /** One operation; every request gets an answer, even when it fails. */
    private Map<String, Object> perform(Map<String, Object> message) {
        String op = String.valueOf(message.get("op"));
        Map<String, Object> reply = new HashMap<>();
        try {
            switch (op) {
                case "webhook_url" -> reply.put("url", url);
                case "webhook" -> { // deliveries come to the URL; a suite that hands them over gets the same
                    Map<String, String> headers = new HashMap<>();
                    ((Map<?, ?>) message.get("headers")).forEach((k, v) -> headers.put(String.valueOf(k).toLowerCase(Locale.ROOT), String.valueOf(v)));
                    reply.put("status", receiver.receive(headers, Base64.getDecoder().decode((String) message.get("body"))));
                }
                case "transfer_state" -> reply.put("state", receiver.transferState(((Number) message.get("transfer_id")).longValue()));
                case "notices" -> reply.put("notices", receiver.notices());
                case "processing" -> {
                    receiver.processing(((Number) message.get("seconds")).doubleValue());
                    reply.put("ok", true);
                }
                case "idle" -> reply.put("idle", receiver.idle(Math.round(((Number) message.get("timeout")).doubleValue() * 1000)));
                default -> reply.put("error", "unknown op " + op);
            }
        } catch (Exception failure) {
            System.err.println(op + " failed: " + failure);
            reply.put("error", failure.toString());
        }
        return reply;
    }
}
