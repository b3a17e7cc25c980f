/**
 * `conflicts: custom`: a user's module decides conflicts. It exports `resolve(conflict)` (named or
 * default) and answers, per conflicting field, which side to take or the value to set — or `"queue"` to
 * leave the record to a person. Whatever else it does (throws, answers nonsense) queues the record with
 * the reason; it never stops the run.
 */
import { messageOf } from '../core/errors';
import { stringifyLossless } from '../core/json-text';
import { functionIn, loadUserModule } from '../core/user-module';
import type { JsonObject } from '../core/record';
import type { FieldConflict, Resolution } from './merge';

export interface CustomConflict {
  aKey: string;
  bKey: string;
  base: { a: JsonObject | null; b: JsonObject | null };
  a: JsonObject;
  b: JsonObject;
  /** The conflicting fields with their base, a and b values. */
  fields: FieldConflict[];
}

/** A resolution (and who made it, for the audit trail), or why the record waits for a person instead. */
export type CustomAnswer =
  | { ok: true; resolution: Resolution; by?: string }
  /** `retry`: it failed (threw, could not be asked) and is asked again next run; else it chose to leave it to a person. */
  | { ok: false; reason: string; retry: boolean };

export type CustomResolver = (conflict: CustomConflict) => Promise<CustomAnswer>;

export function customResolver(path: string): CustomResolver {
  let fn: ((c: CustomConflict) => unknown) | undefined;
  return async (conflict) => {
    try {
      if (!fn) {
        const loaded = loadUserModule(path);
        const candidate = functionIn(loaded, 'resolve') ?? loaded.default;
        if (typeof candidate !== 'function') return { ok: false, reason: `${path} exports no resolve(conflict) function`, retry: true };
        fn = candidate as (c: CustomConflict) => unknown;
      }
      const answer = await fn(structuredClone(conflict));
      if (answer === 'queue') return { ok: false, reason: `${path} left it to a person`, retry: false };
      return checkAnswer(path, answer, conflict.fields);
    } catch (err) {
      return { ok: false, reason: `${path} threw: ${messageOf(err)}`, retry: true };
    }
  };
}

/** The answer must settle every conflicting field with `{ take: a | b | base }` or `{ value }`. */
export function checkAnswer(path: string, answer: unknown, fields: readonly FieldConflict[]): CustomAnswer {
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) return { ok: false, reason: `${path} answered ${stringifyLossless(answer)?.slice(0, 120)}, not a resolution`, retry: true };
  const resolution: Resolution = {};
  for (const { field } of fields) {
    const r = (answer as Record<string, unknown>)[field] as Record<string, unknown> | undefined;
    if (r && typeof r === 'object' && (r.take === 'a' || r.take === 'b' || r.take === 'base')) resolution[field] = { take: r.take };
    else if (r && typeof r === 'object' && 'value' in r) resolution[field] = { value: r.value };
    else return { ok: false, reason: `${path} did not settle ${field} (expected { take: "a" | "b" | "base" } or { value })`, retry: true };
  }
  return { ok: true, resolution };
}
