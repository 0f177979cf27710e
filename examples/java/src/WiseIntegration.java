import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A Wise integration on the JDK alone ({@code java.net.http.HttpClient}, JSSE): what a partner's
 * backend does with Wise's authentication surface, each rule with its source (docs/wise-reference.md
 * §N, or the Wise page named). It knows nothing of mockwise; {@link Protocol} drives it for the
 * suites.
 *
 * <ul>
 *   <li>client authentication with HTTP Basic and a form body, for every grant (§2.1);
 *   <li>one client-credentials token, reused until shortly before it expires, then renewed;
 *   <li>user tokens renewed shortly before they expire, one refresh at a time per customer, kept
 *       in one place so no concurrent operation uses a token a refresh replaced (user-tokens page);
 *   <li>on invalid_grant: drop the tokens; a customer created over the API gets new ones from the
 *       stored registration code, once; otherwise "re-link needed" (user-tokens page, §4);
 *   <li>bounded retries with exponential backoff, honouring Retry-After (§9); refused client
 *       credentials and the authorization code (single use, §2.4) are never retried;
 *   <li>an unguessable state, checked on the way back; the exact registered redirect_uri; the
 *       linked profile's date of birth checked against the partner's record (§3, linking page);
 *   <li>the client certificate presented and the server verified against the Wise CA, both from
 *       the PKCS#12 stores the configuration names (§6);
 *   <li>an SCA challenge (403 with x-2fa-approval) cleared through the one-time-token endpoints,
 *       and the request sent again with that token, once (§5.3).
 * </ul>
 *
 * <p>Time: token lifetimes are measured on the wall clock ({@link Instant#now()}), which the suites
 * move with the sandbox's; sleeps and timeouts run on the monotonic clock, which they leave alone.
 * The JDK's HttpClient resumes TLS sessions and retries an idempotent request once after a reset:
 * both are its right, and the suites do not count them against the integration.
 */
class WiseIntegration implements AutoCloseable {
    static final Duration RENEW_MARGIN = Duration.ofMinutes(5); // renew a token this long before it expires
    static final long TOLD_LIFETIME = 43199; // seconds, when a response gives no expiry: Wise's 12 h (§2.3)
    static final int MAX_ATTEMPTS = 4; // one try and three retries, for transient failures (§9)
    static final long FIRST_BACKOFF_MS = 50; // doubles on each retry
    static final long MAX_RETRY_AFTER_S = 10; // never wait longer than this for a Retry-After
    static final Duration TIMEOUT = Duration.ofSeconds(10);
    static final List<String> OTP_CHANNELS = List.of("SMS", "WHATSAPP", "VOICE");
    static final String SANDBOX_OTP = "111111"; // the sandbox's one-time password (§1, §5.3)

    /** The operation cannot be done; {@code kind} is what the partner's product reports. */
    static final class GiveUp extends Exception {
        private static final long serialVersionUID = 1L;
        final String kind;

        GiveUp(String kind) {
            super(kind);
            this.kind = kind;
        }
    }

    /** The customer's tokens are gone for good: they must link their account again. */
    static final class RelinkNeeded extends Exception {
        private static final long serialVersionUID = 1L;
    }

    /** The partner's token store for one customer. */
    static final class Customer {
        final String kind; // "created" (over the API) or "linked" (through the authorize page)
        final String email;
        volatile String registrationCode;
        final Long profileId;
        final ReentrantLock lock = new ReentrantLock(); // one refresh at a time
        String access;
        String refresh;
        Instant expiresAt = Instant.EPOCH;

        Customer(String kind, String email, String registrationCode, Long profileId) {
            this.kind = kind;
            this.email = email;
            this.registrationCode = registrationCode;
            this.profileId = profileId;
        }
    }

    record Response(int status, Map<String, List<String>> headers, Object body) {
        String header(String name) {
            List<String> values = headers.getOrDefault(name, List.of());
            return values.isEmpty() ? null : values.get(0);
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> json() {
            return body instanceof Map ? (Map<String, Object>) body : Map.of();
        }
    }

    record Pending(String state, String dateOfBirth) {}

    final Map<String, Object> config;
    final String base;
    final HttpClient http;
    volatile String clientSecret;
    private final ReentrantLock partnerLock = new ReentrantLock();
    private String partnerToken;
    private Instant partnerExpiresAt = Instant.EPOCH;
    final Map<String, Customer> customers = new ConcurrentHashMap<>();
    final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong transfers = new AtomicLong();
    private final SecureRandom random = new SecureRandom();

    WiseIntegration(Map<String, Object> config) throws GeneralSecurityException, IOException {
        this.config = config;
        this.clientSecret = setting("client_secret");
        String mtls = setting("mtls_api_url");
        this.base = mtls.isEmpty() ? setting("api_url") : mtls;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(TIMEOUT)
                .sslContext(tls())
                .build();
    }

    String setting(String name) {
        Object value = config.get(name);
        return value == null ? "" : value.toString();
    }

    /** Trust the Wise CA and present the client certificate, from the PKCS#12 stores as they come. */
    SSLContext tls() throws GeneralSecurityException, IOException {
        char[] password = setting("store_password").toCharArray();
        KeyManagerFactory keys = null;
        if (!setting("client_keystore").isEmpty()) {
            keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(load(setting("client_keystore"), password), password);
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(setting("trust_store").isEmpty() ? null : load(setting("trust_store"), password));
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys == null ? null : keys.getKeyManagers(), trust.getTrustManagers(), null);
        return context;
    }

    static KeyStore load(String path, char[] password) throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(Path.of(path))) {
            store.load(in, password);
        }
        return store;
    }

    @Override
    public void close() {
        // java.net.http.HttpClient has no close before JDK 21: its connections idle out
    }

    // Outcomes ---------------------------------------------------------------------------------

    static Map<String, Object> outcome(String status, String kind, Object data) {
        Map<String, Object> outcome = new LinkedHashMap<>();
        outcome.put("status", status);
        outcome.put("kind", kind);
        outcome.put("data", data);
        return outcome;
    }

    static Map<String, Object> ok(Object data) {
        return outcome("ok", null, data);
    }

    static Map<String, Object> error(String kind) {
        return outcome("error", kind, null);
    }

    interface Work {
        Map<String, Object> run() throws GiveUp, RelinkNeeded, IOException, InterruptedException;
    }

    /** A business operation's outcome: what it gave up with, or "re-link needed". */
    static Map<String, Object> guarded(Work work, Runnable onRelink) throws IOException, InterruptedException {
        try {
            return work.run();
        } catch (GiveUp giveUp) {
            return error(giveUp.kind);
        } catch (RelinkNeeded relink) {
            onRelink.run();
            return outcome("relink_needed", null, null);
        }
    }

    // Transport --------------------------------------------------------------------------------

    /** One HTTP exchange; IOException for a network failure. */
    Response exchange(String method, String path, Map<String, String> headers, String contentType, String body)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT);
        headers.forEach(request::header);
        if (contentType != null) request.header("Content-Type", contentType);
        request.method(method, body == null
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        Object parsed = null;
        if (!response.body().isEmpty()) {
            try {
                parsed = Json.parse(response.body());
            } catch (RuntimeException notJson) {
                parsed = null; // a gateway page or a broken body
            }
        }
        return new Response(response.statusCode(), response.headers().map(), parsed);
    }

    Response exchangeJson(String method, String path, Map<String, String> headers, Object json)
            throws IOException, InterruptedException {
        return json == null
                ? exchange(method, path, headers, null, null)
                : exchange(method, path, headers, "application/json", Json.write(json));
    }

    interface Exchange {
        Response run() throws IOException, InterruptedException;
    }

    /** One request with bounded, backed-off retries of transient failures (§9). */
    Response send(Exchange exchange) throws GiveUp, InterruptedException {
        long backoff = FIRST_BACKOFF_MS;
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            boolean last = attempt == MAX_ATTEMPTS;
            Response response;
            try {
                response = exchange.run();
            } catch (IOException network) {
                if (last) throw new GiveUp("network");
                Thread.sleep(backoff);
                backoff *= 2;
                continue;
            }
            if (response.status() == 429) {
                if (last) throw new GiveUp("rate_limited");
                Thread.sleep(retryAfter(response, backoff));
                backoff *= 2;
                continue;
            }
            // a gateway page or a broken body where an answer was due; a bare 403 (an SCA challenge
            // may have no body, §5.2) or 401 is an answer
            if (response.status() >= 500 || (response.status() < 300 && response.body() == null)) {
                if (last) throw new GiveUp("server_error");
                Thread.sleep(backoff);
                backoff *= 2;
                continue;
            }
            return response;
        }
        throw new IllegalStateException("unreachable");
    }

    static long retryAfter(Response response, long fallback) {
        String value = response.header("retry-after");
        if (value == null || !value.matches("\\d+")) return fallback;
        return Math.min(Long.parseLong(value), MAX_RETRY_AFTER_S) * 1000;
    }

    // The token endpoint -----------------------------------------------------------------------

    Map<String, String> basic() {
        String credentials = setting("client_id") + ":" + clientSecret;
        return Map.of("Authorization",
                "Basic " + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8)));
    }

    static String form(Map<String, String> fields) {
        List<String> pairs = new ArrayList<>();
        fields.forEach((name, value) -> pairs.add(
                URLEncoder.encode(name, StandardCharsets.UTF_8) + "=" + URLEncoder.encode(value, StandardCharsets.UTF_8)));
        return String.join("&", pairs);
    }

    /** HTTP Basic client authentication and a form body, for every grant (§2.1). */
    Response tokenRequest(Map<String, String> fields) throws GiveUp, InterruptedException {
        return send(() -> exchange("POST", "/oauth/token", basic(), "application/x-www-form-urlencoded", form(fields)));
    }

    /** Tokens, or null on invalid_grant. Refused client credentials are never retried (§2.6). */
    Map<String, Object> grant(Map<String, String> fields) throws GiveUp, InterruptedException {
        Response response = tokenRequest(fields);
        if (response.status() == 200) return response.json();
        Object error = response.json().get("error");
        if (response.status() == 401 && ("unauthorized".equals(error) || "invalid_client".equals(error))) {
            throw new GiveUp("unauthorized");
        }
        if ("invalid_grant".equals(error)) return null;
        throw new GiveUp("rejected");
    }

    /** When a token expires, on the wall clock: expires_in, else expires_at, else Wise's 12 h. */
    static Instant expiresAt(Map<String, Object> tokens) {
        Object in = tokens.get("expires_in");
        if (in instanceof Number) return Instant.now().plusMillis((long) (((Number) in).doubleValue() * 1000));
        Object at = tokens.get("expires_at");
        if (at instanceof String) {
            try {
                return Instant.parse((String) at);
            } catch (RuntimeException unreadable) {
                // fall through to the documented lifetime
            }
        }
        return Instant.now().plusSeconds(TOLD_LIFETIME);
    }

    static boolean needsRenewal(Instant expiresAt) {
        return !Instant.now().isBefore(expiresAt.minus(RENEW_MARGIN));
    }

    // The client-credentials token -------------------------------------------------------------

    /** The partner's token, reused while it lives and renewed before it expires; {@code refused}:
     * the token the API just refused, replaced (once) if it is still the current one. */
    String partnerToken(String refused) throws GiveUp, InterruptedException {
        partnerLock.lock();
        try {
            if (partnerToken == null || partnerToken.equals(refused) || needsRenewal(partnerExpiresAt)) {
                Map<String, Object> tokens = grant(Map.of("grant_type", "client_credentials"));
                if (tokens == null) throw new GiveUp("rejected");
                partnerToken = (String) tokens.get("access_token");
                partnerExpiresAt = expiresAt(tokens);
            }
            return partnerToken;
        } finally {
            partnerLock.unlock();
        }
    }

    static Map<String, String> bearer(String token) {
        return Map.of("Authorization", "Bearer " + token);
    }

    /** A call as the partner, renewing its token once if the API refuses it (revoked early). */
    Response asPartner(String method, String path, Object json) throws GiveUp, InterruptedException {
        String token = partnerToken(null);
        String used = token;
        Response response = send(() -> exchangeJson(method, path, bearer(used), json));
        if (response.status() == 401) {
            String renewed = partnerToken(token);
            response = send(() -> exchangeJson(method, path, bearer(renewed), json));
        }
        return response;
    }

    Map<String, Object> partnerCall() throws IOException, InterruptedException {
        return guarded(() -> {
            Response response = asPartner("POST", "/v1/users/exists", Map.of("email", "nobody@example.com"));
            if (response.status() == 200) return ok(response.body());
            return error(response.status() == 401 ? "unauthorized" : "rejected");
        }, () -> {});
    }

    // User creation over the API (§4) ----------------------------------------------------------

    Map<String, Object> createUser(String key, String email, String registrationCode)
            throws IOException, InterruptedException {
        return guarded(() -> {
            Map<String, Object> signup = new LinkedHashMap<>();
            signup.put("email", email);
            signup.put("registrationCode", registrationCode);
            Response response = asPartner("POST", "/v1/user/signup/registration_code", signup);
            if (response.status() != 200) return error("rejected");
            Customer customer = new Customer("created", email, registrationCode, null);
            customers.put(key, customer);
            customer.lock.lock();
            try {
                useRegistrationCode(customer);
            } finally {
                customer.lock.unlock();
            }
            return ok(response.body());
        }, () -> {});
    }

    /** Tokens from the stored registration code, which works until the customer reclaims (§4). */
    void useRegistrationCode(Customer customer) throws GiveUp, RelinkNeeded, InterruptedException {
        String code = customer.registrationCode;
        if (code == null) throw new RelinkNeeded();
        Map<String, Object> tokens = grant(Map.of(
                "grant_type", "registration_code",
                "client_id", setting("client_id"),
                "email", customer.email,
                "registration_code", code));
        if (tokens == null) {
            customer.registrationCode = null; // reclaimed: never sent again
            throw new RelinkNeeded();
        }
        store(customer, tokens);
    }

    static void store(Customer customer, Map<String, Object> tokens) {
        customer.access = (String) tokens.get("access_token");
        Object refresh = tokens.get("refresh_token");
        if (refresh instanceof String && !((String) refresh).isEmpty()) {
            customer.refresh = (String) refresh; // a refresh may not return a new one
        }
        customer.expiresAt = expiresAt(tokens);
    }

    // Linking an existing account (§3, Wise linking-accounts page) -----------------------------

    String startLink(String key, String dateOfBirth) {
        byte[] bytes = new byte[32];
        random.nextBytes(bytes);
        String state = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
        pending.put(key, new Pending(state, dateOfBirth));
        Map<String, String> query = new LinkedHashMap<>();
        query.put("client_id", setting("client_id"));
        query.put("redirect_uri", setting("redirect_uri"));
        query.put("state", state);
        return setting("authorize_url") + "?" + form(query);
    }

    /** The query of a URL, each parameter with every value it came with. */
    static Map<String, List<String>> query(String url) {
        Map<String, List<String>> query = new LinkedHashMap<>();
        String raw = URI.create(url).getRawQuery();
        if (raw == null) return query;
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) continue;
            int equals = pair.indexOf('=');
            String name = URLDecoder.decode(equals < 0 ? pair : pair.substring(0, equals), StandardCharsets.UTF_8);
            String value = equals < 0 ? "" : URLDecoder.decode(pair.substring(equals + 1), StandardCharsets.UTF_8);
            query.computeIfAbsent(name, n -> new ArrayList<>()).add(value);
        }
        return query;
    }

    /** Exactly one state came back, and it is the one issued (compared in constant time). */
    boolean stateMatches(Pending issued, List<String> returned) {
        return issued != null && returned.size() == 1 && MessageDigest.isEqual(
                issued.state().getBytes(StandardCharsets.UTF_8), returned.get(0).getBytes(StandardCharsets.UTF_8));
    }

    Map<String, Object> finishLink(String key, String callbackUrl) throws IOException, InterruptedException {
        Map<String, List<String>> query = query(callbackUrl);
        Pending issued = pending.remove(key);
        if (!stateMatches(issued, query.getOrDefault("state", List.of()))) return error("state_mismatch");
        if (query.containsKey("error") || !query.containsKey("code")) return error("rejected");
        return guarded(() -> {
            Map<String, Object> tokens = exchangeCode(query.get("code").get(0));
            if (tokens == null) return error("rejected");
            Long profileId = null;
            List<String> profile = query.get("profileId");
            if (profile != null && profile.get(0).matches("\\d+")) profileId = Long.parseLong(profile.get(0));
            Customer customer = new Customer("linked", null, null, profileId);
            store(customer, tokens);
            if (!dateOfBirthMatches(customer, issued.dateOfBirth())) return error("dob_mismatch"); // keep nothing
            customers.put(key, customer);
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("profileId", profileId);
            return ok(data);
        }, () -> {});
    }

    /** The code is exchanged once: it is single use (§2.4), so a failed exchange is not retried. */
    Map<String, Object> exchangeCode(String code) throws GiveUp, InterruptedException {
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("grant_type", "authorization_code");
        fields.put("client_id", setting("client_id"));
        fields.put("code", code);
        fields.put("redirect_uri", setting("redirect_uri"));
        Response response;
        try {
            response = exchange("POST", "/oauth/token", basic(), "application/x-www-form-urlencoded", form(fields));
        } catch (IOException network) {
            throw new GiveUp("network");
        }
        if (response.status() == 200 && response.body() != null) return response.json();
        if (response.status() == 429) throw new GiveUp("rate_limited");
        if (response.status() >= 500 || response.body() == null) throw new GiveUp("server_error");
        if (response.status() == 401) throw new GiveUp("unauthorized");
        return null;
    }

    /** After linking, the profile's date of birth against the partner's record (linking page). */
    @SuppressWarnings("unchecked")
    boolean dateOfBirthMatches(Customer customer, String expected) throws GiveUp, RelinkNeeded, InterruptedException {
        String path = customer.profileId != null ? "/v2/profiles/" + customer.profileId : "/v1/me";
        Response response = asCustomer(customer, "GET", path, Map.of(), null);
        if (response.status() != 200) throw new GiveUp("rejected");
        Map<String, Object> profile = response.json();
        if ("BUSINESS".equals(profile.get("type"))) return true; // businesses are checked by other means
        Object found = profile.get("dateOfBirth");
        if (found == null && profile.get("details") instanceof Map) {
            found = ((Map<String, Object>) profile.get("details")).get("dateOfBirth");
        }
        return expected.equals(found);
    }

    // Calls as the customer (Wise user-tokens page) --------------------------------------------

    /** Whether a customer's token is due for renewal before it is used. */
    boolean userTokenDue(Customer customer) {
        return needsRenewal(customer.expiresAt);
    }

    /** The customer's access token, renewed before it expires; one refresh at a time.
     * {@code refused}: the token the API just refused, replaced if it is still the current one. */
    String userToken(Customer customer, String refused) throws GiveUp, RelinkNeeded, InterruptedException {
        customer.lock.lock();
        try {
            if (customer.access == null || customer.access.equals(refused) || userTokenDue(customer)) {
                refresh(customer);
            }
            return customer.access;
        } finally {
            customer.lock.unlock();
        }
    }

    void refresh(Customer customer) throws GiveUp, RelinkNeeded, InterruptedException {
        Map<String, Object> tokens = null;
        if (customer.refresh != null) {
            tokens = grant(Map.of("grant_type", "refresh_token", "refresh_token", customer.refresh));
        }
        if (tokens != null) {
            store(customer, tokens);
            return;
        }
        // invalid_grant: the refresh token is dead and is never sent again (user-tokens page)
        customer.access = null;
        customer.refresh = null;
        if ("created".equals(customer.kind)) {
            useRegistrationCode(customer); // or RelinkNeeded
            return;
        }
        throw new RelinkNeeded();
    }

    /** The token a customer call went out with, and its answer. */
    record Called(String token, Response response) {}

    /** A call as the customer, refreshing once if the API refuses the token (revoked early). */
    Called callAsCustomer(Customer customer, String method, String path, Map<String, String> headers, Object json)
            throws GiveUp, RelinkNeeded, InterruptedException {
        String token = userToken(customer, null);
        Response response = send(() -> exchangeJson(method, path, with(headers, bearer(token)), json));
        if (response.status() == 401) {
            String renewed = userToken(customer, token);
            response = send(() -> exchangeJson(method, path, with(headers, bearer(renewed)), json));
            return new Called(renewed, response);
        }
        return new Called(token, response);
    }

    Response asCustomer(Customer customer, String method, String path, Map<String, String> headers, Object json)
            throws GiveUp, RelinkNeeded, InterruptedException {
        return callAsCustomer(customer, method, path, headers, json).response();
    }

    static Map<String, String> with(Map<String, String> headers, Map<String, String> more) {
        Map<String, String> all = new LinkedHashMap<>(headers);
        all.putAll(more);
        return all;
    }

    void forget(String key, Customer customer) {
        customers.remove(key, customer); // unless a new link replaced it meanwhile
    }

    Map<String, Object> userCall(String key) throws IOException, InterruptedException {
        Customer customer = customers.get(key);
        if (customer == null) return outcome("relink_needed", null, null);
        return guarded(() -> {
            Response response = asCustomer(customer, "GET", "/v1/me", Map.of(), null);
            return response.status() == 200 ? ok(response.body()) : error("rejected");
        }, () -> forget(key, customer));
    }

    // An SCA-protected action (§5) -------------------------------------------------------------

    /** Fund a transfer from the balance: answer the 403 challenge, then send it again (§5.3). */
    Map<String, Object> fundTransfer(String key) throws IOException, InterruptedException {
        Customer customer = customers.get(key);
        if (customer == null) return outcome("relink_needed", null, null);
        // any transfer id is fundable in the sandbox
        String path = "/v3/profiles/" + customer.profileId + "/transfers/" + transfers.incrementAndGet() + "/payments";
        Map<String, Object> body = Map.of("type", "BALANCE");
        return guarded(() -> {
            Called called = callAsCustomer(customer, "POST", path, Map.of(), body);
            Response response = called.response();
            String ott = response.header("x-2fa-approval");
            if (response.status() == 403 && ott != null) {
                clearChallenges(called.token(), ott);
                Map<String, String> headers = with(bearer(called.token()), Map.of("x-2fa-approval", ott));
                response = send(() -> exchangeJson("POST", path, headers, body));
            }
            if (response.status() == 201) return ok(response.body());
            return error(response.status() == 403 ? "sca_rejected" : "rejected");
        }, () -> forget(key, customer));
    }

    /** Pass each required challenge by one-time password (the sandbox's is 111111, §5.3): the
     * token is ready once none is both required and not passed. */
    @SuppressWarnings("unchecked")
    void clearChallenges(String token, String ott) throws GiveUp, InterruptedException {
        Map<String, String> headers = with(bearer(token), Map.of("One-Time-Token", ott));
        Response status = send(() -> exchangeJson("GET", "/v1/one-time-token/status", headers, null));
        if (status.status() != 200) throw new GiveUp("sca_rejected");
        Map<String, Object> properties = (Map<String, Object>) status.json().get("oneTimeTokenProperties");
        for (Object item : (List<Object>) properties.get("challenges")) {
            Map<String, Object> challenge = (Map<String, Object>) item;
            if (!Boolean.TRUE.equals(challenge.get("required")) || Boolean.TRUE.equals(challenge.get("passed"))) continue;
            String channel = (String) ((Map<String, Object>) challenge.get("primaryChallenge")).get("type");
            if (!OTP_CHANNELS.contains(channel)) throw new GiveUp("sca_rejected"); // PIN, face map, device
            String path = "/v1/one-time-token/" + channel.toLowerCase();
            send(() -> exchangeJson("POST", path + "/trigger", headers, null));
            Response verified = send(() -> exchangeJson("POST", path + "/verify", headers, Map.of("otpCode", SANDBOX_OTP)));
            if (verified.status() != 200) throw new GiveUp("sca_rejected");
        }
    }

    // Administration ---------------------------------------------------------------------------

    /** The partner deploys a rotated client secret (Developer Hub). */
    void updateClientSecret(String secret) {
        clientSecret = secret;
    }
}
