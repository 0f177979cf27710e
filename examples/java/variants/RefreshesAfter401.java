import java.util.Map;

/**
 * One bug, on purpose, for the kill matrix: a customer's token is refreshed only once the API
 * refuses it, never before it expires (a common shortcut: "the 401 tells us"). The suites catch it
 * under USER-NO-EXPIRED, and only there, which they can only do because libfaketime moves this
 * JVM's wall clock with the sandbox's.
 */
public final class RefreshesAfter401 extends WiseIntegration {
    RefreshesAfter401(Map<String, Object> config) throws Exception {
        super(config);
    }

    @Override
    boolean userTokenDue(Customer customer) {
        return false; // BUG: the expiry it was told is ignored
    }

    public static void main(String[] args) throws Exception {
        Protocol.serve(RefreshesAfter401::new);
    }
}
