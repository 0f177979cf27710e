// The suites' JSON-lines protocol (docs/contracts.md, contracts/protocol.schema.json), served on
// stdin/stdout for any integration with WiseIntegration's methods. Requests are answered as they
// finish, several at once; `reset` and `close` come when nothing is in flight. Logs go to stderr:
// stdout carries protocol messages only.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { outcome } from './wise.mjs';

/** The configuration the suite gives at start: the file MOCKWISE_CONFIG names. */
export function startingConfig() {
  return JSON.parse(readFileSync(process.env.MOCKWISE_CONFIG, 'utf8'));
}

const OPERATIONS = {
  partner_call: (wise) => wise.partnerCall().then((o) => ({ outcome: o })),
  create_user: (wise, m) => wise.createUser(m.user).then((o) => ({ outcome: o })),
  start_link: async (wise, m) => ({ url: wise.startLink(m.user, m.date_of_birth) }),
  finish_link: (wise, m) => Promise.resolve(wise.finishLink(m.user, m.callback_url)).then((o) => ({ outcome: o })),
  user_call: (wise, m) => Promise.resolve(wise.userCall(m.user)).then((o) => ({ outcome: o })),
  fund_transfer: (wise, m) => Promise.resolve(wise.fundTransfer(m.user)).then((o) => ({ outcome: o })),
  update_client_secret: async (wise, m) => {
    wise.updateClientSecret(m.client_secret);
    return { ok: true };
  },
};

/** Answer the protocol with `make(config)`, a new integration for each story. */
export async function serve(make) {
  let wise = make(startingConfig());
  const inFlight = new Set();
  const answer = (id, reply) => process.stdout.write(`${JSON.stringify({ id, ...reply })}\n`);
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line);
    if (message.op === 'reset' || message.op === 'close') {
      await Promise.allSettled([...inFlight]); // the story's operations have all been answered
      wise.close();
      if (message.op === 'reset') wise = make(message.config);
      answer(message.id, { ok: true });
      if (message.op === 'close') break;
      continue;
    }
    const operation = OPERATIONS[message.op];
    const work = (operation ? operation(wise, message) : Promise.resolve({ outcome: outcome('error', 'unsupported') }))
      .catch((error) => {
        console.error(`${message.op} failed:`, error); // every request gets an answer, even then
        return { outcome: outcome('error', 'exception', { exception: String(error) }) };
      })
      .then((reply) => answer(message.id, reply));
    inFlight.add(work);
    work.finally(() => inFlight.delete(work));
  }
  // Closed (or stdin ended): exit once the answer is out. An open stdin would keep Node running,
  // and the suite would wait for it to end before stopping it.
  process.stdout.write('', () => process.exit(0));
}
