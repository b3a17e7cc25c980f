/**
 * Which staging store a pipeline uses. Its own module, so the commands that only open a store (sync,
 * status, the queue) do not load the whole run machinery (refine, export, the LLM client) to learn it.
 */
import type { Environment } from '../config/env';
import { DEFAULT_STAGING_URL } from '../stage/open';
import type { Pipeline } from './pipeline';

/** `--staging` > `SLUICE_STAGING_URL` > the file's `staging:` > `sqlite:.sluice/staging.db`. */
export function stagingUrl(pipeline: Pipeline, opts: { stagingUrl?: string; env?: Environment }): string {
  const env = opts.env ?? process.env;
  return opts.stagingUrl ?? env.SLUICE_STAGING_URL ?? pipeline.staging ?? DEFAULT_STAGING_URL;
}
