/**
 * `conflicts: suggest`: an OpenAI-compatible model proposes, for each conflicting field, which side's
 * value to keep, with a confidence. At or above the threshold the suggestion is applied (and audited as
 * the model's, with its confidence); below it, or when the model cannot be asked or answers nonsense, the
 * record waits in the queue with the suggestion beside it, for a person.
 */
import OpenAI from 'openai';
import { z } from 'zod';
import { messageOf } from '../core/errors';
import { stringifyLossless } from '../core/json-text';
import type { CustomConflict, CustomResolver } from '../sync/custom';
import type { Resolution } from '../sync/merge';
import { fieldOf } from '../sync/values';
import type { PipelineSync } from './pipeline';

const answerSchema = z.strictObject({
  fields: z.array(z.strictObject({ field: z.string(), take: z.enum(['a', 'b']) })),
  confidence: z.number().min(0).max(1),
  reason: z.string(),
});

export function suggestResolver(config: NonNullable<PipelineSync['suggest']>, sides: { a: string; b: string }): CustomResolver {
  const client = new OpenAI({ apiKey: config.apiKey, baseURL: config.baseURL, timeout: config.timeout * 1000, maxRetries: config.maxRetries });
  const jsonSchema = z.toJSONSchema(answerSchema) as Record<string, unknown>;
  const system = [
    `You settle conflicts between two systems kept in step: side a is "${sides.a}", side b is "${sides.b}".`,
    'Both changed the same fields of one record to different values since they last agreed (the base).',
    'For every conflicting field, say which side\'s value to keep (a or b), with one confidence between 0 and 1 for the whole answer and a short reason.',
    config.instructions ?? '',
  ].join('\n');
  return async (conflict: CustomConflict) => {
    let content: string | null | undefined;
    try {
      const completion = await client.chat.completions.create({
        model: config.model,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: stringifyLossless({ conflicting: conflict.fields, a: conflict.a, b: conflict.b }) },
        ],
        response_format: { type: 'json_schema', json_schema: { name: 'resolution', strict: true, schema: jsonSchema } },
      });
      content = completion.choices[0]?.message.content;
    } catch (err) {
      return { ok: false, reason: `suggest: the model could not be asked: ${messageOf(err)}`, retry: true };
    }
    let parsed: z.output<typeof answerSchema>;
    try {
      parsed = answerSchema.parse(JSON.parse(content ?? ''));
    } catch {
      return { ok: false, reason: `suggest: the model answered ${JSON.stringify(content ?? null).slice(0, 200)}, not a resolution`, retry: true };
    }
    const resolution: Resolution = {};
    for (const f of parsed.fields) resolution[f.field] = { take: f.take };
    const missing = conflict.fields.filter((f) => !fieldOf(resolution, f.field)).map((f) => f.field);
    const said = parsed.fields.map((f) => `${f.field}: ${f.take}`).join(', ');
    if (missing.length > 0) return { ok: false, reason: `suggest: the model did not settle ${missing.join(', ')} (${said}; ${parsed.reason})`, retry: false };
    if (parsed.confidence < config.threshold) {
      return { ok: false, reason: `suggest: ${said} at confidence ${parsed.confidence}, below ${config.threshold}: ${parsed.reason}`, retry: false };
    }
    return { ok: true, resolution, by: `suggest ${config.model} (confidence ${parsed.confidence}): ${parsed.reason}`.slice(0, 300) };
  };
}
