import { loadPipeline } from '../../run/pipeline';
import { stagingUrl } from '../../run/staging';
import { openExistingStore } from '../../stage/open';
import { cols, say, table } from '../format';
import type { Pipeline } from '../../run/pipeline';
import type { StagingStore } from '../../stage/store';

/** Each side's checkpoint and breaker, the links, the queue and the last sync runs' counts per side. */
async function syncState(store: StagingStore, pipeline: Pipeline, runs: number) {
  const state = store.sync(pipeline.name);
  const sides = await state.sides();
  return {
    sides: (['a', 'b'] as const).map((id) => ({ side: id, name: pipeline.sync![id].name, ...sides[id] })),
    links: (await state.linkCounts()).linked,
    queued: (await state.queueCounts()).open,
    runs: await state.runs(runs),
  };
}

function describeSyncState(s: Awaited<ReturnType<typeof syncState>>): string[] {
  const breaker = (x: (typeof s.sides)[number]) => (x.openUntil && Date.parse(x.openUntil) > Date.now() ? say('cli.status.breaker_open', { until: x.openUntil, error: x.lastError ?? '' }) : x.failures > 0 ? say('cli.status.breaker_failing', { failures: x.failures, error: x.lastError ?? '' }) : say('cli.status.breaker_closed'));
  return [
    say('cli.status.sync_sides', { links: s.links, queued: s.queued }),
    table(cols('side', 'name', 'checkpoint', 'status'), s.sides.map((x) => [x.side, x.name, JSON.stringify(x.checkpoint ?? null), breaker(x)])),
    table(
      cols('run', 'side', 'created', 'updated', 'deleted', 'conflicts', 'queued', 'skipped', 'failed'),
      s.runs.flatMap((r) => (['a', 'b'] as const).map((id) => { const c = r.stats[id]; return [r.run, id, c.created, c.updated, c.deleted, c.conflicts, c.queued, c.skipped, c.failed]; })),
    ),
  ];
}

/** Checkpoints, the last runs, staged records per tenant and the latest exports of a pipeline. */
export async function statusCommand(file: string, flags: { json?: boolean; staging?: string; runs?: number }): Promise<void> {
  const pipeline = loadPipeline(file);
  const url = stagingUrl(pipeline, { stagingUrl: flags.staging });
  const store = openExistingStore(url);
  try {
    const migrated = Boolean(store && (await store.isMigrated()));
    const status = {
      pipeline: pipeline.name,
      staging: store ? `${store.kind} ${store.location}` : `${url} (does not exist yet)`,
      sources: migrated ? (await store!.streams(pipeline.name)).map(({ fields: _f, ...s }) => s) : [],
      runs: migrated ? await store!.runs(pipeline.name, flags.runs ?? 5) : [],
      records: migrated ? await store!.countRecords(pipeline.name) : [],
      exports: migrated ? await store!.latestExports(pipeline.name) : [],
      llm: migrated ? await store!.llmUsage(pipeline.name) : [],
      ...(pipeline.sync && migrated ? { sync: await syncState(store!, pipeline, flags.runs ?? 5) } : {}),
    };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return;
    }
    // the JSON keeps its words; the text says "does not exist yet" in the CLI's language
    const staging = store ? status.staging : say('cli.status.staging_missing', { url });
    const noneYet = `  ${say('cli.status.none_yet')}`;
    const out = [say('cli.status.header', { pipeline: status.pipeline, staging })];
    out.push(
      say('cli.status.checkpoints'),
      status.sources.length ? table(cols('source', 'updated', 'checkpoint'), status.sources.map((s) => [s.source, s.updatedAt ?? '-', JSON.stringify(s.checkpoint)])) : noneYet,
    );
    out.push(
      say('cli.status.last_runs'),
      status.runs.length
        ? table(
            cols('run', 'status', 'started', 'read', 'staged', 'unchanged', 'exported', 'error'),
            status.runs.map((r) => [r.id, r.status, r.startedAt, r.read, r.staged, r.unchanged, r.exported, r.error ?? '']),
          )
        : noneYet,
    );
    out.push(
      say('cli.status.records'),
      status.records.length
        ? pipeline.refine.length > 0
          ? table(cols('tenant', 'source', 'records', 'deleted', 'quarantined', 'failed'), status.records.map((r) => [r.tenant, r.source, r.records, r.deleted, r.quarantined, r.failed]))
          : table(cols('tenant', 'source', 'records', 'deleted'), status.records.map((r) => [r.tenant, r.source, r.records, r.deleted]))
        : noneYet,
    );
    if (status.llm.length > 0) {
      out.push(
        say('cli.status.llm_usage'),
        table(
          cols('tenant', 'model', 'calls', 'cached', 'prompt_tokens', 'completion_tokens', 'cost'),
          status.llm.map((u) => [u.tenant, u.model, u.calls, u.cached, u.promptTokens, u.completionTokens, u.cost === null ? '-' : u.cost.toFixed(4)]),
        ),
      );
    }
    if (status.sync) out.push(...describeSyncState(status.sync));
    out.push(say('cli.status.latest_exports'), status.exports.length ? table(cols('tenant', 'export', 'rows', 'folder'), status.exports.map((e) => [e.tenant, e.id, e.rows, e.dir])) : noneYet);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await store?.close();
  }
}
