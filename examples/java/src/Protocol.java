import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The suites' JSON-lines protocol (docs/contracts.md, contracts/protocol.schema.json), served on
 * stdin/stdout for a {@link WiseIntegration}. Requests are answered as they finish, several at once;
 * {@code reset} and {@code close} come when nothing is in flight. Logs go to stderr: stdout carries
 * protocol messages only.
 */
final class Protocol {
    interface Maker {
        WiseIntegration make(Map<String, Object> config) throws Exception;
    }

    private final PrintStream out;
    private final ExecutorService workers = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "wise-operation");
        thread.setDaemon(true);
        return thread;
    });

    private Protocol(PrintStream out) {
        this.out = out;
    }

    /** Answer the protocol with {@code maker}, a new integration for each story. */
    static void serve(Maker maker) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        System.setOut(System.err); // nothing but protocol messages on stdout, whatever prints
        new Protocol(out).run(maker);
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

    private void run(Maker maker) throws Exception {
        String configFile = System.getenv("MOCKWISE_CONFIG");
        WiseIntegration wise = maker.make(Json.object(Files.readString(Path.of(configFile))));
        List<Future<?>> inFlight = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.isBlank()) continue;
            Map<String, Object> message = Json.object(line);
            Object id = message.get("id");
            String op = (String) message.get("op");
            if ("reset".equals(op) || "close".equals(op)) {
                for (Future<?> running : inFlight) running.get(); // the story's operations are answered
                inFlight.clear();
                wise.close();
                if ("reset".equals(op)) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> config = (Map<String, Object>) message.get("config");
                    wise = maker.make(config);
                }
                answer(id, Map.of("ok", true));
                if ("close".equals(op)) break;
                continue;
            }
            WiseIntegration current = wise;
            inFlight.removeIf(Future::isDone);
            inFlight.add(workers.submit(() -> answer(id, perform(current, op, message))));
        }
        workers.shutdownNow();
    }

    /** One operation; every request gets an answer, even when the integration fails. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> perform(WiseIntegration wise, String op, Map<String, Object> message) {
        try {
            switch (op) {
                case "partner_call":
                    return Map.of("outcome", wise.partnerCall());
                case "create_user": {
                    Map<String, Object> user = (Map<String, Object>) message.get("user");
                    return Map.of("outcome", wise.createUser(
                            (String) user.get("key"), (String) user.get("email"), (String) user.get("registration_code")));
                }
                case "start_link":
                    return Map.of("url", wise.startLink((String) message.get("user"), (String) message.get("date_of_birth")));
                case "finish_link":
                    return Map.of("outcome", wise.finishLink((String) message.get("user"), (String) message.get("callback_url")));
                case "user_call":
                    return Map.of("outcome", wise.userCall((String) message.get("user")));
                case "fund_transfer":
                    return Map.of("outcome", wise.fundTransfer((String) message.get("user")));
                case "update_client_secret":
                    wise.updateClientSecret((String) message.get("client_secret"));
                    return Map.of("ok", true);
                default:
                    return Map.of("outcome", WiseIntegration.error("unsupported"));
            }
        } catch (Exception failure) {
            System.err.println(op + " failed: " + failure);
            failure.printStackTrace(System.err);
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("exception", failure.toString());
            return Map.of("outcome", WiseIntegration.outcome("error", "exception", data));
        }
    }
}
