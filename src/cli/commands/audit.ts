import { listAudit } from '../../run/existing-store';
import { loadPipeline } from '../../run/pipeline';
import { cols, say, table } from '../format';
import { parseSince } from './replay';
import { syncAudit } from './sync';

/** `sluice audit FILE`: what happened to the pipeline, newest first. */
export async function auditCommand(file: string, flags: { tenant?: string; since?: string; action?: string; key?: string; limit: number; json?: boolean; staging?: string }): Promise<void> {
  const since = flags.since ? parseSince(flags.since).toISOString() : undefined;
  const pipeline = loadPipeline(file);
  // a sync pipeline's record history: its events, field by field
  if (pipeline.sync && flags.key !== undefined) return syncAudit(file, { ...flags, since });
  const rows = await listAudit(pipeline, { tenant: flags.tenant, since, action: flags.action, limit: flags.limit }, { stagingUrl: flags.staging });
  if (flags.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  if (rows.length === 0) return void process.stdout.write(`${say('cli.audit.empty')}\n`);
  const what = (d: Record<string, unknown>) => JSON.stringify(d).slice(0, 100);
  process.stdout.write(`${table(cols('at', 'actor', 'action', 'tenant', 'detail'), rows.map((r) => [r.at, r.actor, r.action, r.tenant ?? '', what(r.detail)]))}\n`);
}
