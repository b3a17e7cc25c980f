// Webhook signature verification: the published vectors of each scheme, the must-fail cases of the reference
// libraries, real GitHub deliveries, and properties: a verifier never throws and only accepts the right signature.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  createVerifier,
  signGithub,
  signStandardWebhook,
  signStripe,
  type VerifyOptions,
  type VerifyResult,
  type WebhookHeaders,
} from '../../src/extract/push/verify';

const FIXTURES = join(__dirname, '../../fixtures');

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as T;
}

interface StandardVectors {
  sign_vectors: { name: string; secret: string; msg_id: string; timestamp: number; payload: string; expected_signature: string }[];
  secret_forms: { prefixed: string; unprefixed: string };
  must_fail_cases_from_js_test_suite: { case: string; 'webhook-signature'?: string; 'webhook-timestamp'?: string }[];
  must_pass_multi_signature_case_from_js_test_suite: { 'webhook-signature_entries_before_and_after_the_valid_one': string[] };
}
interface GithubVectors {
  vectors: { name: string; secret: string; payload: string; expected_header: string }[];
}
interface StripeVectors {
  vectors: { name: string; secret: string; timestamp: number; payload: string; expected_header: string }[];
}
interface Delivery {
  file: string;
  event: string;
  delivery: string;
  signature_256: string;
}

const standard = readJson<StandardVectors>('webhooks/standard-webhooks-vectors.json');
const github = readJson<GithubVectors>('webhooks/github-signature-vectors.json');
const stripe = readJson<StripeVectors>('webhooks/stripe-signature-vectors.json');
const deliveries = readJson<Delivery[]>('github/webhooks/deliveries.json');
const GITHUB_SECRET = "It's a Secret to Everybody";

const refused = (reason: string): VerifyResult => ({ ok: false, reason });

function reason(result: VerifyResult): string {
  return result.ok ? '(accepted)' : result.reason;
}

describe('standard-webhooks', () => {
  const [v1] = standard.sign_vectors;
  const secret = v1!.secret;
  const ts = v1!.timestamp;
  const body = Buffer.from(v1!.payload, 'utf8');
  const verify = createVerifier({ scheme: 'standard-webhooks', secret });
  const good = v1!.expected_signature;
  const headers = (over: WebhookHeaders = {}): WebhookHeaders => ({
    'webhook-id': v1!.msg_id,
    'webhook-timestamp': String(ts),
    'webhook-signature': good,
    ...over,
  });

  test.each(standard.sign_vectors)('sign vector: $name', (v) => {
    expect(signStandardWebhook(v.secret, v.msg_id, v.timestamp, v.payload)).toBe(v.expected_signature);
    expect(signStandardWebhook(v.secret, v.msg_id, v.timestamp, Buffer.from(v.payload))).toBe(v.expected_signature);
    const check = createVerifier({ scheme: 'standard-webhooks', secret: v.secret });
    const h = { 'webhook-id': v.msg_id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.expected_signature };
    expect(check(h, Buffer.from(v.payload), v.timestamp)).toEqual({ ok: true });
  });

  test('the same secret with and without whsec_ signs and verifies alike', () => {
    const { prefixed, unprefixed } = standard.secret_forms;
    expect(signStandardWebhook(unprefixed, v1!.msg_id, ts, body)).toBe(signStandardWebhook(prefixed, v1!.msg_id, ts, body));
    expect(createVerifier({ scheme: 'standard-webhooks', secret: unprefixed })(headers(), body, ts)).toEqual({ ok: true });
  });

  test('several signatures: any v1 entry may match, other versions are skipped', () => {
    const entries = standard.must_pass_multi_signature_case_from_js_test_suite['webhook-signature_entries_before_and_after_the_valid_one'];
    const value = entries.map((e) => (e.startsWith('<') ? good : e)).join(' ');
    expect(verify(headers({ 'webhook-signature': value }), body, ts)).toEqual({ ok: true });
    // only the second of two matches
    expect(verify(headers({ 'webhook-signature': `v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ${good}` }), body, ts)).toEqual({ ok: true });
    // the right digest under another version does not count
    expect(verify(headers({ 'webhook-signature': good.replace('v1,', 'v2,') }), body, ts)).toEqual(refused('no signature matches'));
    expect(verify(headers({ 'webhook-signature': good.replace('v1,', 'v1a,') }), body, ts).ok).toBe(false);
  });

  test.each(standard.must_fail_cases_from_js_test_suite.filter((c) => c['webhook-signature'] !== undefined))(
    'must fail: $case',
    (c) => {
      expect(verify(headers({ 'webhook-signature': c['webhook-signature'] }), body, ts)).toEqual(refused('no signature matches'));
    },
  );

  test('must fail: timestamp 301 s old or 301 s ahead; 300 s either way passes', () => {
    expect(verify(headers(), body, ts + 301)).toEqual(refused('timestamp too old (301 s, beyond the 300 s tolerance)'));
    expect(verify(headers(), body, ts - 301)).toEqual(refused('timestamp too new (301 s ahead, beyond the 300 s tolerance)'));
    expect(verify(headers(), body, ts + 300)).toEqual({ ok: true });
    expect(verify(headers(), body, ts - 300)).toEqual({ ok: true });
    const strict = createVerifier({ scheme: 'standard-webhooks', secret, toleranceSeconds: 10 });
    expect(reason(strict(headers(), body, ts + 11))).toBe('timestamp too old (11 s, beyond the 10 s tolerance)');
  });

  test('must fail: timestamp not an integer', () => {
    for (const bad of ['hello', '1614265330.5', '-1614265330', ' 1614265330', '1e9', '1234567890123456']) {
      expect(verify(headers({ 'webhook-timestamp': bad }), body, ts)).toEqual(refused('webhook-timestamp is not an integer number of seconds'));
    }
  });

  test.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('must fail: %s missing or empty', (name) => {
    const without = headers();
    delete without[name];
    expect(verify(without, body, ts)).toEqual(refused(`missing ${name} header`));
    expect(verify(headers({ [name]: '' }), body, ts)).toEqual(refused(`missing ${name} header`));
    expect(verify(headers({ [name]: [] }), body, ts)).toEqual(refused(`missing ${name} header`));
  });

  test.each(['', 'whsec_', 'whsec_not base64!', 'abc$', 'A'])('bad secret %j throws at createVerifier', (bad) => {
    expect(() => createVerifier({ scheme: 'standard-webhooks', secret: bad })).toThrow(/secret/);
  });

  test('a missing secret throws, naming the option', () => {
    expect(() => createVerifier({ scheme: 'standard-webhooks' })).toThrow(/secret is required/);
  });

  test('an id containing "." is refused, by the verifier and by the signer', () => {
    const id = 'msg.1';
    expect(() => signStandardWebhook(secret, id, ts, body)).toThrow(/'\.'/);
    const forged = `v1,${createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${id}.${ts}.`).update(body).digest('base64')}`;
    expect(verify(headers({ 'webhook-id': id, 'webhook-signature': forged }), body, ts)).toEqual(refused("webhook-id must not contain '.'"));
  });

  test('the body is signed as raw bytes, not as re-encoded text', () => {
    const raw = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    const sig = signStandardWebhook(secret, 'msg_raw', ts, raw);
    const h = { 'webhook-id': 'msg_raw', 'webhook-timestamp': String(ts), 'webhook-signature': sig };
    expect(verify(h, raw, ts)).toEqual({ ok: true });
    expect(verify(h, Buffer.from(raw.toString('utf8'), 'utf8'), ts).ok).toBe(false);
  });

  test('a repeated header is refused; a one-element array is its value', () => {
    expect(verify(headers({ 'webhook-signature': [good] }), body, ts)).toEqual({ ok: true });
    expect(verify(headers({ 'webhook-signature': [good, good] }), body, ts)).toEqual(refused('repeated webhook-signature header'));
  });

  test('header names are found whatever their case', () => {
    const upper = { 'Webhook-Id': v1!.msg_id, 'WEBHOOK-TIMESTAMP': String(ts), 'Webhook-Signature': good };
    expect(verify(upper, body, ts)).toEqual({ ok: true });
  });
});

describe('github', () => {
  test.each(github.vectors)('sign vector: $name', (v) => {
    expect(signGithub(v.secret, v.payload)).toBe(v.expected_header);
    const verify = createVerifier({ scheme: 'github', secret: v.secret });
    expect(verify({ 'x-hub-signature-256': v.expected_header }, Buffer.from(v.payload))).toEqual({ ok: true });
  });

  test('the docs vector in fixtures/github/webhooks/hmac-test-vector.json', () => {
    const v = readJson<{ secret: string; payload: string; x_hub_signature_256: string }>('github/webhooks/hmac-test-vector.json');
    expect(signGithub(v.secret, Buffer.from(v.payload))).toBe(v.x_hub_signature_256);
  });

  const verify = createVerifier({ scheme: 'github', secret: GITHUB_SECRET });

  describe.each(deliveries)('real delivery $file', (d) => {
    const body = readFileSync(join(FIXTURES, 'github/webhooks', d.file));
    const headers = { 'x-github-event': d.event, 'x-github-delivery': d.delivery, 'x-hub-signature-256': d.signature_256 };

    test('verifies', () => {
      expect(signGithub(GITHUB_SECRET, body)).toBe(d.signature_256);
      expect(verify(headers, body)).toEqual({ ok: true });
    });

    test('fails when any one byte is changed', () => {
      const flipped = (at: number, mask: number): Buffer => {
        const copy = Buffer.from(body);
        copy[at] = copy[at]! ^ mask;
        return copy;
      };
      expect(verify(headers, flipped(0, 1)).ok).toBe(false);
      expect(verify(headers, flipped(body.length - 1, 0x80)).ok).toBe(false);
      fc.assert(
        fc.property(fc.nat({ max: body.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
          expect(verify(headers, flipped(at, mask))).toEqual(refused('no signature matches'));
        }),
        { numRuns: 50 },
      );
      expect(verify(headers, body.subarray(0, body.length - 1)).ok).toBe(false);
    });
  });

  test('missing header, and the legacy sha1 header alone, are refused', () => {
    const body = Buffer.from('Hello, World!');
    expect(verify({}, body)).toEqual(refused('missing x-hub-signature-256 header'));
    const sha1 = `sha1=${createHmac('sha1', GITHUB_SECRET).update(body).digest('hex')}`;
    expect(reason(verify({ 'x-hub-signature': sha1 }, body))).toMatch(/^missing x-hub-signature-256 header \(the legacy sha1/);
  });

  test('a value without sha256=, upper-case hex, or a truncated digest does not match', () => {
    const body = Buffer.from('Hello, World!');
    const good = signGithub(GITHUB_SECRET, body);
    expect(verify({ 'x-hub-signature-256': good.slice(7) }, body)).toEqual(refused('x-hub-signature-256 is not of the form sha256=<hex>'));
    expect(verify({ 'x-hub-signature-256': `sha256=${good.slice(7).toUpperCase()}` }, body).ok).toBe(false);
    expect(verify({ 'x-hub-signature-256': good.slice(0, -1) }, body).ok).toBe(false);
    expect(verify({ 'x-hub-signature-256': `${good} ` }, body).ok).toBe(false);
  });
});

describe('stripe', () => {
  const [vec] = stripe.vectors;
  const secret = vec!.secret;
  const t = vec!.timestamp;
  const body = Buffer.from(vec!.payload);
  const v1 = vec!.expected_header.split(',v1=')[1]!;
  const verify = createVerifier({ scheme: 'stripe', secret });

  test.each(stripe.vectors)('sign vector: $name', (v) => {
    expect(signStripe(v.secret, v.timestamp, v.payload)).toBe(v.expected_header);
    const check = createVerifier({ scheme: 'stripe', secret: v.secret });
    expect(check({ 'stripe-signature': v.expected_header }, Buffer.from(v.payload), v.timestamp)).toEqual({ ok: true });
  });

  test('the key is the secret as given, whsec_ included', () => {
    expect(signStripe('test_secret', t, body)).not.toBe(vec!.expected_header);
    expect(createVerifier({ scheme: 'stripe', secret: 'test_secret' })({ 'stripe-signature': vec!.expected_header }, body, t).ok).toBe(false);
  });

  test('only old timestamps are refused: the future is accepted', () => {
    expect(verify({ 'stripe-signature': vec!.expected_header }, body, t - 100_000)).toEqual({ ok: true });
    expect(verify({ 'stripe-signature': vec!.expected_header }, body, t + 300)).toEqual({ ok: true });
    const tooOld = refused('timestamp too old (301 s, beyond the 300 s tolerance)');
    expect(verify({ 'stripe-signature': vec!.expected_header }, body, t + 301)).toEqual(tooOld);
  });

  test('several v1 entries: any may match; v0 and unknown schemes are ignored', () => {
    const bad = 'a'.repeat(64);
    expect(verify({ 'stripe-signature': `t=${t},v1=${bad},v1=${v1}` }, body, t)).toEqual({ ok: true });
    expect(verify({ 'stripe-signature': `t=${t},v0=${bad},v1=${v1},x=1,junk` }, body, t)).toEqual({ ok: true });
    expect(verify({ 'stripe-signature': `t=${t},v1=${bad},v0=${v1}` }, body, t)).toEqual(refused('no signature matches'));
  });

  test('v0 only, no t, a bad t, or no header are refused with a reason', () => {
    expect(verify({ 'stripe-signature': `t=${t},v0=${v1}` }, body, t)).toEqual(refused('stripe-signature has no v1 signature'));
    expect(verify({ 'stripe-signature': `v1=${v1}` }, body, t)).toEqual(refused('stripe-signature has no timestamp (t=)'));
    const badT = refused('stripe-signature timestamp (t=) is not an integer number of seconds');
    expect(verify({ 'stripe-signature': `t=soon,v1=${v1}` }, body, t)).toEqual(badT);
    expect(verify({}, body, t)).toEqual(refused('missing stripe-signature header'));
  });

  test('a changed body, timestamp or digest does not match', () => {
    expect(verify({ 'stripe-signature': vec!.expected_header }, Buffer.from(`${vec!.payload} `), t).ok).toBe(false);
    expect(verify({ 'stripe-signature': `t=${t + 1},v1=${v1}` }, body, t).ok).toBe(false);
    expect(verify({ 'stripe-signature': `t=${t},v1=${v1.slice(0, -1)}` }, body, t).ok).toBe(false);
    expect(verify({ 'stripe-signature': `t=${t},v1=${v1.toUpperCase()}` }, body, t).ok).toBe(false);
  });

  test.each(['', 'whsec_'])('secret %j throws at createVerifier', (bad) => {
    expect(() => createVerifier({ scheme: 'stripe', secret: bad })).toThrow(/secret/);
  });
});

describe('hmac-sha256', () => {
  const body = Buffer.from('{"event":"record.updated","id":42}');
  const secret = 'shared-secret';
  const digest = (encoding: 'hex' | 'base64') => createHmac('sha256', secret).update(body).digest(encoding);

  test('base64 with a prefix, in a custom header named in any case', () => {
    const verify = createVerifier({ scheme: 'hmac-sha256', secret, header: 'X-Acme-Signature', encoding: 'base64', prefix: 'sha256=' });
    expect(verify({ 'x-acme-signature': `sha256=${digest('base64')}` }, body)).toEqual({ ok: true });
    expect(verify({ 'x-acme-signature': digest('base64') }, body)).toEqual(refused('no signature matches'));
    expect(verify({ 'x-acme-signature': `sha256=${digest('hex')}` }, body).ok).toBe(false);
    expect(verify({ 'x-signature': `sha256=${digest('base64')}` }, body)).toEqual(refused('missing x-acme-signature header'));
  });

  test('defaults: hex in x-signature, no prefix', () => {
    const verify = createVerifier({ scheme: 'hmac-sha256', secret });
    expect(verify({ 'x-signature': digest('hex') }, body)).toEqual({ ok: true });
    expect(verify({ 'x-signature': digest('hex') }, Buffer.from(body.toString().replace('42', '43'))).ok).toBe(false);
  });

  test('a bad configuration throws, naming the option', () => {
    expect(() => createVerifier({ scheme: 'hmac-sha256', secret, encoding: 'latin1' as 'hex' })).toThrow(/encoding/);
    expect(() => createVerifier({ scheme: 'hmac-sha256', secret, header: 'bad header' })).toThrow(/header/);
    expect(() => createVerifier({ scheme: 'hmac-sha256', secret: '' })).toThrow(/secret/);
  });
});

describe('configuration', () => {
  test("'none' always accepts", () => {
    const verify = createVerifier({ scheme: 'none' });
    expect(verify({}, Buffer.alloc(0))).toEqual({ ok: true });
    expect(verify({ 'x-hub-signature-256': 'sha256=nonsense' }, Buffer.from('x'), 0)).toEqual({ ok: true });
  });

  test.each(['github', 'stripe', 'hmac-sha256'] as const)('%s requires a secret', (scheme) => {
    expect(() => createVerifier({ scheme })).toThrow(`secret is required for the ${scheme} scheme`);
  });

  test('an unknown scheme or a bad tolerance throws', () => {
    expect(() => createVerifier({ scheme: 'svix' as 'none', secret: 'x' } as VerifyOptions)).toThrow(/unknown scheme/);
    expect(() => createVerifier({ scheme: 'stripe', secret: 'x', toleranceSeconds: -1 })).toThrow(/toleranceSeconds/);
    expect(() => createVerifier({ scheme: 'stripe', secret: 'x', toleranceSeconds: Number.NaN })).toThrow(/toleranceSeconds/);
  });

  test('a body that is not bytes is refused, not thrown on', () => {
    const verify = createVerifier({ scheme: 'github', secret: 'x' });
    expect(verify({ 'x-hub-signature-256': signGithub('x', 'a') }, 'a' as unknown as Buffer)).toEqual(refused('the request body is not raw bytes'));
  });
});

// --- properties ---------------------------------------------------------------------------------------------------

const NOW = 1_700_000_000;
/** Stands for "the correct signature" in generated header values; replaced before the request is built. */
const GOOD = '\u0000GOOD\u0000';

/** A header as Node might hand it over: absent, a string, or (rarely) an array of strings. */
const headerOf = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | T[] | undefined> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: value },
    { weight: 2, arbitrary: fc.array(value, { maxLength: 3 }) },
  );

/** Unrelated headers, some with names that differ only in case from nothing we read. */
const otherHeaders = fc.dictionary(
  fc.string().map((s) => `x-other-${s.toLowerCase()}`),
  fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), fc.constant(undefined)),
  { maxKeys: 3 },
);

/** The value a verifier should use, or undefined when it must refuse (absent, empty or repeated). */
function effective(value: string | string[] | undefined): string | undefined {
  const one = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  return one === '' ? undefined : one;
}

function mapHeader(value: string | string[] | undefined, f: (s: string) => string): string | string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map(f) : f(value);
}

function expectNoLeak(result: VerifyResult, secrets: string[]): void {
  if (result.ok) return;
  expect(typeof result.reason).toBe('string');
  for (const s of secrets) if (s.length > 4) expect(result.reason).not.toContain(s);
}

describe('properties: never throws, accepts only the correct signature', () => {
  test('standard-webhooks', () => {
    const secret = standard.secret_forms.prefixed;
    const verify = createVerifier({ scheme: 'standard-webhooks', secret });
    const idArb = headerOf(fc.oneof(fc.string(), fc.constant('msg_p5jXN8AQM9LWM0D4loKWxJek'), fc.constant('msg.dot')));
    const tsArb = headerOf(fc.oneof(fc.string(), fc.integer({ min: NOW - 400, max: NOW + 400 }).map(String), fc.constant('0001700000000')));
    const sigArb = headerOf(fc.array(fc.oneof(fc.string(), fc.constant(GOOD)), { maxLength: 4 }).map((e) => e.join(' ')));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), idArb, tsArb, sigArb, otherHeaders, (bytes, id, ts, sig, others) => {
        const body = Buffer.from(bytes);
        const [idValue, tsValue] = [effective(id), effective(ts)];
        const signable = idValue !== undefined && !idValue.includes('.') && tsValue !== undefined && /^\d{1,15}$/.test(tsValue);
        const good = signable ? signStandardWebhook(secret, idValue, Number(tsValue), body) : 'v1,unsignable';
        const signature = mapHeader(sig, (s) => s.split(GOOD).join(good));
        const result = verify({ ...others, 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': signature }, body, NOW);
        const sigValue = effective(signature);
        const expected = signable && Math.abs(NOW - Number(tsValue)) <= 300 && sigValue !== undefined && sigValue.split(' ').includes(good);
        expect(result.ok).toBe(expected);
        expectNoLeak(result, [secret, good.slice(3)]);
      }),
      { numRuns: 1000 },
    );
  });

  test('github', () => {
    const secret = 'mysecret';
    const verify = createVerifier({ scheme: 'github', secret });
    const sigArb = headerOf(fc.oneof(fc.string(), fc.constant(GOOD), fc.string().map((s) => `sha256=${s}`)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), sigArb, otherHeaders, (bytes, sig, others) => {
        const body = Buffer.from(bytes);
        const good = signGithub(secret, body);
        const signature = mapHeader(sig, (s) => s.split(GOOD).join(good));
        const result = verify({ ...others, 'x-hub-signature-256': signature }, body);
        expect(result.ok).toBe(effective(signature) === good);
        expectNoLeak(result, [secret, good.slice(7)]);
      }),
      { numRuns: 1000 },
    );
  });

  test('stripe', () => {
    const secret = 'whsec_test_secret';
    const verify = createVerifier({ scheme: 'stripe', secret });
    // noise items hold no ',' and do not start with t= or v1=, so the timestamp and the v1 entries are the generated ones
    const noise = fc.string().filter((s) => !s.includes(',') && !s.startsWith('t=') && !s.startsWith('v1='));
    const item = fc.oneof(
      noise,
      fc.integer({ min: NOW - 400, max: NOW + 100_000 }).map((t) => `t=${t}`),
      fc.constant(`v1=${GOOD}`),
      fc.constant(`v0=${GOOD}`),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((h) => `v1=${h}`),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(item, { maxLength: 6 }), fc.boolean(), otherHeaders, (bytes, items, asArr, others) => {
        const body = Buffer.from(bytes);
        const t = items.filter((i) => i.startsWith('t=')).map((i) => Number(i.slice(2))).pop();
        const good = t === undefined ? 'unsignable' : signStripe(secret, t, body).split(',v1=')[1]!;
        const value = items.map((i) => i.split(GOOD).join(good)).join(',');
        const result = verify({ ...others, 'stripe-signature': asArr ? [value] : value }, body, NOW);
        expect(result.ok).toBe(t !== undefined && NOW - t <= 300 && items.includes(`v1=${GOOD}`));
        expectNoLeak(result, [secret, good]);
      }),
      { numRuns: 1000 },
    );
    // and on any string at all, it answers without throwing
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), headerOf(fc.string()), (bytes, value) => {
        expect(typeof verify({ 'stripe-signature': value }, Buffer.from(bytes), NOW).ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  test('hmac-sha256', () => {
    const secret = 'shared-secret';
    const verify = createVerifier({ scheme: 'hmac-sha256', secret, header: 'X-Sig', encoding: 'base64', prefix: 'b64:' });
    const sigArb = headerOf(fc.oneof(fc.string(), fc.constant(GOOD), fc.base64String().map((s) => `b64:${s}`)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), sigArb, otherHeaders, (bytes, sig, others) => {
        const body = Buffer.from(bytes);
        const good = `b64:${createHmac('sha256', secret).update(body).digest('base64')}`;
        const signature = mapHeader(sig, (s) => s.split(GOOD).join(good));
        const result = verify({ ...others, 'x-sig': signature }, body);
        expect(result.ok).toBe(effective(signature) === good);
        expectNoLeak(result, [secret, good.slice(4)]);
      }),
      { numRuns: 1000 },
    );
  });
});
