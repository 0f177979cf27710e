// A partner's receiver for Wise webhooks, with Node's built-ins only (node:https, node:crypto). It
// knows nothing of mockwise. What Wise asks of a receiver (docs/wise-reference.md §8.9):
//   1. verify X-Signature-SHA256 over the raw body with the sandbox's public key, before anything
//      else, and refuse what does not verify: no signature, a wrong one, only v1's X-Signature,
//      one made with another key (production's, say) (§8.4);
//   2. answer at once (2xx within 5 seconds) and act afterwards (§8.5);
//   3. act once per event, however often it is delivered: by what the event says, not by
//      X-Delivery-Id, which may name each attempt (§8.4);
//   4. not act on test notifications (X-Test-Notification: true) as real data (§8.8);
//   5. keep each transfer's newest state by occurred_at: an older event arriving late changes
//      nothing (§8.2).
import { verify } from 'node:crypto';
import https from 'node:https';

const MAX_BODY = 1024 * 1024; // Wise's notifications are a few hundred bytes

export class WebhookReceiver {
  /** `publicKeyPem`: the key Wise publishes for the environment (the sandbox's here). */
  constructor(publicKeyPem, say = (line) => console.error(line)) {
    this.publicKey = publicKeyPem;
    this.say = say;
    this.transfers = new Map(); // transfer id -> { at (ms since the epoch), state }
    this.notices = []; // each state change taken: the customer is told once
    this.delay = 0; // milliseconds acting takes (a slow downstream system)
    this.seen = new Set(); // events already taken: their identity, not the delivery id
    this.queue = [];
    this.working = false;
    this.waiters = [];
  }

  /** The signature of X-Signature-SHA256 over the bytes as they came: RSA, PKCS#1 v1.5, SHA-256. */
  verified(headers, body) {
    const signature = headers['x-signature-sha256'];
    if (typeof signature !== 'string') return false; // absent, or only v1's X-Signature (RSA-SHA1)
    try {
      return verify('sha256', body, this.publicKey, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  /** The identity of an event: its type and data (keys in order, however they were written),
   * whichever delivery (or attempt) brought it. */
  identity(event, headers) {
    return JSON.stringify([event.event_type, canonical(event.data)]);
  }

  /** One delivery (`headers` with lower-case names, `body` the raw bytes): the status to answer.
   * Quick: the work happens afterwards, in `work()`. */
  receive(headers, body) {
    const delivery = headers['x-delivery-id'] ?? '?';
    if (!this.verified(headers, body)) {
      this.say(`refused ${delivery}: the signature does not verify with the sandbox key`);
      return 401;
    }
    let event;
    try {
      event = JSON.parse(body.toString('utf8'));
    } catch {
      return 400;
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) return 400;
    if (String(headers['x-test-notification']).toLowerCase() === 'true') {
      this.say(`verified test notification ${delivery} (${event.event_type}): not acted on`);
      return 200;
    }
    const identity = this.identity(event, headers);
    if (this.seen.has(identity)) {
      this.say(`verified ${delivery}: an event already taken, acknowledged again`);
      return 200;
    }
    this.seen.add(identity);
    this.queue.push(event);
    this.work();
    return 200;
  }

  async work() {
    if (this.working) return;
    this.working = true;
    while (this.queue.length > 0) {
      const event = this.queue[0];
      if (this.delay > 0) await new Promise((resolve) => setTimeout(resolve, this.delay));
      try {
        this.act(event);
      } catch (error) {
        this.say(`could not act on an event: ${error}`);
      }
      this.queue.shift();
    }
    this.working = false;
    for (const resolve of this.waiters.splice(0)) resolve(true);
  }

  /** Keep the partner's copy of each transfer's state (Wise recommends it, §8.3). */
  act(event) {
    if (event.event_type !== 'transfers#state-change') return;
    const data = event.data ?? {};
    const transfer = Number(data.resource?.id);
    const state = data.current_state;
    const at = Date.parse(data.occurred_at); // seconds (schema 2.0.0) or milliseconds (4.0.0)
    if (!Number.isInteger(transfer) || typeof state !== 'string' || Number.isNaN(at)) return;
    const known = this.transfers.get(transfer);
    if (known !== undefined && known.at > at) {
      this.say(`transfer ${transfer}: ${state} at ${data.occurred_at} is older than ${known.state}: ignored`);
      return;
    }
    this.transfers.set(transfer, { at, state });
    this.notices.push({ transfer_id: transfer, state });
    this.say(`transfer ${transfer} is now ${state}`);
  }

  /** Whether everything received has been acted on, waiting up to `timeoutMs`. */
  idle(timeoutMs) {
    if (!this.working && this.queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
}

/** The receiver on HTTPS (TLS 1.2+), every path; `tls` holds `cert` and `key` (PEM). Resolves to
 * the listening server once it listens on `port` (0: any free one) of 127.0.0.1. */
export function listen(receiver, tls, port = 0) {
  const server = https.createServer({ ...tls, minVersion: 'TLSv1.2' }, (request, response) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    request.on('error', () => response.destroy()); // the sender gave up: nothing to answer
    request.on('end', () => {
      const status = request.method !== 'POST' ? 405 : size > MAX_BODY ? 413 : receiver.receive(request.headers, Buffer.concat(chunks));
      response.writeHead(status, { 'content-length': '0' }).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
