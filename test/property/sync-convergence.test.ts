// Two-way sync converges. Model-based: random interleavings of creates, edits and deletes on both sides
// (two SQLite tables, mapped name↔display_name, status↔state through a value map, score↔score_text
// through integer_to_string) between sync runs, under each conflict policy, with `deletes: propagate`.
// A model of the records predicts, after each run, what each side holds and which records wait in the
// conflict queue; and after each run the invariants of issue #8 are checked:
//  (a) every non-conflicting change is on both sides: a linked pair without an open queue entry holds
//      the same mapped values on both sides, and no row is unlinked (or half-deleted) without an entry;
//  (b) every conflict (a field both sides changed since the last run to different values; a delete on
//      one side and an edit on the other) is decided as the policy says, or sits in the queue;
//  (c) under `merge`, an edit to a field only one side changed since the last run is never lost: it is
//      on both sides, or (the field waiting in the queue) still on the side that made it;
//  (d) a second run with no new edits writes nothing and changes nothing;
//  (e) no duplicates: each side holds exactly as many rows as the model says;
// and, beyond the issue's list, that each side holds exactly the model's values and the queue holds
// exactly the records the model says are waiting (no conflict that no longer exists stays open).
//
// The model's rules (what "sensible" means here, where the issue leaves it open):
//  - a field changed on one side since the last agreement is carried over; changed on both to the same
//    value, it agrees; to different values it is a conflict, decided by the policy (a_wins, b_wins,
//    last_write_wins by the later edit of the row) or, under merge/manual, left waiting in the queue
//    (manual: the whole record waits, nothing of it is written, but a field both sides now hold alike
//    is agreed on: a later edit of it on one side is a change of that side only);
//  - a waiting field stays waiting until both sides hold the same value (or a person decides): a later
//    edit on either side, even one back to the value of the last agreement, keeps it waiting; taking
//    it as "that side gave up" would overwrite the edit just made with the other side's value, silently;
//  - a record deleted on one side whose other side is unchanged since the last agreement (and not
//    waiting) is deleted there too; if the other side changed, or the record waits in the queue, it is a
//    conflict: queued under merge, manual and last_write_wins; under a_wins/b_wins the winner's state
//    stands (the winner deleted: the delete travels; the winner edited: the record is made again where
//    it was deleted). A delete conflict stays queued until the other side is deleted too.
// Where the engine does otherwise today, the minimal counterexamples are in KNOWN below; they run first.
//
// Each scenario gets fresh SQLite sides and a fresh (pre-migrated) staging store. Knobs, for exploring:
// SYNC_PROP_RUNS=n (runs per policy, default 40); SYNC_PROP_REPLAY='<scenario JSON>' (only that
// scenario, not shrunk); SYNC_PROP_SKIP=queue,model,... (leave out those kinds of violation, to look
// past a known one). By default every check runs.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { runSync, type SyncSummary } from '../../src/run/sync';
import { openStore } from '../../src/stage/open';
import { sqliteSync, type SqliteSync } from '../helpers/sync-sqlite';

type Policy = 'merge' | 'a_wins' | 'b_wins' | 'last_write_wins' | 'manual';
type SideId = 'a' | 'b';
type Field = 'name' | 'status' | 'score';
type Value = string | number | null;
/** A record's mapped values, by side a's field names and in side a's terms. */
type Values = Record<Field, Value>;

const POLICIES: Policy[] = ['merge', 'a_wins', 'b_wins', 'last_write_wins', 'manual'];
const FIELDS: Field[] = ['name', 'status', 'score'];
/** Few values per field, so both sides often pick the same one; null among them. */
const VALUES: Record<Field, Value[]> = { name: ['Ann', 'Bob', null], status: ['active', 'churned', null], score: [1, 7, null] };
const B_FIELD: Record<Field, string> = { name: 'display_name', status: 'state', score: 'score_text' };
const STATUS_TO_B: Record<string, string> = { active: 'A', churned: 'C' };
const other = (s: SideId): SideId => (s === 'a' ? 'b' : 'a');

/** A value of field `f` as side b spells it. */
function toB(f: Field, v: Value): Value {
  if (v === null) return null;
  if (f === 'status') return STATUS_TO_B[String(v)] ?? `?${String(v)}`;
  if (f === 'score') return String(v);
  return v;
}
const bValues = (v: Values): Record<string, Value> => Object.fromEntries(FIELDS.map((f) => [B_FIELD[f], toB(f, v[f])]));
const sameValues = (x: Values, y: Values) => FIELDS.every((f) => x[f] === y[f]);
const show = (v: Values | null) => (v === null ? '∅' : `{${FIELDS.map((f) => `${f}: ${JSON.stringify(v[f])}`).join(', ')}}`);

// ---------------------------------------------------------------------------------------------------
// Scenarios

type Op =
  | { kind: 'create'; side: SideId; values: Values }
  | { kind: 'edit'; side: SideId; pick: number; field: Field; value: number }
  /** One field of one record edited on both sides (side `side` first): the same or different values. */
  | { kind: 'edit_both'; side: SideId; pick: number; field: Field; value: number; other: number }
  | { kind: 'delete'; side: SideId; pick: number };

interface Scenario {
  /** Rows on each side before the first run. */
  seed: { a: Values[]; b: Values[] };
  /** Users' operations between runs: a run after each round. */
  rounds: Op[][];
}

const valuesArb: fc.Arbitrary<Values> = fc.record({
  name: fc.constantFrom(...VALUES.name),
  status: fc.constantFrom(...VALUES.status),
  score: fc.constantFrom(...VALUES.score),
});
const sideArb = fc.constantFrom<SideId>('a', 'b');
/** Which row of a side an operation takes: mostly one of the first few, so records get several edits. */
const pickArb = fc.oneof({ weight: 3, arbitrary: fc.nat(2) }, { weight: 1, arbitrary: fc.nat(11) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('create' as const), side: sideArb, values: valuesArb }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('edit' as const), side: sideArb, pick: pickArb, field: fc.constantFrom(...FIELDS), value: fc.nat(2) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('edit_both' as const), side: sideArb, pick: pickArb, field: fc.constantFrom(...FIELDS), value: fc.nat(2), other: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), side: sideArb, pick: pickArb }) },
);
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.record({ a: fc.array(valuesArb, { maxLength: 6 }), b: fc.array(valuesArb, { maxLength: 6 }) }),
  rounds: fc.array(fc.array(opArb, { maxLength: 6 }), { minLength: 2, maxLength: 5 }),
});

// ---------------------------------------------------------------------------------------------------
// The model

interface Rec {
  /** The model's name for the record, for messages. */
  id: number;
  /** What each side holds (null: no row there). */
  a: Values | null;
  b: Values | null;
  /** The rows' keys; null until known (a row Sluice creates is learned from the link table). */
  aKey: number | null;
  bKey: number | null;
  linked: boolean;
  /** The values both sides held at the last agreement. */
  base: Values | null;
  /** Fields waiting in the queue (merge, manual). */
  pending: Set<Field>;
  /** Deleted on one side, changed on the other: waiting in the queue. */
  deleteConflict: boolean;
  /** The cursor of the latest user edit of each side's row (last_write_wins). */
  tick: Record<SideId, string>;
}

interface Model {
  records: Rec[];
  next: number;
}

const present = (m: Model, side: SideId) => m.records.filter((r) => r[side] !== null);
const queuedIn = (r: Rec) => r.pending.size > 0 || r.deleteConflict;

/** What a run does to the records, by the model's rules (see the top of the file). */
function modelRun(m: Model, policy: Policy): void {
  const winner: SideId | undefined = policy === 'a_wins' ? 'a' : policy === 'b_wins' ? 'b' : undefined;
  const drop = new Set<Rec>();
  for (const r of m.records) {
    const { a, b } = r;
    if (!a && !b) {
      drop.add(r);
      continue;
    }
    if (!r.linked) {
      // a new record: created on the other side
      const [from, to]: [SideId, SideId] = a ? ['a', 'b'] : ['b', 'a'];
      r[to] = { ...r[from]! };
      r[to === 'a' ? 'aKey' : 'bKey'] = null;
      r.linked = true;
      r.base = { ...r[from]! };
      continue;
    }
    if (a && b) {
      mergeRecord(r, policy);
      continue;
    }
    const stays: SideId = a ? 'a' : 'b';
    const gone = other(stays);
    const row = r[stays]!;
    const edited = queuedIn(r) || !sameValues(row, r.base!);
    if (edited && winner === undefined) {
      r.deleteConflict = true;
      continue;
    }
    if (edited && winner === stays) {
      r[gone] = { ...row };
      r[gone === 'a' ? 'aKey' : 'bKey'] = null;
      r.base = { ...row };
      r.pending.clear();
      r.deleteConflict = false;
      continue;
    }
    drop.add(r); // the delete travels
  }
  m.records = m.records.filter((r) => !drop.has(r));
}

function mergeRecord(r: Rec, policy: Policy): void {
  const a = r.a!;
  const b = r.b!;
  const base = r.base!;
  const take: Partial<Record<Field, SideId>> = {};
  const waiting = new Set<Field>();
  for (const f of FIELDS) {
    if (r.pending.has(f)) {
      if (a[f] !== b[f]) waiting.add(f);
      continue;
    }
    const aChanged = a[f] !== base[f];
    const bChanged = b[f] !== base[f];
    if (aChanged && !bChanged) take[f] = 'a';
    else if (bChanged && !aChanged) take[f] = 'b';
    else if (!aChanged || a[f] === b[f]) continue;
    else if (policy === 'a_wins') take[f] = 'a';
    else if (policy === 'b_wins') take[f] = 'b';
    else if (policy === 'last_write_wins') take[f] = r.tick.b > r.tick.a ? 'b' : 'a';
    else waiting.add(f);
  }
  r.deleteConflict = false;
  r.pending = waiting;
  if (policy === 'manual' && waiting.size > 0) {
    // the whole record waits: nothing is written; the fields both sides hold alike are agreed on
    for (const f of FIELDS) if (!waiting.has(f) && a[f] === b[f]) base[f] = a[f];
    return;
  }
  for (const f of FIELDS) {
    const from = take[f];
    if (from) r[other(from)]![f] = r[from]![f];
    if (!waiting.has(f)) base[f] = a[f];
  }
}

// ---------------------------------------------------------------------------------------------------
// The sides and the staging store as they are

interface Actual {
  a: Map<number, Values>;
  /** Side b's rows in b's own spelling. */
  b: Map<number, Record<string, Value>>;
  links: { aKey: string | null; bKey: string | null; state: string }[];
  open: { aKey: string | null; bKey: string | null; reason: string; fields: string[] }[];
}

function readActual(s: SqliteSync): Actual {
  const a = new Map<number, Values>();
  for (const r of s.a.prepare('SELECT id, name, status, score FROM people').all() as (Values & { id: number })[]) a.set(r.id, { name: r.name, status: r.status, score: r.score });
  const b = new Map<number, Record<string, Value>>();
  for (const r of s.b.prepare('SELECT contact_id, display_name, state, score_text FROM contacts').all() as Record<string, Value>[]) {
    b.set(Number(r.contact_id), { display_name: r.display_name!, state: r.state!, score_text: r.score_text! });
  }
  const staging = new Database(join(s.dir, 'staging.db'), { readonly: true, fileMustExist: true });
  try {
    const links = staging.prepare('SELECT a_key AS aKey, b_key AS bKey, state FROM sluice_sync_links').all() as Actual['links'];
    const open = (
      staging.prepare(`SELECT a_key AS aKey, b_key AS bKey, reason, fields FROM sluice_sync_conflicts WHERE status = 'open'`).all() as {
        aKey: string | null;
        bKey: string | null;
        reason: string;
        fields: string;
      }[]
    ).map((e) => ({ ...e, fields: JSON.parse(e.fields) as string[] }));
    return { a, b, links, open };
  } finally {
    staging.close();
  }
}

const sameB = (x: Record<string, Value>, y: Record<string, Value>) => FIELDS.every((f) => x[B_FIELD[f]] === y[B_FIELD[f]]);
const writes = (r: SyncSummary) => (['a', 'b'] as const).reduce((n, id) => n + r.sides[id].created + r.sides[id].updated + r.sides[id].deleted, 0);

// ---------------------------------------------------------------------------------------------------
// One scenario, played against the engine and the model

/** Violations to leave out while exploring (`SYNC_PROP_SKIP=queue,model`); every check runs by default. */
const SKIP = new Set((process.env.SYNC_PROP_SKIP ?? '').split(',').filter(Boolean));

/** A migrated, empty staging store, copied for each scenario: migrating a fresh one each time is most of a run's cost. */
let template: string;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sync-template-'));
  template = join(dir, 'staging.db');
  const store = openStore(`sqlite:${template}`);
  await store.migrate();
  await store.close();
  const db = new Database(template);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  if (existsSync(`${template}-wal`)) throw new Error('the template staging store still has a WAL file');
});
afterAll(() => rmSync(join(template, '..'), { recursive: true, force: true }));

async function play(policy: Policy, scenario: Scenario): Promise<void> {
  const s = sqliteSync({ conflicts: policy, deletes: 'propagate' });
  copyFileSync(template, join(s.dir, 'staging.db'));
  const log: string[] = [];
  const m: Model = { records: [], next: 1 };
  /** Each record's values on both sides after the last run. */
  let lastRun = new Map<Rec, { a: Values | null; b: Values | null }>();
  try {
    const tables = { a: 'people', b: 'contacts' } as const;
    const keyCol = { a: 'id', b: 'contact_id' } as const;
    const cursorCol = { a: 'updated_at', b: 'modified' } as const;
    const column = (side: SideId, f: Field) => (side === 'a' ? f : B_FIELD[f]);
    const value = (side: SideId, f: Field, v: Value) => (side === 'a' ? v : toB(f, v));
    const keyOf = (r: Rec, side: SideId) => (side === 'a' ? r.aKey : r.bKey);
    const name = (r: Rec, side: SideId) => `#${r.id} (${side === 'a' ? 'people.id' : 'contacts.contact_id'} ${keyOf(r, side)})`;

    const create = (side: SideId, values: Values) => {
      const tick = s.tick();
      const db = s[side];
      const cols = FIELDS.map((f) => column(side, f));
      const key = Number(
        db.prepare(`INSERT INTO ${tables[side]} (${cols.join(', ')}, ${cursorCol[side]}) VALUES (?, ?, ?, ?)`).run(...FIELDS.map((f) => value(side, f, values[f])), tick).lastInsertRowid,
      );
      const r: Rec = { id: m.next++, a: null, b: null, aKey: null, bKey: null, linked: false, base: null, pending: new Set(), deleteConflict: false, tick: { a: '', b: '' } };
      r[side] = { ...values };
      r[side === 'a' ? 'aKey' : 'bKey'] = key;
      r.tick[side] = tick;
      m.records.push(r);
      log.push(`  ${side}: create ${name(r, side)} ${show(values)}`);
    };
    const edit = (r: Rec, side: SideId, field: Field, pick: number) => {
      const v = VALUES[field][pick % VALUES[field].length]!;
      const tick = s.tick();
      s[side].prepare(`UPDATE ${tables[side]} SET ${column(side, field)} = ?, ${cursorCol[side]} = ? WHERE ${keyCol[side]} = ?`).run(value(side, field, v), tick, keyOf(r, side));
      r[side]![field] = v;
      r.tick[side] = tick;
      log.push(`  ${side}: edit ${name(r, side)} ${field} = ${JSON.stringify(v)}`);
    };
    const apply = (op: Op) => {
      if (op.kind === 'create') return create(op.side, op.values);
      if (op.kind === 'edit_both') {
        const both = m.records.filter((r) => r.a && r.b);
        if (both.length === 0) return;
        const r = both[op.pick % both.length]!;
        edit(r, op.side, op.field, op.value);
        edit(r, other(op.side), op.field, op.other);
        return;
      }
      const there = present(m, op.side);
      if (there.length === 0) return;
      const r = there[op.pick % there.length]!;
      if (op.kind === 'edit') return edit(r, op.side, op.field, op.value);
      s[op.side].prepare(`DELETE FROM ${tables[op.side]} WHERE ${keyCol[op.side]} = ?`).run(keyOf(r, op.side));
      r[op.side] = null;
      log.push(`  ${op.side}: delete ${name(r, op.side)}`);
    };
    const sync = async () => {
      const summary = await runSync(s.pipeline, { stagingUrl: s.staging });
      // the next edit's cursor is later than every write of this run (they share the wall clock, to the ms)
      const end = Date.now();
      while (Date.now() <= end) await new Promise((done) => setTimeout(done, 1));
      return summary;
    };

    for (const v of scenario.seed.a) create('a', v);
    for (const v of scenario.seed.b) create('b', v);
    const rounds = [[], ...scenario.rounds];
    for (let round = 0; round < rounds.length; round++) {
      if (round > 0) log.push(`round ${round}:`);
      for (const op of rounds[round]!) apply(op);
      // what each record was after the last run, and what the users made of it since
      const before = new Map<Rec, Before>(
        m.records.map((r) => [r, { a: r.a && { ...r.a }, b: r.b && { ...r.b }, base: r.base && { ...r.base }, queued: queuedIn(r), pending: new Set(r.pending), deleteConflict: r.deleteConflict }]),
      );
      const previous = lastRun;
      lastRun = new Map();
      const summary = await sync();
      log.push(`run ${round + 1}: ${JSON.stringify({ a: pickCounts(summary.sides.a), b: pickCounts(summary.sides.b), queued: summary.queued })}`);
      modelRun(m, policy);
      const actual = readActual(s);
      learnKeys(m, actual);
      const problems = [
        ...checkCounts(m, actual),
        ...checkConverged(actual),
        ...checkConflicts(policy, m, before, previous, actual),
        ...(policy === 'merge' ? checkNothingLost(before, previous, actual) : []),
        ...checkModel(m, actual),
        ...checkQueue(m, actual),
      ];
      // (d) a second run with no new edits writes nothing and changes nothing
      const quiet = await sync();
      const after = readActual(s);
      if (writes(quiet) > 0) problems.push(`(d) a second run with no new edits wrote: ${JSON.stringify({ a: pickCounts(quiet.sides.a), b: pickCounts(quiet.sides.b) })}`);
      else if (JSON.stringify(snapshot(after)) !== JSON.stringify(snapshot(actual))) problems.push(`(d) a second run with no new edits changed the sides or the queue`);
      for (const r of m.records) lastRun.set(r, { a: r.a && { ...r.a }, b: r.b && { ...r.b } });
      const shown = problems.filter((p) => !SKIP.has(p.slice(1, p.indexOf(')'))));
      if (shown.length > 0) {
        throw new Error(
          `under conflicts: ${policy}, after run ${round + 1}:\n${shown.map((p) => `  - ${p}`).join('\n')}\n` +
            `sequence:\n${log.join('\n')}\nsides now:\n${describeSides(actual)}\nmodel:\n${m.records.map((r) => `  #${r.id}: a ${show(r.a)} b ${show(r.b)} base ${show(r.base)}${queuedIn(r) ? ` queued ${r.deleteConflict ? 'delete_edit' : [...r.pending].join(',')}` : ''}`).join('\n')}`,
        );
      }
    }
  } finally {
    s.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
}

const pickCounts = (c: SyncSummary['sides']['a']) => ({ created: c.created, updated: c.updated, deleted: c.deleted, conflicts: c.conflicts, queued: c.queued });

function snapshot(x: Actual) {
  return {
    a: [...x.a].sort(([p], [q]) => p - q),
    b: [...x.b].sort(([p], [q]) => p - q),
    open: x.open.map((e) => `${e.aKey}|${e.bKey}|${e.reason}|${e.fields.join(',')}`).sort(),
  };
}

function describeSides(x: Actual): string {
  const lines = [
    ...[...x.a].map(([k, v]) => `  a people.id ${k}: ${show(v)}`),
    ...[...x.b].map(([k, v]) => `  b contacts.contact_id ${k}: ${JSON.stringify(v)}`),
    ...x.links.map((l) => `  link a ${l.aKey} ↔ b ${l.bKey} (${l.state})`),
    ...x.open.map((e) => `  open entry a ${e.aKey} / b ${e.bKey}: ${e.reason} [${e.fields.join(', ')}]`),
  ];
  return lines.join('\n');
}

/** The keys of rows Sluice created, from the link table (by the key the model knows on the other side). */
function learnKeys(m: Model, x: Actual): void {
  for (const r of m.records) {
    if (!r.linked) continue;
    if (r.a && r.aKey === null && r.bKey !== null) {
      const l = x.links.find((k) => k.bKey === String(r.bKey));
      if (l?.aKey) r.aKey = Number(l.aKey);
    }
    if (r.b && r.bKey === null && r.aKey !== null) {
      const l = x.links.find((k) => k.aKey === String(r.aKey));
      if (l?.bKey) r.bKey = Number(l.bKey);
    }
  }
}

const entryOf = (r: Rec, x: Actual) =>
  x.open.find((e) => (r.aKey !== null && e.aKey === String(r.aKey)) || (r.bKey !== null && e.bKey === String(r.bKey)));

/** (e) no record created twice (nor lost): as many rows on each side as the model says. */
function checkCounts(m: Model, x: Actual): string[] {
  const out: string[] = [];
  for (const side of ['a', 'b'] as const) {
    const want = present(m, side).length;
    const got = x[side].size;
    if (got !== want) out.push(`(e) side ${side} holds ${got} rows, the model says ${want}`);
  }
  return out;
}

/** (a) linked pairs without an open entry agree; no row is unlinked, and no link half gone, without an entry. */
function checkConverged(x: Actual): string[] {
  const out: string[] = [];
  const openA = new Set(x.open.map((e) => e.aKey).filter((k) => k !== null));
  const openB = new Set(x.open.map((e) => e.bKey).filter((k) => k !== null));
  for (const l of x.links) {
    const queued = (l.aKey !== null && openA.has(l.aKey)) || (l.bKey !== null && openB.has(l.bKey));
    if (queued) continue;
    const a = l.aKey === null ? undefined : x.a.get(Number(l.aKey));
    const b = l.bKey === null ? undefined : x.b.get(Number(l.bKey));
    if (l.state !== 'linked') out.push(`(a) link a ${l.aKey} ↔ b ${l.bKey} is in state ${l.state} after the run, with no queue entry`);
    else if (!a || !b) out.push(`(a) link a ${l.aKey} ↔ b ${l.bKey}: the record is gone on side ${a ? 'b' : 'a'} only, with no queue entry`);
    else if (!sameB(bValues(a), b)) out.push(`(a) link a ${l.aKey} ↔ b ${l.bKey} differs with no queue entry: a ${show(a)}, b ${JSON.stringify(b)}`);
  }
  for (const side of ['a', 'b'] as const) {
    const linked = new Set(x.links.map((l) => (side === 'a' ? l.aKey : l.bKey)));
    const open = side === 'a' ? openA : openB;
    for (const key of x[side].keys()) {
      if (!linked.has(String(key)) && !open.has(String(key))) out.push(`(a) the row ${side === 'a' ? 'people.id' : 'contacts.contact_id'} ${key} is not linked, with no queue entry`);
    }
  }
  return out;
}

interface Before {
  /** What each side held when the run started. */
  a: Values | null;
  b: Values | null;
  /** The model's base when the run started (what both sides last agreed on). */
  base: Values | null;
  /** Whether the record waited in the queue (after the last run), and why. */
  queued: boolean;
  pending: Set<Field>;
  deleteConflict: boolean;
}

/**
 * (b) Conflicts since the last run: a field both sides changed to different values is decided by the
 * policy or queued; a delete on one side with an edit on the other likewise; a delete with no edit on
 * the other side travels.
 */
function checkConflicts(policy: Policy, m: Model, before: Map<Rec, Before>, previous: Map<Rec, { a: Values | null; b: Values | null }>, x: Actual): string[] {
  const out: string[] = [];
  const alive = new Set(m.records);
  for (const [r, was] of before) {
    const last = previous.get(r);
    const entry = entryOf(r, x);
    const a = r.aKey === null ? undefined : x.a.get(r.aKey);
    const b = r.bKey === null ? undefined : x.b.get(r.bKey);
    // a conflict that waited in the queue and that nobody has settled since (the sides still disagree)
    // still waits: a later edit on one side does not decide it, nor does the policy of a later run
    if (was.a && was.b) {
      for (const f of was.pending) {
        if (was.a[f] === was.b[f]) continue;
        if (entry?.reason === 'conflict' && entry.fields.includes(f) && a?.[f] === was.a[f] && b?.[B_FIELD[f]] === toB(f, was.b[f])) continue;
        out.push(
          `(b) #${r.id}: ${f} waited in the queue and the sides still disagreed (a ${JSON.stringify(was.a[f])}, b ${JSON.stringify(was.b[f])}), ` +
            `but after the run a holds ${JSON.stringify(a?.[f])}, b ${JSON.stringify(b?.[B_FIELD[f]])}, entry ${JSON.stringify(entry ?? null)}: decided by no one`,
        );
      }
    } else if (was.deleteConflict && (was.a || was.b)) {
      const stays: SideId = was.a ? 'a' : 'b';
      const row = stays === 'a' ? a : b;
      const recreated = stays === 'a' ? b : a;
      if (!entry || entry.reason !== 'delete_edit' || !row || recreated) {
        out.push(
          `(b) #${r.id}: deleted on ${other(stays)} and changed on ${stays}, it waited in the queue, and nobody settled it since; ` +
            `but after the run the row on ${stays} is ${row ? 'there' : 'gone'}${recreated ? `, made again on ${other(stays)}` : ''}, entry ${JSON.stringify(entry ?? null)}: decided by no one`,
        );
      }
    }
    if (!last?.a || !last.b) continue; // not a linked pair at the last run
    if (was.a && was.b) {
      for (const f of FIELDS) {
        // under manual a waiting record was not written: what counts is each side against the base (a side
        // that went back to the base value has no change to offer), as for the record's pending fields
        const since: { a: Values; b: Values } = policy === 'manual' && was.queued && was.base ? { a: was.base, b: was.base } : { a: last.a, b: last.b };
        const changed = { a: was.a[f] !== since.a[f], b: was.b[f] !== since.b[f] };
        if (!changed.a || !changed.b || was.a[f] === was.b[f]) continue;
        const what = `${f} changed on both sides since the last run (a ${JSON.stringify(last.a[f])} → ${JSON.stringify(was.a[f])}, b → ${JSON.stringify(was.b[f])})`;
        if (policy === 'merge' || policy === 'manual') {
          if (!entry || entry.reason !== 'conflict' || !entry.fields.includes(f)) out.push(`(b) #${r.id}: ${what}, but it is not in the queue (entry: ${JSON.stringify(entry ?? null)})`);
          continue;
        }
        const wins: SideId = policy === 'a_wins' ? 'a' : policy === 'b_wins' ? 'b' : r.tick.b > r.tick.a ? 'b' : 'a';
        const want = (wins === 'a' ? was.a : was.b)[f];
        if (a?.[f] !== want || b?.[B_FIELD[f]] !== toB(f, want)) {
          out.push(`(b) #${r.id}: ${what}: under ${policy} both sides should hold ${JSON.stringify(want)} (side ${wins}'s), but a holds ${JSON.stringify(a?.[f])}, b ${JSON.stringify(b?.[B_FIELD[f]])}`);
        }
      }
      continue;
    }
    if (!was.a && !was.b) continue;
    const stays: SideId = was.a ? 'a' : 'b';
    const gone = other(stays);
    const edited = !sameValues(was[stays]!, last[stays]!);
    const row = stays === 'a' ? a : b;
    const recreated = gone === 'a' ? a : b;
    if (!edited) {
      if (was.queued) continue; // waiting in the queue before the delete: the model decides
      if (row || recreated || alive.has(r)) out.push(`(b) #${r.id}: deleted on ${gone}, unchanged on ${stays} since the last run, but not deleted on ${stays}`);
      continue;
    }
    const what = `#${r.id}: deleted on ${gone}, changed on ${stays} since the last run`;
    if (policy === 'a_wins' || policy === 'b_wins') {
      const winner: SideId = policy === 'a_wins' ? 'a' : 'b';
      if (winner === gone && (row || recreated)) out.push(`(b) ${what}: under ${policy} the delete wins, but the record is still there`);
      if (winner === stays && (!row || !recreated)) out.push(`(b) ${what}: under ${policy} the edit wins, but the record is not on both sides`);
      continue;
    }
    if (!entry || !row || recreated) out.push(`(b) ${what}: it should wait in the queue with the row standing on ${stays} (entry: ${JSON.stringify(entry ?? null)}, row ${row ? 'there' : 'gone'})`);
  }
  return out;
}

/** (c) Under merge: a field only one side changed since the last run keeps that side's new value. */
function checkNothingLost(before: Map<Rec, Before>, previous: Map<Rec, { a: Values | null; b: Values | null }>, x: Actual): string[] {
  const out: string[] = [];
  for (const [r, was] of before) {
    const last = previous.get(r);
    if (!last?.a || !last.b || !was.a || !was.b) continue;
    const entry = entryOf(r, x);
    const a = r.aKey === null ? undefined : x.a.get(r.aKey);
    const b = r.bKey === null ? undefined : x.b.get(r.bKey);
    for (const f of FIELDS) {
      const changed = { a: was.a[f] !== last.a[f], b: was.b[f] !== last.b[f] };
      if (changed.a === changed.b) continue;
      const side: SideId = changed.a ? 'a' : 'b';
      const want = (side === 'a' ? was.a : was.b)[f];
      const onA = a?.[f] === want;
      const onB = b?.[B_FIELD[f]] === toB(f, want);
      const waiting = entry?.reason === 'conflict' && entry.fields.includes(f);
      if (onA && onB) continue;
      if (waiting && (side === 'a' ? onA : onB)) continue;
      out.push(
        `(c) #${r.id}: only side ${side} changed ${f} since the last run (${JSON.stringify((side === 'a' ? last.a : last.b)[f])} → ${JSON.stringify(want)}), ` +
          `but a holds ${JSON.stringify(a?.[f])} and b ${JSON.stringify(b?.[B_FIELD[f]])}${waiting ? ' (the field waits in the queue)' : ' (not in the queue)'}`,
      );
    }
  }
  return out;
}

/** Every record is where the model says, with the model's values. */
function checkModel(m: Model, x: Actual): string[] {
  const out: string[] = [];
  for (const r of m.records) {
    for (const side of ['a', 'b'] as const) {
      const want = r[side];
      if (!want) continue;
      const key = side === 'a' ? r.aKey : r.bKey;
      const got = key === null ? undefined : side === 'a' ? x.a.get(key) : x.b.get(key);
      if (!got) {
        out.push(`(model) #${r.id} should be on side ${side} as ${show(want)}, but ${key === null ? 'no link names its row there' : `row ${key} is not there`}`);
        continue;
      }
      const same = side === 'a' ? sameValues(got as Values, want) : sameB(got as Record<string, Value>, bValues(want));
      if (!same) out.push(`(model) #${r.id} on side ${side} should be ${show(want)}, but it is ${JSON.stringify(got)}`);
    }
  }
  return out;
}

/** The queue holds exactly the records the model says are waiting, with the fields that wait. */
function checkQueue(m: Model, x: Actual): string[] {
  const out: string[] = [];
  const claimed = new Set<(typeof x.open)[number]>();
  for (const r of m.records) {
    const entry = entryOf(r, x);
    if (entry) claimed.add(entry);
    if (!queuedIn(r)) {
      if (entry) out.push(`(queue) #${r.id} has no conflict any more, but its queue entry is still open: ${JSON.stringify(entry)} (a ${show(r.a)}, b ${show(r.b)})`);
      continue;
    }
    const want = r.deleteConflict ? 'delete_edit' : 'conflict';
    if (!entry) out.push(`(queue) #${r.id} should wait in the queue (${want}${want === 'conflict' ? ` ${[...r.pending].join(',')}` : ''}), but has no open entry`);
    else if (entry.reason !== want || (want === 'conflict' && [...r.pending].sort().join() !== [...entry.fields].sort().join())) {
      const fields = want === 'conflict' ? ` [${[...r.pending].sort().join(', ')}]` : '';
      out.push(`(queue) #${r.id} should wait as ${want}${fields}, but its entry says ${entry.reason} [${entry.fields.join(', ')}]`);
    }
  }
  for (const e of x.open) if (!claimed.has(e)) out.push(`(queue) an open entry names no record there is: ${JSON.stringify(e)}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Counterexamples found so far (minimal, as fast-check shrank them or by hand), tried before the random
// scenarios of the policies they fail under, so a regression shows at once and the same way each time.

const rec = (name: Value, status: Value, score: Value): Values => ({ name, status, score });
const edit = (side: SideId, field: Field, value: number, pick = 0): Op => ({ kind: 'edit', side, pick, field, value });
const editBoth = (side: SideId, field: Field, value: number, otherValue: number, pick = 0): Op => ({ kind: 'edit_both', side, pick, field, value, other: otherValue });
const del = (side: SideId, pick = 0): Op => ({ kind: 'delete', side, pick });

const KNOWN: { policies: Policy[]; why: string; scenario: Scenario }[] = [
  {
    policies: ['merge', 'manual'],
    why: 'a conflict the users settled themselves (b took a\'s value) stays open in the queue',
    scenario: { seed: { a: [rec('Ann', 'active', 1)], b: [] }, rounds: [[editBoth('a', 'name', 1, 2)], [edit('b', 'name', 1)]] },
  },
  {
    policies: ['merge', 'manual', 'last_write_wins'],
    why: 'a delete/edit conflict whose remaining row is deleted too stays open in the queue, naming rows that are gone',
    scenario: { seed: { a: [], b: [rec('Ann', 'active', 1)] }, rounds: [[del('a'), edit('b', 'name', 1)], [del('b')]] },
  },
  {
    policies: ['merge', 'manual'],
    why: 'a waiting field set back to its old value on one side is later overwritten with the other side\'s value, decided by no one',
    scenario: { seed: { a: [rec('Ann', 'active', null)], b: [] }, rounds: [[editBoth('b', 'score', 1, 0)], [edit('a', 'score', 2)], [edit('a', 'name', 1)]] },
  },
  {
    policies: ['merge', 'manual', 'last_write_wins'],
    why: 'a waiting delete/edit conflict is decided for the delete when the remaining row is edited back to its old values',
    scenario: { seed: { a: [], b: [rec('Ann', 'active', 1)] }, rounds: [[del('b'), edit('a', 'status', 1)], [edit('a', 'status', 0)]] },
  },
  {
    policies: ['merge'],
    why: 'a record with a waiting field, deleted on one side and its field set back on the other, is deleted instead of queued',
    scenario: { seed: { a: [rec('Ann', 'active', null)], b: [] }, rounds: [[editBoth('a', 'score', 0, 1)], [del('b'), edit('a', 'score', 2)]] },
  },
  {
    policies: ['manual'],
    why: 'while a record waits, a field both sides changed alike keeps its old base: a later edit back to it on one side hides a conflict',
    scenario: { seed: { a: [rec(null, 'active', 1)], b: [] }, rounds: [[editBoth('a', 'score', 1, 2), editBoth('a', 'name', 0, 0)], [editBoth('a', 'name', 1, 2)]] },
  },
];

describe('two-way sync converges under random interleavings of creates, edits and deletes on both sides', () => {
  test.each(POLICIES)('conflicts: %s', async (policy) => {
    const replay = process.env.SYNC_PROP_REPLAY ? [JSON.parse(process.env.SYNC_PROP_REPLAY) as Scenario] : undefined;
    const examples = (replay ?? KNOWN.filter((k) => k.policies.includes(policy)).map((k) => k.scenario)).map((x): [Scenario] => [x]);
    await fc.assert(
      fc.asyncProperty(scenarioArb, (scenario) => play(policy, scenario)),
      { numRuns: replay ? 1 : Number(process.env.SYNC_PROP_RUNS ?? 40), examples, ...(replay ? { endOnFailure: true } : {}) },
    );
  });
});
