/**
 * What every SQL reader is configured with. Each driver extends this with its `driver` literal.
 */
import { z } from 'zod';
import { duration } from '../../config/parts';

const column = z.string().min(1);

export const readConfigBase = z.strictObject({
  url: z
    .string()
    .min(1)
    .describe('Where the database is: `postgres://user@host:5432/db`, `mysql://root@127.0.0.1:3306/db`, or an SQLite file path. `${ENV}` allowed.'),
  table: z
    .string()
    .min(1)
    .optional()
    .describe('A table or view to read, optionally schema-qualified (`public.orders`). Give `table` or `query`.'),
  query: z
    .string()
    .min(1)
    .optional()
    .describe('A SELECT to read instead of a table; `key`, `cursor` and the tenant column name its result columns.'),
  key: z
    .union([column, z.array(column).min(1)])
    .transform((k) => (typeof k === 'string' ? [k] : k))
    .describe('The column (or list of columns) that identifies a row. Rows are staged and upserted by it.'),
  cursor: column
    .optional()
    .describe('A column that grows when a row changes (e.g. `updated_at`). With it, each run reads only rows after the last checkpoint; without it, every run is a full read.'),
  lookback: z
    .union([duration, z.number().nonnegative()])
    .optional()
    .describe('Re-read this far behind the checkpoint to catch rows committed late: a duration (`5m`) for time cursors, a number for numeric cursors. Re-read rows that did not change are not staged again.'),
  batchSize: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(10_000)
    .describe('Rows per batch. Each batch is committed with its checkpoint in one transaction.'),
});

export type ReadConfig = z.output<typeof readConfigBase> & { driver: string };

/** Adds the table-or-query rule to a driver's schema. */
export function readConfig<D extends string>(driver: D) {
  return readConfigBase
    .extend({ driver: z.literal(driver).describe('The database driver: postgres, mysql or sqlite.') })
    .superRefine((c, ctx) => {
      if ((c.table === undefined) === (c.query === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'give exactly one of `table` or `query`', path: c.table ? ['query'] : [] });
      }
    });
}
