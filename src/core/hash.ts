import { createHash } from 'node:crypto';

/**
 * The content hash of a record's JSON text as the SQLite store keeps it: md5 hex. It detects change; it is
 * not a security measure. (The PostgreSQL store hashes in the database, with its own function.)
 */
export function contentHash(json: string | null): string {
  return json === null ? '' : createHash('md5').update(json, 'utf8').digest('hex');
}
