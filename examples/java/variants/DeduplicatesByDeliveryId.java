import java.util.Map;

/**
 * One bug, on purpose, for the kill matrix: each X-Delivery-Id is taken once, as if it named the
 * event. Right while Wise resends a notification under the same id (its guide), wrong when each
 * attempt has an id of its own (its OAS, docs/wise-reference.md §8.4): a redelivery is acted on
 * twice. The receiver suite catches it under HOOK-ONCE, and only there.
 */
public final class DeduplicatesByDeliveryId extends Webhooks {
    DeduplicatesByDeliveryId(String publicKeyPem) throws Exception {
        super(publicKeyPem);
    }

    @Override
    String identity(Map<String, Object> event, Map<String, String> headers) {
        return headers.getOrDefault("x-delivery-id", ""); // BUG: the delivery, not the event
    }

    public static void main(String[] args) throws Exception {
        ReceiverProtocol.serve(DeduplicatesByDeliveryId::new);
    }
}
