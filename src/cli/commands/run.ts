import { rename, writeFile } from 'node:fs/promises';
import { dryRun, type DryRunSummary } from '../../run/dry-run';
import { loadPipeline, type Pipeline } from '../../run/pipeline';
import { metricsText, runPipeline, type RunSummary } from '../../run/run';
import { cols, mib, say, seconds, table } from '../format';
import { progressReporter } from '../progress';
import { runSync } from '../../run/sync';
import { describeSync } from './sync';

export interface RunFlags {
  full?: boolean;
  dryRun?: boolean;
  json?: boolean;
  staging?: string;
  metricsFile?: string;
}

export async function runCommand(file: string, flags: RunFlags): Promise<void> {
  const pipeline = loadPipeline(file);
  const progress = progressReporter(process.stderr, { quiet: Boolean(flags.json) });
  const controller = new AbortController();
  // Ctrl-C stops at the next batch boundary; committed batches stay and the next run resumes after them.
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const opts = { full: flags.full, stagingUrl: flags.staging, signal: controller.signal, onProgress: progress };
    if (pipeline.sync && pipeline.sources.length === 0) {
      // a sync pipeline runs as `sluice sync` does
      const synced = await runSync(pipeline, { file, dryRun: flags.dryRun, stagingUrl: flags.staging, signal: controller.signal });
      progress.done();
      process.stdout.write(flags.json ? `${JSON.stringify(synced, null, 2)}\n` : `${describeSync(synced)}\n`);
      return;
    }
    const summary = flags.dryRun ? await dryRun(pipeline, opts) : await runPipeline(pipeline, opts);
    progress.done();
    process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${describe(summary)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // a failed run is worth seeing too: the file is written whatever the outcome
    if (flags.metricsFile) await writeMetricsFile(flags.metricsFile, pipeline, flags.staging);
  }
}

function describe(s: RunSummary | DryRunSummary): string {
  if ('dryRun' in s) {
    return [
      say('cli.run.dry_run', { pipeline: s.pipeline, staging: s.staging }),
      table(cols('source', 'read', 'new', 'changed', 'unchanged', 'moved_tenant'), s.sources.map((x) => [x.name, x.read, x.new, x.changed, x.unchanged, x.movedTenant])),
      s.tenants.length
        ? `${say('cli.run.would_stage', { count: s.tenants.length })}\n${table(cols('tenant', 'records'), s.tenants.map((t) => [t.tenant, t.wouldStage]))}`
        : say('cli.run.nothing_to_stage'),
    ].join('\n');
  }
  const exported = s.exports.reduce((n, e) => n + e.rows, 0);
  const lines = [
    say('cli.run.succeeded', { pipeline: s.pipeline, run: s.run, duration: seconds(s.durationMs), staging: s.staging, memory: mib(s.peakRssBytes) }),
    table(cols('source', 'read', 'staged', 'unchanged', 'batches'), s.sources.map((x) => [x.name, x.read, x.staged, x.unchanged, x.batches])),
  ];
  if (s.exports.length === 0) lines.push(say('cli.run.no_new_exports'));
  else {
    const targets = [...new Set(s.exports.map((e) => e.target))];
    lines.push(say('cli.run.exported', { rows: exported.toLocaleString('en-US'), count: s.exports.length, targets: targets.join(', ') }));
    lines.push(table(cols('tenant', 'kind', 'rows', 'deleted', 'folder'), s.exports.map((e) => [e.tenant, e.kind, e.rows, e.deleted, e.dir])));
  }
  return lines.join('\n');
}

/**
 * The run's metrics in the node_exporter textfile format: written beside the target and renamed over
 * it, so the collector never reads half a file.
 */
async function writeMetricsFile(file: string, pipeline: Pipeline, staging: string | undefined): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, await metricsText(pipeline, { stagingUrl: staging }));
  await rename(tmp, file);
}
