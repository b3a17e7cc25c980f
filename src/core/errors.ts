/**
 * The one catalog of Sluice errors. Each error has a stable `code`, a `kind` that tells the runner
 * what to do with it, and a `context` naming where it happened (pipeline, source, record key...).
 *
 * - `config`: the input is wrong (usage, pipeline file, missing variable): fix it and run again.
 * - `lock`: another run holds the pipeline's lock: nothing was done.
 * - `fatal`: the run stops; what was committed stays committed.
 * - `retriable`: a transient failure that may succeed if tried again.
 * - `skippable`: one record is at fault; it can be set aside while the rest go on.
 *
 * `docs/errors.md` lists exactly these codes; a test keeps the two in step.
 */
import { t, type Lang, type Msg } from './i18n';

export type ErrorKind = 'config' | 'lock' | 'fatal' | 'retriable' | 'skippable';

export const ERROR_CODES = {
  SLUICE_USAGE: { kind: 'config', summary: 'The command line is wrong: an unknown option, a missing argument.' },
  SLUICE_CONFIG_FILE: { kind: 'config', summary: 'The pipeline file cannot be read.' },
  SLUICE_CONFIG_YAML: { kind: 'config', summary: 'The pipeline file is not valid YAML.' },
  SLUICE_CONFIG_INVALID: { kind: 'config', summary: 'The pipeline file does not match the schema (unknown field, wrong type, bad value).' },
  SLUICE_CONFIG_ENV: { kind: 'config', summary: 'A ${VAR} in the pipeline file names an environment variable that is not set.' },
  SLUICE_SOURCE_CONNECT: { kind: 'fatal', summary: 'A source database cannot be reached or refused the connection.' },
  SLUICE_SOURCE_QUERY: { kind: 'fatal', summary: 'A source query failed (syntax error, missing table, refused write).' },
  SLUICE_SOURCE_COLUMN: { kind: 'config', summary: 'A key, cursor or tenant column does not exist in what the source returns.' },
  SLUICE_SOURCE_DUPLICATE_KEY: { kind: 'fatal', summary: 'The source returned two rows with the same key.' },
  SLUICE_SOURCE_NULL_KEY: { kind: 'fatal', summary: 'A source row has NULL in a key, cursor or tenant column.' },
  SLUICE_LABEL_STUDIO: { kind: 'fatal', summary: 'Label Studio refused a request or could not be reached after every retry.' },
  SLUICE_NOTIFY: { kind: 'retriable', summary: 'An alert notification could not be delivered after every retry.' },
  SLUICE_SECRET_KEY: { kind: 'config', summary: 'SLUICE_SECRET_KEY is missing or wrong, or a stored secret does not open with it.' },
  SLUICE_PULL_HTTP: { kind: 'fatal', summary: 'An HTTP source failed for good: an error status, or no answer after every retry.' },
  SLUICE_PULL_RESPONSE: { kind: 'fatal', summary: 'An HTTP source answered with something the pipeline does not describe: not JSON, no records array, a record without its key.' },
  SLUICE_SERVE_LISTEN: { kind: 'fatal', summary: '`sluice serve` cannot listen on its address (port taken, no permission).' },
  SLUICE_STAGING_URL: { kind: 'config', summary: 'The staging store URL is neither postgres://… nor an SQLite path.' },
  SLUICE_STAGING_CONNECT: { kind: 'fatal', summary: 'The staging store cannot be opened or reached.' },
  SLUICE_STAGING_WRITE: { kind: 'fatal', summary: 'A batch could not be committed to the staging store.' },
  SLUICE_LOCKED: { kind: 'lock', summary: 'Another run of the same pipeline holds its lock.' },
  SLUICE_EXPORT_WRITE: { kind: 'fatal', summary: 'An export could not be written or published.' },
  SLUICE_EXPORT_LINEAGE: { kind: 'config', summary: 'A source has a field named `_sluice`, or a record has a member of that name, the one lineage adds to each exported record: rename it, or set `lineage: false` on the export.' },
  SLUICE_SYNC_COLUMN: { kind: 'config', summary: 'A sync mapping, key or default names a field that does not exist on its side.' },
  SLUICE_SYNC_SIDE: { kind: 'fatal', summary: 'A sync side cannot be reached, or failed after every retry; repeated failures open its circuit breaker.' },
  SLUICE_SYNC_BREAKER: { kind: 'fatal', summary: 'The circuit breaker of a sync side is open after repeated failures: the side is left alone until its cool-down ends.' },
  SLUICE_SYNC_WRITE: { kind: 'skippable', summary: 'A side refused one write (a constraint, a type): that record waits in the conflict queue and the run goes on.' },
  SLUICE_SYNC_CONFLICT: { kind: 'config', summary: 'A conflict to resolve does not exist or is no longer open, or the resolution names a field that is not in conflict.' },
  SLUICE_RUN_CANCELLED: { kind: 'fatal', summary: 'The run was cancelled before it finished; committed batches stay committed.' },
} as const satisfies Record<string, { kind: ErrorKind; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Where an error happened. Only names and keys: never secrets, never whole records. */
export interface ErrorContext {
  pipeline?: string;
  source?: string;
  tenant?: string;
  key?: string;
  run?: string;
  file?: string;
  line?: number;
  column?: number;
  /** A field of a record (a mapped field of a sync side). */
  field?: string;
  /** A hint that says what to change. */
  hint?: string;
  /** The HTTP status an outside service answered with. */
  status?: number;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly context: ErrorContext;

  /** The message by code, so it can be said in the user's language (`localized`); `message` is en-US. */
  readonly msg?: Msg;

  constructor(code: ErrorCode, message: string | Msg, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(typeof message === 'string' ? message : t('en-US', message.key, message.params), options);
    this.name = 'SluiceError';
    this.code = code;
    this.kind = ERROR_CODES[code].kind;
    this.context = context;
    if (typeof message !== 'string') this.msg = message;
  }

  /** The message in a language. */
  localized(lang: Lang): string {
    return this.msg ? t(lang, this.msg.key, this.msg.params) : this.message;
  }

  /** The same error with more context (the innermost values win: they are the most precise). */
  withContext(context: ErrorContext): SluiceError {
    const err = new SluiceError(this.code, this.msg ?? this.message, { ...context, ...this.context }, { cause: this.cause });
    err.stack = this.stack;
    return err;
  }
}

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError;
}

/** A config-kind error that lists several problems at once (all of a file's schema errors, say). */
export class ConfigErrors extends SluiceError {
  readonly problems: readonly SluiceError[];
  constructor(problems: SluiceError[]) {
    super(problems[0]!.code, problems.map((p) => p.message).join('\n'), problems[0]!.context);
    this.problems = problems;
  }
}

/** Anything thrown, as an Error (a thrown string or value becomes one whose message it is). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** `err.message`, for anything thrown (duck-typed: errors from native addons may come from another realm). */
export function messageOf(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(err);
}
