/**
 * The rules step: each record's data goes through the rules in order, on a copy. A rule that cannot do
 * its work on a record (a value that does not convert, an expression that errs, a failed check) adds a
 * failure and the record is quarantined with all of them; a filter that is not true leaves it out.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import jsonata from 'jsonata';
import { convert } from '../../core/convert';
import { messageOf } from '../../core/errors';
import { loadUserModule } from '../../core/user-module';
import { stringifyLossless } from '../../core/json-text';
import type { RefineOutcome, RefineRecord, RefineStep, RuleFailure } from '../step';
import type { Rule } from './config';

type Data = Record<string, unknown>;
/** A compiled rule: changes `data` in place, reporting what went wrong; false means "filter it out". */
type Apply = (data: Data, failures: RuleFailure[], record: RefineRecord) => Promise<boolean | void>;

export function rulesStep(rules: readonly Rule[]): RefineStep {
  const compiled = rules.map(compile);
  return {
    name: 'rules',
    // the rules as written, and the modules' code: an edit is a new version, and records are refined again
    version: createHash('sha256')
      .update(JSON.stringify(rules))
      .update(rules.map((r) => ('module' in r ? readFileSync(resolve(r.module)) : '')).join('\u0000'))
      .digest('hex')
      .slice(0, 12),
    async refine(records: readonly RefineRecord[]): Promise<RefineOutcome[]> {
      const out: RefineOutcome[] = [];
      for (const r of records) out.push(await refineOne(compiled, r));
      return out;
    },
  };
}

async function refineOne(rules: { kind: string; apply: Apply }[], record: RefineRecord): Promise<RefineOutcome> {
  const data = structuredClone(record.data);
  const failures: RuleFailure[] = [];
  for (const rule of rules) {
    const keep = await rule.apply(data, failures, record);
    if (keep === false) return { status: 'filtered', reason: `filter: not true for this record` };
  }
  return failures.length > 0 ? { status: 'quarantined', failures } : { status: 'refined', data };
}

function compile(rule: Rule): { kind: string; apply: Apply } {
  if ('rename' in rule) {
    return {
      kind: 'rename',
      apply: async (data) => {
        for (const [from, to] of Object.entries(rule.rename)) {
          if (!Object.hasOwn(data, from)) continue;
          data[to] = data[from];
          delete data[from];
        }
      },
    };
  }
  if ('map' in rule) {
    const { field, values } = rule.map;
    return {
      kind: 'map',
      apply: async (data) => {
        const v = data[field];
        if (v === undefined || v === null) return;
        const text = typeof v === 'string' ? v : stringifyLossless(v);
        if (Object.hasOwn(values, text)) data[field] = values[text];
        else if ('default' in rule.map) data[field] = rule.map.default;
      },
    };
  }
  if ('coerce' in rule) {
    return {
      kind: 'coerce',
      apply: async (data, failures) => {
        for (const [field, type] of Object.entries(rule.coerce)) {
          if (!Object.hasOwn(data, field)) continue;
          const c = convert(data[field], type, { separator: rule.separator, zone: rule.zone });
          if (c.ok) data[field] = c.value;
          else failures.push({ rule: 'coerce', field, reason: `${c.reason} (to ${type})` });
        }
      },
    };
  }
  if ('normalize' in rule) {
    return {
      kind: 'normalize',
      apply: async (data) => {
        for (const [field, ops] of Object.entries(rule.normalize)) {
          let v = data[field];
          for (const op of ops) v = typeof v === 'string' ? NORMALIZE[op](v) : v;
          if (Object.hasOwn(data, field)) data[field] = v;
        }
      },
    };
  }
  if ('derive' in rule) {
    const expr = jsonata(rule.derive.expr);
    return {
      kind: 'derive',
      apply: async (data, failures) => {
        try {
          const v: unknown = await expr.evaluate(data);
          data[rule.derive.field] = v === undefined ? null : v;
        } catch (err) {
          failures.push({ rule: 'derive', field: rule.derive.field, reason: `${rule.derive.expr}: ${expressionFailure(err)}` });
        }
      },
    };
  }
  if ('validate' in rule) {
    return {
      kind: 'validate',
      apply: async (data, failures) => {
        for (const [field, check] of Object.entries(rule.validate)) failures.push(...validate(field, data[field], check === 'required' ? { required: true } : check));
      },
    };
  }
  if ('module' in rule) return moduleRule(rule.module);
  const expr = jsonata(rule.filter);
  return {
    kind: 'filter',
    apply: async (data, failures) => {
      try {
        return (await expr.evaluate(data)) === true;
      } catch (err) {
        failures.push({ rule: 'filter', reason: `${rule.filter}: ${expressionFailure(err)}` });
      }
    },
  };
}

/** Why an expression failed; the engine's words for a BigInt (an integer past 2^53) say little to a user. */
function expressionFailure(err: unknown): string {
  const message = (err as Error).message;
  return /BigInt/.test(message)
    ? `${message}: the record holds an integer past 2^53, kept whole; an expression can pass it on or compare it, not compute or write text with it (coerce it to a string first)`
    : message;
}

/**
 * A user's own step, loaded by path (TypeScript through jiti): its default export is a `RefineStep`.
 * Whatever it does wrong — throws, answers the wrong shape — becomes a failure of that record, which is
 * quarantined with the reason; its original stays as staged.
 */
function moduleRule(path: string): { kind: string; apply: Apply } {
  const name = `module ${path}`;
  let step: RefineStep | undefined;
  const load = (): RefineStep => {
    if (step) return step;
    const loaded = loadUserModule(path);
    const candidate = (loaded.default ?? loaded) as Partial<RefineStep>;
    if (typeof candidate?.refine !== 'function') throw new Error(`${path} has no default export with a refine(records) function`);
    step = candidate as RefineStep;
    return step;
  };
  return {
    kind: 'module',
    apply: async (data, failures, record) => {
      let out: unknown;
      try {
        out = (await load().refine([{ ...record, data: structuredClone(data) }]))?.[0];
      } catch (err) {
        failures.push({ rule: name, reason: `threw: ${messageOf(err)}` });
        return;
      }
      const o = out as RefineOutcome | undefined;
      if (o?.status === 'refined' && o.data !== null && typeof o.data === 'object' && !Array.isArray(o.data)) {
        for (const k of Object.keys(data)) delete data[k];
        Object.assign(data, o.data);
        return;
      }
      if (o?.status === 'filtered') return false;
      if (o?.status === 'quarantined' && Array.isArray(o.failures)) failures.push(...o.failures);
      else if (o?.status === 'failed' && typeof o.error === 'string') failures.push({ rule: name, reason: o.error });
      else failures.push({ rule: name, reason: `answered ${stringifyLossless(out)?.slice(0, 120) ?? 'nothing'}, not an outcome` });
    },
  };
}

const NORMALIZE: Record<string, (s: string) => string | null> = {
  trim: (s) => s.trim(),
  lowercase: (s) => s.toLowerCase(),
  uppercase: (s) => s.toUpperCase(),
  collapse: (s) => s.replace(/\s+/g, ' '),
  nfc: (s) => s.normalize('NFC'),
  empty_to_null: (s) => (s === '' ? null : s),
};

interface Check {
  required?: boolean;
  pattern?: string;
  min?: number;
  max?: number;
  in?: unknown[];
  type?: 'string' | 'number' | 'boolean' | 'array' | 'object';
}

function validate(field: string, v: unknown, c: Check): RuleFailure[] {
  const fail = (reason: string): RuleFailure => ({ rule: 'validate', field, reason });
  if (v === undefined || v === null || v === '') return c.required ? [fail('is required')] : [];
  const out: RuleFailure[] = [];
  // an integer past 2^53 is a BigInt (see `core/json-text`): still a number
  const kind = Array.isArray(v) ? 'array' : typeof v === 'bigint' ? 'number' : typeof v;
  if (c.type && kind !== c.type) out.push(fail(`expected a ${c.type}, got a ${kind}`));
  if (c.pattern !== undefined && (typeof v !== 'string' || !new RegExp(c.pattern, 'u').test(v))) out.push(fail(`does not match /${c.pattern}/`));
  const size = typeof v === 'number' || typeof v === 'bigint' ? v : typeof v === 'string' || Array.isArray(v) ? v.length : undefined;
  const what = typeof v === 'number' || typeof v === 'bigint' ? 'value' : 'length';
  if (c.min !== undefined && (size === undefined || size < c.min)) out.push(fail(`${what} ${size ?? '?'} is below the minimum ${c.min}`));
  if (c.max !== undefined && (size === undefined || size > c.max)) out.push(fail(`${what} ${size ?? '?'} is above the maximum ${c.max}`));
  if (c.in !== undefined && !c.in.some((x) => x === v)) out.push(fail(`${stringifyLossless(v)} is not one of ${c.in.map((x) => JSON.stringify(x)).join(', ')}`));
  return out;
}
