/**
 * What a `sync:` pipeline is configured with: two sides, the direction changes travel, how existing
 * records are matched on the first run, the field mapping, and the conflict and delete policies.
 *
 * The sides' `read:` and `pull:` parts are the extractors' own schemas, handed in by the pipeline schema
 * (sync does not import the extractors: they meet in `run`).
 */
import { z } from 'zod';
import { cronExpression, duration, identifier } from '../config/parts';
import { transformProblems, transformSpec, TRANSFORM_NAMES } from './transforms';

export const SIDES = ['a', 'b'] as const;
export type SideId = (typeof SIDES)[number];
export const POLICIES = ['last_write_wins', 'a_wins', 'b_wins', 'merge', 'manual', 'custom', 'suggest'] as const;
export type Policy = (typeof POLICIES)[number];
/** What a conflicting field may be decided by on its own (`fieldConflicts`). */
export const FIELD_POLICIES = ['last_write_wins', 'a_wins', 'b_wins', 'manual'] as const;
export type FieldPolicy = (typeof FIELD_POLICIES)[number];

// a member named __proto__ cannot be set on a plain object: the record would lose the field
const column = z
  .string()
  .min(1)
  .refine((name) => name !== '__proto__', 'a field cannot be named __proto__');
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const tableWrite = z
  .strictObject({
    table: z.string().min(1).describe('The table changes are written to, optionally schema-qualified (`public.customers`).'),
    touch: column
      .optional()
      .describe('A column set to the current time on every write (e.g. `updated_at`), for tables whose applications do not maintain it themselves.'),
  })
  .describe('Where Sluice writes this side\'s changes: creates, updates and deletes, one transaction per batch.');

const restWrite = z
  .strictObject({
    item: z
      .string()
      .url()
      .describe('One record\'s URL, with `{key}` where its key goes, e.g. `${API_BASE}/repos/acme/app/issues/{key}`: GET reads it, PATCH updates it, DELETE deletes it.'),
    create: z.string().url().optional().describe('Where POST creates a record (default: the pull URL without its query).'),
    update: z.enum(['PATCH', 'PUT']).default('PATCH').describe('The method that updates a record.'),
    delete: z.boolean().default(true).describe('Whether the API deletes records (`false`: deletes are not written to this side).'),
  })
  .describe('How Sluice writes to an HTTP resource: get, create, update, delete.');

/** A side's schema, from the extractors' config schemas. */
function sideSchema<R extends z.ZodType, P extends z.ZodType>(read: R, pull: P) {
  return z
    .strictObject({
      name: identifier.describe('The side\'s name, for messages, the plan and the audit trail (e.g. `crm`).'),
      read: read.optional(),
      pull: pull.optional(),
      write: z.union([tableWrite, restWrite]).describe('Where Sluice writes: `{ table }` for a database side, `{ item, create }` for an HTTP side.'),
      defaults: z.record(z.string(), scalar).default({}).describe('Values set on every record Sluice creates on this side, for columns the mapping does not fill.'),
      listen: z
        .boolean()
        .default(false)
        .describe('PostgreSQL sides: install a trigger that NOTIFYs on every change, so `sluice serve` syncs within moments instead of waiting for the schedule.'),
    })
    .superRefine((s, ctx) => {
      if ((s.read === undefined) === (s.pull === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of `read` (a database table) or `pull` (an HTTP API)' });
      if (s.read !== undefined && !('table' in s.write)) ctx.addIssue({ code: 'custom', path: ['write'], message: 'a database side writes to a `table`' });
      if (s.pull !== undefined && !('item' in s.write)) ctx.addIssue({ code: 'custom', path: ['write'], message: 'an HTTP side writes through `item` (and `create`) URLs' });
      if (s.listen && (s.read as { driver?: string } | undefined)?.driver !== 'postgres') ctx.addIssue({ code: 'custom', path: ['listen'], message: 'listen: true needs a PostgreSQL side (read.driver: postgres)' });
    });
}

const fieldMap = z
  .strictObject({
    a: column.describe('The field on side a.'),
    b: column.describe('The field on side b.'),
    direction: z.enum(['both', 'a_to_b', 'b_to_a']).default('both').describe('Which way this field travels; a one-way field is never written back.'),
    ...transformSpec,
  })
  .describe('One mapped field: `{ a: status, b: state, map: { active: A } }`. Transforms are named a → b; the inverse carries b → a.');

const archive = z
  .record(z.enum(SIDES), z.record(z.string(), scalar))
  .describe('With `deletes: archive`: the fields set on a side instead of deleting there, e.g. `{ a: { status: archived }, b: { state: X } }`.');

export function syncConfig<R extends z.ZodType, P extends z.ZodType>(parts: { read: R; pull: P }) {
  const side = sideSchema(parts.read, parts.pull);
  return z
    .strictObject({
      a: side,
      b: side,
      direction: z.enum(['both', 'a_to_b', 'b_to_a']).default('both').describe('Which way changes travel.'),
      match: z
        .strictObject({ a: column, b: column })
        .optional()
        .describe('Links records that exist on both sides on the first run (and records created on one side while Sluice was away), by equal values of these fields, instead of creating duplicates.'),
      fields: z.array(fieldMap).min(1).describe('The mapped fields. Fields not listed are neither read nor written.'),
      conflicts: z.enum(POLICIES).default('merge').describe('Who wins when both sides changed the same field to different values since the last sync.'),
      fieldConflicts: z.record(z.string(), z.enum(FIELD_POLICIES)).default({}).describe('Per-field policy (by the a-side field name), over `conflicts`.'),
      custom: z.string().min(1).optional().describe('With `conflicts: custom`: a module (TypeScript or JavaScript) exporting `resolve(conflict)`.'),
      suggest: z
        .strictObject({
          baseURL: z.string().url().optional().describe('An OpenAI-compatible server, e.g. `http://localhost:8000/v1`. Default: the OpenAI API.'),
          apiKey: z.string().min(1).describe('Sent as a bearer token. `${OPENAI_API_KEY}`.'),
          model: z.string().min(1),
          threshold: z.number().min(0).max(1).default(0.8).describe('A suggestion this confident or more is applied; below it the record waits in the queue with the suggestion.'),
          instructions: z.string().optional().describe('What the model should know about the two systems (which one is usually right about what).'),
          timeout: duration.prefault('60s').describe('Per request.'),
          maxRetries: z.number().int().min(0).max(10).default(3),
        })
        .optional()
        .describe('With `conflicts: suggest`: an LLM proposes a resolution with a confidence.'),
      deletes: z.enum(['propagate', 'ignore', 'archive']).default('propagate').describe('What a delete on one side does to the other.'),
      archive: archive.optional(),
      breaker: z
        .strictObject({
          failures: z.number().int().min(1).default(3).describe('Runs in a row that fail on a side before its breaker opens.'),
          coolDown: duration.prefault('5m').describe('How long an open breaker leaves the side alone, e.g. `5m`.'),
        })
        .prefault({})
        .describe('The circuit breaker of each side: after repeated failures the side is left alone for a while.'),
      batchSize: z.number().int().min(1).max(50_000).default(1000).describe('Records compared and written together when the conflict queue is retried and when `sluice check` compares both sides. Changes since a checkpoint go in the batches their side reads (`read.batchSize`, or a page of a `pull`), one transaction per side per batch.'),
      schedule: cronExpression.optional().describe('When `sluice serve` syncs, as a cron expression.'),
    })
    .superRefine((s, ctx) => {
      if (s.a.name === s.b.name) ctx.addIssue({ code: 'custom', path: ['b', 'name'], message: `side a is already named ${s.a.name}` });
      const seen = { a: new Set<string>(), b: new Set<string>() };
      s.fields.forEach((f, i) => {
        for (const problem of transformProblems(f)) ctx.addIssue({ code: 'custom', path: ['fields', i], message: problem });
        for (const id of SIDES) {
          if (seen[id].has(f[id])) ctx.addIssue({ code: 'custom', path: ['fields', i, id], message: `${f[id]} is already mapped` });
          seen[id].add(f[id]);
        }
      });
      if (s.conflicts === 'custom' && !s.custom) ctx.addIssue({ code: 'custom', path: ['custom'], message: 'conflicts: custom needs `custom: ./module.ts`' });
      if (s.conflicts === 'suggest' && !s.suggest) ctx.addIssue({ code: 'custom', path: ['suggest'], message: 'conflicts: suggest needs `suggest: { model, apiKey }`' });
      if (s.deletes === 'archive' && !s.archive) ctx.addIssue({ code: 'custom', path: ['archive'], message: 'deletes: archive needs `archive: { a: { field: value }, b: { field: value } }`' });
      for (const name of Object.keys(s.fieldConflicts)) {
        if (!seen.a.has(name)) ctx.addIssue({ code: 'custom', path: ['fieldConflicts', name], message: `no mapped field has a: ${name}` });
      }
    })
    .describe(`Keeps two systems in step: field mapping (transforms: ${TRANSFORM_NAMES.join(', ')}), three-way merge, conflict policies.`);
}

/** The sync section as the engine sees it (the sides' read and pull parts are typed by the pipeline schema). */
export type SyncConfig = z.output<ReturnType<typeof syncConfig<z.ZodType, z.ZodType>>>;
export type SideConfig = SyncConfig['a'];
export type FieldMapConfig = SyncConfig['fields'][number];
