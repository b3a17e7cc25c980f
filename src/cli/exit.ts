/**
 * Exit codes, in one place. Commands throw typed errors; `main` turns each error's kind into a code.
 */
import { t, type Lang } from '../core/i18n';
import { ConfigErrors, isSluiceError, messageOf, type ErrorKind } from '../core/errors';
import { lang as cliLang } from './format';

export const EXIT = {
  ok: 0,
  /** the run (or a command) failed */
  failed: 1,
  /** invalid input: usage, pipeline file, missing environment variable */
  invalid: 2,
  /** another run of the pipeline holds its lock */
  locked: 3,
  /** `sluice check` found the two sides of a sync differ */
  drift: 4,
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
    c.pipeline && t(lang, 'cli.error.pipeline', { pipeline: c.pipeline }),
    c.source && t(lang, 'cli.error.source', { source: c.source }),
    c.tenant !== undefined && t(lang, 'cli.error.tenant', { tenant: String(c.tenant) }),
    c.key !== undefined && t(lang, 'cli.error.key', { key: String(c.key) }),
    c.run && t(lang, 'cli.error.run', { run: c.run }),
  ].filter(Boolean);
  if (where.length && !(err instanceof ConfigErrors)) lines.push(`  ${t(lang, 'cli.error.at', { where: where.join(t(lang, 'cli.error.where_separator')) })}`);
  if (c.hint) lines.push(`  ${t(lang, 'cli.error.hint', { hint: c.hint })}`);
  if (verbose) {
    if (err.stack) lines.push(err.stack);
    if (err.cause) lines.push(t(lang, 'cli.error.caused_by', { cause: String(err.cause instanceof Error ? err.cause.stack : String(err.cause)) }));
  }
  return lines.join('\n');
}

/** What the exit codes mean, for the end of the help, in a language (by default the CLI's: `--lang`, SLUICE_LANG). */
export function exitCodesHelp(language: Lang = cliLang()): string {
  return t(language, 'cli.exit.codes_help');
}

