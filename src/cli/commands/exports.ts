import { resolve } from 'node:path';
import { SluiceError } from '../../core/errors';
import { msg } from '../../core/i18n';
import { diffExports, listExports, type ExportEntry } from '../../export/history';
import { loadPipeline } from '../../run/pipeline';
import { cols, say, table } from '../format';

interface Flags {
  tenant: string;
  path?: string;
  json?: boolean;
}

/** The tenant's exports under the pipeline's export path (`--path` when it has several). */
function entriesFor(file: string, flags: Flags): ExportEntry[] {
  const pipeline = loadPipeline(file);
  const paths = [...new Set(pipeline.export.map((e) => e.path))];
  if (paths.length === 0) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.exports.1', { name: pipeline.name }));
  const path = flags.path ?? paths[0]!;
  if (!paths.includes(path)) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.exports.2', { value: paths.join(', ') }));
  if (flags.path === undefined && paths.length > 1) process.stderr.write(`${say('cli.exports.path_picked', { path, paths: paths.join(', ') })}\n`);
  return listExports(resolve(path), pipeline.name, flags.tenant);
}

/** `sluice exports list`: every export of the tenant, oldest first. */
export async function exportsList(file: string, flags: Flags): Promise<void> {
  const entries = entriesFor(file, flags);
  if (flags.json) {
    const out = entries.map((e) => ({ id: e.id, latest: e.latest, kind: e.manifest.kind, createdAt: e.manifest.createdAt, run: e.manifest.run, previous: e.manifest.previous, rows: rowsOf(e), deleted: deletedOf(e), dir: e.dir }));
    return void process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  }
  if (entries.length === 0) return void process.stdout.write(`${say('cli.exports.none', { tenant: flags.tenant })}\n`);
  const rows = entries.map((e) => [idOf(e), e.manifest.kind, e.manifest.createdAt, rowsOf(e), deletedOf(e), e.manifest.files.length]);
  process.stdout.write(`${table(cols('export', 'kind', 'created', 'rows', 'deleted', 'files'), rows)}\n`);
}

/** `sluice exports show`: one export's manifest. */
export async function exportsShow(file: string, id: string, flags: Flags): Promise<void> {
  const entries = entriesFor(file, flags);
  const e = id === 'latest' ? entries.find((x) => x.latest) : entries.find((x) => x.id === id);
  if (!e) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.exports.3', { id, tenant: flags.tenant }));
  if (flags.json) return void process.stdout.write(`${JSON.stringify({ dir: e.dir, ...e.manifest }, null, 2)}\n`);
  const m = e.manifest;
  const after = m.previous ? say('cli.exports.show.after', { previous: m.previous }) : '';
  const head = [`${m.pipeline} / ${m.tenant} / ${idOf(e)}`, `  ${say('cli.exports.show.detail', { kind: m.kind, run: m.run, created: m.createdAt, after })}`, `  ${e.dir}`];
  const files = table(cols('file', 'format', 'rows', 'bytes', 'sha256'), m.files.map((f) => [f.path, f.format, f.rows, f.bytes, f.sha256.slice(0, 16)]));
  process.stdout.write(`${head.join('\n')}\n${files}\n`);
}

/** `sluice exports diff`: keys added, changed and removed between two exports (ids, or `latest`). */
export async function exportsDiff(file: string, from: string, to: string, flags: Flags): Promise<void> {
  const diff = await diffExports(entriesFor(file, flags), from, to);
  if (flags.json) return void process.stdout.write(`${JSON.stringify(diff, null, 2)}\n`);
  const out = [`${diff.from} → ${diff.to}`];
  for (const [source, d] of Object.entries(diff.sources)) {
    out.push(`  ${say('cli.exports.diff.counts', { source, added: d.added.length, changed: d.changed.length, removed: d.removed.length })}`);
    for (const [sign, keys] of [['+', d.added], ['~', d.changed], ['-', d.removed]] as const) {
      for (const k of keys.slice(0, 20)) out.push(`    ${sign} ${k}`);
      if (keys.length > 20) out.push(`    ${sign} ${say('cli.exports.diff.more', { count: keys.length - 20 })}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The export's id, marked when it is the latest. */
const idOf = (e: ExportEntry) => (e.latest ? say('cli.exports.latest', { id: e.id }) : e.id);
const rowsOf = (e: ExportEntry) => Object.values(e.manifest.sources).reduce((n, s) => n + s.rows, 0);
const deletedOf = (e: ExportEntry) => Object.values(e.manifest.sources).reduce((n, s) => n + s.deleted, 0);
