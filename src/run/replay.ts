/**
 * `sluice replay`: writes again, per tenant, the records of a pushed source whose deliveries arrived
 * since a time — for a consumer that lost data downstream — without staging anything again.
 */
import { SluiceError } from '../core/errors';
import { msg } from '../core/i18n';
import { newRunId } from '../core/ids';
import { exportDatasets, type TenantExport } from '../export/runner';
import { openExistingStore } from '../stage/open';
import type { Pipeline } from './pipeline';
import { exportGroups, type RunOptions } from './run';
import { stagingUrl } from './staging';

export interface ReplaySummary {
  pipeline: string;
  source: string;
  since: string;
  exports: Omit<TenantExport, 'files'>[];
}

export async function replayPipeline(
  pipeline: Pipeline,
  opts: Pick<RunOptions, 'stagingUrl' | 'env' | 'signal'> & { source: string; since: Date },
): Promise<ReplaySummary> {
  const source = pipeline.sources.find((s) => s.name === opts.source);
  if (!source) {
    throw new SluiceError('SLUICE_USAGE', msg('err.run.replay.1', { name: pipeline.name, source: opts.source, value: pipeline.sources.map((s) => s.name).join(', ') }));
  }
  if (!source.push) throw new SluiceError('SLUICE_USAGE', msg('err.run.replay.2', { source: opts.source }), { pipeline: pipeline.name });
  if (pipeline.export.length === 0) throw new SluiceError('SLUICE_USAGE', msg('err.run.replay.3', { name: pipeline.name }), { pipeline: pipeline.name });
  const since = opts.since.toISOString();
  const url = stagingUrl(pipeline, opts);
  const store = openExistingStore(url);
  if (!store) return { pipeline: pipeline.name, source: opts.source, since, exports: [] };
  try {
    const lock = await store.lock(pipeline.name);
    try {
      const exports = await exportDatasets(store, {
        pipeline: pipeline.name,
        sources: [opts.source],
        groups: exportGroups(pipeline),
        full: false,
        refined: pipeline.refine.length > 0,
        runId: newRunId(),
        signal: opts.signal ?? new AbortController().signal,
        replay: { since },
      });
      return { pipeline: pipeline.name, source: opts.source, since, exports: exports.map(({ files: _files, ...e }) => e) };
    } finally {
      await lock.release();
    }
  } finally {
    await store.close();
  }
}
