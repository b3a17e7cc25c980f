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

const HEADERS = ['path', 'rows', 'seconds', 'rows/s', 'vs ceiling', 'peak RSS (MiB)'];

function cells(r: Row): string[] {
  return [
    r.path,
    r.rows.toLocaleString('en-US'),
    r.seconds.toFixed(2),
    Math.round(r.rowsPerSecond).toLocaleString('en-US'),
    `${r.ratioToCeiling.toFixed(2)}×`,
    r.peakRssBytes === undefined ? '–' : (r.peakRssBytes / 2 ** 20).toFixed(0),
  ];
}

/** The first column left-aligned, the numbers right-aligned. */
function aligned(rows: string[][]): string {
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`).join('\n');
}

export function markdown(rows: Row[]): string {
  const line = (c: string[]) => `| ${c.join(' | ')} |`;
  return [line(HEADERS), line(HEADERS.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map((r) => line(cells(r)))].join('\n');
}

export function print(report: Report): void {
  const out: string[] = [
    '',
    aligned([HEADERS, ...report.rows.map(cells)]),
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
