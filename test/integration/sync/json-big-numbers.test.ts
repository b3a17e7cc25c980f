// JSON columns hold integers past 2^53 (64-bit ids from other systems, nested in documents). JSON.parse
// reads such a number as a neighbouring one: a sync that parsed the document and wrote it to the other
// side would write another id, silently. Here a PostgreSQL jsonb column and a MariaDB JSON column are
// synced both ways: every integer arrives with all its digits, edits on either side carry over without a
// conflict, and a run with nothing new writes nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseLossless } from '../../../src/core/json-text';
import { loadPipeline, type Pipeline } from '../../../src/run/pipeline';
import { runSync } from '../../../src/run/sync';
import { describeWith, isUp, scratchDatabase, type ScratchDb } from '../../helpers/services';

const describeBoth = isUp('postgres') ? describeWith : (_s: string, name: string, fn: () => void) => describeWith('postgres', name, fn);

/** A document with big integers in it, as text (JSON.stringify cannot write them). */
type Doc = { id: bigint; refs: bigint[]; note: string; n: number };
const docText = (d: Doc) => `{"id": ${d.id}, "refs": [${d.refs.join(', ')}], "note": ${JSON.stringify(d.note)}, "n": ${d.n}}`;
const big = fc.bigInt({ min: 2n ** 53n + 1n, max: 2n ** 63n - 1n }).chain((b) => fc.constantFrom(b, -b));
const doc = fc.record({ id: big, refs: fc.array(big, { maxLength: 3 }), note: fc.string({ maxLength: 20 }), n: fc.integer() });

describeBoth('mysql', 'sync of JSON columns holding integers past 2^53: PostgreSQL jsonb ↔ MariaDB JSON', () => {
  let crm: ScratchDb;
  let support: ScratchDb;
  let dir: string;
  let pgc: pg.Client;
  let my: mysql.Connection;
  let pipeline: Pipeline;
  let staging: string;

  beforeAll(async () => {
    [crm, support] = await Promise.all([scratchDatabase('postgres'), scratchDatabase('mysql')]);
    pgc = new pg.Client({ connectionString: crm.url });
    await pgc.connect();
    my = await mysql.createConnection({ uri: support.url, jsonStrings: true });
    dir = mkdtempSync(join(tmpdir(), 'sluice-json-big-'));
    writeFileSync(
      join(dir, 'docs.yaml'),
      `name: docs-sync
sync:
  a: { name: crm, read: { driver: postgres, url: "${crm.url}", table: docs, key: id, cursor: updated_at }, write: { table: docs, touch: updated_at } }
  b: { name: support, read: { driver: mysql, url: "${support.url}", table: docs, key: id, cursor: modified }, write: { table: docs } }
  match: { a: name, b: name }
  fields:
    - { a: name, b: name }
    - { a: doc, b: doc }
  conflicts: merge
`,
    );
    pipeline = loadPipeline(join(dir, 'docs.yaml'));
  }, 60_000);

  beforeEach(async () => {
    await pgc.query('DROP TABLE IF EXISTS docs; CREATE TABLE docs (id serial PRIMARY KEY, name text UNIQUE, doc jsonb, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await my.query('DROP TABLE IF EXISTS docs');
    await my.query('CREATE TABLE docs (id int AUTO_INCREMENT PRIMARY KEY, name varchar(40) UNIQUE, doc JSON, modified datetime(6) NOT NULL DEFAULT current_timestamp(6) ON UPDATE current_timestamp(6))');
  });

  afterAll(async () => {
    await pgc?.end();
    await my?.end();
    await Promise.all([crm?.drop(), support?.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const sync = () => runSync(pipeline, { stagingUrl: staging });
  const docsA = async () => new Map((await pgc.query<{ name: string; doc: string }>('SELECT name, doc::text AS doc FROM docs')).rows.map((r) => [r.name, parseLossless(r.doc)]));
  const docsB = async () => new Map((await my.query<mysql.RowDataPacket[]>('SELECT name, doc FROM docs'))[0].map((r) => [String(r.name), parseLossless(String(r.doc))]));
  const expected = (d: Doc) => parseLossless(docText(d));

  test('property: documents created and edited on either side arrive with every digit, and a quiet run writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(doc, { minLength: 1, maxLength: 6 }), fc.array(doc, { minLength: 1, maxLength: 6 }), async (fromA, fromB) => {
        // a fresh pair of tables for each case
        await pgc.query('TRUNCATE docs RESTART IDENTITY');
        await my.query('TRUNCATE docs');
        staging = `sqlite:${join(dir, `staging-${Date.now()}-${Math.random()}.db`)}`;
        for (const [i, d] of fromA.entries()) await pgc.query('INSERT INTO docs (name, doc) VALUES ($1, $2::jsonb)', [`a${i}`, docText(d)]);
        for (const [i, d] of fromB.entries()) await my.query('INSERT INTO docs (name, doc) VALUES (?, ?)', [`b${i}`, docText(d)]);

        const first = await sync();
        expect(first.sides.b.created).toBe(fromA.length);
        expect(first.sides.a.created).toBe(fromB.length);
        const want = new Map([...fromA.map((d, i) => [`a${i}`, expected(d)] as const), ...fromB.map((d, i) => [`b${i}`, expected(d)] as const)]);
        expect(await docsA()).toStrictEqual(want);
        expect(await docsB()).toStrictEqual(want);

        // each side edits the other's documents: new big ids, carried back
        const editA = fromB[0]!;
        const editB = fromA[0]!;
        const newA = { ...editA, id: editA.id + 2n, refs: [...editA.refs, -editA.id] };
        const newB = { ...editB, id: editB.id - 2n };
        await pgc.query('UPDATE docs SET doc = $1::jsonb, updated_at = clock_timestamp() WHERE name = $2', [docText(newA), 'b0']);
        await my.query('UPDATE docs SET doc = ? WHERE name = ?', [docText(newB), 'a0']);
        const second = await sync();
        expect(second.queued).toBe(0);
        want.set('b0', expected(newA));
        want.set('a0', expected(newB));
        expect(await docsA()).toStrictEqual(want);
        expect(await docsB()).toStrictEqual(want);

        const quiet = await sync();
        for (const side of ['a', 'b'] as const) expect(quiet.sides[side]).toMatchObject({ created: 0, updated: 0, deleted: 0, conflicts: 0, queued: 0 });
      }),
      { numRuns: 8 },
    );
  }, 120_000);
});
