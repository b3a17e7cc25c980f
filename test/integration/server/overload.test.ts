// Webhook intake when the staging store cannot keep up, fails, or the server stops (issue #3: "under
// overload answer 429/503 with Retry-After rather than dropping or buffering without bound"). The store
// is made slow for real: another session holds the stream's row, which every intake locks before writing
// records, so the deliveries taken wait in PostgreSQL. Nothing is mocked: real server, real store.
//  - past `maxPending` deliveries waiting, more are answered 503 with Retry-After at once, and none of
//    them is staged; every delivery answered 200 is staged once the store moves again;
//  - a group that fails to commit answers its deliveries 503 with Retry-After and stages none of them;
//  - a server that stops refuses new deliveries (503) and commits, then answers, those it had taken;
//  - a store that goes away: /health says so (503), deliveries are answered 503, the server stays up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';

const PIPELINE = `name: hooks
sources:
  - name: events
    push:
      verify: none
      allowInsecure: true
      idHeader: x-delivery-id
      tenant: $.org
export: []
`;
const MAX_PENDING = 6;

interface Answer {
  id: string;
  status: number;
  retryAfter: string | null;
  body: { status?: string; error?: string; reason?: string };
}

describeWith('postgres', 'webhook intake under overload, failure and shutdown (PostgreSQL store)', () => {
  let db: ScratchDb;
  let dir: string;
  let admin: pg.Client;
  let service: Service;
  let app: ReturnType<typeof buildServer>;
  let base: string;

  beforeEach(async () => {
    db = await scratchDatabase('postgres');
    dir = mkdtempSync(join(tmpdir(), 'sluice-overload-'));
    writeFileSync(join(dir, 'hooks.yaml'), PIPELINE);
    service = await Service.open([loadPipeline(join(dir, 'hooks.yaml'), {})], { stagingUrl: db.url, groupCommit: { maxPending: MAX_PENDING, maxWaitMs: 1 } });
    app = buildServer(service);
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    admin = new pg.Client({ connectionString: db.url });
    admin.on('error', () => undefined); // a test below drops the database under it
    await admin.connect();
    // the stream's row exists once a first delivery is staged
    expect((await send('first')).status).toBe(200);
  });
  afterEach(async () => {
    await admin.end();
    await app.close();
    await service.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function send(id: string, org = 'acme'): Promise<Answer> {
    const res = await fetch(`${base}/hooks/hooks/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-delivery-id': id }, body: JSON.stringify({ org, id }) });
    return { id, status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
  }

  /** Holds the stream's row in another session: intakes wait for it. Returns the release. */
  async function holdStream(): Promise<() => Promise<void>> {
    await admin.query('BEGIN');
    await admin.query(`SELECT id FROM sluice_streams WHERE pipeline = 'hooks' AND source = 'events' FOR UPDATE`);
    return async () => {
      await admin.query('COMMIT');
    };
  }

  const stagedIds = async (): Promise<string[]> => (await admin.query<{ delivery_id: string }>('SELECT delivery_id FROM sluice_deliveries ORDER BY delivery_id')).rows.map((r) => r.delivery_id);
  const recordKeys = async (): Promise<string[]> => (await admin.query<{ key: string }>('SELECT key FROM sluice_records ORDER BY key')).rows.map((r) => r.key);

  /** Starts the sends; resolves with the answers that came while the store was held, and the rest. */
  async function sendWhileHeld(ids: string[], answeredWhileHeld: number, release: () => Promise<void>): Promise<{ early: Answer[]; late: Answer[] }> {
    const early: Answer[] = [];
    const all = ids.map((id) =>
      send(id).then((a) => {
        early.push(a);
        return a;
      }),
    );
    for (let waited = 0; early.length < answeredWhileHeld; waited += 10) {
      expect(waited).toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 10));
    }
    // nothing more is answered while the store is held
    await new Promise((r) => setTimeout(r, 200));
    const answeredEarly = [...early];
    await release();
    const answers = await Promise.all(all);
    return { early: answeredEarly, late: answers.filter((a) => !answeredEarly.includes(a)) };
  }

  test('past maxPending deliveries waiting, the rest are answered 503 with Retry-After and not staged; every 200 is staged', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `d${String(i).padStart(2, '0')}`);
    const release = await holdStream();
    const { early, late } = await sendWhileHeld(ids, ids.length - MAX_PENDING, release);

    expect(early).toHaveLength(ids.length - MAX_PENDING);
    for (const a of early) {
      expect(a).toMatchObject({ status: 503, retryAfter: '1', body: { error: 'overloaded', reason: expect.stringMatching(/already waiting/) } });
    }
    expect(late.map((a) => [a.status, a.body.status])).toEqual(late.map(() => [200, 'staged']));
    const accepted = late.map((a) => a.id).sort();
    expect(await stagedIds()).toEqual(['first', ...accepted].sort());
    expect(await recordKeys()).toEqual(['first', ...accepted].sort());

    // the refused ones, sent again one at a time (as a sender's retries would come), are staged
    for (const a of early) expect((await send(a.id)).status).toBe(200);
    expect(await stagedIds()).toEqual(['first', ...ids].sort());
  });

  test('a group that fails to commit is answered 503 with Retry-After and leaves nothing staged', async () => {
    // a real failure inside the intake's transaction: the store refuses this tenant's records
    await admin.query(`ALTER TABLE sluice_records ADD CONSTRAINT no_boom CHECK (tenant <> 'boom') NOT VALID`);
    const failed = await send('boom-1', 'boom');
    expect(failed).toMatchObject({ status: 503, retryAfter: '5', body: { error: 'staging_failed', reason: expect.stringMatching(/could not stage the delivery: .*no_boom/) } });
    expect(await stagedIds()).toEqual(['first']);

    expect((await send('fine-1')).status).toBe(200);
    await admin.query('ALTER TABLE sluice_records DROP CONSTRAINT no_boom');
    expect(await send('boom-1', 'boom')).toMatchObject({ status: 200, body: { status: 'staged', id: 'boom-1' } });
    expect(await stagedIds()).toEqual(['boom-1', 'fine-1', 'first']);
  });

  test('a store that goes away: /health answers 503 naming it, deliveries are answered 503, the server stays up', async () => {
    const health = async () => {
      const res = await fetch(`${base}/health`);
      return { status: res.status, body: (await res.json()) as { status: string; stores: { location: string; ok: boolean; error?: string }[] } };
    };
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok', stores: [{ ok: true }] } });
    await db.drop();
    const down = await health();
    expect(down).toMatchObject({ status: 503, body: { status: 'failing', stores: [{ location: expect.stringContaining(db.name), ok: false, error: expect.stringContaining('does not exist') }] } });
    expect(await send('while-down')).toMatchObject({ status: 503, retryAfter: '5', body: { error: 'staging_failed', reason: expect.stringMatching(/cannot connect to the staging store/) } });
    expect((await health()).status).toBe(503);
  });

  test('a server that stops refuses new deliveries with 503 and commits, then answers, those it took', async () => {
    const release = await holdStream();
    const taken = ['t1', 't2', 't3'].map((id) => send(id));
    // the three are taken (received, waiting for their commit), and the store holds them up
    const pending = async () => ((await (await fetch(`${base}/health`)).json()) as { intake: { pending: number }[] }).intake[0]!.pending;
    for (let waited = 0; (await pending()) < 3; waited += 10) {
      expect(waited).toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 10));
    }
    const stopping = service.close();
    expect(await send('late')).toMatchObject({ status: 503, retryAfter: '5', body: { error: 'shutting_down' } });
    await release();
    expect((await Promise.all(taken)).map((a) => [a.status, a.body.status])).toEqual([
      [200, 'staged'],
      [200, 'staged'],
      [200, 'staged'],
    ]);
    await stopping;
    expect(await stagedIds()).toEqual(['first', 't1', 't2', 't3']);
  });
});
