#!/usr/bin/env node
// The webhook receiver of webhooks.mjs, judged by the receiver suite (docs/receiver-contracts.md):
//   python -m mockwise.contracts.receiver --receiver-cmd "node examples/node/receiver.mjs"
import { serveReceiver } from './receiver-protocol.mjs';
import { WebhookReceiver } from './webhooks.mjs';

await serveReceiver((publicKeyPem) => new WebhookReceiver(publicKeyPem));
