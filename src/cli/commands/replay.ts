import { SluiceError } from '../../core/errors';
import { duration } from '../../config/parts';
import { msg } from '../../core/i18n';
import { loadPipeline } from '../../run/pipeline';
import { replayPipeline } from '../../run/replay';
import { cols, say, table } from '../format';

/** Re-exports the records of deliveries received since `--from`, per tenant, without staging again. */
export async function replayCommand(file: string, flags: { source: string; from: string; json?: boolean; staging?: string }): Promise<void> {
  const pipeline = loadPipeline(file);
  const summary = await replayPipeline(pipeline, { source: flags.source, since: parseSince(flags.from), stagingUrl: flags.staging });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const rows = summary.exports.reduce((n, e) => n + e.rows, 0);
  const out = [say('cli.replay.replayed', { pipeline: summary.pipeline, source: summary.source, rows: rows.toLocaleString('en-US'), since: summary.since })];
  if (summary.exports.length > 0) out.push(table(cols('tenant', 'rows', 'folder'), summary.exports.map((e) => [e.tenant, e.rows, e.dir])));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** An ISO-8601 time, or a duration back from now (`90m`, `2h`, `7d`). */
export function parseSince(text: string, now = Date.now()): Date {
  const ago = duration.safeParse(text);
  if (ago.success) return new Date(now - ago.data * 1000);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.replay.1', { text }));
  return new Date(t);
}
