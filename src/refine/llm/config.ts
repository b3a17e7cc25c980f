/**
 * The `llm:` refine step in a pipeline file: which OpenAI-compatible server and model, the prompt (a
 * template over record fields), the structured output every answer must match, and the limits.
 */
import { z } from 'zod';
import { duration } from '../../config/parts';

const fieldName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a field name (letters, digits, _)');

/** One output field: a type name, or `{ enum: [...] }`, or `{ type, description }`. */
const outputField = z.union([
  z.enum(['string', 'number', 'integer', 'boolean']),
  z.strictObject({ enum: z.array(z.string()).min(1) }),
  z.strictObject({ type: z.enum(['string', 'number', 'integer', 'boolean']), description: z.string().optional() }),
]);

export const llmStepSchema = z.strictObject({
  llm: z.strictObject({
    baseURL: z.string().url().optional().describe('An OpenAI-compatible server, e.g. `http://localhost:8000/v1`. Default: the OpenAI API.'),
    apiKey: z.string().min(1).describe('Sent as a bearer token. `${OPENAI_API_KEY}`.'),
    model: z.string().min(1),
    task: z.enum(['classify', 'extract', 'describe', 'custom']).default('custom').describe('Sets the instructions before your prompt.'),
    prompt: z
      .string()
      .min(1)
      .describe('The prompt: inline text, or a file (`./prompts/x.md`, relative to the working directory). `{{field}}` takes a record field, `{{record}}` the whole record as JSON.'),
    output: z.record(fieldName, outputField).describe('The fields every answer must have; sent as `response_format: json_schema` and checked on the way back.'),
    concurrency: z.number().int().min(1).max(64).default(4),
    budget: z.strictObject({ maxTokensPerRun: z.number().int().min(1) }).optional().describe('Past it the step stops: the records left stay unrefined and go next run.'),
    price: z
      .strictObject({ inputPer1M: z.number().nonnegative(), outputPer1M: z.number().nonnegative() })
      .optional()
      .describe('Per million tokens, to record what a run cost.'),
    timeout: duration.prefault('60s').describe('Per request.'),
    maxRetries: z.number().int().min(0).max(10).default(3).describe('Retries on 408, 409, 429, 5xx and network errors, honouring retry-after.'),
  }),
});

export type LlmConfig = z.output<typeof llmStepSchema>['llm'];
export type OutputSpec = LlmConfig['output'];
