/**
 * What a `pull:` source is configured with: where the API is, how to authenticate, where the records are
 * in a response, how pages follow each other, and which field and query parameter make it incremental.
 */
import { z } from 'zod';
import { duration, jsonPath } from '../../config/parts';

const paramValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const auth = z
  .union([
    z.strictObject({ bearer: z.string().min(1).describe('Sent as `Authorization: Bearer <token>`.') }),
    z.strictObject({
      header: z.strictObject({ name: z.string().min(1), value: z.string().min(1) }).describe('Any header, e.g. `{ name: X-Api-Key, value: ${KEY} }`.'),
    }),
    z.strictObject({
      basic: z.strictObject({ username: z.string(), password: z.string() }).describe('HTTP Basic authentication.'),
    }),
  ])
  .describe('How to authenticate: `{ bearer: ${TOKEN} }`, `{ header: { name, value } }` or `{ basic: { username, password } }`.');

const stopRules = {
  maxPages: z.number().int().min(1).optional().describe('Stop after this many pages in one run (the next run goes on from the checkpoint).'),
};

const pagination = z
  .union([
    z.enum(['link', 'none']).transform((style): { style: 'link' | 'none'; maxPages?: number } => ({ style })),
    z.strictObject({ style: z.literal('link'), ...stopRules }).describe('Follow the `Link: <…>; rel="next"` header (RFC 8288) until there is none.'),
    z.strictObject({ style: z.literal('none'), ...stopRules }),
    z
      .strictObject({
        style: z.literal('cursor'),
        next: jsonPath.describe('Where the next page\'s token is in the body, e.g. `$.meta.next`. A missing or empty token ends the walk.'),
        param: z.string().min(1).describe('The query parameter the token is sent in, e.g. `after`.'),
        ...stopRules,
      })
      .describe('A next-page token in the body.'),
    z
      .strictObject({
        style: z.literal('page'),
        param: z.string().min(1).default('page').describe('The page-number parameter.'),
        start: z.number().int().min(0).default(1).describe('The first page\'s number.'),
        size: z.number().int().min(1).optional().describe('Records per page, when the API is asked for a fixed size (`params`): a shorter page ends the walk without one more request.'),
        ...stopRules,
      })
      .describe('Numbered pages, until an empty (or short) one.'),
    z
      .strictObject({
        style: z.literal('offset'),
        param: z.string().min(1).default('offset').describe('The offset parameter.'),
        limitParam: z.string().min(1).default('limit').describe('The page-size parameter.'),
        limit: z.number().int().min(1).default(100).describe('Records per request.'),
        ...stopRules,
      })
      .describe('Offset and limit, until a short page.'),
  ])
  .describe('How pages follow each other: `link`, `none`, or `{ style: cursor | page | offset, … }`.');

export const pullConfig = z
  .strictObject({
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL')
      .describe('The endpoint to list, e.g. `${API_BASE}/repos/acme/app/issues`.'),
    params: z.record(z.string(), paramValue).default({}).describe('Query parameters sent with the first request.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers.'),
    auth: auth.optional(),
    records: jsonPath.prefault('$').describe('Where the records are in a response body: `$` when the body is the array, `$.data` and so on.'),
    key: z
      .union([jsonPath.transform((p) => [p]), z.array(jsonPath).min(1)])
      .describe('The field (or fields) that identify a record, e.g. `id`.'),
    cursor: z
      .strictObject({
        field: jsonPath.describe('The record field that grows when a record changes, e.g. `updated_at`.'),
        param: z.string().min(1).describe('The query parameter that asks for records changed since a value, e.g. `since`.'),
        lookback: duration.optional().describe('Ask for this much before the checkpoint (time cursors): catches records a paginated walk skipped while they changed.'),
      })
      .optional()
      .describe('Makes the pull incremental: the next run asks only for records changed since the highest cursor seen.'),
    paginate: pagination.prefault('link'),
    rateLimit: z
      .strictObject({ perSecond: z.number().positive().describe('At most this many requests per second.') })
      .optional(),
    timeout: duration.prefault('30s').describe('Per request, e.g. `30s`.'),
    retries: z.number().int().min(0).max(20).default(5).describe('Retries of a request that failed with a network error, a timeout, 429 or 5xx.'),
    retryDelay: duration.prefault('500ms').describe('The first retry\'s delay; each next one doubles, with jitter.'),
    maxRetryWait: duration.prefault('5m').describe('The longest wait a `Retry-After` or rate-limit reset is honoured for; past it the request fails.'),
  })
  .describe('Pull records from a paginated HTTP API, incrementally.');

export type PullConfig = z.output<typeof pullConfig>;
export type Pagination = PullConfig['paginate'];
