/**
 * Every source kind Sluice can read, by name, with its config schema. The pipeline-file schema is built
 * from this table, so a new reader's config is valid as soon as it is listed here.
 */
import { z } from 'zod';
import type { ExtractorDefinition } from './extractor';
import { mysqlReader } from './read/mysql';
import { postgresReader } from './read/postgres';
import { sqliteReader } from './read/sqlite';
import { limitedPull, pullExtractor } from './pull/pull';

export { pullConfig } from './pull/config';
export { pushConfig } from './push/config';
export { limitedPull, pullExtractor };

/** The keys a source uses to say what kind it is; each source has exactly one. */
export const SOURCE_KINDS = ['read', 'pull', 'push'] as const;

export const READERS = [postgresReader, mysqlReader, sqliteReader] as const;

export const readSchema = z
  .discriminatedUnion('driver', [postgresReader.config, mysqlReader.config, sqliteReader.config])
  .describe('Read rows from a SQL database: streamed, read-only, incremental with a cursor.');

export function readerFor(driver: string): ExtractorDefinition {
  const def = READERS.find((r) => r.kind === driver);
  if (!def) throw new Error(`unknown driver ${driver}; known: ${READERS.map((r) => r.kind).join(', ')}`);
  return def as unknown as ExtractorDefinition;
}
