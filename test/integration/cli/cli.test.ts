// The `sluice` command as users run it: `node bin/sluice.js ...` in a working directory of its own
// (pipelines/chinook.yaml copied there, CHINOOK_DB pointing at the SQLite Chinook), checking exit codes,
// what it prints and what it leaves on disk. Needs a fresh dist/ (`npm test` builds it first).
import { copyFileSync, existsSync, lstatSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ERROR_CODES } from '../../../src/core/errors';
import type { DryRunSummary } from '../../../src/run/dry-run';
import type { RunSummary } from '../../../src/run/run';
import { openStore } from '../../../src/stage/open';
import type { ExportRow, RunRow, StagingStore, StreamRow, TenantCount } from '../../../src/stage/store';
import {
  BAD_PIPELINES,
  CHINOOK_SQLITE,
  REPO,
  expectExit,
  exportFolders,
  newFolders,
  readJson,
  readJsonl,
  show,
  sluice,
  snapshotTree,
  verifyExportFolder,
  workdir,
  type CliResult,
  type Env,
  type ManifestFile,
  type Workdir,
} from '../../helpers/cli-sluice';
import { describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';

const PIPELINE = 'pipelines/chinook.yaml';
const SOURCES = ['invoices', 'invoice_lines', 'customers'] as const;
type Source = (typeof SOURCES)[number];
/** The column each source's tenant comes from (pipelines/chinook.yaml). */
const TENANT_COLUMN: Record<Source, string> = { invoices: 'BillingCountry', invoice_lines: 'BillingCountry', customers: 'Country' };
const STACK_LINE = /^ {4}at /m;

interface Status {
  pipeline: string;
  staging: string;
  sources: Omit<StreamRow, 'fields'>[];
  runs: RunRow[];
  records: TenantCount[];
  exports: ExportRow[];
}

interface CountryCount {
  country: string;
  n: number;
}

/** What Chinook holds, per country, read straight from the fixture. */
const chinook = (() => {
  const db = new Database(CHINOOK_SQLITE, { readonly: true, fileMustExist: true });
  try {
    const per = (sql: string) => Object.fromEntries((db.prepare(sql).all() as CountryCount[]).map((r) => [r.country, r.n]));
    return {
      invoices: per(`SELECT BillingCountry AS country, count(*) AS n FROM Invoice GROUP BY 1`),
      invoice_lines: per(`SELECT i.BillingCountry AS country, count(*) AS n FROM InvoiceLine l JOIN Invoice i ON i.InvoiceId = l.InvoiceId GROUP BY 1`),
      customers: per(`SELECT Country AS country, count(*) AS n FROM Customer GROUP BY 1`),
    } satisfies Record<Source, Record<string, number>>;
  } finally {
    db.close();
  }
})();
const COUNTRIES = Object.keys(chinook.invoices).sort();
/** Chinook's country names are letters and spaces, so their folder names only encode the space. */
const folderOf = (country: string) => country.replace(/ /g, '%20');

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

let w: Workdir;
beforeEach(() => {
  w = workdir();
});
afterEach(() => {
  w.cleanup();
});

const run = (args: readonly string[], env: Env = {}): Promise<CliResult> => sluice(args, { cwd: w.dir, env: { ...w.env, ...env } });

async function runJson<T>(args: readonly string[], env: Env = {}): Promise<T> {
  const r = await run([...args, '--json'], env);
  expectExit(r, 0);
  try {
    return JSON.parse(r.stdout) as T;
  } catch (err) {
    throw new Error(`stdout is not JSON (${(err as Error).message}):\n${show(r)}`);
  }
}

const status = (file = PIPELINE, env: Env = {}) => runJson<Status>(['status', file], env);

/** A writable copy of Chinook in the working directory; CHINOOK_DB points at it from now on. */
function chinookCopy(): string {
  const copy = join(w.dir, 'chinook-copy.sqlite');
  copyFileSync(CHINOOK_SQLITE, copy);
  w.env.CHINOOK_DB = copy;
  return copy;
}

function changeSource(file: string, sql: string[]): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    for (const s of sql) db.prepare(s).run();
  } finally {
    db.close();
  }
}

const NEW_INVOICE = `INSERT INTO Invoice (InvoiceId, CustomerId, InvoiceDate, BillingAddress, BillingCity, BillingState, BillingCountry, BillingPostalCode, Total)
  VALUES (413, 4, '2026-01-15 00:00:00', 'Ullevålsveien 14', 'Oslo', NULL, 'Norway', '0171', 9.99)`;

/** The export folder a tenant's `latest` link points at (checking it is a relative link to a sibling). */
function latest(tenantFolder: string): string {
  const link = join(w.exportRoot, tenantFolder, 'latest');
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  const target = readlinkSync(link);
  expect(target).not.toContain('/');
  return target;
}

function exportDir(tenantFolder: string, id: string): string {
  return join(w.exportRoot, tenantFolder, id);
}

function noTemporaries(): void {
  for (const tenant of readdirSync(w.exportRoot)) {
    expect(readdirSync(join(w.exportRoot, tenant)).filter((e) => e.startsWith('.'))).toEqual([]);
  }
}

function rowsOf(dir: string, source: Source): Record<string, unknown>[] {
  return readJsonl(join(dir, `${source}.jsonl`));
}

/** After the first run: one snapshot per country, whose files, manifest and rows are all right. */
function expectSnapshotPerCountry(): Record<string, ManifestFile> {
  const folders = exportFolders(w.exportRoot);
  expect(Object.keys(folders)).toEqual(COUNTRIES.map(folderOf).sort());
  expect(folders['United%20Kingdom']).toHaveLength(1);
  expect(folders['Czech%20Republic']).toHaveLength(1);
  noTemporaries();
  const manifests: Record<string, ManifestFile> = {};
  const totals: Record<Source, number> = { invoices: 0, invoice_lines: 0, customers: 0 };
  for (const country of COUNTRIES) {
    const folder = folderOf(country);
    expect(folders[folder]).toHaveLength(1);
    const id = folders[folder]![0]!;
    expect(latest(folder)).toBe(id);
    const dir = exportDir(folder, id);
    expect(readdirSync(dir).sort()).toEqual(
      ['manifest.json', ...SOURCES.flatMap((s) => [`${s}.jsonl`, `${s}.csv`])].sort(),
    );
    const manifest = verifyExportFolder(dir);
    expect(manifest).toMatchObject({ pipeline: 'chinook', tenant: country, export: id, kind: 'snapshot', previous: null, manifestVersion: 1 });
    for (const source of SOURCES) {
      const rows = rowsOf(dir, source);
      // every row in a tenant's dataset belongs to that tenant
      expect(rows.filter((r) => r[TENANT_COLUMN[source]] !== country)).toEqual([]);
      expect({ country, source, rows: rows.length }).toEqual({ country, source, rows: chinook[source][country] ?? 0 });
      expect(manifest.sources[source]).toMatchObject({ rows: rows.length, deleted: 0, seq: { after: 0 } });
      totals[source] += rows.length;
    }
    manifests[country] = manifest;
  }
  expect(totals).toEqual({ invoices: 412, invoice_lines: 2240, customers: 59 });
  expect(rowsOf(exportDir('USA', folders.USA![0]!), 'invoices')).toHaveLength(91);
  return manifests;
}

describe('sluice run with the default SQLite staging store', () => {
  test('the first run exports a snapshot per country, with manifests that match the files', async () => {
    const r = await run(['run', PIPELINE]);
    expectExit(r, 0);
    expect(r.stdout).toMatch(/^chinook: run [0-9a-f-]{36} succeeded in /);
    expect(r.stdout).toContain(`staging: sqlite ${join(w.dir, '.sluice', 'staging.db')}`);
    expect(r.stdout).toMatch(/^\s*invoices\s+412\s+412\s+0\s+5\s*$/m);
    expect(r.stdout).toMatch(/^\s*invoice_lines\s+2,240\s+2,240\s+0\s+5\s*$/m);
    expect(r.stdout).toMatch(/^\s*customers\s+59\s+59\s+0\s+1\s*$/m);
    expect(r.stdout).toContain(`exported 2,711 rows in ${COUNTRIES.length} tenant export(s) to out:`);
    expect(r.stdout).toMatch(/^\s*United Kingdom\s+snapshot\s+138\s+0\s+\S+United%20Kingdom\/\S+$/m);
    expect(r.stderr).toContain('invoices: 412 rows read');
    expect(r.stderr).not.toMatch(STACK_LINE);

    const manifests = expectSnapshotPerCountry();
    // one export id for the whole run, and the manifest traces it back to the run and the sources
    const ids = new Set(Object.values(manifests).map((m) => m.export));
    expect(ids.size).toBe(1);
    const usa = manifests.USA!;
    // checkpoints are the readers' own (opaque): only what they must hold is pinned
    expect(usa.sources.invoices!.checkpoint).toMatchObject({ mode: 'cursor', cursor: '2025-12-22 00:00:00', key: [412] });
    expect(usa.sources.customers!.checkpoint).toMatchObject({ mode: 'full', done: true });
    expect(usa.sources.invoices!.fields.map((f) => f.name)).toEqual([
      'InvoiceId', 'CustomerId', 'InvoiceDate', 'BillingAddress', 'BillingCity', 'BillingState', 'BillingCountry', 'BillingPostalCode', 'Total',
    ]);
    expect(usa.files.find((f) => f.path === 'invoices.csv')!.columns!.map((c) => c.name)).toContain('BillingCountry');
    const [lastRun] = (await status()).runs;
    expect(usa.run).toBe(lastRun!.id);
  });

  test('a second run moves only what changed; --full writes a snapshot for every tenant', async () => {
    expectExit(await run(['run', PIPELINE]), 0);
    const first = exportFolders(w.exportRoot);
    const outBefore = snapshotTree(join(w.dir, 'out'));

    // nothing changed: no invoice is read again, nothing is staged, no export is written
    const second = await run(['run', PIPELINE]);
    expectExit(second, 0);
    expect(second.stdout).toMatch(/^\s*invoices\s+0\s+0\s+0\s+0\s*$/m);
    expect(second.stdout).toMatch(/^\s*invoice_lines\s+0\s+0\s+0\s+0\s*$/m);
    expect(second.stdout).toMatch(/^\s*customers\s+59\s+0\s+59\s+1\s*$/m);
    expect(second.stdout).toContain('no new exports: nothing changed since the previous ones');
    expect(snapshotTree(join(w.dir, 'out'))).toEqual(outBefore);

    // one customer's city changes (Brazil) and one invoice is added, later than every other (Norway)
    const copy = chinookCopy();
    changeSource(copy, [`UPDATE Customer SET City = 'Campinas' WHERE CustomerId = 1`, NEW_INVOICE]);
    const third = await runJson<RunSummary>(['run', PIPELINE]);
    expect(third.sources).toEqual([
      { name: 'invoices', read: 1, staged: 1, unchanged: 0, batches: 1 },
      { name: 'invoice_lines', read: 0, staged: 0, unchanged: 0, batches: 0 },
      { name: 'customers', read: 59, staged: 1, unchanged: 58, batches: 1 },
    ]);
    expect(third.exports.map(({ tenant, kind, rows, deleted, target }) => ({ tenant, kind, rows, deleted, target }))).toEqual([
      { tenant: 'Brazil', kind: 'changes', rows: 1, deleted: 0, target: 'out' },
      { tenant: 'Norway', kind: 'changes', rows: 1, deleted: 0, target: 'out' },
    ]);
    const afterThird = exportFolders(w.exportRoot);
    const added = newFolders(first, afterThird);
    expect(Object.keys(added)).toEqual(['Brazil', 'Norway']);
    const changeId = third.exports[0]!.id;
    expect(added).toEqual({ Brazil: [changeId], Norway: [changeId] });
    noTemporaries();

    const brazil = verifyExportFolder(exportDir('Brazil', changeId));
    expect(latest('Brazil')).toBe(changeId);
    expect(brazil).toMatchObject({ tenant: 'Brazil', kind: 'changes', previous: first.Brazil![0], run: third.run });
    const brazilFirst = readJson<ManifestFile>(join(exportDir('Brazil', first.Brazil![0]!), 'manifest.json'));
    for (const source of SOURCES) expect(brazil.sources[source]!.seq.after).toBe(brazilFirst.sources[source]!.seq.upTo);
    expect(rowsOf(exportDir('Brazil', changeId), 'customers')).toEqual([expect.objectContaining({ CustomerId: 1, City: 'Campinas', Country: 'Brazil' })]);
    expect(rowsOf(exportDir('Brazil', changeId), 'invoices')).toEqual([]);
    expect(rowsOf(exportDir('Brazil', changeId), 'invoice_lines')).toEqual([]);
    expect(brazil.files.map((f) => f.path)).not.toContain('customers.deleted.jsonl');

    const norway = verifyExportFolder(exportDir('Norway', changeId));
    expect(latest('Norway')).toBe(changeId);
    expect(norway).toMatchObject({ tenant: 'Norway', kind: 'changes', previous: first.Norway![0] });
    expect(rowsOf(exportDir('Norway', changeId), 'invoices')).toEqual([
      expect.objectContaining({ InvoiceId: 413, CustomerId: 4, BillingCountry: 'Norway', InvoiceDate: '2026-01-15T00:00:00+00:00' }),
    ]);
    expect(rowsOf(exportDir('Norway', changeId), 'customers')).toEqual([]);
    // the other tenants' latest exports are untouched
    expect(latest('USA')).toBe(first.USA![0]);

    // --full: a snapshot for every tenant, holding every current record
    const full = await runJson<RunSummary>(['run', PIPELINE, '--full']);
    expect(full.exports).toHaveLength(COUNTRIES.length);
    expect(new Set(full.exports.map((e) => e.kind))).toEqual(new Set(['snapshot']));
    const afterFull = exportFolders(w.exportRoot);
    expect(newFolders(afterThird, afterFull)).toEqual(Object.fromEntries(COUNTRIES.map((c) => [folderOf(c), [full.exports[0]!.id]])));
    const totals: Record<Source, number> = { invoices: 0, invoice_lines: 0, customers: 0 };
    for (const country of COUNTRIES) {
      const dir = exportDir(folderOf(country), full.exports[0]!.id);
      expect(latest(folderOf(country))).toBe(full.exports[0]!.id);
      expect(verifyExportFolder(dir)).toMatchObject({ kind: 'snapshot', tenant: country });
      for (const source of SOURCES) totals[source] += rowsOf(dir, source).length;
    }
    expect(totals).toEqual({ invoices: 413, invoice_lines: 2240, customers: 59 });
    expect(rowsOf(exportDir('Norway', full.exports[0]!.id), 'invoices')).toHaveLength(chinook.invoices.Norway! + 1);
    expect(rowsOf(exportDir('Brazil', full.exports[0]!.id), 'customers')).toContainEqual(expect.objectContaining({ CustomerId: 1, City: 'Campinas' }));
  });

  test('a customer who moves to another country is deleted from the old tenant and added to the new one', async () => {
    const copy = chinookCopy();
    expectExit(await run(['run', PIPELINE]), 0);
    const before = exportFolders(w.exportRoot);
    changeSource(copy, [`UPDATE Customer SET Country = 'Chile' WHERE CustomerId = 1`]);

    const moved = await runJson<RunSummary>(['run', PIPELINE]);
    expect(moved.exports.map(({ tenant, kind, rows, deleted }) => ({ tenant, kind, rows, deleted }))).toEqual([
      { tenant: 'Brazil', kind: 'changes', rows: 0, deleted: 1 },
      { tenant: 'Chile', kind: 'changes', rows: 1, deleted: 0 },
    ]);
    const id = moved.exports[0]!.id;
    expect(newFolders(before, exportFolders(w.exportRoot))).toEqual({ Brazil: [id], Chile: [id] });

    const brazil = verifyExportFolder(exportDir('Brazil', id));
    expect(readJsonl(join(exportDir('Brazil', id), 'customers.deleted.jsonl'))).toEqual([{ key: '1' }]);
    expect(rowsOf(exportDir('Brazil', id), 'customers')).toEqual([]);
    expect(brazil.sources.customers).toMatchObject({ rows: 0, deleted: 1 });
    expect(brazil.files).toContainEqual(expect.objectContaining({ path: 'customers.deleted.jsonl', source: 'customers', rows: 1 }));

    const chile = verifyExportFolder(exportDir('Chile', id));
    expect(rowsOf(exportDir('Chile', id), 'customers')).toEqual([expect.objectContaining({ CustomerId: 1, Country: 'Chile' })]);
    expect(chile.files.map((f) => f.path)).not.toContain('customers.deleted.jsonl');

    const { records } = await status();
    expect(records.find((r) => r.tenant === 'Brazil' && r.source === 'customers')).toEqual({ tenant: 'Brazil', source: 'customers', records: 4, deleted: 1, quarantined: 0, failed: 0 });
    expect(records.find((r) => r.tenant === 'Chile' && r.source === 'customers')).toEqual({ tenant: 'Chile', source: 'customers', records: 2, deleted: 0, quarantined: 0, failed: 0 });
  });

  test('--json prints the run summary as JSON only', async () => {
    const r = await run(['run', PIPELINE, '--json']);
    expectExit(r, 0);
    expect(r.stderr).toBe(''); // no progress lines mixed into a machine-read run
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary).toMatchObject({ pipeline: 'chinook', status: 'succeeded', staging: `sqlite ${join(w.dir, '.sluice', 'staging.db')}` });
    expect(summary.run).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Date(summary.finishedAt).getTime()).toBeGreaterThanOrEqual(new Date(summary.startedAt).getTime());
    expect(summary.sources.map((s) => [s.name, s.read, s.staged, s.unchanged])).toEqual([
      ['invoices', 412, 412, 0],
      ['invoice_lines', 2240, 2240, 0],
      ['customers', 59, 59, 0],
    ]);
    expect(summary.exports).toHaveLength(COUNTRIES.length);
    expect(sum(summary.exports.map((e) => e.rows))).toBe(2711);
    const uk = summary.exports.find((e) => e.tenant === 'United Kingdom')!;
    expect(uk).toEqual({ target: 'out', tenant: 'United Kingdom', id: uk.id, dir: join(w.exportRoot, 'United%20Kingdom', uk.id), kind: 'snapshot', rows: 138, deleted: 0 });
  });

  test('--dry-run reports what would be staged and writes nothing', async () => {
    const copy = chinookCopy();
    // no store yet: none is created
    const text = await run(['run', PIPELINE, '--dry-run']);
    expectExit(text, 0);
    expect(text.stdout).toContain('chinook: dry run, nothing written (staging: sqlite:.sluice/staging.db (does not exist yet))');
    expect(text.stdout).toMatch(/^\s*invoices\s+412\s+412\s+0\s+0\s+0\s*$/m);
    expect(text.stdout).toMatch(/^\s*invoice_lines\s+2,240\s+2,240\s+0\s+0\s+0\s*$/m);
    expect(text.stdout).toContain(`would stage for ${COUNTRIES.length} tenant(s):`);
    expect(text.stdout).toMatch(/^\s*USA\s+598\s*$/m);
    const json = await runJson<DryRunSummary>(['run', PIPELINE, '--dry-run']);
    expect(json).toMatchObject({ pipeline: 'chinook', dryRun: true });
    expect(json.tenants.map((t) => t.tenant)).toEqual(COUNTRIES);
    expect(sum(json.tenants.map((t) => t.wouldStage))).toBe(2711);
    expect(readdirSync(w.dir).sort()).toEqual(['chinook-copy.sqlite', 'pipelines']);

    // with a store: its files and the exports stay exactly as they were
    expectExit(await run(['run', PIPELINE]), 0);
    changeSource(copy, [
      `UPDATE Customer SET City = 'Campinas' WHERE CustomerId = 1`,
      `UPDATE Customer SET Country = 'Denmark' WHERE CustomerId = 4`,
      NEW_INVOICE,
    ]);
    const store = snapshotTree(join(w.dir, '.sluice'));
    const out = snapshotTree(join(w.dir, 'out'));
    const statusBefore = await status();
    const dry = await runJson<DryRunSummary>(['run', PIPELINE, '--dry-run']);
    expect(dry.staging).toBe(`sqlite ${join(w.dir, '.sluice', 'staging.db')}`);
    expect(dry.sources).toEqual([
      { name: 'invoices', read: 1, new: 1, changed: 0, unchanged: 0, movedTenant: 0 },
      { name: 'invoice_lines', read: 0, new: 0, changed: 0, unchanged: 0, movedTenant: 0 },
      { name: 'customers', read: 59, new: 0, changed: 1, unchanged: 57, movedTenant: 1 },
    ]);
    expect(dry.tenants).toEqual([
      { tenant: 'Brazil', wouldStage: 1 },
      { tenant: 'Denmark', wouldStage: 1 },
      { tenant: 'Norway', wouldStage: 1 },
    ]);
    expect(snapshotTree(join(w.dir, '.sluice'))).toEqual(store);
    expect(snapshotTree(join(w.dir, 'out'))).toEqual(out);
    expect(await status()).toEqual(statusBefore); // no run recorded, no checkpoint moved
  });

  test('status shows checkpoints, runs and records per tenant', async () => {
    expectExit(await run(['run', PIPELINE]), 0);
    expectExit(await run(['run', PIPELINE]), 0);

    const text = await run(['status', PIPELINE]);
    expectExit(text, 0);
    expect(text.stdout).toContain(`chinook (staging: sqlite ${join(w.dir, '.sluice', 'staging.db')})`);
    expect(text.stdout).toMatch(/^checkpoints:\n\s+source\s+updated\s+checkpoint\n/m);
    expect(text.stdout).toMatch(/^\s*invoices\s+\S+\s+\{"mode":"cursor","cursor":"2025-12-22 00:00:00","key":\[412\][,}]/m);
    expect(text.stdout).toMatch(/^last runs:$/m);
    expect(text.stdout.match(/ succeeded /g)).toHaveLength(2);
    expect(text.stdout).toMatch(/^staged records per tenant:$/m);
    expect(text.stdout).toMatch(/^\s*USA\s+invoices\s+91\s+0\s*$/m);
    expect(text.stdout).toMatch(/^\s*United Kingdom\s+customers\s+3\s+0\s*$/m);
    expect(text.stdout).toMatch(/^latest exports:$/m);

    const s = await status();
    expect(s.pipeline).toBe('chinook');
    expect(s.staging).toBe(`sqlite ${join(w.dir, '.sluice', 'staging.db')}`);
    expect(s.sources.map((x) => [x.source, x.checkpoint])).toEqual([
      ['customers', expect.objectContaining({ mode: 'full', done: true })],
      ['invoice_lines', expect.objectContaining({ mode: 'cursor', cursor: '2025-12-22 00:00:00', key: [2240] })],
      ['invoices', expect.objectContaining({ mode: 'cursor', cursor: '2025-12-22 00:00:00', key: [412] })],
    ]);
    expect(s.runs.map((r) => [r.status, r.read, r.staged, r.unchanged, r.exported])).toEqual([
      ['succeeded', 59, 0, 59, 0],
      ['succeeded', 2711, 2711, 0, 2711],
    ]);
    expect(s.runs[0]!.startedAt >= s.runs[1]!.startedAt).toBe(true);
    for (const source of SOURCES) {
      const rows = s.records.filter((r) => r.source === source);
      expect(Object.fromEntries(rows.map((r) => [r.tenant, r.records]))).toEqual(chinook[source]);
      expect(rows.every((r) => r.deleted === 0)).toBe(true);
    }
    expect(s.records.find((r) => r.tenant === 'USA' && r.source === 'invoices')!.records).toBe(91);
    expect(s.exports.length).toBeGreaterThan(0);
    for (const e of s.exports) expect(e.dir).toBe(join(w.exportRoot, folderOf(e.tenant), e.id));

    const limited = await runJson<Status>(['status', PIPELINE, '--runs', '1']);
    expect(limited.runs).toEqual([s.runs[0]]);
  });

  test('validate, schema, --help and --version', async () => {
    const valid = await run(['validate', PIPELINE]);
    expectExit(valid, 0);
    expect(valid.stdout).toBe(`${PIPELINE}: valid pipeline chinook (3 source(s), 2 export(s))\n`);
    expect(await runJson(['validate', PIPELINE])).toEqual({
      file: PIPELINE,
      valid: true,
      pipeline: 'chinook',
      sources: [...SOURCES],
      exports: ['jsonl → out', 'csv → out'],
    });

    const schema = await run(['schema']);
    expectExit(schema, 0);
    const json = JSON.parse(schema.stdout) as { type: string; properties: Record<string, unknown>; $id: string };
    expect(json.type).toBe('object');
    expect(json.properties).toHaveProperty('sources');
    expect(json.properties).toHaveProperty('export');
    expect(json.$id).toBe('https://sluice.dev/schema/pipeline.json');

    const help = await run(['--help']);
    expectExit(help, 0);
    expect(help.stdout).toMatch(/^Usage: sluice \[options\] \[command\]/);
    for (const command of ['run', 'validate', 'status', 'schema']) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(help.stdout).toContain('SLUICE_STAGING_URL');
    expect(help.stdout).toContain('Exit codes:');

    const runHelp = await run(['run', '--help']);
    expectExit(runHelp, 0);
    expect(runHelp.stdout).toMatch(/^Usage: sluice run \[options\] <file>/);
    for (const flag of ['--full', '--dry-run', '--json', '--staging <url>']) expect(runHelp.stdout).toContain(flag);
    expect(runHelp.stdout).toMatch(/Exit codes:\n\s+0\s+success\n\s+1\s+the run failed.*\n\s+2\s+invalid input.*\n\s+3\s+another run of the same pipeline holds its lock/);

    const version = await run(['--version']);
    expectExit(version, 0);
    expect(version.stdout.trim()).toBe(readJson<{ version: string }>(join(REPO, 'package.json')).version);

    expect(readdirSync(w.dir)).toEqual(['pipelines']); // none of these touched a store or wrote exports
  });
});

describe('exit 2: invalid input, with file:line:column, writing nothing', () => {
  const nothingWritten = () => {
    expect(existsSync(join(w.dir, '.sluice'))).toBe(false);
    expect(existsSync(join(w.dir, 'out'))).toBe(false);
  };

  // [fixture, error code, the exact `file:line:col path:` prefix after the file name, the rest of the message]
  test.each([
    ['malformed.yaml', 'SLUICE_CONFIG_YAML', ':10:1 ', /^All mapping items must start at the same column$/],
    // the list of known fields and of drivers grows with the schema: only their shape is pinned
    ['unknown-field.yaml', 'SLUICE_CONFIG_INVALID', ':6:5 sources[0].colour: ', /^unknown field; expected one of (\w+, )*read(, \w+)*$/],
    ['wrong-type.yaml', 'SLUICE_CONFIG_INVALID', ':11:18 sources[0].read.batchSize: ', /^expected number, got "lots"$/],
    ['bad-driver.yaml', 'SLUICE_CONFIG_INVALID', ':7:15 sources[0].read.driver: ', /^expected one of (\w+, )*postgres(, \w+)*, got "postgress"$/],
    ['missing-env.yaml', 'SLUICE_CONFIG_ENV', ':8:12 sources[0].read.url: ', /^environment variable SLUICE_TEST_UNSET_DB_URL is not set$/],
  ])('%s → %s', async (fixture, code, where, rest) => {
    copyFileSync(join(BAD_PIPELINES, fixture), join(w.dir, 'pipelines', fixture));
    const file = `pipelines/${fixture}`;
    for (const command of ['run', 'validate']) {
      const r = await run([command, file], { SLUICE_TEST_UNSET_DB_URL: undefined });
      expectExit(r, 2);
      expect(r.stdout).toBe('');
      const prefix = `error ${code}: ${file}${where}`;
      const [first, ...others] = r.stderr.split('\n');
      expect(first!.startsWith(prefix) ? first!.slice(prefix.length) : first).toMatch(rest);
      expect(others.filter((l) => l.startsWith('error '))).toEqual([]); // one problem, reported once
      expect(r.stderr).not.toMatch(STACK_LINE);
      if (fixture === 'missing-env.yaml') expect(r.stderr).toContain('hint: export SLUICE_TEST_UNSET_DB_URL=');
    }
    nothingWritten();
  });

  test('a pipeline file that does not exist', async () => {
    const r = await run(['run', 'pipelines/nope.yaml']);
    expectExit(r, 2);
    expect(r.stderr).toContain('error SLUICE_CONFIG_FILE: cannot read pipeline file pipelines/nope.yaml');
    expect(r.stderr).not.toMatch(STACK_LINE);
    nothingWritten();
  });

  test('an unknown option', async () => {
    const r = await run(['run', PIPELINE, '--bogus']);
    expectExit(r, 2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("error: unknown option '--bogus'");
    expect(r.stderr).toContain('Usage: sluice run [options] <file>');
    nothingWritten();
  });
});

describe('a run that fails is recorded as failed and stages nothing for the failing source', () => {
  const useFixture = (fixture: string) => {
    copyFileSync(join(BAD_PIPELINES, fixture), join(w.dir, 'pipelines', fixture));
    return `pipelines/${fixture}`;
  };

  test('exit 1: an unreachable source database names host and port, without a stack unless --verbose', async () => {
    const file = useFixture('unreachable-source.yaml');
    const r = await run(['run', file]);
    expectExit(r, 1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error SLUICE_SOURCE_CONNECT: unreachable/orders: cannot connect to postgres at 127.0.0.1:1/shop');
    expect(r.stderr).toContain('  at pipeline unreachable, source orders, run ');
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stderr).not.toContain('hunter2-secret');

    const verbose = await run(['--verbose', 'run', file]);
    expectExit(verbose, 1);
    expect(verbose.stderr).toContain('cannot connect to postgres at 127.0.0.1:1');
    expect(verbose.stderr).toMatch(STACK_LINE);
    expect(verbose.stderr).toContain('caused by: ');
    expect(verbose.stderr).not.toContain('hunter2-secret');

    const s = await status(file);
    expect(s.runs.map((x) => [x.status, x.errorCode])).toEqual([
      ['failed', 'SLUICE_SOURCE_CONNECT'],
      ['failed', 'SLUICE_SOURCE_CONNECT'],
    ]);
    expect(s.runs[0]!.error).toContain('127.0.0.1:1');
    expect(s.records.filter((x) => x.source === 'orders')).toEqual([]);
    // the source before it was committed batch by batch and stays; nothing was exported
    expect(sum(s.records.filter((x) => x.source === 'invoices').map((x) => x.records))).toBe(412);
    expect(s.exports).toEqual([]);
    expect(existsSync(join(w.dir, 'out'))).toBe(false);
  });

  test('exit 1: a query with a syntax error', async () => {
    const file = useFixture('bad-query.yaml');
    const r = await run(['run', file]);
    expectExit(r, 1);
    expect(r.stderr).toMatch(/^error SLUICE_SOURCE_QUERY: bad_query\/invoices: .*syntax error/m);
    expect(r.stderr).not.toMatch(STACK_LINE);
    const s = await status(file);
    expect(s.runs).toEqual([expect.objectContaining({ status: 'failed', errorCode: 'SLUICE_SOURCE_QUERY', read: 0, staged: 0 })]);
    expect(s.records).toEqual([]);
    expect(s.sources.filter((x) => x.checkpoint !== null)).toEqual([]);
    expect(existsSync(join(w.dir, 'out'))).toBe(false);
  });

  test('a key column that does not exist is SLUICE_SOURCE_COLUMN, exiting as its kind says', async () => {
    const kind: string = ERROR_CODES.SLUICE_SOURCE_COLUMN.kind;
    const expected = kind === 'config' ? 2 : 1;
    const file = useFixture('missing-key-column.yaml');
    const r = await run(['run', file]);
    expectExit(r, expected);
    expect(r.stderr).toContain('error SLUICE_SOURCE_COLUMN: missing_key/invoices: key column "NoSuchId" does not exist; the source has: InvoiceId, ');
    expect(r.stderr).not.toMatch(STACK_LINE);
    const s = await status(file);
    expect(s.runs).toEqual([expect.objectContaining({ status: 'failed', errorCode: 'SLUICE_SOURCE_COLUMN', read: 0 })]);
    expect(s.records).toEqual([]);
    expect(existsSync(join(w.dir, 'out'))).toBe(false);
  });
});

describe('failures of the staging store and the exports', () => {
  test('exit 1: an export that cannot be written fails the run; the next run exports everything staged', async () => {
    writeFileSync(join(w.dir, 'out'), 'a file where the export folder should be');
    const r = await run(['run', PIPELINE]);
    expectExit(r, 1);
    expect(r.stderr).toMatch(/^error SLUICE_EXPORT_WRITE: export of chinook for tenant \w+ to \S+ failed: /m);
    expect(r.stderr).not.toMatch(STACK_LINE);
    const failed = await status();
    expect(failed.runs).toEqual([expect.objectContaining({ status: 'failed', errorCode: 'SLUICE_EXPORT_WRITE', staged: 2711, exported: 0 })]);
    expect(failed.exports).toEqual([]);

    rmSync(join(w.dir, 'out'));
    const next = await runJson<RunSummary>(['run', PIPELINE]);
    expect(next.sources.map((s) => s.staged)).toEqual([0, 0, 0]); // staged by the failed run, not again
    expect(next.exports).toHaveLength(COUNTRIES.length);
    expect(new Set(next.exports.map((e) => e.kind))).toEqual(new Set(['snapshot']));
    expectSnapshotPerCountry();
  });

  test('exit 1: an unreachable PostgreSQL staging store is named by host and port, never with its password', async () => {
    const r = await run(['run', PIPELINE, '--staging', 'postgres://sluice:hunter2-secret@127.0.0.1:1/staging']);
    expectExit(r, 1);
    expect(r.stderr).toContain('error SLUICE_STAGING_CONNECT: cannot connect to the staging store at 127.0.0.1:1/staging: ');
    expect(r.stdout + r.stderr).not.toContain('hunter2-secret');
    expect(existsSync(join(w.dir, 'out'))).toBe(false);
  });

  test('an unreachable staging store prints nothing on stdout and no stack trace without --verbose', async () => {
    const r = await run(['run', PIPELINE, '--staging', 'postgres://sluice@127.0.0.1:1/staging']);
    expectExit(r, 1);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});

describe('global options and option values', () => {
  test('--dotenv loads variables before the pipeline file is read', async () => {
    writeFileSync(join(w.dir, 'test.env'), `CHINOOK_DB=${CHINOOK_SQLITE}\n`);
    copyFileSync(join(BAD_PIPELINES, 'bad-query.yaml'), join(w.dir, 'pipelines', 'bad-query.yaml'));
    // bad-query.yaml has ${CHINOOK_DB} without a default: it only validates when the variable is set
    const without = await run(['validate', 'pipelines/bad-query.yaml'], { CHINOOK_DB: undefined });
    expectExit(without, 2);
    const r = await run(['--dotenv', 'test.env', 'validate', 'pipelines/bad-query.yaml'], { CHINOOK_DB: undefined });
    expectExit(r, 0);
    expect(r.stdout).toContain('valid pipeline bad_query');
  });

  test('--dotenv with a missing file exits 2 with SLUICE_USAGE', async () => {
    const r = await run(['--dotenv', 'nope.env', 'validate', PIPELINE]);
    expectExit(r, 2);
    expect(r.stderr).toContain('error SLUICE_USAGE: cannot read --dotenv nope.env');
  });

  test('status --runs with a value that is not a positive integer exits 2', async () => {
    const r = await run(['status', PIPELINE, '--runs', 'abc']);
    expectExit(r, 2);
  });
});

describe('exit 3: the pipeline is already running', () => {
  test('while the test holds the SQLite lock, a run exits 3 at once; after release it runs', async () => {
    const store: StagingStore = openStore(`sqlite:${join(w.dir, '.sluice', 'staging.db')}`);
    try {
      const lock = await store.lock('chinook');
      const r = await run(['run', PIPELINE]);
      expectExit(r, 3);
      expect(r.stderr).toContain('error SLUICE_LOCKED: pipeline chinook is already running');
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(r.ms).toBeLessThan(9000); // not waiting out the store's 10 s busy timeout
      expect(existsSync(join(w.dir, 'out'))).toBe(false);
      expect((await status()).runs).toEqual([]); // nothing was done, not even a run recorded
      await lock.release();

      const after = await run(['run', PIPELINE]);
      expectExit(after, 0);
      expect(Object.keys(exportFolders(w.exportRoot))).toHaveLength(COUNTRIES.length);
    } finally {
      await store.close();
    }
  });
});

describeWith('postgres', 'sluice run with SLUICE_STAGING_URL = a PostgreSQL database', () => {
  let db: ScratchDb;
  beforeEach(async () => {
    db = await scratchDatabase('postgres');
    w.env.SLUICE_STAGING_URL = db.url;
  });
  afterEach(async () => {
    await db.drop();
  });

  test('run, rerun, status and a failing run', async () => {
    const r = await run(['run', PIPELINE]);
    expectExit(r, 0);
    expect(r.stdout).toContain(`(staging: postgres 127.0.0.1:5432/${db.name}, `);
    expect(existsSync(join(w.dir, '.sluice'))).toBe(false); // the store is the database, not a local file
    const manifests = expectSnapshotPerCountry();
    expect(manifests.USA!.sources.invoices!.rows).toBe(91);
    const out = snapshotTree(join(w.dir, 'out'));

    const again = await runJson<RunSummary>(['run', PIPELINE]);
    expect(again.sources.map((s) => [s.name, s.read, s.staged])).toEqual([
      ['invoices', 0, 0],
      ['invoice_lines', 0, 0],
      ['customers', 59, 0],
    ]);
    expect(again.exports).toEqual([]);
    expect(snapshotTree(join(w.dir, 'out'))).toEqual(out);

    const copy = chinookCopy();
    changeSource(copy, [NEW_INVOICE]);
    const third = await runJson<RunSummary>(['run', PIPELINE]);
    expect(third.exports.map((e) => [e.tenant, e.kind, e.rows])).toEqual([['Norway', 'changes', 1]]);
    expect(rowsOf(exportDir('Norway', third.exports[0]!.id), 'invoices')).toEqual([expect.objectContaining({ InvoiceId: 413 })]);
    verifyExportFolder(exportDir('Norway', third.exports[0]!.id));

    const s = await status();
    expect(s.staging).toBe(`postgres 127.0.0.1:5432/${db.name}`);
    expect(s.runs.map((x) => x.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(sum(s.records.filter((x) => x.source === 'invoices').map((x) => x.records))).toBe(413);

    copyFileSync(join(BAD_PIPELINES, 'bad-query.yaml'), join(w.dir, 'pipelines', 'bad-query.yaml'));
    const bad = await run(['run', 'pipelines/bad-query.yaml']);
    expectExit(bad, 1);
    expect(bad.stderr).toContain('error SLUICE_SOURCE_QUERY: bad_query/invoices: ');
    const badStatus = await status('pipelines/bad-query.yaml');
    expect(badStatus.runs).toEqual([expect.objectContaining({ status: 'failed', errorCode: 'SLUICE_SOURCE_QUERY' })]);
    expect(badStatus.records).toEqual([]);
  });

  test('exit 3 while another process holds the advisory lock; after release it runs', async () => {
    const store: StagingStore = openStore(db.url);
    try {
      const lock = await store.lock('chinook');
      const r = await run(['run', PIPELINE]);
      expectExit(r, 3);
      expect(r.stderr).toContain(`error SLUICE_LOCKED: pipeline chinook is already running (advisory lock held on 127.0.0.1:5432/${db.name})`);
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(r.ms).toBeLessThan(9000);
      expect(existsSync(join(w.dir, 'out'))).toBe(false);
      expect((await status()).runs).toEqual([]);
      await lock.release();

      expectExit(await run(['run', PIPELINE]), 0);
      expect(Object.keys(exportFolders(w.exportRoot))).toHaveLength(COUNTRIES.length);
    } finally {
      await store.close();
    }
  });
});
