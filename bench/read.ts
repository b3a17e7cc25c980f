/**
 * The `read` benchmark: read → stage → export of one PostgreSQL table, against a ceiling.
 *
 *  1. ceiling: `psql \copy (select row_to_json(o) from orders o)` to a file — the server building
 *     the same JSON and one client writing it, with nothing else in between;
 *  2. a full `sluice run` (PostgreSQL reader, PostgreSQL staging, JSONL export per tenant);
 *  3. 1% of the rows updated, then an incremental `sluice run`, which should read only those.
 */
import { tmpdir } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkPsql, connect, databaseUrl, type DataBenchOptions, dropDatabase, environment, recreateDatabase, redact, SOURCE_DB, STAGE_DB } from './db';
import { generateOrders, updateSome } from './generate';
import { countLines, type Measured, psqlCopy, ROOT, rowsInLatestExports, sluiceRun, step } from './measure';
import type { Check, Report, Row, Target } from './report';

export type ReadOptions = DataBenchOptions;

const PIPELINE = 'bench_read';
const UPDATED_SHARE = 0.01;
const TARGETS = { ratioToCeiling: 0.5, peakRssMiB: 300, incrementalShareOfFull: 0.05 };

function pipelineYaml(batch: number): string {
  return `name: ${PIPELINE}
sources:
  - name: orders
    read:
      driver: postgres
      url: \${SLUICE_BENCH_SOURCE_URL}
      table: orders
      key: id
      cursor: updated_at
      batchSize: ${batch}
    tenant:
      column: tenant
export:
  - format: jsonl
    path: out
`;
}

export async function readBenchmark(o: ReadOptions): Promise<Report> {
  const sourceUrl = databaseUrl(o.pg, SOURCE_DB);
  const stagingUrl = databaseUrl(o.pg, STAGE_DB);
  const admin = await connect(o.pg);
  const work = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  try {
    await checkPsql(o.pg);
    await recreateDatabase(admin, SOURCE_DB);
    await recreateDatabase(admin, STAGE_DB);
    const source = await connect(sourceUrl);
    try {
      const n = o.rows.toLocaleString('en-US');
      await step(`generating ${n} rows in ${SOURCE_DB}.orders`, () => generateOrders(source, o.rows));

      const ceilingFile = join(work, 'ceiling.jsonl');
      const ceiling = await step('ceiling: psql \\copy row_to_json', () => psqlCopy(sourceUrl, 'select row_to_json(o) from orders o', ceilingFile));
      await rm(ceilingFile);

      await writeFile(join(work, 'pipeline.yaml'), pipelineYaml(o.batch));
      const env = { SLUICE_STAGING_URL: stagingUrl, SLUICE_BENCH_SOURCE_URL: sourceUrl };
      const full = await step(`sluice run, full (${n} rows)`, () => sluiceRun('pipeline.yaml', work, env));
      const exported = await rowsInLatestExports(join(work, 'out', PIPELINE), 'orders.jsonl');

      const updated = await step(`updating ${UPDATED_SHARE * 100}% of the rows`, () => updateSome(source, o.rows, UPDATED_SHARE));
      const incremental = await step('sluice run, incremental', () => sluiceRun('pipeline.yaml', work, env));
      let changed = 0;
      for (const e of incremental.summary.exports) changed += await countLines(join(e.dir, 'orders.jsonl'));

      const rate = (m: Measured) => m.rows / m.seconds;
      const row = (path: string, m: Measured): Row => ({
        path,
        rows: m.rows,
        seconds: m.seconds,
        rowsPerSecond: rate(m),
        ratioToCeiling: rate(m) / rate(ceiling),
        peakRssBytes: m.peakRssBytes,
      });
      const ratio = rate(full) / rate(ceiling);
      const peakMiB = Math.max(full.peakRssBytes ?? 0, incremental.peakRssBytes ?? 0) / 2 ** 20;
      const share = incremental.seconds / full.seconds;
      const targets: Target[] = [
        { name: `sluice full run ≥ ${TARGETS.ratioToCeiling}× ceiling rows/s`, pass: ratio >= TARGETS.ratioToCeiling, actual: `${ratio.toFixed(2)}×` },
        { name: `peak RSS < ${TARGETS.peakRssMiB} MiB`, pass: peakMiB < TARGETS.peakRssMiB, actual: `${peakMiB.toFixed(0)} MiB` },
        {
          name: `incremental time < ${TARGETS.incrementalShareOfFull * 100}% of the full run's`,
          pass: share < TARGETS.incrementalShareOfFull,
          actual: `${(share * 100).toFixed(1)}% (${incremental.seconds.toFixed(2)} s of ${full.seconds.toFixed(2)} s)`,
        },
      ];
      const checks: Check[] = [
        { name: 'ceiling rows copied', expected: o.rows, actual: ceiling.rows },
        { name: 'full run: rows read', expected: o.rows, actual: full.rows },
        { name: `full run: JSONL rows over ${exported.tenants} tenant folders`, expected: o.rows, actual: exported.rows },
        { name: 'incremental run: rows read (= rows updated)', expected: updated, actual: incremental.rows },
        { name: 'incremental run: JSONL rows exported', expected: updated, actual: changed },
      ];
      return {
        benchmark: 'read',
        at: new Date().toISOString(),
        options: { rows: o.rows, batch: o.batch, pg: redact(o.pg) },
        environment: await environment(admin),
        rows: [row('ceiling: psql \\copy row_to_json', ceiling), row('sluice run (full)', full), row(`sluice run (incremental, ${UPDATED_SHARE * 100}% updated)`, incremental)],
        targets,
        checks,
        details: { updated, full: full.summary, incremental: incremental.summary },
      };
    } finally {
      await source.end();
    }
  } finally {
    if (o.keep) {
      process.stderr.write(
        `kept: databases ${SOURCE_DB} and ${STAGE_DB}, pipeline and exports in ${work}; to run it again:\n` +
          `  cd ${work} && SLUICE_STAGING_URL=${redact(stagingUrl)} SLUICE_BENCH_SOURCE_URL=${redact(sourceUrl)} node ${join(ROOT, 'bin/sluice.js')} run pipeline.yaml\n`,
      );
    } else {
      await dropDatabase(admin, SOURCE_DB);
      await dropDatabase(admin, STAGE_DB);
      await rm(work, { recursive: true, force: true });
    }
    await admin.end();
  }
}
