/**
 * The `rules:` refine step in a pipeline file: a list of rules, each an object with exactly one key
 * naming its kind. Expressions (derive, filter) are JSONata, checked when the file is loaded.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

const field = z.string().min(1);

/** A JSONata expression, parsed at load time so a typo is a config error with its position. */
export const expression = z.string().min(1).superRefine((text, ctx) => {
  try {
    // loaded here, on the first expression: a pipeline without rules never loads the JSONata engine
    (require('jsonata') as typeof import('jsonata'))(text);
  } catch (err) {
    const e = err as { message?: string; position?: number };
    ctx.addIssue({ code: 'custom', message: `expected a JSONata expression: ${e.message ?? String(err)}${e.position !== undefined ? ` (at character ${e.position})` : ''}` });
  }
});

export const COERCE_TYPES = ['string', 'number', 'integer', 'boolean', 'date', 'datetime', 'array', 'object', 'json'] as const;
export const NORMALIZERS = ['trim', 'lowercase', 'uppercase', 'collapse', 'nfc', 'empty_to_null'] as const;

const check = z.union([
  z.literal('required'),
  z.strictObject({
    required: z.boolean().optional(),
    pattern: z
      .string()
      .refine((p) => {
        try {
          new RegExp(p, 'u');
          return true;
        } catch {
          return false;
        }
      }, 'expected a regular expression')
      .optional(),
    min: z.number().optional().describe('Numbers: the smallest allowed. Strings and arrays: the shortest length.'),
    max: z.number().optional().describe('Numbers: the largest allowed. Strings and arrays: the longest length.'),
    in: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).min(1).optional(),
    type: z.enum(['string', 'number', 'boolean', 'array', 'object']).optional(),
  }),
]);

export const ruleSchema = z.union([
  z.strictObject({ rename: z.record(field, field).describe('Old field name → new field name.') }),
  z.strictObject({
    map: z.strictObject({
      field,
      values: z.record(z.string(), z.unknown()).describe('Value → replacement (compared as text).'),
      default: z.unknown().optional().describe('For values not in the map; without it they stay as they are.'),
    }),
  }),
  z.strictObject({
    coerce: z.record(field, z.enum(COERCE_TYPES)).describe('Field → type; a value that cannot be converted quarantines the record.'),
    separator: z.string().min(1).optional().describe('array↔string: the separator (default ",").'),
    zone: z
      .string()
      .regex(/^(Z|[+-]\d{2}:?\d{2})$/)
      .optional()
      .describe('datetime: the zone of values written without one (default Z).'),
  }),
  z.strictObject({ normalize: z.record(field, z.array(z.enum(NORMALIZERS)).min(1)).describe('Field → text clean-ups, in order.') }),
  z.strictObject({ derive: z.strictObject({ field, expr: expression.describe('JSONata over the record, e.g. `amount * rate`.') }) }),
  z.strictObject({ validate: z.record(field, check).describe('Field → checks; every failed check is reported.') }),
  z.strictObject({ filter: expression.describe('JSONata; records for which it is not true are left out of the datasets.') }),
  z.strictObject({
    module: z
      .string()
      .min(1)
      .refine((path) => existsSync(resolve(path)), 'expected a module file (.ts or .js, relative to the working directory) that exists')
      .describe('A step of your own: a .ts or .js file whose default export is a `RefineStep` ({ name, version, refine(records) }).'),
  }),
]);

export type Rule = z.output<typeof ruleSchema>;

export const rulesStepSchema = z.strictObject({ rules: z.array(ruleSchema).min(1).describe('Business rules, applied in order to each record.') });
