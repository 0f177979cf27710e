#!/usr/bin/env node
// The Wise integration of wise.mjs, judged by the suites:
//   mockwise contract --client-cmd "node examples/node/client.mjs"
import { serve } from './protocol.mjs';
import { WiseIntegration } from './wise.mjs';

await serve((config) => new WiseIntegration(config));
