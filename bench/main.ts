/**
 * Sluice benchmarks (not tests: jest never runs them). They need a running PostgreSQL and psql; `sync`
 * needs a MariaDB (or MySQL) server too.
 *
 *   npm run build && npm run bench [-- [read|export|push|sync] [--rows N] [--batch N] [--connections N] [--seconds N] [--rounds N] [--pg URL] [--mysql URL] [--keep]]
 *
 * Exit status: 0 when every target passes, 1 when a target fails, 2 when the benchmark could not run
 * (PostgreSQL or psql unreachable, bad options, a sluice run failed) or a check shows the work was not
 * all done.
 */
import { parseArgs } from 'node:util';
import { exportBenchmark } from './export';
import { BenchError } from './measure';
import { pushBenchmark, type PushOptions } from './push';
import { readBenchmark, type ReadOptions } from './read';
import { print, save, type Report } from './report';
import { syncBenchmark, type SyncOptions } from './sync';

type Options = ReadOptions & PushOptions & SyncOptions;

const BENCHMARKS: Record<string, (o: Options) => Promise<Report>> = { read: readBenchmark, export: exportBenchmark, push: pushBenchmark, sync: syncBenchmark };
/** --rows when it is not given. */
const DEFAULT_ROWS: Record<string, number> = { read: 1_000_000, export: 1_000_000, sync: 100_000 };
const DEFAULT_MYSQL = 'mysql://root@127.0.0.1:3306/';

const USAGE = `usage: npm run bench -- [${Object.keys(BENCHMARKS).join('|')}] [--rows N] [--batch N] [--connections N] [--seconds N] [--rounds N] [--pg URL] [--mysql URL] [--keep]
  read: a PostgreSQL table to JSONL through staging, against psql \\copy; export: staged records to JSONL, CSV
  and gzip JSONL, against psql \\copy to CSV; push: webhook intake, against a bare server; sync: two-way sync
  PostgreSQL customers ↔ MariaDB contacts (pipelines/crm-sync.yaml), against a one-way upsert script
  --rows N          read, export: rows to generate (default 1000000); sync: customers (default 100000)
  --batch N         read: the pipeline's batchSize (default 20000)
  --connections N   push: concurrent connections of the load generator (default 64)
  --seconds N       push: how long to load each server (default 10)
  --rounds N        push: times each server is loaded, in turns; the round with the median ratio counts (default 3)
  --pg URL          PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres); the benchmarks
                    create and drop their own databases (sluice_bench_src, sluice_bench_stage, sluice_bench_push,
                    sluice_bench_crm)
  --mysql URL       sync: MariaDB/MySQL server (default ${DEFAULT_MYSQL}); the benchmark creates and drops
                    its database sluice_bench_support
  --keep      keep the databases and the temporary folder afterwards
  --only NAME the benchmark to run (default: all of them)`;

function positiveInt(name: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BenchError(`--${name} must be a whole number from 1 to ${max.toLocaleString('en-US')}, not ${value}\n${USAGE}`);
  return n;
}

function flags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        rows: { type: 'string' },
        pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
        mysql: { type: 'string', default: DEFAULT_MYSQL },
        batch: { type: 'string', default: '20000' },
        connections: { type: 'string', default: '64' },
        seconds: { type: 'string', default: '10' },
        rounds: { type: 'string', default: '3' },
        keep: { type: 'boolean', default: false },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new BenchError(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
}

function parse(argv: string[]): { names: string[]; options: Omit<Options, 'rows'> & { rows?: number } } {
  const { values, positionals } = flags(argv);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const wanted = [...positionals, ...(values.only ? [values.only] : [])];
  const unknown = wanted.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) throw new BenchError(`no benchmark named ${unknown.join(', ')}; there is: ${Object.keys(BENCHMARKS).join(', ')}`);
  const rows = values.rows === undefined ? undefined : positiveInt('rows', values.rows, 100_000_000);
  if (rows !== undefined && rows < 100) throw new BenchError('--rows must be at least 100 (1% of them are updated)');
  const options = {
    rows,
    pg: values.pg,
    mysql: values.mysql,
    batch: positiveInt('batch', values.batch, 1_000_000),
    connections: positiveInt('connections', values.connections, 10_000),
    seconds: positiveInt('seconds', values.seconds, 3600),
    rounds: positiveInt('rounds', values.rounds, 100),
    keep: values.keep,
  };
  try {
    new URL(options.pg);
  } catch {
    throw new BenchError(`--pg must be a URL such as postgres://user:password@host:5432/postgres, not ${options.pg}`);
  }
  try {
    new URL(options.mysql);
  } catch {
    throw new BenchError(`--mysql must be a URL such as mysql://user:password@host:3306/, not ${options.mysql}`);
  }
  return { names: wanted.length > 0 ? [...new Set(wanted)] : Object.keys(BENCHMARKS), options };
}

async function main(argv: string[]): Promise<number> {
  const { names, options: given } = parse(argv);
  let status = 0;
  for (const name of names) {
    const options: Options = { ...given, rows: given.rows ?? DEFAULT_ROWS[name] ?? 1_000_000 };
    const batch = name === 'read' || name === 'export' ? `, batch ${options.batch.toLocaleString('en-US')}` : '';
    process.stderr.write(`benchmark ${name}: ${options.rows.toLocaleString('en-US')} rows${batch}\n`);
    const report = await BENCHMARKS[name]!(options);
    print(report);
    const notes = report.details?.notes;
    if (Array.isArray(notes) && notes.length > 0) process.stdout.write(`notes:\n${notes.map((n) => `  ${String(n)}`).join('\n')}\n\n`);
    process.stdout.write(`results: ${await save(report)}\n`);
    if (report.checks.some((c) => c.actual !== c.expected)) {
      process.stderr.write(`${name}: a check does not match: the run did not do all the work, so its figures do not count\n`);
      status = 2;
    } else if (report.targets.some((t) => !t.pass)) status = Math.max(status, 1);
  }
  return status;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(err instanceof BenchError ? `\nbench: ${err.message}\n` : `\nbench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
