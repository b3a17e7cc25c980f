/**
 * GET a JSON page from an API for the pull extractor: the shared client (`core/http-client.ts`: timeouts,
 * rate limit, retries with backoff and jitter, `Retry-After` and rate-limit resets, errors naming the URL,
 * status and body) with the pull extractor's error codes, and each retry counted in the metrics.
 */
import { requestJson, type JsonResponse, type RequestOptions } from '../../core/http-client';
import { metrics } from '../../observe/metrics';

export { RateLimiter, redactUrl, sleep, waitHint, type JsonResponse } from '../../core/http-client';

/** The shared client's options, less the error codes (the pull extractor's own). */
export type GetJsonOptions = Omit<RequestOptions, 'codes'>;

export function getJson(url: string, o: GetJsonOptions): Promise<JsonResponse> {
  return requestJson('GET', url, {
    ...o,
    codes: { refused: 'SLUICE_PULL_HTTP', unavailable: 'SLUICE_PULL_HTTP', response: 'SLUICE_PULL_RESPONSE' },
    onRetry: (info) => {
      metrics.retries.inc({ pipeline: o.context.pipeline ?? '', component: 'pull' });
      o.onRetry?.(info);
    },
  });
}
