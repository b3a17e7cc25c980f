// Stripe deliveries end to end: Stripe signs `t.body` (Stripe-Signature: t=…,v1=…) and has no delivery-id
// header — the event's own `id` (evt_…) is the delivery id. A redelivery of one event comes with a new
// timestamp and signature: it is recognised by its event id and changes nothing; another event about the
// same object (same key) is a delivery of its own and updates the record. A signature older than the
// tolerance is refused with the reason.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signStripe } from '../../../src/extract/push/verify';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';
import type { StagingStore } from '../../../src/stage/store';

const SECRET = 'whsec_stripe_test_secret';
const PIPELINE = `name: billing
sources:
  - name: stripe
    push:
      verify: stripe
      secret: \${STRIPE_WEBHOOK_SECRET}
      key: $.data.object.id
      tenant: $.account
export: []
`;

let dir: string;
let service: Service;
let app: ReturnType<typeof buildServer>;
let base: string;
let store: StagingStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-stripe-'));
  writeFileSync(join(dir, 'billing.yaml'), PIPELINE);
  const stagingUrl = `sqlite:${join(dir, 'staging.db')}`;
  service = await Service.open([loadPipeline(join(dir, 'billing.yaml'), { STRIPE_WEBHOOK_SECRET: SECRET })], { stagingUrl });
  app = buildServer(service);
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  store = openStore(stagingUrl);
});
afterEach(async () => {
  await app.close();
  await service.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A Stripe event as Stripe sends it (the fields Sluice reads, and enough of the rest). */
function event(id: string, type: string, amount: number): string {
  return JSON.stringify({
    id,
    object: 'event',
    account: 'acct_1Acme',
    api_version: '2024-06-20',
    created: 1767225600,
    type,
    data: { object: { id: 'pi_3Nabc', object: 'payment_intent', amount, currency: 'eur', status: type.split('.').pop() } },
    livemode: false,
  });
}

async function deliver(body: string, at = Math.floor(Date.now() / 1000)): Promise<{ status: number; body: { status?: string; id?: string; error?: string; reason?: string } }> {
  const res = await fetch(`${base}/hooks/billing/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signStripe(SECRET, at, body) }, body });
  return { status: res.status, body: (await res.json()) as { status?: string } };
}

async function staged(): Promise<Record<string, { amount: number; status: string }>> {
  const out: Record<string, { amount: number; status: string }> = {};
  for await (const page of store.read('acct_1Acme', { pipeline: 'billing', source: 'stripe', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER, op: 'upsert' })) {
    for (const r of page) out[r.key] = (JSON.parse(r.json!) as { data: { object: { amount: number; status: string } } }).data.object;
  }
  return out;
}

test("the event id is the delivery id: a redelivery (new timestamp and signature) changes nothing; another event on the same object updates it", async () => {
  const created = event('evt_1Created', 'payment_intent.processing', 1999);
  expect(await deliver(created)).toEqual({ status: 200, body: { status: 'staged', id: 'evt_1Created' } });
  // Stripe retries with a fresh signature a minute later
  expect(await deliver(created, Math.floor(Date.now() / 1000) + 60)).toEqual({ status: 200, body: { status: 'duplicate', id: 'evt_1Created' } });
  expect(await staged()).toEqual({ pi_3Nabc: expect.objectContaining({ amount: 1999, status: 'processing' }) });

  expect(await deliver(event('evt_2Succeeded', 'payment_intent.succeeded', 1999))).toEqual({ status: 200, body: { status: 'staged', id: 'evt_2Succeeded' } });
  expect(await staged()).toEqual({ pi_3Nabc: expect.objectContaining({ status: 'succeeded' }) });
});

test('a signature older than five minutes is refused with the reason, and nothing is staged', async () => {
  const answer = await deliver(event('evt_3Old', 'payment_intent.created', 500), Math.floor(Date.now() / 1000) - 301);
  expect(answer).toMatchObject({ status: 401, body: { error: 'unauthorized', reason: expect.stringMatching(/too old|tolerance/) } });
  expect(await staged()).toEqual({});
});
