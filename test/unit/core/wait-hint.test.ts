// How long a server asks a client to wait before it tries again (core/http-client `waitHint`), in the
// forms APIs use: Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3); GitHub's primary rate
// limit, `x-ratelimit-remaining: 0` with `x-ratelimit-reset` as an epoch time; the IETF draft's
// `RateLimit-Reset`, a number of seconds. A reset header alone, on an answer that is not limited, asks
// for nothing.
import { waitHint } from '../../../src/core/http-client';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const hint = (status: number, headers: Record<string, string>) => waitHint({ status, headers: new Headers(headers) }, NOW);

test('Retry-After in seconds', () => {
  expect(hint(429, { 'retry-after': '2' })).toBe(2000);
  expect(hint(503, { 'retry-after': ' 3 ' })).toBe(3000);
  expect(hint(429, { 'retry-after': '0' })).toBe(0);
});

test('Retry-After as an HTTP date: the time until then, none once it has passed', () => {
  expect(hint(503, { 'retry-after': 'Tue, 01 Dec 2026 12:00:05 GMT' })).toBe(5000);
  expect(hint(429, { 'retry-after': new Date(NOW + 90_000).toUTCString() })).toBe(90_000);
  expect(hint(429, { 'retry-after': 'Tue, 01 Dec 2026 11:59:00 GMT' })).toBe(0);
});

test("GitHub's primary rate limit: until the epoch time in x-ratelimit-reset", () => {
  const reset = String(NOW / 1000 + 42);
  expect(hint(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset })).toBe(42_000);
  expect(hint(429, { 'x-ratelimit-reset': reset })).toBe(42_000);
});

test('the IETF RateLimit-Reset: a number of seconds', () => {
  expect(hint(429, { 'ratelimit-reset': '7' })).toBe(7000);
  expect(hint(403, { 'ratelimit-remaining': '0', 'ratelimit-reset': '7' })).toBe(7000);
});

test('Retry-After wins over a reset; a reset on an answer that is not limited, or nothing readable, asks for nothing', () => {
  expect(hint(429, { 'retry-after': '1', 'x-ratelimit-reset': String(NOW / 1000 + 60) })).toBe(1000);
  expect(hint(200, { 'x-ratelimit-remaining': '12', 'x-ratelimit-reset': String(NOW / 1000 + 60) })).toBeUndefined();
  expect(hint(503, {})).toBeUndefined();
  expect(hint(429, { 'retry-after': 'soon' })).toBeUndefined();
  expect(hint(429, { 'retry-after': 'soon', 'ratelimit-reset': '4' })).toBe(4000);
});
