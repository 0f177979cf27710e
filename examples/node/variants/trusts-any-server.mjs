#!/usr/bin/env node
// One bug, on purpose, for the kill matrix: the commonest mistake of Node integrations, turning
// certificate checks off ("it failed on my machine's proxy"). The suites must catch it under
// VERIFY-SERVER, and only there.
import { serve } from '../protocol.mjs';
import { WiseIntegration } from '../wise.mjs';

class TrustsAnyServer extends WiseIntegration {
  tlsOptions() {
    return { ...super.tlsOptions(), rejectUnauthorized: false };
  }
}

await serve((config) => new TrustsAnyServer(config));
