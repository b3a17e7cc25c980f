/**
 * Field transforms for two-way sync: how one mapped field's value is carried from side a to side b
 * (`toB`) and, where the transform has an inverse, back from b to a (`toA`). Transforms are named in
 * the a → b sense. The built-ins are pairs of `core/convert` conversions, so a value converts the same
 * way here as in the refiner's `coerce` rule; a value map and a user's own module are the other two kinds.
 *
 * A conversion never throws: a value that cannot be carried over is `{ ok: false, reason }`, and the
 * engine queues its record with the reason instead of writing something wrong to the other side.
 */
import { z } from 'zod';
import { convert, type ConvertOptions, type Converted, type TargetType } from '../core/convert';
import { messageOf } from '../core/errors';
import { stringifyLossless } from '../core/json-text';
import { functionIn, loadUserModule } from '../core/user-module';

export const TRANSFORM_NAMES = [
  'number_to_string',
  'string_to_number',
  'integer_to_string',
  'string_to_integer',
  'boolean_to_string',
  'string_to_boolean',
  'date_to_string',
  'string_to_date',
  'datetime_to_string',
  'string_to_datetime',
  'datetime_to_date',
  'date_to_datetime',
  'array_to_string',
  'string_to_array',
  'object_to_json',
  'json_to_object',
] as const;
export type TransformName = (typeof TRANSFORM_NAMES)[number];
export type Direction = 'both' | 'a_to_b' | 'b_to_a';

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
type Scalar = z.output<typeof scalar>;

const customTransform = z
  .strictObject({
    module: z.string().min(1).describe('The module\'s path, relative to the working directory (TypeScript or JavaScript), e.g. `./transforms/price.ts`.'),
    toB: z.string().min(1).default('toB').describe('The exported function `(value) => value` that carries a value from a to b; throwing means "cannot convert" and the message is the reason.'),
    toA: z
      .string()
      .min(1)
      .optional()
      .describe('The exported function that carries a value back from b to a (default: the module\'s `toA`, if it exports one).'),
  })
  .describe('A transform of your own: named functions exported by a module.');

/** The transform keys of a mapped field, spread into its schema next to `a`, `b` and `direction`. */
export const transformSpec = {
  transform: z
    .union([z.enum(TRANSFORM_NAMES), customTransform])
    .optional()
    .describe(
      `How the value changes from a to b: one of ${TRANSFORM_NAMES.join(', ')}; or \`{ module, toB, toA }\` for your own functions. ` +
        'Values travelling b → a take the inverse (datetime_to_date has none). Without a transform (or map) the value is copied as is.',
    ),
  separator: z.string().min(1).optional().describe('array_to_string and string_to_array: the text between items (default ",").'),
  zone: z
    .string()
    .regex(/^(Z|[+-](0\d|1[0-4]):[0-5]\d)$/, 'a zone is Z or ±hh:mm, e.g. +05:30')
    .optional()
    .describe('Date-time transforms: the zone (Z or ±hh:mm) of a date-time written without one, and of the midnight date_to_datetime writes (default Z). A zone in the value is kept.'),
  map: z
    .record(z.string(), scalar)
    .optional()
    .describe(
      'A value map from a to b, e.g. `{ active: A, inactive: I }`; a number or boolean on side a is looked up as text ("1", "true"). ' +
        'b → a uses the reversed map, so each a value needs its own b value unless the field is one-way (direction: a_to_b).',
    ),
  default: scalar
    .optional()
    .describe('a → b only: the value written to b when a\'s value is null or missing, or (with `map`) is not in the map. It is written as is, not transformed.'),
  defaultA: scalar
    .optional()
    .describe('b → a only: the value written to a when b\'s value is null or missing, or (with `map`) is not in the reversed map. It is written as is, not transformed.'),
  required: z
    .boolean()
    .default(false)
    .describe('Whether the value written must not be null: a record whose value would be null (after `default`/`defaultA`) is queued with "is required" instead of written.'),
};

const specObject = z.object(transformSpec);
export type TransformSpec = z.output<typeof specObject>;
export type CustomTransform = z.output<typeof customTransform>;
/** A mapped field as the sync config holds it, after parsing. */
export type MappedField = { a: string; b: string; direction: Direction } & TransformSpec;

export interface FieldTransform {
  toB(value: unknown): Converted;
  /**
   * b → a, where the transform has an inverse (absent for datetime_to_date and a map with repeated b
   * values). A custom module's is always present: whether the module has the function is known only once
   * it is loaded, and a missing one makes each call fail with the reason.
   */
  toA?: (value: unknown) => Converted;
  /** one-line human description, e.g. "status → state (map)" */
  describe: string;
}

/** One direction of a transform, on a value that is not null. */
type Step = (value: unknown) => Converted;
type Conversion = (value: unknown, o: ConvertOptions) => Converted;

const ok = (value: unknown): Converted => ({ ok: true, value });
const no = (reason: string): Converted => ({ ok: false, reason });
function show(v: unknown): string {
  try {
    return stringifyLossless(v) ?? String(v);
  } catch {
    // a cycle: still say something about the value
    return Object.prototype.toString.call(v);
  }
}

const read =
  (type: TargetType): Conversion =>
  (v, o) =>
    convert(v, type, o);
/** Reads the value as `type` first, so a value of the wrong kind fails with that reason, then writes it as `next`. */
const then =
  (type: TargetType, next: TargetType): Conversion =>
  (v, o) => {
    const c = convert(v, type, o);
    return c.ok ? convert(c.value, next, o) : c;
  };

const BUILT_INS: Record<TransformName, { toB: Conversion; toA?: Conversion }> = {
  number_to_string: { toB: then('number', 'string'), toA: read('number') },
  string_to_number: { toB: read('number'), toA: then('number', 'string') },
  integer_to_string: { toB: then('integer', 'string'), toA: read('integer') },
  string_to_integer: { toB: read('integer'), toA: then('integer', 'string') },
  boolean_to_string: { toB: then('boolean', 'string'), toA: read('boolean') },
  string_to_boolean: { toB: read('boolean'), toA: then('boolean', 'string') },
  // a date is YYYY-MM-DD text on both sides; the transform checks it is a day of the calendar
  date_to_string: { toB: read('date'), toA: read('date') },
  string_to_date: { toB: read('date'), toA: read('date') },
  datetime_to_string: { toB: read('datetime'), toA: read('datetime') },
  string_to_datetime: { toB: read('datetime'), toA: read('datetime') },
  // through datetime first, so Unix seconds and zone-less text read as they do everywhere else
  datetime_to_date: { toB: then('datetime', 'date') },
  date_to_datetime: { toB: then('date', 'datetime'), toA: then('datetime', 'date') },
  array_to_string: { toB: then('array', 'string'), toA: read('array') },
  string_to_array: { toB: read('array'), toA: then('array', 'string') },
  object_to_json: { toB: then('object', 'json'), toA: read('object') },
  json_to_object: { toB: read('object'), toA: then('object', 'json') },
};

const ARRAY_TRANSFORMS: readonly TransformName[] = ['array_to_string', 'string_to_array'];
// not datetime_to_date: the day a date-time names is the day written in it, whatever the zone
const ZONE_TRANSFORMS: readonly TransformName[] = ['datetime_to_string', 'string_to_datetime', 'date_to_datetime'];

export function fieldTransform(field: MappedField): FieldTransform {
  const { toB, toA, kind } = stepsOf(field);
  const oneWay = field.direction === 'both' ? '' : `, ${field.direction} only`;
  return {
    toB: edges(toB, field.default, field.required),
    ...(toA ? { toA: edges(toA, field.defaultA, field.required) } : {}),
    describe: `${field.a} → ${field.b} (${kind}${oneWay})`,
  };
}

function stepsOf(field: MappedField): { toB: Step; toA?: Step; kind: string } {
  if (field.map) return { ...mapSteps(field.map, field.default, field.defaultA), kind: 'map' };
  const t = field.transform;
  if (t === undefined) return { toB: ok, toA: ok, kind: 'as is' };
  if (typeof t === 'object') return { ...moduleSteps(t), kind: `module ${t.module}` };
  const o: ConvertOptions = { separator: field.separator, zone: field.zone };
  const { toB, toA } = BUILT_INS[t];
  return { toB: (v) => toB(v, o), ...(toA ? { toA: (v: unknown) => toA(v, o) } : {}), kind: t };
}

/**
 * What every transform shares: null in gives the default (or null: absence is not a conversion error),
 * `required` refuses a null out, and nothing a step does can throw out of the engine's hands.
 */
function edges(step: Step, fallback: Scalar | undefined, required: boolean): Step {
  return (value) => {
    const out = value === null || value === undefined ? ok(fallback ?? null) : attempt(step, value);
    if (!out.ok) return out;
    if (out.value === null || out.value === undefined) return required ? no('is required') : ok(null);
    return out;
  };
}

function attempt(step: Step, value: unknown): Converted {
  try {
    // a Date from a database driver is read as the instant it names, like the ISO text staged records hold
    return step(value instanceof Date ? value.toISOString() : value);
  } catch (err) {
    return no(`could not convert ${show(value)}: ${messageOf(err)}`);
  }
}

/** A map key: a's values as text, the way they are written in the pipeline file. */
function keyOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null) return String(v);
  return show(v);
}

/** The map's b values that more than one a value maps to, each with those a values. */
function repeatedValues(map: Record<string, Scalar>): Map<string, string[]> {
  const byValue = new Map<string, string[]>();
  for (const [a, b] of Object.entries(map)) byValue.set(keyOf(b), [...(byValue.get(keyOf(b)) ?? []), a]);
  return new Map([...byValue].filter(([, keys]) => keys.length > 1));
}

function mapSteps(map: Record<string, Scalar>, fallbackB: Scalar | undefined, fallbackA: Scalar | undefined): { toB: Step; toA?: Step } {
  const forward = new Map(Object.entries(map));
  const lookup =
    (table: Map<string, Scalar>, fallback: Scalar | undefined, name: string, defaultKey: string): Step =>
    (v) => {
      const key = keyOf(v);
      if (table.has(key)) return ok(table.get(key));
      if (fallback !== undefined) return ok(fallback);
      return no(`${show(v)} is not in the ${name} (add it, or give \`${defaultKey}\`)`);
    };
  const toB = lookup(forward, fallbackB, 'map', 'default');
  // two a values with the same b value: b → a cannot tell which one it was
  if (repeatedValues(map).size > 0) return { toB };
  const backward = new Map<string, Scalar>(Object.entries(map).map(([a, b]) => [keyOf(b), a]));
  return { toB, toA: lookup(backward, fallbackA, 'reversed map', 'defaultA') };
}

type Loaded = { exports: Record<string, unknown> } | { error: string };

/**
 * A user's functions, loaded on first use (TypeScript through jiti, as the refiner's module rule does).
 * A module that cannot be loaded or lacks the function fails every value with a reason naming both.
 */
function moduleSteps(t: CustomTransform): { toB: Step; toA: Step } {
  let loaded: Loaded | undefined;
  const load = (): Loaded => {
    if (loaded) return loaded;
    try {
      loaded = { exports: loadUserModule(t.module) };
    } catch (err) {
      loaded = { error: messageOf(err) };
    }
    return loaded;
  };
  const call =
    (name: string, sense: string): Step =>
    (value) => {
      const m = load();
      if ('error' in m) return no(`module ${t.module} cannot be loaded for ${name} (${sense}): ${m.error}`);
      const fn = functionIn(m.exports, name);
      if (!fn) return no(`module ${t.module} has no function ${name} (${sense}): export one${sense === 'b → a' ? ' or make the field one-way (direction: a_to_b)' : ''}`);
      let out: unknown;
      try {
        out = fn(value);
      } catch (err) {
        return no(`module ${t.module} ${name} threw: ${messageOf(err)}`);
      }
      // a thenable, not `instanceof Promise`: the module may run in another realm (jiti, a test's sandbox)
      if (typeof (out as { then?: unknown } | null)?.then === 'function') return no(`module ${t.module} ${name} returned a promise: transforms are synchronous functions`);
      return ok(out);
    };
  return { toB: call(t.toB, 'a → b'), toA: call(t.toA ?? 'toA', 'b → a') };
}

/**
 * For `sluice validate`: loads a field's custom module and says which function its direction needs that
 * the module lacks (a two-way field needs both), or why it cannot be loaded.
 */
export function moduleProblems(field: MappedField): string[] {
  const t = field.transform;
  if (typeof t !== 'object' || t === null) return [];
  let exports: Record<string, unknown>;
  try {
    exports = loadUserModule(t.module);
  } catch (err) {
    return [`module ${t.module} cannot be loaded: ${messageOf(err)}`];
  }
  const needs: [string, string][] = [
    ...(field.direction !== 'b_to_a' ? [[t.toB, 'a → b'] as [string, string]] : []),
    ...(field.direction !== 'a_to_b' ? [[t.toA ?? 'toA', 'b → a'] as [string, string]] : []),
  ];
  return needs
    .filter(([name]) => !functionIn(exports, name))
    .map(([name, sense]) => `module ${t.module} has no function ${name} (${sense})${sense === 'b → a' ? ': the field is two-way, so it needs an inverse; export one, or make the field one-way (direction: a_to_b)' : ''}`);
}


/**
 * What is wrong with a field's transform that can be told without data, for `sluice validate` and the
 * config schema. Whether a custom module has its `toA` is known only once it is loaded, so not here.
 */
export function transformProblems(field: MappedField): string[] {
  const problems: string[] = [];
  const t = field.transform;
  const backwards = field.direction !== 'a_to_b';
  if (field.map && t !== undefined) problems.push('give either map or transform, not both: a map is the transform of its field');
  if (typeof t === 'string' && backwards && !BUILT_INS[t].toA) {
    problems.push(`${t} has no inverse: make the field one-way (direction: a_to_b) or pick a transform with one`);
  }
  if (field.map && backwards) {
    for (const keys of repeatedValues(field.map).values()) {
      const which = keys.length === 2 ? 'both' : 'all';
      problems.push(`the map has no inverse: ${keys.map(show).join(' and ')} ${which} map to ${show(field.map[keys[0]!])}: make the field one-way (direction: a_to_b) or give each a value its own b value`);
    }
  }
  if (field.separator !== undefined && !(typeof t === 'string' && ARRAY_TRANSFORMS.includes(t))) {
    problems.push(`separator is used only by ${ARRAY_TRANSFORMS.join(' and ')}: remove it or pick one of them`);
  }
  if (field.zone !== undefined && !(typeof t === 'string' && ZONE_TRANSFORMS.includes(t))) {
    problems.push(`zone is used only by ${ZONE_TRANSFORMS.join(', ')}: remove it or pick one of them`);
  }
  return problems;
}
