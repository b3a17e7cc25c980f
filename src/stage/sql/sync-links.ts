/**
 * The links a sync commit writes — rewritten, new, dropped — and, in the same transaction, what they
 * change in the pipeline's link counts (migration 018). A run asks those counts before looking for
 * deletes and for its summary; counting them instead would read every link with its two bases.
 */
import type { Knex } from 'knex';
import { stringifyLossless } from '../../core/json-text';
import type { JsonObject } from '../../core/record';
import type { LinkWrite, Side, SyncLink } from '../sync-store';

/** Rows per statement sent as one JSON parameter on PostgreSQL. */
export const JSON_CHUNK = 5000;
/** Rows per statement on SQLite (its limit of bound values). */
const CHUNK = 500;
/** A LinkRow's columns as json_to_recordset reads them on PostgreSQL. */
const LINK_RECORD = 'a_key text, b_key text, base_a text, base_b text, state text, intent text';

/** A pipeline's link counts, or what a commit changes in them: links in state `linked`, and of them those with a key on each side. */
export type LinkTally = { linked: number } & Record<Side, number>;

/** A link as a commit writes it: its bases and intent as JSON text. */
interface LinkRow {
  a_key: string | null;
  b_key: string | null;
  base_a: string | null;
  base_b: string | null;
  state: SyncLink['state'];
  intent: string | null;
}

/** What the link counts read of a link. */
type LinkKeys = Pick<LinkRow, 'state' | 'a_key' | 'b_key'>;

// bases keep integers past 2^53 whole (as BigInts in memory, see `core/json-text`)
const stored = (v: JsonObject | null): string | null => (v === null ? null : stringifyLossless(v));

export async function linkCounts(db: Knex, pipeline: string): Promise<LinkTally> {
  const r = await db('sluice_sync_link_counts').where({ pipeline }).first('linked', 'a', 'b');
  return { linked: Number(r?.linked ?? 0), a: Number(r?.a ?? 0), b: Number(r?.b ?? 0) };
}

/**
 * Writes a commit's links and drops, and adds what they change to the pipeline's link counts; returns
 * the ids of the new links by ref. A link written twice takes its last state; one also dropped is only
 * dropped.
 */
export async function writeLinks(tx: Knex.Transaction, pipeline: string, links: readonly LinkWrite[], drops: readonly number[], at: string): Promise<Map<string, number>> {
  const rowOf = (l: LinkWrite): LinkRow => ({ a_key: l.aKey, b_key: l.bKey, base_a: stored(l.baseA), base_b: stored(l.baseB), state: l.state, intent: stored(l.intent) });
  const dropped = new Set(drops);
  const updated = [...new Map(links.flatMap((l) => ('id' in l && !dropped.has(l.id) ? [[l.id, { id: l.id, ...rowOf(l) }] as const] : []))).values()];
  const fresh = links.flatMap((l) => ('ref' in l ? [{ ref: l.ref, row: rowOf(l) }] : []));
  // each row replaced or dropped counts out, each row written counts in
  const counts: LinkTally = { linked: 0, a: 0, b: 0 };
  for (const { before, after } of await updateLinks(tx, updated, at)) {
    tally(before, -1, counts);
    tally(after, 1, counts);
  }
  const ids = await insertLinks(tx, pipeline, fresh, at);
  for (const f of fresh) tally(f.row, 1, counts);
  for (const gone of await dropLinks(tx, [...dropped])) tally(gone, -1, counts);
  await addToCounts(tx, pipeline, counts);
  return ids;
}

/** Many links' new state (a statement per chunk on PostgreSQL, per link on SQLite); of each link found, its state and keys before and after. */
async function updateLinks(tx: Knex.Transaction, rows: readonly ({ id: number } & LinkRow)[], at: string): Promise<{ before: LinkKeys; after: LinkKeys }[]> {
  const changed: { before: LinkKeys; after: LinkKeys }[] = [];
  if (tx.client.config.client !== 'pg') {
    for (const { id, ...row } of rows) {
      const before: LinkKeys | undefined = await tx('sluice_sync_links').where({ id }).first('state', 'a_key', 'b_key');
      if (!before) continue;
      await tx('sluice_sync_links').where({ id }).update({ ...row, updated_at: at });
      changed.push({ before, after: row });
    }
    return changed;
  }
  for (let i = 0; i < rows.length; i += JSON_CHUNK) {
    // `o` is the table again, read as the statement found it: each link's row before the update
    const r = await tx.raw<{ rows: { was_state: LinkRow['state']; was_a: string | null; was_b: string | null; state: LinkRow['state']; a_key: string | null; b_key: string | null }[] }>(
      `UPDATE sluice_sync_links AS l
          SET a_key = v.a_key, b_key = v.b_key, base_a = v.base_a, base_b = v.base_b, state = v.state, intent = v.intent, updated_at = ?::timestamptz
         FROM json_to_recordset(?::json) AS v(id int, ${LINK_RECORD}), sluice_sync_links AS o
        WHERE l.id = v.id AND o.id = v.id
        RETURNING o.state AS was_state, o.a_key AS was_a, o.b_key AS was_b, l.state, l.a_key, l.b_key`,
      [at, JSON.stringify(rows.slice(i, i + JSON_CHUNK))],
    );
    for (const x of r.rows) changed.push({ before: { state: x.was_state, a_key: x.was_a, b_key: x.was_b }, after: x });
  }
  return changed;
}

/**
 * New links, their ids by ref. A new link has a key on one side at least, and keys are unique per
 * side: the ids that come back are matched to their links by key, whatever order the rows return in.
 */
async function insertLinks(tx: Knex.Transaction, pipeline: string, fresh: readonly { ref: string; row: LinkRow }[], at: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  const keyOf = (a: unknown, b: unknown) => (a !== null && a !== undefined ? `a${String(a)}` : `b${String(b)}`);
  const refs = new Map(fresh.map((f) => [keyOf(f.row.a_key, f.row.b_key), f.ref]));
  const pg = tx.client.config.client === 'pg';
  for (let i = 0; i < fresh.length; i += pg ? JSON_CHUNK : CHUNK) {
    const chunk = fresh.slice(i, i + (pg ? JSON_CHUNK : CHUNK)).map((f) => f.row);
    const inserted: { id: number; a_key: string | null; b_key: string | null }[] = pg
      ? (
          await tx.raw(
            `INSERT INTO sluice_sync_links (pipeline, a_key, b_key, base_a, base_b, state, intent, updated_at)
             SELECT ?, a_key, b_key, base_a, base_b, state, intent, ?::timestamptz
               FROM json_to_recordset(?::json) AS r(${LINK_RECORD})
             RETURNING id, a_key, b_key`,
            [pipeline, at, JSON.stringify(chunk)],
          )
        ).rows
      : await tx('sluice_sync_links')
          .insert(chunk.map((row) => ({ pipeline, ...row, updated_at: at })))
          .returning(['id', 'a_key', 'b_key']);
    for (const r of inserted) ids.set(refs.get(keyOf(r.a_key, r.b_key))!, Number(r.id));
  }
  return ids;
}

/** Drops links; returns the state and keys of those there were. */
async function dropLinks(tx: Knex.Transaction, ids: readonly number[]): Promise<LinkKeys[]> {
  const gone: LinkKeys[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const r = await tx.raw<{ rows: LinkKeys[] } | LinkKeys[]>(`DELETE FROM sluice_sync_links WHERE id IN (${chunk.map(() => '?').join(', ')}) RETURNING state, a_key, b_key`, chunk);
    // the drivers answer a raw statement differently: pg with a result, better-sqlite3 with its rows
    gone.push(...(Array.isArray(r) ? r : r.rows));
  }
  return gone;
}

/** Adds a commit's difference to the pipeline's link counts (a row made by the first link). */
async function addToCounts(tx: Knex.Transaction, pipeline: string, d: LinkTally): Promise<void> {
  if (d.linked === 0 && d.a === 0 && d.b === 0) return;
  await tx.raw(
    `INSERT INTO sluice_sync_link_counts (pipeline, linked, a, b) VALUES (?, ?, ?, ?)
     ON CONFLICT (pipeline) DO UPDATE SET linked = sluice_sync_link_counts.linked + excluded.linked,
       a = sluice_sync_link_counts.a + excluded.a, b = sluice_sync_link_counts.b + excluded.b`,
    [pipeline, d.linked, d.a, d.b],
  );
}

/** Adds (`sign` 1) or takes away (-1) what a link counts for. */
function tally(link: LinkKeys, sign: 1 | -1, into: LinkTally): void {
  if (link.state !== 'linked') return;
  into.linked += sign;
  if (link.a_key !== null) into.a += sign;
  if (link.b_key !== null) into.b += sign;
}
