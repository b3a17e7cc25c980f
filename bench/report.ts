/**
 * What a benchmark prints and keeps: an aligned table, its targets with PASS/FAIL, the checks that
 * prove the work was done, a Markdown table for the README, and the results as JSON under bench/results/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from './measure';

export interface Row {
  path: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  ratioToCeiling: number;
  peakRssBytes?: number;
  /** Request latencies, for the HTTP benchmarks. */
  p50Ms?: number;
  p99Ms?: number;
}

export interface Target {
  name: string;
  pass: boolean;
  actual: string;
}

export interface Check {
  name: string;
  expected: number;
  actual: number;
}

export interface Report {
  benchmark: string;
  at: string;
  options: Record<string, string | number | boolean>;
  environment: Record<string, string | number>;
  rows: Row[];
  targets: Target[];
  checks: Check[];
  /** Anything else worth keeping, e.g. the sluice run summaries. */
  details?: Record<string, unknown>;
}

/** The table's columns: rows and memory for the data benchmarks, requests and latency for the HTTP ones. */
function columns(rows: Row[]): { headers: string[]; cells(r: Row): string[] } {
  const http = rows.some((r) => r.p99Ms !== undefined);
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return http
    ? {
        headers: ['path', 'requests (2xx)', 'seconds', 'requests/s', 'vs ceiling', 'p50 (ms)', 'p99 (ms)'],
        cells: (r) => [r.path, n(r.rows), r.seconds.toFixed(2), n(r.rowsPerSecond), `${r.ratioToCeiling.toFixed(2)}×`, String(r.p50Ms ?? '–'), String(r.p99Ms ?? '–')],
      }
    : {
        headers: ['path', 'rows', 'seconds', 'rows/s', 'vs ceiling', 'peak RSS (MiB)'],
        cells: (r) => [
          r.path,
          n(r.rows),
          r.seconds.toFixed(2),
          n(r.rowsPerSecond),
          `${r.ratioToCeiling.toFixed(2)}×`,
          r.peakRssBytes === undefined ? '–' : (r.peakRssBytes / 2 ** 20).toFixed(0),
        ],
      };
}

/** The first column left-aligned, the numbers right-aligned. */
function aligned(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`).join('\n');
}

export function markdown(rows: Row[]): string {
  const { headers, cells } = columns(rows);
  const line = (c: string[]) => `| ${c.join(' | ')} |`;
  return [line(headers), line(headers.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map((r) => line(cells(r)))].join('\n');
}

export function print(report: Report): void {
  const out: string[] = [
    '',
    aligned([columns(report.rows).headers, ...report.rows.map(columns(report.rows).cells)]),
    '',
    'targets:',
    ...report.targets.map((t) => `  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.actual}`),
    '',
    'checks:',
    ...report.checks.map((c) => `  ${c.actual === c.expected ? 'ok      ' : 'MISMATCH'}  ${c.name}: ${c.actual.toLocaleString('en-US')} (expected ${c.expected.toLocaleString('en-US')})`),
    '',
    'Markdown:',
    '',
    markdown(report.rows),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Writes bench/results/<timestamp>.json (git-ignored) and returns its path. */
export async function save(report: Report): Promise<string> {
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${report.at.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
