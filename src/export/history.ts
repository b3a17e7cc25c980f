/**
 * An export target's history for one tenant, read from its folders (`<path>/<pipeline>/<tenant>/<id>/`
 * with `manifest.json`): what exports there are, and what changed between two of them. Only that
 * tenant's folder is ever read. The state a `changes` export stands for is rebuilt from the snapshot
 * before it and the changes after; records are told apart by their lineage key (`_sluice.key`), so a
 * diff needs a JSON Lines or JSON export with lineage.
 */
import { createHash } from 'node:crypto';
import { msg } from '../core/i18n';
import { createReadStream, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { SluiceError } from '../core/errors';
import { parseLossless, stringifyLossless } from '../core/json-text';
import { LINEAGE_FIELD } from '../core/lineage';
import { tenantDirName } from '../core/tenant';
import { MANIFEST_FILE, type Manifest } from './manifest';

export interface ExportEntry {
  id: string;
  dir: string;
  latest: boolean;
  manifest: Manifest;
}

/** The tenant's exports under one target path, oldest first (ids sort by creation time). */
export function listExports(path: string, pipeline: string, tenant: string): ExportEntry[] {
  const tenantDir = join(path, pipeline, tenantDirName(tenant));
  if (!existsSync(tenantDir)) return [];
  const latest = existsSync(join(tenantDir, 'latest')) ? readlinkSync(join(tenantDir, 'latest')) : undefined;
  return readdirSync(tenantDir)
    .filter((id) => !id.startsWith('.') && id !== 'latest' && existsSync(join(tenantDir, id, MANIFEST_FILE)))
    .sort()
    .map((id) => ({ id, dir: join(tenantDir, id), latest: id === latest, manifest: JSON.parse(readFileSync(join(tenantDir, id, MANIFEST_FILE), 'utf8')) as Manifest }));
}

export interface ExportDiff {
  from: string;
  to: string;
  /** per source: keys added, changed (different data) and removed, sorted */
  sources: Record<string, { added: string[]; changed: string[]; removed: string[] }>;
}

/** What changed between two exports of the tenant: `from` and `to` are ids (or `latest`). */
export async function diffExports(entries: readonly ExportEntry[], from: string, to: string): Promise<ExportDiff> {
  const a = find(entries, from);
  const b = find(entries, to);
  const [stateA, stateB] = [await stateAt(entries, a), await stateAt(entries, b)];
  const sources: ExportDiff['sources'] = {};
  for (const source of new Set([...stateA.keys(), ...stateB.keys()])) {
    const x = stateA.get(source) ?? new Map<string, string>();
    const y = stateB.get(source) ?? new Map<string, string>();
    const added = [...y.keys()].filter((k) => !x.has(k)).sort();
    const removed = [...x.keys()].filter((k) => !y.has(k)).sort();
    const changed = [...y.keys()].filter((k) => x.has(k) && x.get(k) !== y.get(k)).sort();
    sources[source] = { added, changed, removed };
  }
  return { from: a.id, to: b.id, sources };
}

function find(entries: readonly ExportEntry[], id: string): ExportEntry {
  const e = id === 'latest' ? entries.find((x) => x.latest) : entries.find((x) => x.id === id);
  if (!e) throw new SluiceError('SLUICE_USAGE', msg('err.export.history.1', { id }));
  return e;
}

type State = Map<string, Map<string, string>>; // source → key → hash of the record without lineage

/** The records an export stands for: the snapshot at or before it, with every change export up to it applied. */
async function stateAt(entries: readonly ExportEntry[], target: ExportEntry): Promise<State> {
  if (target.manifest.kind === 'replay') throw new SluiceError('SLUICE_USAGE', msg('err.export.history.2', { id: target.id }));
  const chain = entries.filter((e) => e.manifest.kind !== 'replay' && e.id <= target.id);
  let start = chain.length - 1;
  while (start > 0 && chain[start]!.manifest.kind !== 'snapshot') start--;
  const state: State = new Map();
  for (const e of chain.slice(start)) {
    if (e.manifest.kind === 'snapshot') state.clear();
    for (const source of Object.keys(e.manifest.sources)) {
      if (!state.has(source)) state.set(source, new Map());
      const records = state.get(source)!;
      for await (const r of recordsOf(e, source)) records.set(r.key, r.hash);
      const deleted = join(e.dir, `${source}.deleted.jsonl`);
      if (existsSync(deleted)) for await (const line of lines(deleted)) records.delete(String((JSON.parse(line) as { key: unknown }).key));
    }
  }
  return state;
}

async function* recordsOf(e: ExportEntry, source: string): AsyncGenerator<{ key: string; hash: string }> {
  const files = e.manifest.files.filter((f) => f.source === source && f.role !== 'deleted' && (f.format === 'jsonl' || f.format === 'json'));
  const format = files[0]?.format;
  if (!format) {
    if (e.manifest.sources[source]!.rows === 0) return;
    throw new SluiceError('SLUICE_USAGE', msg('err.export.history.3', { id: e.id, source }));
  }
  for (const f of files.filter((x) => x.format === format)) {
    for await (let line of lines(join(e.dir, f.path))) {
      if (format === 'json') {
        // our JSON arrays hold one record per line: `[`, then `{...},` lines, then `]`
        if (line === '[' || line === ']' || line === '[]') continue;
        if (line.endsWith(',')) line = line.slice(0, -1);
      }
      const { [LINEAGE_FIELD]: lineage, ...data } = parseLossless(line) as Record<string, unknown>;
      const key = (lineage as { key?: unknown } | undefined)?.key;
      if (typeof key !== 'string') throw new SluiceError('SLUICE_USAGE', msg('err.export.history.4', { id: e.id, path: f.path }));
      yield { key, hash: createHash('sha256').update(stringifyLossless(data)).digest('base64') };
    }
  }
}

function lines(file: string): AsyncIterable<string> {
  const raw = createReadStream(file);
  return createInterface({ input: file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw, crlfDelay: Infinity });
}
