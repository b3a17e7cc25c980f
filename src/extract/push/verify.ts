/**
 * Webhook signature verification for pushed records: Standard Webhooks (spec v1.0.0), GitHub, Stripe, a generic
 * HMAC-SHA256 header, or none, behaving as each sender's own reference library does.
 *
 * A verifier never throws on what arrives over the wire: any malformed header or body gives `{ ok: false, reason }`,
 * a short sentence fit for a 401 body that never quotes the secret or the expected signature. Only a bad
 * configuration throws, once, in `createVerifier`. Signatures are always compared in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type VerifyScheme = 'standard-webhooks' | 'github' | 'stripe' | 'hmac-sha256' | 'none';

export interface VerifyOptions {
  scheme: VerifyScheme;
  /** required for every scheme except 'none' */
  secret?: string;
  /** hmac-sha256 only: the header carrying the signature (default 'x-signature'); compare case-insensitively */
  header?: string;
  /** hmac-sha256 only: 'hex' (default) or 'base64' */
  encoding?: 'hex' | 'base64';
  /** hmac-sha256 only: a prefix the header value carries before the digest, e.g. 'sha256=' (default '') */
  prefix?: string;
  /** standard-webhooks and stripe: allowed clock skew in seconds (default 300) */
  toleranceSeconds?: number;
}

/** Node's IncomingHttpHeaders shape: lowercase names. */
export type WebhookHeaders = Record<string, string | string[] | undefined>;

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export type Verifier = (headers: WebhookHeaders, rawBody: Buffer, nowSeconds?: number) => VerifyResult;

type Failure = { ok: false; reason: string };

const OK: VerifyResult = { ok: true };
const NO_MATCH: Failure = { ok: false, reason: 'no signature matches' };
const DEFAULT_TOLERANCE = 300;
const WHSEC = 'whsec_';
/** Unix seconds as decimal digits; 15 digits keeps the value a safe integer. */
const UNIX_SECONDS = /^\d{1,15}$/;
/** Standard base64, padding optional (the alphabet the spec's secrets use). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/**
 * A verifier for one endpoint. Throws an Error (message says which option is wrong) for a bad configuration, e.g. an
 * empty secret, 'whsec_' alone, a standard-webhooks secret that is not base64.
 */
export function createVerifier(options: VerifyOptions): Verifier {
  const { scheme } = options;
  if (scheme === 'none') return () => OK;
  const secret = requireSecret(options);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE;
  // NaN and negative values would silently disable or invert the replay window
  if (typeof tolerance !== 'number' || !(tolerance >= 0)) {
    throw new Error(`webhook verify: toleranceSeconds must be a number >= 0, got ${String(options.toleranceSeconds)}`);
  }
  let check: (headers: WebhookHeaders, body: Buffer, now: number) => VerifyResult;
  switch (scheme) {
    case 'standard-webhooks': {
      const key = standardWebhooksKey(secret);
      check = (headers, body, now) => checkStandardWebhook(key, tolerance, headers, body, now);
      break;
    }
    case 'github':
      check = (headers, body) => checkGithub(secret, headers, body);
      break;
    case 'stripe':
      check = (headers, body, now) => checkStripe(secret, tolerance, headers, body, now);
      break;
    case 'hmac-sha256':
      check = hmacChecker(secret, options);
      break;
    default:
      throw new Error(`webhook verify: unknown scheme ${JSON.stringify(scheme)}`);
  }
  return (headers, rawBody, nowSeconds) => {
    // a wrong clock is a programming error, not a bad request: it must not silently pass the tolerance check
    if (nowSeconds !== undefined && !Number.isFinite(nowSeconds)) throw new Error(`webhook verify: nowSeconds must be a finite number`);
    if (!(rawBody instanceof Uint8Array)) return fail('the request body is not raw bytes');
    const now = Math.floor(nowSeconds ?? Date.now() / 1000);
    return check(headers ?? {}, rawBody, now);
  };
}

/** Signing helpers, used by tests, the benchmark's load generator and alert notifications. Returns 'v1,<base64>'. */
export function signStandardWebhook(secret: string, id: string, timestampSeconds: number, body: Buffer | string): string {
  if (id.includes('.')) throw new Error(`webhook sign: the message id must not contain '.'`);
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new Error(`webhook sign: the timestamp must be an integer number of seconds`);
  return `v1,${standardWebhookDigest(standardWebhooksKey(nonEmptySecret(secret)), id, String(timestampSeconds), toBytes(body))}`;
}

/** Returns 'sha256=<hex>', the value of GitHub's x-hub-signature-256 header. */
export function signGithub(secret: string, body: Buffer | string): string {
  return `sha256=${hmac(nonEmptySecret(secret), toBytes(body), 'hex')}`;
}

/** Returns 't=<timestamp>,v1=<hex>', the value of Stripe's stripe-signature header. */
export function signStripe(secret: string, timestampSeconds: number, body: Buffer | string): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new Error(`webhook sign: the timestamp must be an integer number of seconds`);
  return `t=${timestampSeconds},v1=${stripeDigest(nonEmptySecret(secret), String(timestampSeconds), toBytes(body))}`;
}

// --- schemes ------------------------------------------------------------------------------------------------------

function checkStandardWebhook(key: Buffer, tolerance: number, headers: WebhookHeaders, body: Buffer, now: number): VerifyResult {
  const id = readHeader(headers, 'webhook-id');
  if (typeof id !== 'string') return id;
  const timestamp = readHeader(headers, 'webhook-timestamp');
  if (typeof timestamp !== 'string') return timestamp;
  const signature = readHeader(headers, 'webhook-signature');
  if (typeof signature !== 'string') return signature;
  // '.' separates the signed parts: an id holding one could shift bytes between id and timestamp (spec rule)
  if (id.includes('.')) return fail(`webhook-id must not contain '.'`);
  if (!UNIX_SECONDS.test(timestamp)) return fail('webhook-timestamp is not an integer number of seconds');
  const ts = Number(timestamp);
  const stale = checkAge(ts, now, tolerance, true);
  if (stale) return stale;
  // the libraries sign the parsed integer, so '0042' is signed as '42'
  const expected = Buffer.from(standardWebhookDigest(key, id, String(ts), body));
  for (const entry of signature.split(' ')) {
    const comma = entry.indexOf(',');
    // only 'v1' (symmetric) is implemented; 'v1a' (ed25519) and unknown versions are skipped, not failed
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    // compare the base64 text, as the JS library does: lenient decoding would accept altered spellings
    if (safeEqual(expected, entry.slice(comma + 1))) return OK;
  }
  return NO_MATCH;
}

function checkGithub(secret: string, headers: WebhookHeaders, body: Buffer): VerifyResult {
  const signature = readHeader(headers, 'x-hub-signature-256');
  if (typeof signature !== 'string') {
    // the sha1 header is legacy and weak: never used, but named so that the sender is not left guessing
    const legacyOnly = signature.reason.startsWith('missing') && typeof readHeader(headers, 'x-hub-signature') === 'string';
    return legacyOnly ? fail('missing x-hub-signature-256 header (the legacy sha1 x-hub-signature is not accepted)') : signature;
  }
  if (!signature.startsWith('sha256=')) return fail('x-hub-signature-256 is not of the form sha256=<hex>');
  return safeEqual(Buffer.from(`sha256=${hmac(secret, body, 'hex')}`), signature) ? OK : NO_MATCH;
}

function checkStripe(secret: string, tolerance: number, headers: WebhookHeaders, body: Buffer, now: number): VerifyResult {
  const header = readHeader(headers, 'stripe-signature');
  if (typeof header !== 'string') return header;
  // parsed as stripe-node does: items split on ',', key and value on '='; the last t wins; only v1 counts
  // (test-mode v0 signatures and unknown schemes are ignored, so a sender cannot downgrade the scheme)
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) continue;
    const [name, value] = [item.slice(0, eq), item.slice(eq + 1)];
    if (name === 't') timestamp = value;
    else if (name === 'v1') signatures.push(value);
  }
  if (timestamp === undefined) return fail('stripe-signature has no timestamp (t=)');
  if (!UNIX_SECONDS.test(timestamp)) return fail('stripe-signature timestamp (t=) is not an integer number of seconds');
  if (signatures.length === 0) return fail('stripe-signature has no v1 signature');
  const ts = Number(timestamp);
  // stripe-node rejects only old events: a sender clock running ahead is tolerated
  const stale = checkAge(ts, now, tolerance, false);
  if (stale) return stale;
  const expected = Buffer.from(stripeDigest(secret, String(ts), body));
  return signatures.some((candidate) => safeEqual(expected, candidate)) ? OK : NO_MATCH;
}

function hmacChecker(secret: string, options: VerifyOptions): (headers: WebhookHeaders, body: Buffer) => VerifyResult {
  const header = options.header ?? 'x-signature';
  const encoding = options.encoding ?? 'hex';
  const prefix = options.prefix ?? '';
  if (typeof header !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new Error(`webhook verify: header must be an HTTP header name, got ${JSON.stringify(options.header)}`);
  }
  if (encoding !== 'hex' && encoding !== 'base64') {
    throw new Error(`webhook verify: encoding must be 'hex' or 'base64', got ${JSON.stringify(options.encoding)}`);
  }
  if (typeof prefix !== 'string') throw new Error(`webhook verify: prefix must be a string`);
  const name = header.toLowerCase();
  return (headers, body) => {
    const value = readHeader(headers, name);
    if (typeof value !== 'string') return value;
    return safeEqual(Buffer.from(prefix + hmac(secret, body, encoding)), value) ? OK : NO_MATCH;
  };
}

// --- helpers ------------------------------------------------------------------------------------------------------

/**
 * The header's single value, or the failure to report. Node already joins a repeated custom header into one
 * string (', '); an array therefore only comes from a caller or framework that kept the copies apart. Joining it
 * ourselves would change the signed or parsed text in scheme-specific ways, and no sender here repeats its
 * signature headers, so several values are refused. A one-element array is just that value.
 */
function readHeader(headers: WebhookHeaders, name: string): string | Failure {
  let value: unknown = Object.hasOwn(headers, name) ? headers[name] : undefined;
  if (value === undefined) {
    // the type promises lowercase names, but a hand-built object may not keep that promise
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    if (key !== undefined) value = headers[key];
  }
  if (Array.isArray(value)) {
    if (value.length > 1) return fail(`repeated ${name} header`);
    value = value[0];
  }
  if (value === undefined || value === '') return fail(`missing ${name} header`);
  if (typeof value !== 'string') return fail(`malformed ${name} header`);
  return value;
}

/** Fails when `ts` is outside the window around `now`; with `future` false, only the past side is checked. */
function checkAge(ts: number, now: number, tolerance: number, future: boolean): Failure | undefined {
  if (now - ts > tolerance) return fail(`timestamp too old (${now - ts} s, beyond the ${tolerance} s tolerance)`);
  if (future && ts - now > tolerance) return fail(`timestamp too new (${ts - now} s ahead, beyond the ${tolerance} s tolerance)`);
  return undefined;
}

/** Constant-time equality of the expected bytes and a received string; a length mismatch is no match, not a throw. */
function safeEqual(expected: Buffer, received: string): boolean {
  const bytes = Buffer.from(received, 'utf8');
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

function standardWebhookDigest(key: Buffer, id: string, timestamp: string, body: Uint8Array): string {
  // the body as bytes: re-encoding it as text would alter anything that is not valid UTF-8
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(body).digest('base64');
}

function stripeDigest(secret: string, timestamp: string, body: Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body).digest('hex');
}

function hmac(secret: string, body: Uint8Array, encoding: 'hex' | 'base64'): string {
  return createHmac('sha256', secret).update(body).digest(encoding);
}

/** The Standard Webhooks key: base64-decode the secret after an optional 'whsec_' prefix. */
function standardWebhooksKey(secret: string): Buffer {
  const encoded = secret.startsWith(WHSEC) ? secret.slice(WHSEC.length) : secret;
  // Buffer.from(…, 'base64') skips bad characters silently; a mistyped secret must fail here, not at every request
  if (!BASE64.test(encoded)) throw new Error(`webhook verify: secret for standard-webhooks must be base64 (optionally after 'whsec_')`);
  return Buffer.from(encoded, 'base64');
}

function requireSecret(options: VerifyOptions): string {
  if (options.secret === undefined) throw new Error(`webhook verify: secret is required for the ${options.scheme} scheme`);
  return nonEmptySecret(options.secret);
}

function nonEmptySecret(secret: string): string {
  if (typeof secret !== 'string' || secret === '' || secret === WHSEC) {
    throw new Error(`webhook verify: secret must not be empty (nor only the 'whsec_' prefix)`);
  }
  return secret;
}

function toBytes(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

function fail(reason: string): Failure {
  return { ok: false, reason };
}
