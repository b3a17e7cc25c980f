/**
 * Exit codes, in one place. Commands throw typed errors; `main` turns each error's kind into a code.
 */
import type { Lang } from '../core/i18n';
import { ConfigErrors, isSluiceError, messageOf, type ErrorKind } from '../core/errors';

export const EXIT = {
  ok: 0,
  /** the run (or a command) failed */
  failed: 1,
  /** invalid input: usage, pipeline file, missing environment variable */
  invalid: 2,
  /** another run of the pipeline holds its lock */
  locked: 3,
} as const;

const BY_KIND: Record<ErrorKind, number> = {
  config: EXIT.invalid,
  lock: EXIT.locked,
  fatal: EXIT.failed,
  retriable: EXIT.failed,
  skippable: EXIT.failed,
};

export function exitCodeOf(err: unknown): number {
  return isSluiceError(err) ? BY_KIND[err.kind] : EXIT.failed;
}

/** The error as people read it (in their language): the message, where it happened, a hint, and (verbose) the stack and cause. */
export function formatError(err: unknown, verbose: boolean, lang: Lang = 'en-US'): string {
  if (!isSluiceError(err)) return `sluice: ${verbose && err instanceof Error ? err.stack : messageOf(err)}`;
  const problems = err instanceof ConfigErrors ? err.problems : [err];
  const lines = problems.map((p) => `error ${p.code}: ${p.localized(lang)}`);
  const c = err.context;
  const where = [
    c.pipeline && `pipeline ${c.pipeline}`,
    c.source && `source ${c.source}`,
    c.tenant !== undefined && `tenant ${c.tenant}`,
    c.key !== undefined && `key ${c.key}`,
    c.run && `run ${c.run}`,
  ].filter(Boolean);
  if (where.length && !(err instanceof ConfigErrors)) lines.push(`  at ${where.join(', ')}`);
  if (c.hint) lines.push(`  hint: ${c.hint}`);
  if (verbose) {
    if (err.stack) lines.push(err.stack);
    if (err.cause) lines.push(`caused by: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}`);
  }
  return lines.join('\n');
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the run failed (source, staging store or export error)
  2  invalid input (usage, pipeline file, missing environment variable)
  3  another run of the same pipeline holds its lock`;
