#!/usr/bin/env node
// One bug, on purpose, for the kill matrix: the signature is checked only when there is one ("the
// test notifications from staging came unsigned"). Anyone who knows the URL can post "transfer
// sent" without a signature. The receiver suite must catch it under HOOK-SIGNED, and only there.
import { serveReceiver } from '../receiver-protocol.mjs';
import { WebhookReceiver } from '../webhooks.mjs';

class AcceptsUnsigned extends WebhookReceiver {
  verified(headers, body) {
    return headers['x-signature-sha256'] === undefined || super.verified(headers, body);
  }
}

await serveReceiver((publicKeyPem) => new AcceptsUnsigned(publicKeyPem));
