// A long-lived Node client's clocks under libfaketime (tests/contracts/test_runtimes.py): one JSON
// line per command on stdin. "probe": the clocks and how long waits take; "arm": a timer of 3 s;
// "timer": whether it fired, and after how long.
import { createInterface } from 'node:readline';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const armed = { at: 0, fired: null };

for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  if (line.trim() === 'probe') {
    const started = performance.now();
    await sleep(200);
    answer = { wall: Date.now() / 1000, mono: performance.now() / 1000, wait: Math.round(performance.now() - started) };
  } else if (line.trim() === 'arm') {
    armed.at = performance.now();
    armed.fired = null;
    setTimeout(() => { armed.fired = Math.round(performance.now() - armed.at); }, 3000);
    answer = { armed: true };
  } else {
    answer = { fired: armed.fired };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
