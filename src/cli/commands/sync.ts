import type { Json } from '../../core/record';
import { SluiceError } from '../../core/errors';
import { msg } from '../../core/i18n';
import { parseLossless, stringifyLossless } from '../../core/json-text';
import { loadPipeline } from '../../run/pipeline';
import { runSync, type SyncSummary } from '../../run/sync';
import { listConflicts, recordHistory, resolveConflict, showConflict } from '../../run/sync-admin';
import type { SyncConflict } from '../../stage/sync-store';
import { EXIT } from '../exit';
import { cols, mib, say, seconds, table } from '../format';

export interface SyncFlags {
  dryRun?: boolean;
  json?: boolean;
  staging?: string;
}

/** `sluice sync FILE`: one sync run (or, with --dry-run, its plan). */
export async function syncCommand(file: string, flags: SyncFlags): Promise<void> {
  const pipeline = loadPipeline(file);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const summary = await runSync(pipeline, { file, dryRun: flags.dryRun, stagingUrl: flags.staging, signal: controller.signal });
    process.stdout.write(flags.json ? `${stringifyLossless(summary, 2)}\n` : `${describeSync(summary)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function describeSync(s: SyncSummary): string {
  const counts = table(
    cols('side', 'created', 'updated', 'deleted', 'conflicts', 'queued', 'skipped', 'failed'),
    (['a', 'b'] as const).map((id) => {
      const c = s.sides[id];
      return [`${c.name} (${id})`, c.created, c.updated, c.deleted, c.conflicts, c.queued, c.skipped, c.failed];
    }),
  );
  if (!s.plan) {
    return [
      say('cli.sync.succeeded', { pipeline: s.pipeline, run: s.run, duration: seconds(s.durationMs), staging: s.staging, memory: mib(s.peakRssBytes) }),
      counts,
      say('cli.sync.links', { links: s.links, queued: s.queued }),
    ].join('\n');
  }
  const lines = [say('cli.sync.dry_run', { pipeline: s.pipeline, staging: s.staging })];
  for (const id of ['a', 'b'] as const) {
    const p = s.plan[id];
    lines.push(say('cli.sync.plan_side', { side: `${p.name} (${id})`, creates: p.creates.length, updates: p.updates.length, deletes: p.deletes.length, archives: p.archives.length }));
    for (const c of p.creates) lines.push(`  + ${say('cli.sync.plan_create', { from: c.from })} ${stringifyLossless(c.values)}`);
    for (const u of [...p.updates, ...p.archives]) lines.push(`  ~ ${u.key}: ${changes(u.changes)}`);
    for (const d of p.deletes) lines.push(`  - ${d}`);
  }
  lines.push(say('cli.sync.plan_conflicts', { count: s.plan.conflicts.length }));
  for (const c of s.plan.conflicts) lines.push(`  ! ${c.aKey ?? '-'} / ${c.bKey ?? '-'} ${c.reason} ${c.fields.join(', ')}${c.detail ? `: ${c.detail}` : ''}`);
  return lines.join('\n');
}

const show = (v: Json | undefined) => stringifyLossless(v ?? null);

function changes(c: Record<string, [Json, Json]>): string {
  return Object.entries(c)
    .map(([f, [before, after]]) => `${f} ${show(before)} → ${show(after)}`)
    .join(', ');
}

/** `sluice conflicts list FILE`. */
export async function conflictsList(file: string, flags: { all?: boolean; limit: number; json?: boolean; staging?: string }): Promise<void> {
  const rows = await listConflicts(loadPipeline(file), { all: flags.all, limit: flags.limit }, { stagingUrl: flags.staging });
  if (flags.json) return void process.stdout.write(`${stringifyLossless(rows, 2)}\n`);
  if (rows.length === 0) return void process.stdout.write(`${say('cli.conflicts.empty')}\n`);
  process.stdout.write(`${table(cols('id', 'status', 'why', 'key', 'detail'), rows.map((c) => [c.id, c.status, c.reason, `${c.aKey ?? '-'} / ${c.bKey ?? '-'}`, c.fields.join(', ') || (c.detail ?? '')]))}\n`);
}

/** `sluice conflicts show FILE ID`: the base, a and b values of each conflicting field. */
export async function conflictsShow(file: string, id: string, flags: { json?: boolean; staging?: string }): Promise<void> {
  const pipeline = loadPipeline(file);
  const c = await showConflict(pipeline, conflictId(id), { stagingUrl: flags.staging });
  if (flags.json) return void process.stdout.write(`${stringifyLossless(c, 2)}\n`);
  process.stdout.write(`${describeConflict(c, pipeline.sync!.fields)}\n`);
}

function describeConflict(c: SyncConflict, fields: readonly { a: string; b: string }[]): string {
  const lines = [say('cli.conflicts.header', { id: c.id, status: c.status, reason: c.reason, a: c.aKey ?? '-', b: c.bKey ?? '-', created: c.createdAt })];
  if (c.detail) lines.push(`  ${c.detail}`);
  const rows = (c.fields.length ? c.fields : fields.map((f) => f.a)).map((name) => {
    const f = fields.find((x) => x.a === name) ?? { a: name, b: name };
    return [name, show(c.values.base.a?.[f.a]), show(c.values.a?.[f.a]), `${f.b}: ${show(c.values.b?.[f.b])}`];
  });
  lines.push(table(cols('field', 'base', 'a', 'b'), rows));
  if (c.resolution) lines.push(say('cli.conflicts.resolved_by', { by: c.resolvedBy ?? '-', resolution: stringifyLossless(c.resolution) }));
  return lines.join('\n');
}

/** `sluice conflicts resolve FILE ID --take a|b|base --set field=value`. */
export async function conflictsResolve(file: string, id: string, flags: { take?: string; set?: string[]; json?: boolean; staging?: string }): Promise<void> {
  if (flags.take !== undefined && !['a', 'b', 'base'].includes(flags.take)) throw new SluiceError('SLUICE_USAGE', msg('err.cli.sync.take', { take: flags.take }));
  const set: Record<string, unknown> = {};
  for (const pair of flags.set ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new SluiceError('SLUICE_USAGE', msg('err.cli.sync.set', { pair }));
    set[pair.slice(0, eq)] = valueOf(pair.slice(eq + 1));
  }
  const c = await resolveConflict(loadPipeline(file), conflictId(id), { take: flags.take as 'a' | 'b' | 'base' | undefined, set }, { stagingUrl: flags.staging, actor: process.env.USER ? `cli:${process.env.USER}` : 'cli' });
  process.stdout.write(flags.json ? `${stringifyLossless(c, 2)}\n` : `${say('cli.conflicts.resolved', { id: c.id })}\n`);
}

/** `--set n=42` is the number 42 (past 2^53 still whole), `--set tags=["a"]` a list, anything not JSON a string. */
function valueOf(text: string): unknown {
  try {
    return parseLossless(text);
  } catch {
    return text;
  }
}

function conflictId(id: string): number {
  const n = Number(id);
  if (!Number.isInteger(n) || n <= 0) throw new SluiceError('SLUICE_USAGE', msg('err.cli.sync.id', { id }));
  return n;
}

/** `sluice audit FILE --key K` on a sync pipeline: the record's events and its state rebuilt from them. */
export async function syncAudit(file: string, flags: { key?: string; since?: string; limit: number; json?: boolean; staging?: string }): Promise<void> {
  const history = await recordHistory(loadPipeline(file), { key: flags.key, since: flags.since, limit: flags.limit }, { stagingUrl: flags.staging });
  if (flags.json) return void process.stdout.write(`${stringifyLossless(history, 2)}\n`);
  if (history.events.length === 0) return void process.stdout.write(`${say('cli.audit.empty')}\n`);
  const rows = history.events.map((e) => [e.at, e.run, `${e.aKey ?? '-'} / ${e.bKey ?? '-'}`, e.side, e.action, changes(e.changes as Record<string, [Json, Json]>), e.decidedBy ?? '']);
  const out = [table(cols('at', 'run', 'key', 'side', 'action', 'changed', 'why'), rows)];
  if (flags.key) out.push(say('cli.sync.replayed', { a: stringifyLossless(history.state.a), b: stringifyLossless(history.state.b) }));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** `sluice check FILE [--repair]`: both sides compared in full; exit code 4 when they differ (and were not repaired). */
export async function checkCommand(file: string, flags: { repair?: boolean; json?: boolean; staging?: string }): Promise<void> {
  const summary = await runSync(loadPipeline(file), { file, check: flags.repair ? 'repair' : 'report', stagingUrl: flags.staging });
  const d = summary.drift!;
  const drifted = d.differing + d.missing.a + d.missing.b + d.unlinked.a + d.unlinked.b;
  if (flags.json) process.stdout.write(`${stringifyLossless(summary, 2)}\n`);
  else {
    const lines = [say(drifted === 0 ? 'cli.check.in_step' : 'cli.check.drift', { pipeline: summary.pipeline, links: d.links, differing: d.differing, missingA: d.missing.a, missingB: d.missing.b, unlinkedA: d.unlinked.a, unlinkedB: d.unlinked.b })];
    for (const e of d.examples) {
      const what = e.fields ? changes(e.fields) : e.missing ? say('cli.check.missing', { side: e.missing }) : say('cli.check.unlinked', { side: e.unlinked ?? '' });
      lines.push(`  ${e.aKey ?? '-'} / ${e.bKey ?? '-'}: ${what}`);
    }
    if (flags.repair && drifted > 0) lines.push(describeSync({ ...summary, plan: undefined }));
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (drifted > 0 && !flags.repair) process.exitCode = EXIT.drift;
}
