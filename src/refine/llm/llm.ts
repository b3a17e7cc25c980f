/**
 * The LLM step: for each record, the prompt (rendered over its fields) goes to an OpenAI-compatible
 * chat completions endpoint with a `json_schema` response format; the answer is checked against that
 * schema and merged into the record. An answer that does not match — prose, cut off, a refusal, a wrong
 * field — fails that record alone, keeping the raw answer in the reason. Answers are cached by (model,
 * step version, prompt as rendered), so unchanged input is never sent twice; a token budget stops the
 * step cleanly, leaving the rest for the next run.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type OpenAI from 'openai';
import { z } from 'zod';
import { mapLimit } from '../../core/map-limit';
import { stringifyLossless } from '../../core/json-text';
import { metrics } from '../../observe/metrics';
import type { RefineOutcome, RefineRecord, RefineStep } from '../step';
import type { LlmConfig, OutputSpec } from './config';

export interface LlmCache {
  get(key: string): Promise<string | undefined>;
  put(key: string, answer: string): Promise<void>;
}

export interface LlmUsage {
  tenant: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  calls: number;
  cached: number;
}

/** Collects token usage per tenant over a run, for `sluice status` and cost. */
export class UsageMeter {
  private readonly byTenant = new Map<string, LlmUsage>();
  tokens = 0;

  add(tenant: string, model: string, u: { prompt: number; completion: number; call: boolean }): void {
    const row = this.byTenant.get(tenant) ?? { tenant, model, promptTokens: 0, completionTokens: 0, calls: 0, cached: 0 };
    row.promptTokens += u.prompt;
    row.completionTokens += u.completion;
    if (u.call) row.calls++;
    else row.cached++;
    this.byTenant.set(tenant, row);
    this.tokens += u.prompt + u.completion;
  }

  rows(): LlmUsage[] {
    return [...this.byTenant.values()];
  }
}

const INSTRUCTIONS: Record<LlmConfig['task'], string> = {
  classify: 'Classify the record below. Answer with JSON only, matching the given schema.',
  extract: 'Extract the requested fields from the record below. Answer with JSON only, matching the given schema.',
  describe: 'Describe the record below as the schema asks. Answer with JSON only, matching the given schema.',
  custom: 'Answer with JSON only, matching the given schema.',
};

export function llmStep(config: LlmConfig, deps: { cache: LlmCache; usage: UsageMeter }): RefineStep {
  const template = existsSync(config.prompt) ? readFileSync(config.prompt, 'utf8') : config.prompt;
  const answerSchema = outputSchema(config.output);
  const jsonSchema = z.toJSONSchema(answerSchema) as Record<string, unknown>;
  const version = createHash('sha256').update(JSON.stringify([config.model, config.task, template, jsonSchema])).digest('hex').slice(0, 12);
  // the client loads here, not with the module: a run without an LLM step does not pay for it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { default: Client } = require('openai') as typeof import('openai');
  const client = new Client({ apiKey: config.apiKey, baseURL: config.baseURL, timeout: config.timeout * 1000, maxRetries: config.maxRetries, fetch: countingFailures });
  const budget = config.budget?.maxTokensPerRun;

  const one = async (r: RefineRecord): Promise<RefineOutcome> => {
    const messages = [
      { role: 'system' as const, content: INSTRUCTIONS[config.task] },
      { role: 'user' as const, content: render(template, r.data) },
    ];
    const key = createHash('sha256').update(JSON.stringify([config.model, version, messages])).digest('hex');
    const cached = await deps.cache.get(key);
    if (cached !== undefined) {
      deps.usage.add(r.tenant, config.model, { prompt: 0, completion: 0, call: false });
      return merge(r, cached, answerSchema);
    }
    if (budget !== undefined && deps.usage.tokens >= budget) {
      return { status: 'pending', reason: `the run's LLM budget of ${budget} tokens is spent; refined next run` };
    }
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await client.chat.completions.create({
        model: config.model,
        messages,
        response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: jsonSchema } },
      });
    } catch (err) {
      return { status: 'failed', error: `the model could not be asked: ${err instanceof Error ? err.message : String(err)}` };
    }
    deps.usage.add(r.tenant, config.model, { prompt: completion.usage?.prompt_tokens ?? 0, completion: completion.usage?.completion_tokens ?? 0, call: true });
    const choice = completion.choices[0];
    if (!choice) return { status: 'failed', error: 'the model answered without a choice' };
    if (choice.message.refusal) return { status: 'failed', error: `the model refused: ${choice.message.refusal}` };
    if (choice.finish_reason === 'length') return { status: 'failed', error: `the answer was cut off (finish_reason length): ${excerpt(choice.message.content ?? '')}` };
    const outcome = merge(r, choice.message.content ?? '', answerSchema);
    if (outcome.status === 'refined') await deps.cache.put(key, choice.message.content!);
    return outcome;
  };

  return {
    name: `llm:${config.task}`,
    version,
    refine: (records) => mapLimit(records, config.concurrency, one),
  };
}

/** The record with the answer's fields merged in, or a failure that keeps the raw answer. */
function merge(r: RefineRecord, answer: string, schema: z.ZodType): RefineOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer);
  } catch {
    return { status: 'failed', error: `the model answered prose, not JSON: ${excerpt(answer)}` };
  }
  const checked = schema.safeParse(parsed);
  if (!checked.success) {
    const why = checked.error.issues.map((i) => `${i.path.join('.') || '(answer)'}: ${i.message}`).join('; ');
    return { status: 'failed', error: `the answer does not match the output schema (${why}): ${excerpt(answer)}` };
  }
  return { status: 'refined', data: { ...r.data, ...(checked.data as Record<string, unknown>) } };
}

function outputSchema(spec: OutputSpec): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, f] of Object.entries(spec)) {
    const type = typeof f === 'string' ? f : 'enum' in f ? undefined : f.type;
    let s: z.ZodType =
      typeof f === 'object' && 'enum' in f
        ? z.enum(f.enum as [string, ...string[]])
        : type === 'string'
          ? z.string()
          : type === 'integer'
            ? z.number().int()
            : type === 'number'
              ? z.number()
              : z.boolean();
    if (typeof f === 'object' && 'description' in f && f.description) s = s.describe(f.description);
    shape[name] = s;
  }
  return z.strictObject(shape);
}

/** `{{field}}` → the field (text as is, anything else as JSON); `{{record}}` → the whole record. */
export function render(template: string, data: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g, (_, name: string) => {
    if (name === 'record') return stringifyLossless(data);
    const v = name.split('.').reduce<unknown>((at, k) => (at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[k] : undefined), data);
    return v === undefined || v === null ? '' : typeof v === 'string' ? v : stringifyLossless(v);
  });
}

function excerpt(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * `fetch` for the openai client, counting the answers it retries (408, 409, 429, 5xx, no answer) in the
 * retries metric: the client retries inside itself, so this is where they can be seen. (The last failed
 * attempt of a request that runs out of retries is counted too.)
 */
async function countingFailures(url: string | URL | Request, init?: RequestInit): Promise<Response> {
  try {
    const res = await fetch(url, init);
    if ([408, 409, 429].includes(res.status) || res.status >= 500) metrics.retries.inc({ pipeline: '', component: 'llm' });
    return res;
  } catch (err) {
    metrics.retries.inc({ pipeline: '', component: 'llm' });
    throw err;
  }
}
