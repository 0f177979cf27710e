/**
 * The Wise integration of {@link WiseIntegration}, judged by the suites:
 *
 * <pre>
 *   javac -d examples/java/build examples/java/src/*.java
 *   mockwise contract --client-cmd "java -cp examples/java/build Client"
 * </pre>
 */
public final class Client {
    public static void main(String[] args) throws Exception {
        Protocol.serve(WiseIntegration::new);
    }
}
