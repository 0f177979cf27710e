// A Wise integration on Node's built-ins only (node:https, node:crypto): what a partner's backend
// does with Wise's authentication surface, each rule with its source (docs/wise-reference.md §N,
// or the Wise page named). It knows nothing of mockwise; protocol.mjs drives it for the suites.
//
// - client authentication with HTTP Basic and a form body, for every grant (§2.1);
// - one client-credentials token, reused until shortly before it expires, then renewed;
// - user tokens renewed shortly before they expire, one refresh at a time per customer, kept in one
//   place so no concurrent operation uses a token a refresh replaced (Wise user-tokens page);
// - on invalid_grant: drop the tokens; a customer created over the API gets new ones from the
//   stored registration code, once; otherwise "re-link needed" (Wise user-tokens page, §4);
// - bounded retries with exponential backoff, honouring Retry-After (§9); refused client
//   credentials and the authorization code are never retried (§2.4: a code is single use);
// - an unguessable state, checked on the way back; the exact registered redirect_uri; the linked
//   profile's date of birth checked against the partner's record (§3, Wise linking-accounts page);
// - the client certificate presented, the server's certificate verified against the Wise CA (§6);
// - an SCA challenge (403 with x-2fa-approval) cleared through the one-time-token endpoints, and
//   the request sent again with that token, once (§5.3).
//
// Time: token lifetimes are measured on the wall clock (Date.now()), which the suites move with
// the sandbox's; timers and socket timeouts run on the monotonic clock, which they leave alone.

import https from 'node:https';
import { readFileSync } from 'node:fs';
import { randomBytes, timingSafeEqual } from 'node:crypto';

const RENEW_MARGIN_MS = 5 * 60 * 1000; // renew a token this long before it expires
const TOLD_LIFETIME_S = 43199; // when a token response gives no expiry: Wise's documented 12 h (§2.3)
const MAX_ATTEMPTS = 4; // one try and three retries, for transient failures (§9)
const FIRST_BACKOFF_MS = 50; // doubles on each retry
const MAX_RETRY_AFTER_S = 10; // never wait longer than this for a Retry-After
const TIMEOUT_MS = 10_000; // one HTTP exchange
const OTP_CHANNELS = new Set(['SMS', 'WHATSAPP', 'VOICE']); // challenges passed with a one-time password
const SANDBOX_OTP = '111111'; // the sandbox's one-time password (§1, §5.3)

/** The operation cannot be done; `kind` is what the partner's product reports. */
export class GiveUp extends Error {
  constructor(kind) {
    super(kind);
    this.kind = kind;
  }
}

/** The customer's tokens are gone for good: they must link their account again. */
export class RelinkNeeded extends Error {}

/** One holder at a time, in the order they asked: a customer's token store under concurrency. */
class Mutex {
  #tail = Promise.resolve();

  run(work) {
    const turn = this.#tail.then(() => work());
    this.#tail = turn.catch(() => {});
    return turn;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const outcome = (status, kind = null, data = null) => ({ status, kind, data });

export class WiseIntegration {
  constructor(config) {
    this.config = config;
    this.clientSecret = config.client_secret;
    this.base = new URL(config.mtls_api_url || config.api_url);
    // Keep-alive, and Node's default TLS session cache: connections resume sessions, as Wise's
    // real hosts allow; a man in the middle cannot resume what he never had the keys of.
    this.agent = new https.Agent({ keepAlive: true, ...this.tlsOptions() });
    this.partner = null; // { token, expiresAt }
    this.partnerLock = new Mutex();
    this.customers = new Map(); // the partner's customer key -> record
    this.pending = new Map(); // customer key -> { state, dateOfBirth }
    this.transfers = 0;
  }

  /** Trust the Wise CA ("Get Wise certificate") and present the client certificate (§6). */
  tlsOptions() {
    const { ca_cert: ca, client_cert: cert, client_key: key } = this.config;
    return {
      ...(ca ? { ca: readFileSync(ca) } : {}),
      ...(cert ? { cert: readFileSync(cert), key: readFileSync(key) } : {}),
    };
  }

  close() {
    this.agent.destroy();
  }

  // Transport ----------------------------------------------------------------------------------

  /** One HTTP exchange: { status, headers, body } (body: the parsed JSON, or undefined). */
  exchange(method, path, { headers = {}, json, form } = {}) {
    let payload;
    if (form) {
      payload = new URLSearchParams(form).toString();
      headers = { ...headers, 'content-type': 'application/x-www-form-urlencoded' };
    } else if (json !== undefined) {
      payload = JSON.stringify(json);
      headers = { ...headers, 'content-type': 'application/json' };
    }
    if (payload !== undefined) headers['content-length'] = Buffer.byteLength(payload);
    return new Promise((resolve, reject) => {
      const request = https.request(new URL(path, this.base), { method, headers, agent: this.agent }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = undefined; // a gateway page or a broken body
          }
          resolve({ status: response.statusCode, headers: response.headers, body, text });
        });
      });
      request.setTimeout(TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** One request with bounded, backed-off retries of transient failures (§9). */
  async send(method, path, options = {}) {
    let backoff = FIRST_BACKOFF_MS;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const last = attempt === MAX_ATTEMPTS;
      let response;
      try {
        response = await this.exchange(method, path, options);
      } catch {
        if (last) throw new GiveUp('network');
        await sleep(backoff);
        backoff *= 2;
        continue;
      }
      if (response.status === 429) {
        if (last) throw new GiveUp('rate_limited');
        await sleep(retryAfter(response, backoff));
        backoff *= 2;
        continue;
      }
      // a gateway page or a broken body where an answer was due; a bare 403 (an SCA challenge may
      // have no body, §5.2) or 401 is an answer
      if (response.status >= 500 || (response.status < 300 && response.body === undefined)) {
        if (last) throw new GiveUp('server_error');
        await sleep(backoff);
        backoff *= 2;
        continue;
      }
      return response;
    }
    throw new Error('unreachable');
  }

  // The token endpoint -------------------------------------------------------------------------

  basic() {
    const credentials = `${this.config.client_id}:${this.clientSecret}`;
    return { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
  }

  /** HTTP Basic client authentication and a form body, for every grant (§2.1). */
  tokenRequest(form) {
    return this.send('POST', '/oauth/token', { headers: this.basic(), form });
  }

  /** Tokens, or null on invalid_grant. Refused client credentials are never retried (§2.6). */
  async grant(form) {
    const response = await this.tokenRequest(form);
    if (response.status === 200) return response.body;
    const error = response.body?.error;
    if (response.status === 401 && (error === 'unauthorized' || error === 'invalid_client')) {
      throw new GiveUp('unauthorized');
    }
    if (error === 'invalid_grant') return null;
    throw new GiveUp('rejected');
  }

  /** When a token expires, on this machine's wall clock: expires_in, else expires_at, else 12 h. */
  expiresAt(tokens) {
    if (typeof tokens.expires_in === 'number') return Date.now() + tokens.expires_in * 1000;
    const at = Date.parse(tokens.expires_at ?? '');
    return Number.isNaN(at) ? Date.now() + TOLD_LIFETIME_S * 1000 : at;
  }

  needsRenewal(expiresAt) {
    return Date.now() >= expiresAt - RENEW_MARGIN_MS;
  }

  // The client-credentials token ---------------------------------------------------------------

  /** The partner's token, reused while it lives and renewed before it expires; `refused`: the
   * token the API just refused, replaced (once) if it is still the current one. */
  partnerToken(refused = null) {
    return this.partnerLock.run(async () => {
      const held = this.partner;
      if (!held || held.token === refused || this.needsRenewal(held.expiresAt)) {
        const tokens = await this.grant({ grant_type: 'client_credentials' });
        if (!tokens) throw new GiveUp('rejected');
        this.partner = { token: tokens.access_token, expiresAt: this.expiresAt(tokens) };
      }
      return this.partner.token;
    });
  }

  /** A call as the partner, renewing its token once if the API refuses it (revoked early). */
  async asPartner(method, path, json) {
    let token = await this.partnerToken();
    let response = await this.send(method, path, { headers: bearer(token), json });
    if (response.status === 401) {
      token = await this.partnerToken(token);
      response = await this.send(method, path, { headers: bearer(token), json });
    }
    return response;
  }

  partnerCall() {
    return guarded(async () => {
      const response = await this.asPartner('POST', '/v1/users/exists', { email: 'nobody@example.com' });
      if (response.status === 200) return outcome('ok', null, response.body);
      return outcome('error', response.status === 401 ? 'unauthorized' : 'rejected');
    });
  }

  // User creation over the API (§4) ------------------------------------------------------------

  createUser({ key, email, registration_code: code }) {
    return guarded(async () => {
      const response = await this.asPartner('POST', '/v1/user/signup/registration_code', {
        email,
        registrationCode: code,
      });
      if (response.status !== 200) return outcome('error', 'rejected');
      const record = { kind: 'created', email, registrationCode: code, lock: new Mutex() };
      this.customers.set(key, record);
      await record.lock.run(() => this.useRegistrationCode(record));
      return outcome('ok', null, response.body);
    });
  }

  /** Tokens from the stored registration code, which works until the customer reclaims (§4). */
  async useRegistrationCode(record) {
    if (!record.registrationCode) throw new RelinkNeeded();
    const tokens = await this.grant({
      grant_type: 'registration_code',
      client_id: this.config.client_id,
      email: record.email,
      registration_code: record.registrationCode,
    });
    if (!tokens) {
      record.registrationCode = null; // reclaimed: never sent again
      throw new RelinkNeeded();
    }
    this.store(record, tokens);
  }

  store(record, tokens) {
    record.access = tokens.access_token;
    record.refresh = tokens.refresh_token || record.refresh; // a refresh may not return a new one
    record.expiresAt = this.expiresAt(tokens);
  }

  // Linking an existing account (§3, Wise linking-accounts page) --------------------------------

  startLink(key, dateOfBirth) {
    const state = randomBytes(32).toString('base64url');
    this.pending.set(key, { state, dateOfBirth });
    const query = new URLSearchParams({
      client_id: this.config.client_id,
      redirect_uri: this.config.redirect_uri,
      state,
    });
    return `${this.config.authorize_url}?${query}`;
  }

  finishLink(key, callbackUrl) {
    const query = new URL(callbackUrl).searchParams;
    const pending = this.pending.get(key);
    this.pending.delete(key);
    if (!this.stateMatches(pending, query.getAll('state'))) return outcome('error', 'state_mismatch');
    if (query.has('error') || !query.has('code')) return outcome('error', 'rejected');
    return guarded(async () => {
      const tokens = await this.exchangeCode(query.get('code'));
      if (!tokens) return outcome('error', 'rejected');
      const profileId = Number.parseInt(query.get('profileId') ?? '', 10);
      const record = { kind: 'linked', profileId: Number.isNaN(profileId) ? null : profileId, lock: new Mutex() };
      this.store(record, tokens);
      if (!(await this.dateOfBirthMatches(record, pending.dateOfBirth))) {
        return outcome('error', 'dob_mismatch'); // not our customer: keep nothing
      }
      this.customers.set(key, record);
      return outcome('ok', null, { profileId: record.profileId });
    });
  }

  /** Exactly one state came back, and it is the one issued (compared in constant time). */
  stateMatches(pending, returned) {
    if (!pending || returned.length !== 1) return false;
    const issued = Buffer.from(pending.state);
    const got = Buffer.from(returned[0]);
    return issued.length === got.length && timingSafeEqual(issued, got);
  }

  /** The code is exchanged once: it is single use (§2.4), so a failed exchange is not retried. */
  async exchangeCode(code) {
    let response;
    try {
      response = await this.exchange('POST', '/oauth/token', {
        headers: this.basic(),
        form: {
          grant_type: 'authorization_code',
          client_id: this.config.client_id,
          code,
          redirect_uri: this.config.redirect_uri,
        },
      });
    } catch {
      throw new GiveUp('network');
    }
    if (response.status === 200 && response.body !== undefined) return response.body;
    if (response.status === 429) throw new GiveUp('rate_limited');
    if (response.status >= 500 || response.body === undefined) throw new GiveUp('server_error');
    if (response.status === 401) throw new GiveUp('unauthorized');
    return null;
  }

  /** After linking, the profile's date of birth against the partner's record (linking-accounts page). */
  async dateOfBirthMatches(record, expected) {
    const path = record.profileId !== null ? `/v2/profiles/${record.profileId}` : '/v1/me';
    const response = await this.asCustomer(record, 'GET', path);
    if (response.status !== 200) throw new GiveUp('rejected');
    const profile = response.body;
    if (profile.type === 'BUSINESS') return true; // businesses are checked by other means
    return (profile.dateOfBirth ?? profile.details?.dateOfBirth) === expected;
  }

  // Calls as the customer (Wise user-tokens page) ---------------------------------------------------

  /** The customer's access token, renewed before it expires; one refresh at a time. `refused`:
   * the token the API just refused, replaced if it is still the current one. */
  userToken(record, refused = null) {
    return record.lock.run(async () => {
      if (!record.access || record.access === refused || this.needsRenewal(record.expiresAt)) {
        await this.refresh(record);
      }
      return record.access;
    });
  }

  async refresh(record) {
    const tokens = record.refresh
      ? await this.grant({ grant_type: 'refresh_token', refresh_token: record.refresh })
      : null;
    if (tokens) {
      this.store(record, tokens);
      return;
    }
    // invalid_grant: the refresh token is dead and is never sent again (Wise user-tokens page)
    record.access = record.refresh = null;
    if (record.kind === 'created') return this.useRegistrationCode(record); // or RelinkNeeded
    throw new RelinkNeeded();
  }

  /** A call as the customer, refreshing once if the API refuses the token (revoked early). */
  async asCustomer(record, method, path, headers = {}, json = undefined) {
    let token = await this.userToken(record);
    let response = await this.send(method, path, { headers: { ...headers, ...bearer(token) }, json });
    if (response.status === 401) {
      token = await this.userToken(record, token);
      response = await this.send(method, path, { headers: { ...headers, ...bearer(token) }, json });
    }
    response.token = token;
    return response;
  }

  userCall(key) {
    const record = this.customers.get(key);
    if (!record) return outcome('relink_needed');
    return guarded(async () => {
      const response = await this.asCustomer(record, 'GET', '/v1/me');
      return response.status === 200 ? outcome('ok', null, response.body) : outcome('error', 'rejected');
    }, () => this.forget(key, record));
  }

  // An SCA-protected action (§5) ---------------------------------------------------------------

  /** Fund a transfer from the balance: answer the 403 challenge, then send it again (§5.3). */
  fundTransfer(key) {
    const record = this.customers.get(key);
    if (!record) return outcome('relink_needed');
    this.transfers += 1; // any transfer id is fundable in the sandbox
    const path = `/v3/profiles/${record.profileId}/transfers/${this.transfers}/payments`;
    return guarded(async () => {
      let response = await this.asCustomer(record, 'POST', path, {}, { type: 'BALANCE' });
      const ott = response.headers['x-2fa-approval'];
      if (response.status === 403 && ott) {
        await this.clearChallenges(response.token, ott);
        const headers = { ...bearer(response.token), 'x-2fa-approval': ott };
        response = await this.send('POST', path, { headers, json: { type: 'BALANCE' } });
      }
      if (response.status === 201) return outcome('ok', null, response.body);
      return outcome('error', response.status === 403 ? 'sca_rejected' : 'rejected');
    }, () => this.forget(key, record));
  }

  /** Pass each required challenge by one-time password (the sandbox's is 111111, §5.3): the token
   * is ready once none is both required and not passed. */
  async clearChallenges(token, ott) {
    const headers = { ...bearer(token), 'one-time-token': ott };
    const status = await this.send('GET', '/v1/one-time-token/status', { headers });
    if (status.status !== 200) throw new GiveUp('sca_rejected');
    for (const challenge of status.body.oneTimeTokenProperties.challenges) {
      if (!challenge.required || challenge.passed) continue;
      const channel = challenge.primaryChallenge.type;
      if (!OTP_CHANNELS.has(channel)) throw new GiveUp('sca_rejected'); // PIN, face map, device: not here
      const base = `/v1/one-time-token/${channel.toLowerCase()}`;
      await this.send('POST', `${base}/trigger`, { headers });
      const verified = await this.send('POST', `${base}/verify`, { headers, json: { otpCode: SANDBOX_OTP } });
      if (verified.status !== 200) throw new GiveUp('sca_rejected');
    }
  }

  // Administration -----------------------------------------------------------------------------

  /** The partner deploys a rotated client secret (Developer Hub). */
  updateClientSecret(secret) {
    this.clientSecret = secret;
  }

  /** Drop a customer whose tokens are gone (unless a new link replaced the record meanwhile). */
  forget(key, record) {
    if (this.customers.get(key) === record) this.customers.delete(key);
  }
}

/** A business operation's outcome: what it gave up with (GiveUp), or "re-link needed". */
async function guarded(work, onRelink = () => {}) {
  try {
    return await work();
  } catch (error) {
    if (error instanceof GiveUp) return outcome('error', error.kind);
    if (error instanceof RelinkNeeded) {
      onRelink();
      return outcome('relink_needed');
    }
    throw error;
  }
}

function bearer(token) {
  return { authorization: `Bearer ${token}` };
}

function retryAfter(response, fallback) {
  const value = response.headers['retry-after'] ?? '';
  return /^\d+$/.test(value) ? Math.min(Number(value), MAX_RETRY_AFTER_S) * 1000 : fallback;
}
