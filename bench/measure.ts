/**
 * Timing child processes (wall clock, start to exit) and counting what they wrote.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RunSummary } from '../src/run/run';
import type { SyncSummary } from '../src/run/sync';

/** A reason the benchmark cannot run or cannot trust its result; printed without a stack trace. */
export class BenchError extends Error {}

/** The repository root (this file runs from dist/bench/). */
export const ROOT = resolve(__dirname, '../..');

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command to its end; rejects only if it cannot be started (e.g. not installed). */
export function run(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<Finished> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', fail);
    child.on('close', (code) =>
      done({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), seconds: (performance.now() - started) / 1000 }),
    );
  });
}

export interface Measured {
  rows: number;
  seconds: number;
  peakRssBytes?: number;
}

/** The ceiling: psql copying every row, as JSON built by the server, to a local file. */
export async function psqlCopy(url: string, query: string, file: string, options = ''): Promise<Measured> {
  const r = await run('psql', [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', `\\copy (${query}) to '${file}'${options ? ` with (${options})` : ''}`], {});
  if (r.code !== 0) throw new BenchError(`psql \\copy failed:\n${r.stderr.trim()}`);
  const copied = /COPY (\d+)/.exec(r.stdout);
  if (!copied) throw new BenchError(`psql \\copy did not report a row count: ${r.stdout.trim()}`);
  return { rows: Number(copied[1]), seconds: r.seconds };
}

export interface SluiceRun extends Measured {
  summary: RunSummary;
}

/** `node bin/sluice.js run <file> --json` in `cwd`; rows are what its sources read. */
export async function sluiceRun(file: string, cwd: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<SluiceRun> {
  const r = await run(process.execPath, [join(ROOT, 'bin/sluice.js'), 'run', file, '--json', ...args], { cwd, env: { ...process.env, ...env } });
  if (r.code !== 0) throw new BenchError(`sluice run failed (exit ${r.code}):\n${r.stderr.trim() || r.stdout.trim()}`);
  const summary = JSON.parse(r.stdout) as RunSummary;
  const rows = summary.sources.reduce((n, s) => n + s.read, 0);
  return { rows, seconds: r.seconds, peakRssBytes: summary.peakRssBytes, summary };
}

export interface SluiceSync extends Measured {
  summary: SyncSummary;
}

/** `node bin/sluice.js sync <file> --json` in `cwd`; rows are the records it wrote to either side. */
export async function sluiceSync(file: string, cwd: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<SluiceSync> {
  const r = await run(process.execPath, [join(ROOT, 'bin/sluice.js'), 'sync', file, '--json', ...args], { cwd, env: { ...process.env, ...env } });
  if (r.code !== 0) throw new BenchError(`sluice sync failed (exit ${r.code}):\n${r.stderr.trim() || r.stdout.trim()}`);
  const summary = JSON.parse(r.stdout) as SyncSummary;
  const rows = (['a', 'b'] as const).reduce((n, id) => n + summary.sides[id].created + summary.sides[id].updated + summary.sides[id].deleted, 0);
  return { rows, seconds: r.seconds, peakRssBytes: summary.peakRssBytes, summary };
}

/** `node bin/sluice.js <args…>` in `cwd`, its stdout parsed as JSON. */
export async function sluiceJson<T>(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<T> {
  const r = await run(process.execPath, [join(ROOT, 'bin/sluice.js'), ...args], { cwd, env: { ...process.env, ...env } });
  if (r.code !== 0) throw new BenchError(`sluice ${args[0]} failed (exit ${r.code}):\n${r.stderr.trim() || r.stdout.trim()}`);
  return JSON.parse(r.stdout) as T;
}

/** Lines (`\n`) in a file, streamed. */
export async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, nl + 1)) lines++;
  }
  return lines;
}

/** Rows in `<pipelineDir>/<tenant>/latest/<file>`, summed over the tenant folders. */
export async function rowsInLatestExports(pipelineDir: string, file: string): Promise<{ rows: number; tenants: number }> {
  const tenants = (await readdir(pipelineDir, { withFileTypes: true })).filter((d) => d.isDirectory());
  let rows = 0;
  for (const t of tenants) rows += await countLines(join(pipelineDir, t.name, 'latest', file));
  return { rows, tenants: tenants.length };
}

/** Runs `work`, saying on stderr what it is doing and how long it took. */
export async function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  process.stderr.write(`${label}… `);
  const started = performance.now();
  const result = await work();
  process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}
