// The rules step inside whole runs, on both staging stores: exports carry the refined records; the
// staged originals are untouched; quarantined and filtered records stay out of the datasets with their
// reasons and provenance kept; an unchanged source refines nothing again; editing the rules re-refines
// and re-exports every record.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import type { Manifest } from '../../../src/export/manifest';
import { openStore } from '../../../src/stage/open';
import { readJsonl, readRecords } from '../../helpers/cli-sluice';
import { stagingBackends } from '../../helpers/services';

const RULES = `
refine:
  - rules:
      - rename: { cust_email: email }
      - normalize: { email: [trim, lowercase] }
      - map: { field: status, values: { P: pending, S: shipped }, default: unknown }
      - coerce: { amount: number }
      - derive: { field: amount_cents, expr: "$round(amount * 100)" }
      - validate: { email: { pattern: "^[^@]+@[^@]+$" }, amount: { min: 0 } }
      - filter: "status != 'unknown'"
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-refine-'));
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT, cust_email TEXT, status TEXT, amount TEXT)`);
  const insert = db.prepare(`INSERT INTO orders VALUES (?, ?, ?, ?, ?)`);
  insert.run(1, 'acme', '  Ada@Example.ORG ', 'P', '12.50'); // refined
  insert.run(2, 'acme', 'not-an-email', 'S', '-3'); // quarantined: two failures
  insert.run(3, 'globex', 'g@x.io', 'Q', '1'); // filtered: unknown status
  insert.run(4, 'globex', 'h@x.io', 'S', 'ten'); // quarantined: amount does not convert
  db.close();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function pipelineFile(rules: string): string {
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `name: shop
sources:
  - name: orders
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: orders, key: id }
tenant: { column: tenant }
${rules}
export:
  - format: jsonl
    path: ${join(dir, 'out')}
`,
  );
  return file;
}

const run = (file: string, staging: string): Promise<RunSummary> => runPipeline(loadPipeline(file, {}), { stagingUrl: staging, env: {} });
const exported = (s: RunSummary, tenant: string) => {
  const e = s.exports.find((x) => x.tenant === tenant);
  return e ? readRecords(join(e.dir, 'orders.jsonl')) : [];
};

const stores = stagingBackends(() => dir, 'refine');

describe.each(stores)('refine in a run, %s staging', (_name, make) => {
  test('exports what records became, keeps originals and reasons, refines only what changed, re-refines when the rules change', async () => {
    const staging = await make();
    try {
      const file = pipelineFile(RULES);
      const first = await run(file, staging.url);
      expect(first.refined).toEqual({ orders: { refined: 1, filtered: 1, quarantined: 2, failed: 0, pending: 0 } });
      expect(exported(first, 'acme')).toEqual([{ id: 1, tenant: 'acme', email: 'ada@example.org', status: 'pending', amount: 12.5, amount_cents: 1250 }]);
      expect(exported(first, 'globex')).toEqual([]);
      // the manifest names the chain and its steps, what was left out and why, and the schema written
      const manifest = (tenant: string) => JSON.parse(readFileSync(join(first.exports.find((e) => e.tenant === tenant)!.dir, 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest('acme').refine).toEqual({ version: expect.stringMatching(/^[0-9a-f]{12}$/), steps: [{ name: 'rules', version: expect.any(String) }] });
      expect(manifest('acme').sources.orders!.leftOut).toEqual({ quarantined: 1 });
      expect(manifest('globex').sources.orders!.leftOut).toEqual({ quarantined: 1, filtered: 1 });
      expect([...manifest('acme').files[0]!.schema!].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: '_sluice', type: 'object', nullable: false },
        { name: 'amount', type: 'number', nullable: false },
        { name: 'amount_cents', type: 'integer', nullable: false },
        { name: 'email', type: 'string', nullable: false },
        { name: 'id', type: 'integer', nullable: false },
        { name: 'status', type: 'string', nullable: false },
        { name: 'tenant', type: 'string', nullable: false },
      ]);
      // lineage names the chain version that refined the record
      const [line] = readJsonl<{ _sluice: unknown }>(join(first.exports.find((e) => e.tenant === 'acme')!.dir, 'orders.jsonl'));
      expect(line!._sluice).toEqual({ source: 'orders', key: '1', run: first.run, refinedBy: expect.stringMatching(/^[0-9a-f]{12}$/) });

      const store = openStore(staging.url);
      try {
        // the staged originals are as the source had them
        const staged = [];
        for await (const page of store.read('acme', { pipeline: 'shop', source: 'orders', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER, op: 'upsert' })) staged.push(...page);
        expect(JSON.parse(staged.find((r) => r.key === '1')!.json!)).toEqual({ id: 1, tenant: 'acme', cust_email: '  Ada@Example.ORG ', status: 'P', amount: '12.50' });
      } finally {
        await store.close();
      }

      const again = await run(file, staging.url);
      expect(again.refined).toEqual({ orders: { refined: 0, filtered: 0, quarantined: 0, failed: 0, pending: 0 } });
      expect(again.exports).toEqual([]);

      // loosen the rules: every record is refined again and the new outcomes are exported
      const looser = pipelineFile(RULES.replace('amount: { min: 0 }', 'amount: { min: -10 }').replace('default: unknown', 'default: shipped'));
      const third = await run(looser, staging.url);
      expect(third.refined).toEqual({ orders: { refined: 2, filtered: 0, quarantined: 2, failed: 0, pending: 0 } }); // 4's amount still does not convert
      expect(exported(third, 'acme').map((r) => r.id)).toEqual([1]); // 2 still fails its email pattern
      expect(exported(third, 'globex').map((r) => r.id)).toEqual([3]);
    } finally {
      await staging.done();
    }
  });
});

describe.each(stores)('a _sluice field and lineage, %s staging', (_name, make) => {
  test('a field named _sluice blocks lineage until a rule renames it: then every record is exported, its value kept under the new name', async () => {
    const staging = await make();
    try {
      const db = new Database(join(dir, 'src.db'));
      db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, tenant TEXT, _sluice TEXT)`);
      db.prepare(`INSERT INTO events VALUES (?, ?, ?)`).run(1, 'acme', 'the sender said so');
      db.close();
      const file = join(dir, 'events.yaml');
      const write = (refine: string) =>
        writeFileSync(
          file,
          `name: events
sources:
  - name: events
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: events, key: id }
tenant: { column: tenant }
${refine}
export:
  - { format: jsonl, path: ${join(dir, 'out')} }
`,
        );
      write('');
      await expect(run(file, staging.url)).rejects.toMatchObject({ code: 'SLUICE_EXPORT_LINEAGE' });
      write('refine:\n  - rules:\n      - rename: { _sluice: sender_sluice }');
      const summary = await run(file, staging.url);
      const e = summary.exports.find((x) => x.tenant === 'acme')!;
      expect(readJsonl<Record<string, unknown>>(join(e.dir, 'events.jsonl'))).toEqual([
        { id: 1, tenant: 'acme', sender_sluice: 'the sender said so', _sluice: { source: 'events', key: '1', run: expect.any(String), refinedBy: expect.any(String) } }, // run: the one that staged it
      ]);
    } finally {
      await staging.done();
    }
  });
});

test('quarantine details keep every failure with the step and provenance', async () => {
  const staging = `sqlite:${join(dir, 'staging.db')}`;
  await run(pipelineFile(RULES), staging);
  const db = new Database(join(dir, 'staging.db'), { readonly: true });
  try {
    const row = db.prepare(`SELECT refine_status, refine_detail, refined FROM sluice_records WHERE key = '2'`).get() as { refine_status: string; refine_detail: string; refined: string | null };
    expect(row.refine_status).toBe('quarantined');
    expect(row.refined).toBeNull();
    const detail = JSON.parse(row.refine_detail) as { step: string; failures: unknown[]; provenance: { step: string; version: string }[] };
    expect(detail.step).toBe('rules');
    expect(detail.failures).toEqual([
      { rule: 'validate', field: 'email', reason: 'does not match /^[^@]+@[^@]+$/' },
      { rule: 'validate', field: 'amount', reason: 'value -3 is below the minimum 0' },
    ]);
    expect(detail.provenance).toEqual([{ step: 'rules', version: expect.stringMatching(/^[0-9a-f]{12}$/), at: expect.any(String) }]);
  } finally {
    db.close();
  }
});
