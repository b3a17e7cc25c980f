// Crash-safe exactly-once staging. A run cancelled after any batch keeps exactly the batches it
// committed; the next run resumes after them; in the end the store holds every source row exactly once,
// with exactly the row's data — for each source driver (SQLite, PostgreSQL) and each staging store
// (SQLite, PostgreSQL), with many rows sharing a cursor value. The same holds when a real `sluice run`
// process is killed with SIGKILL mid-run and run again.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { isSluiceError } from '../../src/core/errors';
import { pipelineSchema } from '../../src/run/pipeline';
import { runPipeline } from '../../src/run/run';
import { openStore } from '../../src/stage/open';
import { awkwardText, dropScratch, duplicates, readStaged, tempDir, type TempDir } from '../helpers/prop-support';
import { isUp, scratchDatabase, serviceStatus, type ScratchDb } from '../helpers/services';

type Driver = 'sqlite' | 'postgres';

interface Row {
  id: number;
  updated_at: number;
  tenant: string;
  note: string | null;
}

const TENANTS = ['acme', 'Globex Corp', 'ünï-\t"x"', 'a,b'];
const REPO = resolve(__dirname, '..', '..');

/** Rows with distinct ids whose cursor takes only 1 to 5 distinct values, so most rows tie. */
const rowsArb = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 5 }),
    fc.uniqueArray(
      fc.record({
        id: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        cursorPick: fc.nat(),
        tenant: fc.constantFrom(...TENANTS),
        note: fc.option(awkwardText(), { nil: null, freq: 4 }),
      }),
      { selector: (r) => r.id, minLength: 1, maxLength: 150, size: 'max' },
    ),
  )
  .map(([cursors, raw]): Row[] =>
    raw.map((r) => ({ id: r.id, updated_at: cursors[r.cursorPick % cursors.length]!, tenant: r.tenant, note: r.note })),
  );

/** The order a cursor read stages rows in: by cursor, then key. */
const inReadOrder = (rows: Row[]) => [...rows].sort((a, b) => a.updated_at - b.updated_at || a.id - b.id);

const drivers: Driver[] = ['sqlite'];
if (isUp('postgres')) drivers.push('postgres');
else test.skip(`postgres sources and stores [skipped: postgres ${serviceStatus('postgres')}]`, () => undefined);

describe('a run cancelled after any batch, then resumed, stages every row exactly once', () => {
  let tmp: TempDir;
  let pgSource: ScratchDb | undefined;
  let pgStaging: ScratchDb | undefined;
  let counter = 0;

  beforeAll(async () => {
    tmp = tempDir('resume');
    if (isUp('postgres')) {
      pgSource = await scratchDatabase('postgres');
      pgStaging = await scratchDatabase('postgres');
    }
  });
  afterAll(async () => {
    tmp?.remove();
    await dropScratch(pgSource);
    await dropScratch(pgStaging);
  }, 60_000);

  /** Creates the table in the driver's database and returns the read URL. */
  async function loadSource(driver: Driver, table: string, rows: Row[]): Promise<string> {
    if (driver === 'sqlite') {
      const file = join(tmp.path, `${table}.db`);
      const db = new Database(file);
      try {
        db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, updated_at INTEGER NOT NULL, tenant TEXT NOT NULL, note TEXT)`);
        const insert = db.prepare(`INSERT INTO ${table} (id, updated_at, tenant, note) VALUES (?, ?, ?, ?)`);
        db.transaction(() => rows.forEach((r) => insert.run(r.id, r.updated_at, r.tenant, r.note)))();
      } finally {
        db.close();
      }
      return `sqlite:${file}`;
    }
    const client = new pg.Client({ connectionString: pgSource!.url });
    await client.connect();
    try {
      await client.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, updated_at integer NOT NULL, tenant text NOT NULL, note text)`);
      const values = rows.map((_, i) => `($${4 * i + 1}, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4})`).join(', ');
      await client.query(
        `INSERT INTO ${table} (id, updated_at, tenant, note) VALUES ${values}`,
        rows.flatMap((r) => [r.id, r.updated_at, r.tenant, r.note]),
      );
    } finally {
      await client.end();
    }
    return pgSource!.url;
  }

  const combos = drivers.flatMap((source) => drivers.map((staging) => [source, staging] as const));

  test.each(combos)('%s source, %s staging store', async (sourceDriver, stagingDriver) => {
    const stagingUrl = stagingDriver === 'sqlite' ? `sqlite:${join(tmp.path, `staging-${sourceDriver}.db`)}` : pgStaging!.url;
    await fc.assert(
      fc.asyncProperty(rowsArb, fc.integer({ min: 1, max: 50 }), fc.nat(), async (rows, batchSize, abortPick) => {
        const n = ++counter;
        const name = `resume_${sourceDriver}_${stagingDriver}_${n}`;
        const table = `items_${n}`;
        const url = await loadSource(sourceDriver, table, rows);
        const pipeline = pipelineSchema.parse({
          name,
          tenant: { column: 'tenant' },
          sources: [{ name: 'items', read: { driver: sourceDriver, url, table, key: 'id', cursor: 'updated_at', batchSize } }],
        });
        const batches = Math.ceil(rows.length / batchSize);
        const abortAfter = 1 + (abortPick % batches);

        // 1. Cancel right after the abortAfter-th batch is committed.
        const controller = new AbortController();
        let seen = 0;
        let failure: unknown;
        try {
          await runPipeline(pipeline, {
            stagingUrl,
            signal: controller.signal,
            onProgress: (e) => {
              if (e.type === 'batch' && ++seen === abortAfter) controller.abort();
            },
          });
        } catch (err) {
          failure = err;
        }
        expect(isSluiceError(failure) ? failure.code : failure).toBe('SLUICE_RUN_CANCELLED');

        // What was committed stays, and nothing else: exactly the first abortAfter batches in read order.
        const committed = Math.min(abortAfter * batchSize, rows.length);
        const partial = await readStaged(stagingUrl, name, 'items');
        expect(partial.upserts.map((r) => r.key).sort()).toEqual(
          inReadOrder(rows)
            .slice(0, committed)
            .map((r) => String(r.id))
            .sort(),
        );

        // 2. Run again to the end: it reads only what the cancelled run had not committed.
        const summary = await runPipeline(pipeline, { stagingUrl });
        expect(summary.sources[0]).toMatchObject({ read: rows.length - committed, staged: rows.length - committed });

        const { upserts, deletes } = await readStaged(stagingUrl, name, 'items');
        const keys = upserts.map((r) => r.key);
        expect(duplicates(keys)).toEqual([]);
        expect(deletes).toEqual([]);
        expect(new Set(keys)).toEqual(new Set(rows.map((r) => String(r.id))));
        const byKey = new Map(rows.map((r) => [String(r.id), r]));
        for (const r of upserts) {
          const row = byKey.get(r.key)!;
          expect({ tenant: r.tenant, data: JSON.parse(r.json!) as unknown }).toEqual({ tenant: row.tenant, data: row });
        }

        const store = openStore(stagingUrl);
        try {
          expect((await store.runs(name, 5)).map((r) => r.status).sort()).toEqual(['cancelled', 'succeeded']);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 20 },
    );
  }, 120_000);
});

describe('a `sluice run` process killed with SIGKILL mid-run, then run again, stages every row exactly once', () => {
  const ROWS = 10_000;
  const BATCH = 100;
  let tmp: TempDir;
  let sourceFile: string;
  const rows: Row[] = [];

  beforeAll(() => {
    tmp = tempDir('kill');
    sourceFile = join(tmp.path, 'source.db');
    if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js'))) throw new Error('the CLI is not built: run `npm run build` first');
    for (let i = 1; i <= ROWS; i++) {
      rows.push({
        id: i * 7919 % 1_000_003, // distinct, not in cursor order
        updated_at: 1 + (i % 4),
        tenant: TENANTS[i % TENANTS.length]!,
        note: i % 9 === 0 ? null : `row ${i}: "quoted", comma, tab\there, line\nbreak, back\\slash, 😀 ${'x'.repeat(i % 50)}`,
      });
    }
    const db = new Database(sourceFile);
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, updated_at INTEGER NOT NULL, tenant TEXT NOT NULL, note TEXT)`);
    const insert = db.prepare(`INSERT INTO items (id, updated_at, tenant, note) VALUES (?, ?, ?, ?)`);
    db.transaction(() => rows.forEach((r) => insert.run(r.id, r.updated_at, r.tenant, r.note)))();
    db.close();
  });
  afterAll(() => tmp?.remove());

  /** Watches the rows_read of the run in progress, once the staging store has one. */
  function progressOf(stagingFile: string): { rowsRead(): number; close(): void } {
    let db: Database.Database | undefined;
    return {
      rowsRead() {
        try {
          db ??= existsSync(stagingFile) ? new Database(stagingFile, { readonly: true, fileMustExist: true }) : undefined;
          const row = db?.prepare(`SELECT rows_read AS n FROM sluice_runs WHERE status = 'running'`).get() as { n: number } | undefined;
          return row?.n ?? 0;
        } catch {
          return 0; // not migrated yet, or busy: look again
        }
      },
      close: () => db?.close(),
    };
  }

  let counter = 0;

  test('at several points of the run', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: Math.floor((ROWS / BATCH) * 0.6) }), async (killAfterBatches) => {
        const dir = join(tmp.path, `run-${++counter}`);
        mkdirSync(dir);
        const stagingFile = join(dir, 'staging.db');
        writeFileSync(
          join(dir, 'pipeline.yaml'),
          [
            'name: killed',
            'tenant: { column: tenant }',
            'staging: sqlite:staging.db',
            'sources:',
            '  - name: items',
            '    read:',
            '      driver: sqlite',
            `      url: ${JSON.stringify(`sqlite:${sourceFile}`)}`,
            '      table: items',
            '      key: id',
            '      cursor: updated_at',
            `      batchSize: ${BATCH}`,
            '',
          ].join('\n'),
        );
        const env = { ...process.env };
        delete env.SLUICE_STAGING_URL;

        const child = spawn(process.execPath, [join(REPO, 'bin', 'sluice.js'), 'run', 'pipeline.yaml'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        const exited = new Promise<NodeJS.Signals | number | null>((done) => child.on('exit', (code, signal) => done(signal ?? code)));
        let finishedEarly = false;
        void exited.then(() => (finishedEarly = true));
        const deadline = Date.now() + 60_000;
        const progress = progressOf(stagingFile);
        try {
          while (progress.rowsRead() < killAfterBatches * BATCH) {
            if (finishedEarly) throw new Error(`the run ended (exit ${child.exitCode}) before it could be killed:\n${stderr}`);
            if (Date.now() > deadline) throw new Error('the run made no progress');
            await new Promise((r) => setTimeout(r, 1));
          }
          child.kill('SIGKILL');
        } finally {
          progress.close();
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }
        expect(await exited).toBe('SIGKILL');

        // It really died mid-run: its run is still marked running, with part of the rows committed.
        const store = openStore(`sqlite:${stagingFile}`);
        let committedAtKill: number;
        try {
          const [killed] = await store.runs('killed', 1);
          expect(killed).toMatchObject({ status: 'running' });
          committedAtKill = killed!.read;
          expect(committedAtKill).toBeLessThan(ROWS);
          expect(committedAtKill % BATCH).toBe(0); // whole batches only
        } finally {
          await store.close();
        }
        // the records committed are exactly the ones counted: batch and counts went in together
        expect((await readStaged(`sqlite:${stagingFile}`, 'killed', 'items')).upserts).toHaveLength(committedAtKill);

        const again = spawnSync(process.execPath, [join(REPO, 'bin', 'sluice.js'), 'run', 'pipeline.yaml'], { cwd: dir, env, encoding: 'utf8' });
        expect({ status: again.status, stderr: again.status === 0 ? '' : again.stderr }).toEqual({ status: 0, stderr: '' });

        const { upserts, deletes } = await readStaged(`sqlite:${stagingFile}`, 'killed', 'items');
        const keys = upserts.map((r) => r.key);
        expect(duplicates(keys)).toEqual([]);
        expect(deletes).toEqual([]);
        expect(keys.length).toBe(ROWS);
        const byKey = new Map(rows.map((r) => [String(r.id), r]));
        for (const r of upserts) {
          const row = byKey.get(r.key);
          expect(row).toBeDefined();
          expect(r.tenant).toBe(row!.tenant);
          expect(JSON.parse(r.json!)).toEqual(row);
        }

        const after = openStore(`sqlite:${stagingFile}`);
        try {
          const [resumed, killed] = await after.runs('killed', 2);
          expect(killed).toMatchObject({ status: 'abandoned', read: committedAtKill });
          // the second run read each remaining row once, and nothing the killed run had committed
          expect(resumed).toMatchObject({ status: 'succeeded', read: ROWS - committedAtKill });
        } finally {
          await after.close();
        }
      }),
      { numRuns: 3 },
    );
  }, 150_000);
});
