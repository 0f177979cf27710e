// The receiver suite's JSON-lines protocol (docs/receiver-contracts.md, "Receivers in other
// languages"), served on stdin/stdout for a WebhookReceiver: the receiver listens on HTTPS with the
// certificate the suite gives (from the sandbox CA, for localhost) and names that URL, so the
// sandbox delivers to it for real. Requests are answered as they finish (`idle` waits without
// holding up the others). Logs go to stderr: stdout carries protocol messages only.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { listen } from './webhooks.mjs';

/** Answer the protocol with `make(publicKeyPem)`, the receiver under judgement. */
export async function serveReceiver(make) {
  const file = (name) => readFileSync(process.env[name], 'utf8');
  const receiver = make(file('MOCKWISE_WEBHOOK_PUBLIC_KEY'));
  const server = await listen(receiver, { cert: file('MOCKWISE_SERVER_CERT'), key: file('MOCKWISE_SERVER_KEY') });
  const url = `https://localhost:${server.address().port}/wise/webhooks`;
  const answer = (id, reply) => process.stdout.write(`${JSON.stringify({ id, ...reply })}\n`);
  const OPERATIONS = {
    webhook_url: async () => ({ url }),
    // Deliveries come to the URL; a suite that hands them over instead gets the same treatment.
    webhook: async (m) => {
      const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), v]));
      return { status: receiver.receive(headers, Buffer.from(m.body, 'base64')) };
    },
    transfer_state: async (m) => ({ state: receiver.transfers.get(Number(m.transfer_id))?.state ?? null }),
    notices: async () => ({ notices: [...receiver.notices] }),
    processing: async (m) => {
      receiver.delay = Number(m.seconds) * 1000;
      return { ok: true };
    },
    idle: async (m) => ({ idle: await receiver.idle(Number(m.timeout) * 1000) }),
  };
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line);
    if (message.op === 'close') {
      answer(message.id, { ok: true });
      break;
    }
    const operation = OPERATIONS[message.op];
    (operation ? operation(message) : Promise.resolve({ error: `unknown op ${message.op}` }))
      .catch((error) => {
        console.error(`${message.op} failed:`, error); // every request gets an answer, even then
        return { error: String(error) };
      })
      .then((reply) => answer(message.id, reply));
  }
  server.close();
  process.stdout.write('', () => process.exit(0));
}
