/**
 * The `export` benchmark: 1,000,000 staged records (20 tenants) written from the PostgreSQL staging
 * store as JSONL, CSV and gzip JSONL by `sluice run --full` (the source has nothing new, so the run is
 * the export), against the ceiling `psql \copy (select * from orders) to` CSV of the same rows. It
 * runs at a quarter of the rows first, so peak memory can be compared as the data grows.
 */
import { tmpdir } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { checkPsql, connect, databaseUrl, type DataBenchOptions, dropDatabase, environment, recreateDatabase, redact, SOURCE_DB, STAGE_DB } from './db';
import { generateOrders } from './generate';
import { psqlCopy, sluiceRun, type SluiceRun, step } from './measure';
import type { Check, Report, Row, Target } from './report';

export type ExportOptions = DataBenchOptions;

const PIPELINE = 'bench_export';
const TARGETS = { ratioToCeiling: 0.5, peakRssMiB: 300, rssGrowth: 1.25 };
const FORMATS = [
  { label: 'jsonl', entry: 'format: jsonl' },
  { label: 'csv', entry: 'format: csv' },
  { label: 'jsonl + gzip', entry: 'format: jsonl\n    compress: gzip' },
] as const;

function pipelineYaml(batch: number, exportEntry?: string): string {
  return `name: ${PIPELINE}
sources:
  - name: orders
    read: { driver: postgres, url: \${SLUICE_BENCH_SOURCE_URL}, table: orders, key: id, cursor: updated_at, batchSize: ${batch} }
    tenant: { column: tenant }
${exportEntry ? `export:\n  - ${exportEntry}\n    path: out\n` : ''}`;
}

interface Size {
  rows: number;
  ceiling: { rows: number; seconds: number };
  formats: { label: string; run: SluiceRun; exported: number }[];
}

async function measureSize(admin: pg.Client, o: ExportOptions, rows: number, work: string): Promise<Size> {
  const sourceUrl = databaseUrl(o.pg, SOURCE_DB);
  const env = { SLUICE_STAGING_URL: databaseUrl(o.pg, STAGE_DB), SLUICE_BENCH_SOURCE_URL: sourceUrl };
  await recreateDatabase(admin, SOURCE_DB);
  await recreateDatabase(admin, STAGE_DB);
  const source = await connect(sourceUrl);
  try {
    const n = rows.toLocaleString('en-US');
    await step(`generating ${n} rows`, () => generateOrders(source, rows));
  } finally {
    await source.end();
  }
  await writeFile(join(work, 'stage.yaml'), pipelineYaml(o.batch));
  await step(`staging ${rows.toLocaleString('en-US')} rows (not timed)`, () => sluiceRun('stage.yaml', work, env));
  const csv = join(work, 'ceiling.csv');
  const ceiling = await step('ceiling: psql \\copy to csv', () => psqlCopy(sourceUrl, 'select * from orders', csv, 'format csv, header'));
  await rm(csv);
  const formats: Size['formats'] = [];
  for (const f of FORMATS) {
    const file = `export-${f.label.replace(/\W+/g, '-')}.yaml`;
    await writeFile(join(work, file), pipelineYaml(o.batch, f.entry));
    const run = await step(`sluice run --full, ${f.label}`, () => sluiceRun(file, work, env, ['--full']));
    formats.push({ label: f.label, run, exported: run.summary.exports.reduce((x, e) => x + e.rows, 0) });
    await rm(join(work, 'out'), { recursive: true, force: true });
  }
  return { rows, ceiling, formats };
}

export async function exportBenchmark(o: ExportOptions): Promise<Report> {
  const admin = await connect(o.pg);
  const work = await mkdtemp(join(tmpdir(), 'sluice-bench-export-'));
  try {
    await checkPsql(o.pg);
    const small = await measureSize(admin, o, Math.max(100, Math.round(o.rows / 4)), work);
    const big = await measureSize(admin, o, o.rows, work);
    const rate = (m: { rows: number; seconds: number }) => m.rows / m.seconds;
    const rows: Row[] = [];
    for (const size of [small, big]) {
      rows.push({ path: `ceiling: psql \\copy csv (${size.rows.toLocaleString('en-US')})`, rows: size.ceiling.rows, seconds: size.ceiling.seconds, rowsPerSecond: rate(size.ceiling), ratioToCeiling: 1 });
      for (const f of size.formats) {
        const m = { rows: f.exported, seconds: f.run.seconds };
        rows.push({ path: `sluice ${f.label} (${size.rows.toLocaleString('en-US')})`, rows: m.rows, seconds: m.seconds, rowsPerSecond: rate(m), ratioToCeiling: rate(m) / rate(size.ceiling), peakRssBytes: f.run.peakRssBytes });
      }
    }
    const ratio = (label: string) => rate({ rows: big.formats.find((f) => f.label === label)!.exported, seconds: big.formats.find((f) => f.label === label)!.run.seconds }) / rate(big.ceiling);
    const mib = (s: Size) => Math.max(...s.formats.map((f) => f.run.peakRssBytes ?? 0)) / 2 ** 20;
    const targets: Target[] = [
      ...(['jsonl', 'csv'] as const).map((label) => ({ name: `${label} ≥ ${TARGETS.ratioToCeiling}× ceiling rows/s`, pass: ratio(label) >= TARGETS.ratioToCeiling, actual: `${ratio(label).toFixed(2)}×` })),
      { name: `peak RSS < ${TARGETS.peakRssMiB} MiB`, pass: mib(big) < TARGETS.peakRssMiB, actual: `${mib(big).toFixed(0)} MiB` },
      {
        name: `peak RSS flat as rows grow 4× (≤ ${TARGETS.rssGrowth}×)`,
        pass: mib(big) <= mib(small) * TARGETS.rssGrowth,
        actual: `${mib(small).toFixed(0)} → ${mib(big).toFixed(0)} MiB (${(mib(big) / mib(small)).toFixed(2)}×)`,
      },
    ];
    const checks: Check[] = [small, big].flatMap((s) => [
      { name: `ceiling rows (${s.rows})`, expected: s.rows, actual: s.ceiling.rows },
      ...s.formats.map((f) => ({ name: `${f.label} rows exported (${s.rows})`, expected: s.rows, actual: f.exported })),
    ]);
    return {
      benchmark: 'export',
      at: new Date().toISOString(),
      options: { rows: o.rows, pg: redact(o.pg) },
      environment: await environment(admin),
      rows,
      targets,
      checks,
    };
  } finally {
    if (!o.keep) {
      await dropDatabase(admin, SOURCE_DB);
      await dropDatabase(admin, STAGE_DB);
      await rm(work, { recursive: true, force: true });
    }
    await admin.end();
  }
}
