/**
 * Commands that read or change what a pipeline has staged (quarantine, the audit log) open its store
 * only if it exists and is migrated: they never create one, and say so when the pipeline never ran.
 */
import { SluiceError } from '../core/errors';
import { msg } from '../core/i18n';
import { openExistingStore } from '../stage/open';
import type { AuditQuery, AuditRow, StagingStore } from '../stage/store';
import type { Pipeline } from './pipeline';
import type { RunOptions } from './run';
import { stagingUrl } from './staging';

export type Where = Pick<RunOptions, 'stagingUrl' | 'env' | 'actor'>;

/** Runs `fn` on the pipeline's existing store (holding the pipeline's run lock with `lock`). */
export async function withExistingStore<T>(pipeline: Pipeline, opts: Where, lock: boolean, fn: (store: StagingStore) => Promise<T>): Promise<T> {
  const store = openExistingStore(stagingUrl(pipeline, opts));
  if (!store || !(await store.isMigrated())) {
    await store?.close();
    throw new SluiceError('SLUICE_USAGE', msg('err.run.existing-store.1', { name: pipeline.name }), { pipeline: pipeline.name });
  }
  try {
    const held = lock ? await store.lock(pipeline.name) : undefined;
    try {
      return await fn(store);
    } finally {
      await held?.release();
    }
  } finally {
    await store.close();
  }
}

/** The audit log of the pipeline's staging store, newest first. */
export function listAudit(pipeline: Pipeline, q: Omit<AuditQuery, 'pipeline'>, opts: Where = {}): Promise<AuditRow[]> {
  return withExistingStore(pipeline, opts, false, (store) => store.audit({ ...q, pipeline: pipeline.name }));
}
