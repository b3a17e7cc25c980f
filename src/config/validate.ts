/**
 * Validation of a parsed file against a zod schema, with every problem reported as
 * `file:line:column path: what was expected, got what` — all of them at once, not one per try.
 */
import { z } from 'zod';
import { msg } from '../core/i18n';
import { ConfigErrors, SluiceError, type ErrorCode, type ErrorContext } from '../core/errors';
import { formatPath, nodeAt, positionOf, type Path, type SourceDocument } from './yaml';

export function validateDocument<S extends z.ZodType>(src: SourceDocument, schema: S): Readonly<z.output<S>> {
  const input: unknown = src.doc.toJS({ maxAliasCount: 100 });
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigErrors(result.error.issues.flatMap((issue) => describeIssue(src, issue, input, schema)));
  }
  return deepFreeze(result.data);
}

function describeIssue(src: SourceDocument, issue: z.core.$ZodIssue, input: unknown, schema: z.ZodType): SluiceError[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, path, input);
    const hint = known.length ? `expected one of ${known.join(', ')}` : 'remove it or check its spelling';
    return issue.keys.map((key) => problemAt(src, [...path, key], `unknown field; ${hint}`, { keyNode: true }));
  }
  return [problemAt(src, path, explain(issue, valueAt(input, path)))];
}

function explain(issue: z.core.$ZodIssue, got: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return got === undefined ? `required field is missing (expected ${issue.expected})` : `expected ${issue.expected}, got ${describe(got)}`;
    case 'invalid_value':
      return `expected ${issue.values.length > 1 ? 'one of ' : ''}${issue.values.map(String).join(', ')}, got ${describe(got)}`;
    case 'invalid_union': {
      const note = (issue as { note?: string; discriminator?: string; options?: unknown[] });
      if (note.discriminator && note.options) {
        return `expected one of ${note.options.map(String).join(', ')}, got ${describe(got)}`;
      }
      const expected = issue.errors.flatMap((branch) => branch.filter((i) => i.code === 'invalid_type' && i.path.length === 0).map((i) => (i as { expected: string }).expected));
      if (!expected.length) return issue.message;
      const types = [...new Set(expected)].join(' or ');
      return got === undefined ? `required field is missing (expected ${types})` : `expected ${types}, got ${describe(got)}`;
    }
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    case 'custom':
    default:
      return `${issue.message}${got !== undefined && typeof got !== 'object' ? `, got ${describe(got)}` : ''}`;
  }
}

/**
 * A problem with what stands at `path` in a file: `file:line:column path: message`. Also for what is
 * found wrong after the schema passed (a column a side lacks, a module without its function).
 */
export function problemAt(
  src: SourceDocument,
  path: Path,
  message: string,
  opts?: { keyNode?: boolean; code?: ErrorCode; context?: ErrorContext },
): SluiceError {
  const pos = positionOf(src, path, opts);
  const where = path.length ? `${formatPath(path)}: ` : '';
  return new SluiceError(opts?.code ?? 'SLUICE_CONFIG_INVALID', msg('err.config.validate.1', { file: src.file, line: pos.line, column: pos.column, where, message }), {
    ...opts?.context,
    file: src.file,
    line: pos.line,
    column: pos.column,
  });
}

/** The field names the schema allows at `path` (following the input to pick discriminated-union options). */
function knownKeys(schema: z.ZodType, path: Path, input: unknown): string[] {
  let node: z.core.$ZodType | undefined = schema;
  let value = input;
  const step = (key: string | number | undefined): void => {
    for (let guard = 0; node && guard < 20; guard++) {
      const def = node._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; element?: z.core.$ZodType; options?: z.core.$ZodType[]; shape?: Record<string, z.core.$ZodType> };
      if (def.innerType) node = def.innerType;
      else if (def.type === 'pipe') node = def.in;
      else if (def.type === 'union') node = pickOption(def.options ?? [], value);
      else break;
    }
    if (key === undefined || !node) return;
    const def = node._zod.def as { type: string; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
    node = def.type === 'array' ? def.element : def.type === 'object' ? def.shape?.[String(key)] : undefined;
    value = value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined;
  };
  for (const key of path) step(key);
  step(undefined);
  const def = node?._zod.def as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** The union option an object input was meant for: the one whose literal fields it matches, else the first object. */
function pickOption(options: z.core.$ZodType[], value: unknown): z.core.$ZodType | undefined {
  const objects = options.filter((o) => (o._zod.def as { type: string }).type === 'object');
  const matches = objects.find((o) => {
    const shape = (o._zod.def as unknown as { shape: Record<string, z.core.$ZodType> }).shape;
    return Object.entries(shape).some(([k, f]) => {
      const d = f._zod.def as { type: string; values?: unknown[] };
      return d.type === 'literal' && value !== null && typeof value === 'object' && d.values?.includes((value as Record<string, unknown>)[k]);
    });
  });
  return matches ?? objects.find((o) => value !== null && typeof value === 'object' && Object.keys(value).some((k) => k in (o._zod.def as unknown as { shape: object }).shape)) ?? objects[0];
}

function valueAt(input: unknown, path: Path): unknown {
  let v = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Validated config is frozen so no stage can change it behind another's back. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export { nodeAt };
