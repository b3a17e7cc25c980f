// Integers past 2^53 (64-bit ids) in records that go through the refiner and into CSV: JSON.parse reads
// such a number as a neighbouring one, so a refined record or a CSV cell would hold another id. Here a
// PostgreSQL source with big ids in a jsonb column and in text is refined (coerced, derived) and exported
// as JSON Lines and CSV: every id arrives with all its digits, as a number; an expression that would
// have to compute with one fails its record with a reason that says so, and the original is kept.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseLossless } from '../../../src/core/json-text';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline } from '../../../src/run/run';
import { openStore } from '../../../src/stage/open';
import { describeWith, scratchDatabase, stagingBackends, type ScratchDb } from '../../helpers/services';

const USER = 12345678901234567891n; // past 2^64 even: no double and no int64 holds it
const REFS = [9007199254740993n, -9223372036854775807n];
const ORDER = 18446744073709551615n;

describeWith('postgres', 'integers past 2^53 through the refiner and CSV', () => {
  let source: ScratchDb;
  let dir: string;

  beforeAll(async () => {
    source = await scratchDatabase('postgres');
    const c = new pg.Client({ connectionString: source.url });
    await c.connect();
    await c.query(`CREATE TABLE events (id int PRIMARY KEY, tenant text, order_ref text, payload jsonb)`);
    await c.query(`INSERT INTO events VALUES (1, 'acme', $1, $2::jsonb), (2, 'acme', '7', '{"user_id": 5}')`, [
      ORDER.toString(),
      `{"user_id": ${USER}, "refs": [${REFS.join(', ')}], "note": "64-bit"}`,
    ]);
    await c.end();
  }, 30_000);
  afterAll(() => source?.drop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-big-int-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const exported = (format: string) => {
    const tenantDir = join(dir, 'out', 'events', 'acme');
    const id = readdirSync(tenantDir).find((n) => /^\d/.test(n))!;
    return readFileSync(join(tenantDir, id, `events.${format}`), 'utf8');
  };

  for (const [name, make] of stagingBackends(() => dir, 'big integers through the refiner')) {
    test(`on ${name}: refined JSON Lines and CSV keep every digit; an expression computing with one fails its record`, async () => {
      const staging = await make();
      try {
        const file = join(dir, 'events.yaml');
        writeFileSync(
          file,
          `name: events
sources:
  - name: events
    read: { driver: postgres, url: "${source.url}", table: events, key: id }
tenant: { column: tenant }
refine:
  - rules:
      - coerce: { order_ref: number }
      - derive: { field: first_ref, expr: "payload.refs[0]" }
      - validate: { order_ref: { type: number, min: 1 } }
export:
  - { format: jsonl, path: "${join(dir, 'out')}" }
  - { format: csv, path: "${join(dir, 'out')}" }
`,
        );
        const summary = await runPipeline(loadPipeline(file, {}), { stagingUrl: staging.url, env: {} });
        expect(summary.status).toBe('succeeded');

        const lines = exported('jsonl').trim().split('\n').map((l) => parseLossless(l) as Record<string, unknown>);
        const big = lines.find((l) => l.id === 1)!;
        expect(big).toMatchObject({ order_ref: ORDER, first_ref: REFS[0], payload: { user_id: USER, refs: REFS, note: '64-bit' } });
        expect(exported('jsonl')).toContain(`"order_ref":${ORDER}`);

        const csv = exported('csv');
        for (const n of [USER, ...REFS, ORDER]) expect(csv).toContain(n.toString());

        // an expression that has to write text with such a number: the record fails, kept as staged
        writeFileSync(file, readFileSync(file, 'utf8').replace('expr: "payload.refs[0]"', 'expr: "$string(payload.user_id)"'));
        await runPipeline(loadPipeline(file, {}), { stagingUrl: staging.url, env: {} });
        const store = openStore(staging.url);
        try {
          const held = await store.held('events', { tenant: 'acme', limit: 10 });
          expect(held).toHaveLength(1);
          expect(held[0]!.detail).toMatch(/integer past 2\^53/);
          expect(held[0]!.data).toContain(`"user_id": ${USER}`);
        } finally {
          await store.close();
        }
      } finally {
        await staging.done();
      }
    }, 60_000);
  }
});
