/**
 * Shared pieces of the property tests (test/property/): awkward text, temporary folders, and reading
 * back everything a staging store holds for one source.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import type { StagedRecord } from '../../src/core/record';
import { openStore } from '../../src/stage/open';
import { PG_ADMIN_URL, type ScratchDb } from './services';

/** Pieces of text that tend to break encoders: quotes, separators, line breaks, escapes, emoji, combining marks. */
const AWKWARD = [
  '"', "'", ',', ';', '\n', '\r', '\r\n', '\t', '\\', '\\N', '\\n', '😀', '👩‍👩‍👧', '中文', 'é', 'e\u0301', '\u2028', '\u00a0',
  '\ufeff', ' ', '\u0001', '\u007f', '{"a":1}', '[', 'null', '""',
];

/**
 * Arbitrary unicode text (no lone surrogates), biased towards awkward characters. `nul` allows U+0000,
 * which PostgreSQL text cannot hold.
 */
export function awkwardText({ nul = false, maxLength = 12 }: { nul?: boolean; maxLength?: number } = {}): fc.Arbitrary<string> {
  const anyCodePoint = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => nul || c !== '\u0000');
  const unit = fc.oneof(
    { arbitrary: fc.constantFrom(...AWKWARD), weight: 3 },
    { arbitrary: anyCodePoint, weight: 2 },
    { arbitrary: fc.constantFrom('a', 'b', 'Z', '0', '9', ' ', '.', '-'), weight: 3 },
  );
  return fc.string({ unit, maxLength });
}

export interface TempDir {
  path: string;
  remove(): void;
}

/** A fresh temporary folder; `remove()` deletes it and everything in it. Make it in `beforeAll`. */
export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `sluice-prop-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Every record a store holds for one source, over all its tenants: the upserts and the tombstones. */
export async function readStaged(
  stagingUrl: string,
  pipeline: string,
  source: string,
): Promise<{ upserts: StagedRecord[]; deletes: StagedRecord[] }> {
  const store = openStore(stagingUrl);
  try {
    const upserts: StagedRecord[] = [];
    const deletes: StagedRecord[] = [];
    const range = { pipeline, source, afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER };
    for (const tenant of await store.tenants(pipeline)) {
      for await (const page of store.read(tenant, { ...range, op: 'upsert' })) upserts.push(...page);
      for await (const page of store.read(tenant, { ...range, op: 'delete' })) deletes.push(...page);
    }
    return { upserts, deletes };
  } finally {
    await store.close();
  }
}

/** The keys that occur more than once. */
export function duplicates(keys: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const k of keys) (seen.has(k) ? twice : seen).add(k);
  return [...twice];
}

/**
 * Drops a scratch database. A PostgreSQL `DROP DATABASE` waits until every backend of the server has
 * absorbed a barrier, which a backend blocked writing to a stalled client (another process's COPY) does
 * not do; so after `waitMs` this stops waiting and closes its connection, leaving the DROP to finish in
 * the server on its own, rather than hanging the test run.
 */
export async function dropScratch(db: ScratchDb | undefined, waitMs = 20_000): Promise<void> {
  if (!db) return;
  if (!db.url.startsWith('postgres')) return db.drop();
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  client.on('error', () => undefined);
  await client.connect();
  let timer: NodeJS.Timeout | undefined;
  const dropped = client.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`).then(() => true);
  dropped.catch(() => undefined);
  const waited = await Promise.race([dropped, new Promise<false>((done) => (timer = setTimeout(() => done(false), waitMs)))]);
  clearTimeout(timer);
  if (!waited) {
    console.warn(`DROP DATABASE ${db.name} is still waiting for other sessions of the server; it will finish there`);
  }
  await client.end().catch(() => undefined);
}
