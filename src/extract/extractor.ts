/**
 * An Extractor reads one source of a pipeline and yields its records in batches, each with the
 * checkpoint that follows it. The run commits each batch and its checkpoint in one transaction, and
 * hands the last committed checkpoint back on the next run, so an extractor resumes exactly where the
 * store left off. See the built-in SQL readers in `read/` (postgres.ts, mysql.ts, sqlite.ts) as examples.
 */
import type { z } from 'zod';
import type { Batch, BatchRows, Checkpoint, Field } from '../core/record';
import type { TenantRule } from '../config/parts';

export interface ExtractContext {
  pipeline: string;
  source: string;
  /** How each record gets its tenant. */
  tenant: TenantRule;
  /** The row shapes the staging store takes, best first; an extractor yields one of them. */
  accepts: readonly BatchRows['kind'][];
  /** Aborted when the run is cancelled: stop reading and release the source. */
  signal: AbortSignal;
}

export interface Extractor {
  /** Connects, checks the configuration against the source (columns exist, keys unique) and describes the fields. */
  open(): Promise<Field[]>;
  /** Yields batches in order, starting strictly after `from` (or from the beginning). */
  extract(from?: Checkpoint): AsyncIterable<Batch>;
  /** Releases connections; safe to call more than once and after a failure. */
  close(): Promise<void>;
}

/** A source kind's entry in the registry: its name, its config schema and its factory, in one place. */
export interface ExtractorDefinition<S extends z.ZodType = z.ZodType> {
  kind: string;
  description: string;
  config: S;
  create(config: z.output<S>, ctx: ExtractContext): Extractor;
}

export function defineExtractor<S extends z.ZodType>(def: ExtractorDefinition<S>): ExtractorDefinition<S> {
  return def;
}
