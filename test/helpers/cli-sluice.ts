/**
 * Runs the `sluice` command as users run it (`node bin/sluice.js ...`, the compiled CLI in dist/) in a
 * working directory of its own, and reads what it leaves on disk: export folders, manifests, files.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Manifest } from '../../src/export/manifest';

export const REPO = resolve(__dirname, '..', '..');
export const BIN = join(REPO, 'bin', 'sluice.js');
export const CHINOOK_SQLITE = join(REPO, 'fixtures', 'chinook', 'chinook.sqlite');
export const BAD_PIPELINES = join(REPO, 'fixtures', 'pipelines-bad');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** wall-clock time of the whole process, start to exit */
  ms: number;
}

export type Env = Record<string, string | undefined>;

/** A fresh working directory with `pipelines/chinook.yaml`, and the environment to run it with. */
export interface Workdir {
  dir: string;
  env: Env;
  /** `<dir>/out/chinook` */
  exportRoot: string;
  cleanup(): void;
}

export function workdir(prefix = 'sluice-cli-'): Workdir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'pipelines'));
  copyFileSync(join(REPO, 'pipelines', 'chinook.yaml'), join(dir, 'pipelines', 'chinook.yaml'));
  return {
    dir,
    env: { CHINOOK_DB: CHINOOK_SQLITE },
    exportRoot: join(dir, 'out', 'chinook'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * `sluice <args>` in `cwd`. The environment is the test's, without any staging URL or Chinook path
 * leaking in from outside, plus `env` (a value of `undefined` removes a variable).
 */
export function sluice(args: readonly string[], opts: { cwd: string; env?: Env; timeoutMs?: number }): Promise<CliResult> {
  const env: Env = { ...process.env, SLUICE_STAGING_URL: undefined, CHINOOK_DB: undefined, FORCE_COLOR: '0', ...opts.env };
  const clean = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js'))) {
    return Promise.reject(new Error('dist/ is missing: run `npm run build` (or `npm test`, which builds first)'));
  }
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 45_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started });
    });
  });
}

/** A readable description of a result, for failure messages. */
export function show(r: CliResult): string {
  return `exit ${r.code} after ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Asserts the exit code, showing the output when it is not the expected one. */
export function expectExit(r: CliResult, code: number): void {
  if (r.code !== code) throw new Error(`expected exit ${code}, got ${show(r)}`);
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * The records of an exported JSON Lines file without their `_sluice` lineage, which is checked to be
 * there and well-formed (source, key, run, refinedBy) on the way.
 */
export function readRecords<T = Record<string, unknown>>(file: string): T[] {
  return readJsonl<Record<string, unknown>>(file).map(({ _sluice, ...rest }) => {
    const l = _sluice as { source?: unknown; key?: unknown; run?: unknown; refinedBy?: unknown } | undefined;
    if (!l || typeof l.source !== 'string' || typeof l.key !== 'string' || typeof l.run !== 'string' || !('refinedBy' in l)) {
      throw new Error(`${file}: a record without well-formed lineage: ${JSON.stringify(_sluice)}`);
    }
    return rest as T;
  });
}

/** The parsed lines of a JSON Lines file. */
export function readJsonl<T = Record<string, unknown>>(file: string): T[] {
  const text = readFileSync(file, 'utf8');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`${file} does not end with a newline`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as T);
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/**
 * Every entry under `root`, relative path → sha256 of a file's bytes, `dir`, or `-> target` for a
 * symlink (not followed): equal snapshots mean nothing under `root` changed.
 */
export function snapshotTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(root, path);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out[rel] = `-> ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[rel] = 'dir';
        walk(path);
      } else out[rel] = sha256(path);
    }
  };
  walk(root);
  return out;
}

/** Per tenant folder under `<out>/<pipeline>`: its export folders (sorted), without `latest` and hidden entries. */
export function exportFolders(exportRoot: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!existsSync(exportRoot)) return out;
  for (const tenant of readdirSync(exportRoot).sort()) {
    out[tenant] = readdirSync(join(exportRoot, tenant))
      .filter((e) => e !== 'latest' && !e.startsWith('.'))
      .sort();
  }
  return out;
}

/** The export folders present in `after` and not in `before`, per tenant folder (tenants with none left out). */
export function newFolders(before: Record<string, string[]>, after: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [tenant, ids] of Object.entries(after)) {
    const fresh = ids.filter((id) => !(before[tenant] ?? []).includes(id));
    if (fresh.length) out[tenant] = fresh;
  }
  return out;
}

/** `manifest.json` as written: the Manifest plus the writer's version stamps. */
export type ManifestFile = Manifest & { sluice: string; manifestVersion: number };

/** Rows of a file as a reader counts them: JSON Lines lines, CSV records after the header. */
export function countRows(file: string, format: string): number {
  if (format === 'jsonl') return readJsonl(file).length;
  if (format === 'csv') return Math.max(0, (parse(readFileSync(file)) as string[][]).length - 1);
  throw new Error(`no row counter for format ${format}`);
}

/**
 * Reads an export folder's manifest and checks it against the folder: the files it lists are exactly
 * the files there, and each one's rows, bytes and sha256 (computed here) are what it says.
 */
export function verifyExportFolder(dir: string): ManifestFile {
  const manifest = readJson<ManifestFile>(join(dir, 'manifest.json'));
  const onDisk = readdirSync(dir)
    .filter((name) => name !== 'manifest.json')
    .sort();
  expect(manifest.files.map((f) => f.path).sort()).toEqual(onDisk);
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    expect({ path: f.path, rows: f.rows, bytes: f.bytes, sha256: f.sha256 }).toEqual({
      path: f.path,
      rows: countRows(path, f.format),
      bytes: statSync(path).size,
      sha256: sha256(path),
    });
  }
  return manifest;
}
