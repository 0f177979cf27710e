/**
 * The webhook receiver of {@link Webhooks}, judged by the receiver suite:
 *
 * <pre>
 *   javac -d examples/java/build examples/java/src/*.java
 *   python -m mockwise.contracts.receiver --receiver-cmd "java -cp examples/java/build Receiver"
 * </pre>
 */
public final class Receiver {
    public static void main(String[] args) throws Exception {
        ReceiverProtocol.serve(Webhooks::new);
    }
}
