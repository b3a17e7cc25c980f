/**
 * Schema pieces shared by the pipeline file and its components. Every field says what it is for.
 */
import { z } from 'zod';
import { parseJsonPath } from '../core/json-path';

export const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected letters, digits, "_" or "-", starting with a letter or digit')
  .max(63);

export const tenantRule = z
  .union([
    z.strictObject({
      column: z.string().min(1).describe('A column of each row whose value is the row\'s tenant, e.g. `country`.'),
    }),
    z.strictObject({
      value: z.string().min(1).describe('One fixed tenant for every row, e.g. `acme`.'),
    }),
  ])
  .describe('Who each row belongs to: `{ column: tenant_id }` or `{ value: acme }`. Exports are written per tenant.');
export type TenantRule = z.output<typeof tenantRule>;

/** `30s`, `15m`, `2h`, `7d` → seconds. */
export const duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'expected a duration such as 30s, 15m, 2h or 7d')
  .transform((s) => {
    const [, n, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s)!;
    const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
    return Number(n) * factor;
  });

/** A path into JSON (`$.issue.id`, `id`, `$`), checked when the file is loaded. */
export const jsonPath = z.string().transform((text, ctx) => {
  try {
    return parseJsonPath(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `expected a JSON path such as $.items or id: ${(err as Error).message}` });
    return z.NEVER;
  }
});

/** A cron expression (five fields, or six with seconds first), as node-cron runs it. */
export const cronExpression = z
  .string()
  // node-cron loads when a file has a schedule to check, not for every command
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .refine((e) => (require('node-cron') as typeof import('node-cron')).validate(e), 'expected a cron expression such as "*/5 * * * *" (minute hour day-of-month month day-of-week)');
