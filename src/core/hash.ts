import { createHash } from 'node:crypto';

/**
 * The content hash of a record's JSON text: md5 hex, the same value PostgreSQL's `md5(text)` gives,
 * so either side can compute it. It detects change; it is not a security measure.
 */
export function contentHash(json: string | null): string {
  return json === null ? '' : createHash('md5').update(json, 'utf8').digest('hex');
}
