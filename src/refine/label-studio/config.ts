/**
 * The `labelStudio:` refine step in a pipeline file: where Label Studio is, which project (per tenant)
 * and labeling config, which record fields become task data, and which records go to people at all.
 */
import { z } from 'zod';
import { duration } from '../../config/parts';
import { expression } from '../rules/config';

export const labelStudioStepSchema = z.strictObject({
  labelStudio: z.strictObject({
    url: z.string().url().describe('The Label Studio instance, e.g. `http://localhost:8080`.'),
    token: z.string().min(1).describe('A legacy API token or a Personal Access Token. `${LS_TOKEN}`.'),
    project: z.strictObject({
      title: z.string().min(1).describe('The project to find or create; `{{tenant}}` gives each tenant its own.'),
      labelConfig: z.string().min(1).describe('The labeling config: XML, or a file holding it (relative to the working directory).'),
    }),
    data: z.record(z.string().min(1), z.string().min(1)).describe('Task data field → record field, e.g. `{ image: image_url, text: note }`.'),
    predictions: z
      .union([
        z.literal('from-previous-steps'),
        z.strictObject({
          from: z.literal('previous-steps'),
          fields: z.record(z.string().min(1), z.string().min(1)).optional().describe('Control tag name → record field; default: every control whose name is a field.'),
          score: z.string().min(1).optional().describe('The record field holding a confidence (0–1), sent as the prediction score.'),
        }),
      ])
      .optional()
      .describe('Send what earlier steps decided as pre-annotations (predictions) with the steps\' versions as model_version.'),
    when: expression.optional().describe('JSONata: only records for which it is true go to people; the rest pass on unchanged.'),
    into: z.string().min(1).default('annotation').describe('The record field the annotation is merged into.'),
    webhook: z
      .strictObject({
        secret: z.string().min(8).describe('The value Label Studio sends in the header (set it in the webhook\'s headers there).'),
        header: z.string().min(1).default('authorization').describe('The header carrying it; `Bearer <secret>` is accepted too.'),
      })
      .optional()
      .describe('`sluice serve` accepts Label Studio\'s annotation webhooks at POST /label-studio/<pipeline> and refines at once.'),
    annotations: z
      .enum(['tasks', 'snapshot'])
      .default('tasks')
      .describe('How annotations are read back: `tasks` (the task API: each waiting task, or a walk of the project when many wait) or `snapshot` (one export snapshot per project per run, read as it downloads: for large projects).'),
    snapshotTimeout: duration.prefault('10m').describe('How long to wait for an export snapshot to complete.'),
    timeout: duration.prefault('30s').describe('Per request.'),
    retries: z.number().int().min(0).max(10).default(4).describe('Retries on network errors, 429 and 5xx, honouring Retry-After.'),
  }),
});

export type LabelStudioConfig = z.output<typeof labelStudioStepSchema>['labelStudio'];
