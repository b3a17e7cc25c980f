/**
 * The pipeline file: its schema (assembled from the reader and exporter registries, so every
 * component's options are validated by the component's own schema) and loading it from disk.
 */
import { readFileSync } from 'node:fs';
import { msg } from '../core/i18n';
import { z } from 'zod';
import { EXPORTERS } from '../../exporters';
import { ConfigErrors, SluiceError, messageOf } from '../core/errors';
import { interpolateEnv, type Environment } from '../config/env';
import { cronExpression, identifier, tenantRule } from '../config/parts';
import { validateDocument } from '../config/validate';
import { parseYaml } from '../config/yaml';
import { pullConfig, pushConfig, readSchema, SOURCE_KINDS } from '../extract/registry';
import { alertSchema, notifierSchema } from '../observe/alert-config';
import { labelStudioStepSchema } from '../refine/label-studio/config';
import { llmStepSchema } from '../refine/llm/config';
import { rulesStepSchema } from '../refine/rules/config';
import { syncConfig } from '../sync/config';

const refineStepSchema = z.union([rulesStepSchema, labelStudioStepSchema, llmStepSchema]).describe('A refine step: `rules:`, `labelStudio:` or `llm:`.');

const source = z
  .strictObject({
    name: identifier.describe('The source\'s name: names its staged records and its files in every export.'),
    description: z.string().optional().describe('What this source is, for people.'),
    tenant: tenantRule.optional().describe('Overrides the pipeline\'s `tenant` for this source. For HTTP sources `column` is a path into each record.'),
    read: readSchema.optional(),
    pull: pullConfig.optional(),
    push: pushConfig.optional(),
    schedule: cronExpression
      .optional()
      .describe('When `sluice serve` runs this source (and exports the pipeline), as a cron expression, e.g. `*/5 * * * *`.'),
  })
  .superRefine((s, ctx) => {
    const kinds = SOURCE_KINDS.filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `give exactly one of ${SOURCE_KINDS.map((k) => `\`${k}\``).join(', ')}${kinds.length ? ` (got ${kinds.join(' and ')})` : ''}` });
    }
  })
  .describe('One place records come from: a database (`read`), an HTTP API (`pull`) or webhook deliveries (`push`).');

const split = z
  .record(z.string(), z.union([z.number(), z.string()]))
  .transform((o, ctx) => {
    const { by = 'key', ...rest } = o;
    const shares: [string, number][] = [];
    for (const [name, share] of Object.entries(rest)) {
      if (!/^[a-z][a-z0-9_-]*$/i.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'a split name is a word (it names files)' });
      else if (typeof share !== 'number' || !(share > 0 && share <= 1)) ctx.addIssue({ code: 'custom', path: [name], message: `expected a share between 0 and 1, got ${JSON.stringify(share)}` });
      else shares.push([name, share]);
    }
    const total = shares.reduce((n, [, x]) => n + x, 0);
    if (shares.length < 2 || Math.abs(total - 1) > 1e-9) ctx.addIssue({ code: 'custom', message: `expected two or more splits whose shares add up to 1, got ${total}` });
    if (typeof by !== 'string') ctx.addIssue({ code: 'custom', path: ['by'], message: 'expected `key` or a field name' });
    return { shares, by: String(by) };
  })
  .describe('Deterministic splits by a hash of the key (or of a field: `by: customer_id` keeps related records together), e.g. `{ train: 0.8, val: 0.1, test: 0.1 }`.');

const [firstExporter, ...moreExporters] = EXPORTERS.map((e) =>
  e.options
    .extend({
      format: z.literal(e.format).describe(e.description),
      path: z.string().min(1).describe('The folder exports go to: `<path>/<pipeline>/<tenant>/<export-id>/`. Relative to the working directory.'),
      compress: z
        .enum(['none', 'gzip'])
        .refine((c) => c === 'none' || e.compressible !== false, `${e.format} files are not compressed: the tools they are for read them as plain files`)
        .default('none')
        .describe('`gzip`: files are written compressed (`.gz`); the manifest lists both sizes.'),
      split: split.optional(),
    })
    .describe(`${e.format}: ${e.description}`),
);
const exportEntry = z.discriminatedUnion('format', [firstExporter!, ...moreExporters]);

export const pipelineSchema = z
  .strictObject({
    $schema: z.string().optional().describe('The JSON Schema of this file, for editors.'),
    name: identifier.describe('The pipeline\'s name: it keys its checkpoints, runs, lock and export folders.'),
    description: z.string().optional().describe('What this pipeline does, for people.'),
    staging: z
      .string()
      .refine((u) => /^postgres(ql)?:\/\//.test(u) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(u) || /^(sqlite|file):/.test(u), 'expected postgres://… or an SQLite path (sqlite:path)')
      .optional()
      .describe('The staging store: `postgres://…` or `sqlite:path`. `SLUICE_STAGING_URL` overrides it; the default is `sqlite:.sluice/staging.db`.'),
    tenant: tenantRule.optional(),
    sources: z.array(source).default([]).describe('Where records come from.'),
    sync: syncConfig({ read: readSchema, pull: pullConfig })
      .optional()
      .describe('Two-way sync: keeps two systems in step (instead of, or beside, `sources`).'),
    refine: z
      .array(refineStepSchema)
      .default([])
      .describe('Steps every staged record goes through before it is exported; each outcome is kept beside the original.'),
    onRefineFailure: z
      .enum(['export', 'quarantine'])
      .default('export')
      .describe('When a refine step fails on a record (a module threw, a model answered nonsense): `export` it as staged, or hold it in `quarantine` until retried or released.'),
    export: z.array(exportEntry).default([]).describe('The datasets to write, each a format and a folder.'),
    alerts: z.array(alertSchema).default([]).describe('Alert rules `sluice serve` evaluates (and `sluice alerts export` writes for Prometheus).'),
    notifiers: z.record(identifier, notifierSchema).default({}).describe('Where alert notifications go, by name.'),
  })
  .superRefine((p, ctx) => {
    if (p.sources.length === 0 && !p.sync) ctx.addIssue({ code: 'custom', path: ['sources'], message: 'give at least one source (or a `sync:` section)' });
    const names = new Set<string>();
    p.sources.forEach((s, i) => {
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['sources', i, 'name'], message: `another source is already named ${s.name}` });
      names.add(s.name);
      if (!s.tenant && !p.tenant && !s.push?.tenant) {
        ctx.addIssue({ code: 'custom', path: ['sources', i], message: 'no tenant: set `tenant` on the pipeline or on this source' });
      }
    });
    const alertNames = new Set<string>();
    p.alerts.forEach((a, i) => {
      if (alertNames.has(a.name)) ctx.addIssue({ code: 'custom', path: ['alerts', i, 'name'], message: `another alert is already named ${a.name}` });
      alertNames.add(a.name);
      a.notify.forEach((n, j) => {
        if (!Object.hasOwn(p.notifiers, n)) ctx.addIssue({ code: 'custom', path: ['alerts', i, 'notify', j], message: `no notifier named ${n} (notifiers: ${Object.keys(p.notifiers).join(', ') || 'none'})` });
      });
    });
    for (const [name, n] of Object.entries(p.notifiers)) {
      if (n.sign === 'standard-webhooks' && !n.secret) ctx.addIssue({ code: 'custom', path: ['notifiers', name, 'secret'], message: 'a secret is needed to sign with standard-webhooks (or sign: none)' });
    }
    const seen = new Set<string>();
    p.export.forEach((e, i) => {
      const id = `${e.path}\u0000${e.format}`;
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['export', i], message: `${e.format} is already exported to ${e.path}` });
      seen.add(id);
    });
  })
  .describe('A Sluice pipeline: sources to read, how records get their tenant, and the datasets to export.');

export type Pipeline = z.output<typeof pipelineSchema>;
export type PipelineSource = Pipeline['sources'][number];
export type PipelineSync = NonNullable<Pipeline['sync']>;
export type ExportEntry = Pipeline['export'][number];

/** Reads, interpolates `${VAR}`s in, validates and freezes a pipeline file. Every problem names file:line:column. */
export function loadPipeline(file: string, env: Environment = process.env): Pipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SluiceError('SLUICE_CONFIG_FILE', msg('err.run.pipeline.1', { file, reason: messageOf(err) }), { file }, { cause: err });
  }
  const src = parseYaml(text, file);
  const problems: SluiceError[] = [];
  try {
    interpolateEnv(src, env);
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    problems.push(...err.problems);
  }
  try {
    const pipeline = validateDocument(src, pipelineSchema);
    if (problems.length === 0) return pipeline;
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    // a field whose variable is missing still holds `${VAR}`: what the schema says of it is noise
    const unset = new Set(problems.map((p) => `${p.context.line}:${p.context.column}`));
    problems.push(...err.problems.filter((p) => !unset.has(`${p.context.line}:${p.context.column}`)));
  }
  throw new ConfigErrors(problems);
}

/** The editor JSON Schema of the pipeline file, generated from the same zod schema that validates it. */
export function pipelineJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(pipelineSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://sluice.dev/schema/pipeline.json',
    title: 'Sluice pipeline file',
  };
}

/**
 * The one tenant every record of the pipeline belongs to (every source's tenant is the same fixed
 * value), or null for a pipeline whose records go to many tenants. A tenant's API token may run only
 * pipelines that are wholly its own.
 */
export function ownerOf(p: Pipeline): string | null {
  const rules = p.sources.map((s) => (s.push?.tenant ? undefined : (s.tenant ?? p.tenant)));
  const values = new Set(rules.map((r) => (r && 'value' in r ? r.value : undefined)));
  const [only] = values;
  return values.size === 1 && only !== undefined ? only : null;
}
