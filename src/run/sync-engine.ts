/**
 * One sync run's decisions, batch by batch. For each side in turn, the records changed since its
 * checkpoint are compared with their base and with the other side's current record (three-way merge);
 * what one side changed is planned for the other; conflicts are decided by the policy or queued. Then
 * the links whose record is gone on a side are dealt with as the delete policy says. The writer
 * (sync-writer.ts) carries each batch out in the order that makes a crash harmless: a run that dies
 * between writing and committing finds, next time, both sides already holding the values (the merge sees
 * them agree and writes nothing), and a noted create is found in the side's ledger and linked.
 */
import type { Checkpoint, Json, JsonObject } from '../core/record';
import { stringifyLossless } from '../core/json-text';
import type { SideId } from '../sync/config';
import type { CustomAnswer } from '../sync/custom';
import { drift, merge, type LinkedState, type MergeOutcome, type Resolution } from '../sync/merge';
import { other, translate, type Mapping } from '../sync/mapping';
import type { SideRow } from '../sync/side';
import { changedFields, fieldOf, fieldValue, pick, plainBase, sameValue } from '../sync/values';
import type { SideCounts, SyncConflict, SyncLink } from '../stage/sync-store';
import { recoverCreates } from './sync-recover';
import { SyncWriter } from './sync-writer';
import { emptyCounts, emptySidePlan, firstSeen, type DriftExample, type DriftReport, type EngineContext, type SyncPlan, type Work } from './sync-work';

export type { DriftReport, EngineContext, SyncPlan } from './sync-work';

const DRIFT_EXAMPLES = 100;
/** Links checked per round of delete detection: key lists only, so many at a time. */
const DELETE_SCAN_PAGE = 5000;

export class SyncEngine {
  readonly counts: Record<SideId, SideCounts> = { a: emptyCounts(), b: emptyCounts() };
  readonly plan: SyncPlan;
  /** Creates made by this run, counted: each one's ref is `<run>/<n>`. */
  private refs = 0;
  /**
   * Records of the other side read by this run's earlier pass, as they were then: when the later pass
   * finds one unchanged, it was merged already (a conflict waiting on it is not counted twice).
   */
  private readonly seen = new Map<string, string>();
  private readonly writer: SyncWriter;

  constructor(private readonly ctx: EngineContext) {
    this.plan = { a: emptySidePlan(ctx.config.a.name), b: emptySidePlan(ctx.config.b.name), conflicts: [] };
    this.writer = new SyncWriter(ctx, this.counts, this.plan);
  }

  private get names(): Mapping['names'] {
    return this.ctx.mapping.names;
  }

  /** Links whose create did not finish: see sync-recover.ts. */
  recover(): Promise<void> {
    return recoverCreates(this.ctx);
  }

  /** Entries a person resolved, and failed writes and conversions, are tried again first. */
  async retryQueue(): Promise<void> {
    const retry = await this.ctx.state.conflicts({ retry: true });
    const keyOn = (e: SyncConflict, side: SideId) => (side === 'a' ? e.aKey : e.bKey);
    const keysOn = (entries: readonly SyncConflict[], side: SideId) => entries.flatMap((e) => (keyOn(e, side) === null ? [] : [keyOn(e, side)!]));
    for (let i = 0; i < retry.length; i += this.ctx.config.batchSize) {
      const chunk = retry.slice(i, i + this.ctx.config.batchSize);
      const links = new Map<number, SyncLink>();
      for (const side of ['a', 'b'] as const) for (const l of (await this.ctx.state.links(side, keysOn(chunk, side))).values()) links.set(l.id, l);
      const linked = chunk.filter((e) => e.linkId !== null && links.has(e.linkId));
      const loose = chunk.filter((e) => !linked.includes(e));
      const rows = await this.current(linked.map((e) => links.get(e.linkId!)!));
      // an unlinked record whose create failed: read again, to be created again
      const looseRows = { a: await this.ctx.sides.a.get(keysOn(loose, 'a')), b: await this.ctx.sides.b.get(keysOn(loose, 'b')) };
      const work: Work[] = [];
      for (const e of chunk) {
        const from: SideId = e.aKey !== null ? 'a' : 'b';
        const link = e.linkId === null ? undefined : links.get(e.linkId);
        if (!link) {
          const row = looseRows[from].get(keyOn(e, from)!);
          const w = row ? this.planCreate(from, row) : undefined;
          // the record is gone (or no longer goes anywhere): nothing to do but close the entry
          work.push(w ? { ...w, close: [{ id: e.id, status: 'applied' }] } : { from, rows: {}, ops: {}, events: [], drop: true, close: [{ id: e.id, status: 'obsolete' }] });
          continue;
        }
        const resolution = e.status !== 'resolved' ? undefined : e.reason === 'delete_edit' ? (e.resolution as unknown as Resolution) : this.stillValid(e, link, rows);
        const w = await this.planLinked(from, link, { a: rows.a.get(link.aKey!), b: rows.b.get(link.bKey!) }, resolution ?? undefined, e.resolvedBy ?? undefined);
        w.close.push({ id: e.id, status: resolution === null ? 'obsolete' : 'applied' });
        work.push(w);
      }
      await this.writer.execute(work);
    }
  }

  /**
   * A person's resolution, if the record still holds the values it was given for; null when either side
   * changed a conflicting field since (the conflict it answered no longer exists: the record is merged
   * afresh and, if it still conflicts, queued again).
   */
  private stillValid(e: SyncConflict, link: SyncLink, rows: Record<SideId, Map<string, SideRow>>): Resolution | null {
    const a = rows.a.get(link.aKey!);
    const b = rows.b.get(link.bKey!);
    if (!a || !b || !e.values.a || !e.values.b) return null;
    const same = e.fields.every((field) => {
      const f = this.ctx.mapping.fields.find((x) => x.a === field);
      return f !== undefined && sameValue(fieldOf(a.data, f.a), fieldOf(e.values.a, f.a)) && sameValue(fieldOf(b.data, f.b), fieldOf(e.values.b, f.b));
    });
    return same ? (e.resolution as unknown as Resolution) : null;
  }

  /** One side's changes since its checkpoint, batch by batch, each committed with the checkpoint after it. */
  async pass(from: SideId, since: Checkpoint | undefined): Promise<void> {
    const side = this.ctx.sides[from];
    for await (const batch of side.changes(since, this.ctx.signal)) {
      const work = await this.planBatch(from, batch.rows);
      await this.writer.execute(work, { side: from, value: batch.checkpoint });
      this.ctx.onBatch?.(from, batch.rows.length);
      this.ctx.signal.throwIfAborted();
    }
  }

  private async planBatch(from: SideId, rows: SideRow[]): Promise<Work[]> {
    const to = other(from);
    const links = await this.ctx.state.links(from, rows.map((r) => r.key));
    const changed: { row: SideRow; link: SyncLink }[] = [];
    const unlinked: SideRow[] = [];
    for (const row of rows) {
      const link = links.get(row.key);
      if (!link) unlinked.push(row);
      else if (link.state !== 'linked') this.counts[from].skipped++; // gone on the other side, or a create under way
      else if (sameValue(pick(row.data, this.names[from]), from === 'a' ? link.baseA : link.baseB)) this.counts[from].skipped++; // nothing mapped changed: an echo of a write, or an unmapped column
      else if (this.seen.get(`${from}\u0000${row.key}`) === stringifyLossless(pick(row.data, this.names[from]))) this.counts[from].skipped++; // merged earlier in this run, as it is now
      else changed.push({ row, link });
    }
    const others = await this.ctx.sides[to].get(changed.map((c) => (to === 'a' ? c.link.aKey! : c.link.bKey!)));
    for (const r of others.values()) this.seen.set(`${to}\u0000${r.key}`, stringifyLossless(pick(r.data, this.names[to])));
    const work: Work[] = [];
    for (const { row, link } of changed) {
      const otherRow = others.get((to === 'a' ? link.aKey : link.bKey)!);
      work.push(await this.planLinked(from, link, { [from]: row, [to]: otherRow } as Partial<Record<SideId, SideRow>>));
    }
    work.push(...(await this.planUnlinked(from, unlinked)));
    return work;
  }

  /** Records not linked yet: linked to their match on the other side, or created there. */
  private async planUnlinked(from: SideId, rows: SideRow[]): Promise<Work[]> {
    if (rows.length === 0) return [];
    const to = other(from);
    const match = this.ctx.config.match;
    const matched = new Map<string, SideRow>();
    if (match) {
      const values = rows.map((r) => fieldOf(r.data, match[from])).filter((v) => v !== null && v !== undefined).map(String);
      const found = await this.ctx.sides[to].findBy(match[to], values);
      const taken = await this.ctx.state.links(to, [...found.values()].map((r) => r.key));
      for (const [value, row] of found) if (!taken.has(row.key)) matched.set(value, row);
    }
    const work: Work[] = [];
    for (const row of rows) {
      const value = match ? fieldOf(row.data, match[from]) : undefined;
      const twin = value === null || value === undefined ? undefined : matched.get(String(value));
      if (twin) {
        matched.delete(String(value)); // one record links to one
        const link: SyncLink = { id: 0, aKey: null, bKey: null, baseA: null, baseB: null, state: 'linked', intent: null };
        const w = await this.planLinked(from, link, { [from]: row, [to]: twin } as Partial<Record<SideId, SideRow>>);
        // what both records held when they were linked: the start of their history
        for (const [id, r] of [[from, row], [to, twin]] as const) w.events.unshift({ side: id, action: 'link', changes: firstSeen(r.data, this.names[id]), decidedBy: 'match' });
        work.push(w);
        continue;
      }
      const w = this.planCreate(from, row);
      if (w) work.push(w);
      else this.counts[from].skipped++;
    }
    return work;
  }

  private planCreate(from: SideId, row: SideRow): Work | undefined {
    const to = other(from);
    const direction = this.ctx.config.direction;
    if (direction === (to === 'a' ? 'a_to_b' : 'b_to_a')) return undefined;
    const rows = { [from]: row } as Partial<Record<SideId, SideRow>>;
    const translated = translate(row.data, from, this.ctx.mapping, direction);
    if (!translated.ok) {
      return { from, rows, ops: {}, close: [], events: [], queue: { reason: 'transform', fields: [translated.field], detail: translated.reason } };
    }
    // refs are unique across runs: the side's ledger keeps them
    const ref = `${this.ctx.run}/${++this.refs}`;
    return {
      from,
      rows,
      ops: { [to]: { op: 'create', ref, values: translated.values } },
      close: [],
      events: [
        { side: from, action: 'changed', changes: firstSeen(row.data, this.names[from]), decidedBy: null },
        { side: to, action: 'create', changes: firstSeen(translated.values, Object.keys(translated.values)), decidedBy: from },
      ],
      create: { to, ref },
    };
  }

  /** A linked record (or a matched pair, `link.id` 0) changed on a side: merge, or deal with a delete. */
  private async planLinked(from: SideId, link: SyncLink, rows: Partial<Record<SideId, SideRow>>, resolution?: Resolution, by?: string): Promise<Work> {
    const w: Work = { from, link, rows, ops: {}, close: [], events: [] };
    const { a, b } = rows;
    if (!a || !b) return this.planGone(w, a ? 'b' : 'a', (resolution?.['*'] as { take?: SideId } | undefined)?.take);
    const state: LinkedState = { a, b, ...(link.baseA && link.baseB ? { baseA: link.baseA, baseB: link.baseB } : {}) };
    const rules = { policy: this.ctx.config.conflicts, direction: this.ctx.config.direction, ...(resolution ? { resolution } : {}) };
    let outcome = merge(state, this.ctx.mapping, rules);
    let customFailure: Extract<CustomAnswer, { ok: false }> | undefined;
    if (outcome.waiting.length > 0 && this.ctx.custom && !resolution) {
      // conflicts: custom or suggest: a module or a model decides what no field rule did
      const answer = await this.ctx.custom({ aKey: a.key, bKey: b.key, base: { a: plainBase(link.baseA), b: plainBase(link.baseB) }, a: a.data, b: b.data, fields: outcome.waiting });
      if (answer.ok) {
        outcome = merge(state, this.ctx.mapping, { ...rules, resolution: answer.resolution });
        by ??= answer.by ?? this.ctx.config.conflicts;
      } else customFailure = answer;
    }
    for (const id of ['a', 'b'] as const) {
      const base = id === 'a' ? link.baseA : link.baseB;
      const seen = base ? changedFields(base, rows[id]!.data, this.names[id]) : [];
      if (seen.length > 0) w.events.push({ side: id, action: 'changed', changes: Object.fromEntries(seen.map((f) => [f, [fieldValue(base, f), fieldValue(rows[id]!.data, f)]])), decidedBy: null });
    }
    this.noteOutcome(w, outcome, by ?? null, customFailure);
    return w;
  }

  private noteOutcome(w: Work, outcome: MergeOutcome, by: string | null, customFailure: Extract<CustomAnswer, { ok: false }> | undefined): void {
    const conflicting = Object.keys(outcome.decided).length + outcome.waiting.length;
    if (conflicting > 0) this.counts[w.from].conflicts++;
    if (outcome.failure) {
      w.queue = { reason: 'transform', fields: [outcome.failure.field], detail: outcome.failure.reason };
      return;
    }
    for (const id of ['a', 'b'] as const) {
      const values = id === 'a' ? outcome.writeA : outcome.writeB;
      if (Object.keys(values).length === 0) continue;
      w.ops[id] = { op: 'update', key: w.rows[id]!.key, values };
      const decided = (f: string) => fieldOf(outcome.decided, this.aName(id, f));
      w.events.push({
        side: id,
        action: 'update',
        changes: Object.fromEntries(Object.entries(values).map(([f, v]) => [f, [fieldValue(w.rows[id]!.data, f), v]])),
        decidedBy: by ?? ([...new Set(Object.keys(values).map(decided).filter(Boolean))].join(',') || other(id)),
      });
    }
    if (outcome.waiting.length > 0) {
      w.keep = { waiting: outcome.waiting.map((c) => c.field) };
      // a module that failed is asked again next run; one that chose to leave it (or a model not sure enough) waits for a person
      w.queue = { reason: customFailure?.retry ? 'custom' : 'conflict', fields: w.keep.waiting, detail: customFailure?.reason ?? null };
    }
  }

  /** The a-side name of side `id`'s field `f`. */
  private aName(id: SideId, f: string): string {
    return id === 'a' ? f : (this.ctx.mapping.fields.find((x) => x.b === f)?.a ?? f);
  }

  /** The record is gone on `gone`: a delete to carry over, or (edited on the other side) a conflict. */
  private planGone(w: Work, gone: SideId, decided?: SideId): Work {
    const stays = other(gone);
    const row = w.rows[stays];
    const link = w.link!;
    if (!row) {
      w.drop = true; // gone on both sides
      w.events.push({ side: gone, action: 'unlink', changes: {}, decidedBy: null });
      return w;
    }
    const base = stays === 'a' ? link.baseA : link.baseB;
    const edited = !base || changedFields(base, row.data, this.names[stays]).length > 0;
    const policy = this.ctx.config.conflicts;
    const winner = decided ?? (policy === 'a_wins' ? 'a' : policy === 'b_wins' ? 'b' : undefined);
    if (edited && winner === undefined) {
      w.queue = { reason: 'delete_edit', fields: [], detail: `deleted on ${this.ctx.config[gone].name}, changed on ${this.ctx.config[stays].name}` };
      this.counts[w.from].conflicts++;
      return w;
    }
    if (edited && winner === stays) {
      // the edit wins over the delete: the record is made again where it was deleted
      const create = this.planCreate(stays, row);
      if (create) return { ...create, from: w.from, link, close: w.close };
    }
    if (this.ctx.config.deletes === 'ignore' || this.ctx.config.direction === (gone === 'a' ? 'b_to_a' : 'a_to_b')) {
      w.state = gone === 'a' ? 'gone_a' : 'gone_b';
      return w;
    }
    if (this.ctx.config.deletes === 'archive' && this.ctx.config.archive?.[stays]) {
      const values = this.ctx.config.archive[stays] as JsonObject;
      w.ops[stays] = { op: 'update', key: row.key, values };
      w.state = gone === 'a' ? 'gone_a' : 'gone_b';
      w.events.push({ side: stays, action: 'archive', changes: Object.fromEntries(Object.entries(values).map(([f, v]) => [f, [fieldValue(row.data, f), v]])), decidedBy: `deletes: archive` });
      return w;
    }
    w.ops[stays] = { op: 'delete', key: row.key };
    w.drop = true;
    w.events.push({ side: stays, action: 'delete', changes: {}, decidedBy: `deleted on ${this.ctx.config[gone].name}` });
    return w;
  }

  /**
   * `sluice check`: both sides compared in full through the mapping — every link (a record missing on a
   * side, fields that differ) and every record no link knows. With `repair`, each drifted record is merged
   * again (the base says which side changed; what neither base nor policy settles waits in the queue),
   * gone records follow the delete policy, and unlinked ones are matched or created.
   */
  async check(repair: boolean): Promise<DriftReport> {
    const report: DriftReport = { links: 0, differing: 0, missing: { a: 0, b: 0 }, unlinked: { a: 0, b: 0 }, examples: [] };
    const note = (e: DriftExample) => {
      if (report.examples.length < DRIFT_EXAMPLES) report.examples.push(e);
    };
    for (let after = 0; ; ) {
      const page = await this.ctx.state.linkPage(after, this.ctx.config.batchSize);
      if (page.length === 0) break;
      after = page.at(-1)!.id;
      const linked = page.filter((l) => l.state === 'linked');
      report.links += linked.length;
      const rows = await this.current(linked);
      const work: Work[] = [];
      for (const link of linked) {
        const [a, b] = [rows.a.get(link.aKey!), rows.b.get(link.bKey!)];
        if (!a || !b) {
          report.missing[a ? 'b' : 'a']++;
          note({ aKey: link.aKey, bKey: link.bKey, missing: a ? 'b' : 'a' });
        } else {
          const fields = drift(a.data, b.data, this.ctx.mapping, this.ctx.config.direction);
          if (Object.keys(fields).length === 0) continue;
          report.differing++;
          note({ aKey: link.aKey, bKey: link.bKey, fields: fields as Record<string, [Json, Json]> });
        }
        if (repair) work.push(await this.planLinked(a ? 'a' : 'b', link, { a, b }));
      }
      if (work.length > 0) await this.writer.execute(work);
    }
    for (const id of ['a', 'b'] as const) {
      for await (const batch of this.ctx.sides[id].changes(undefined, this.ctx.signal)) {
        const known = await this.ctx.state.links(id, batch.rows.map((r) => r.key));
        const loose = batch.rows.filter((r) => !known.has(r.key));
        report.unlinked[id] += loose.length;
        for (const r of loose) note({ aKey: id === 'a' ? r.key : null, bKey: id === 'b' ? r.key : null, unlinked: id });
        if (repair && loose.length > 0) await this.writer.execute(await this.planUnlinked(id, loose));
      }
    }
    return report;
  }

  /**
   * Linked records whose record is gone on a side. A side that can count its records, and holds exactly
   * as many as it has links (none waits unlinked in the queue), has lost none: it is not scanned. Others
   * are checked by key, a page of links at a time.
   */
  async detectDeletes(): Promise<void> {
    const ids = ['a', 'b'] as const;
    // the counts are scans of three tables in as many databases: asked all at once
    const [queue, links, held] = await Promise.all([
      this.ctx.state.queueCounts(),
      this.ctx.state.linkCounts(),
      Promise.all(ids.map((id) => this.ctx.sides[id].count?.())),
    ]);
    const scan = ids.filter((id, i) => !(held[i] !== undefined && queue.unlinked[id] === 0 && held[i] === links[id]));
    if (scan.length === 0) return;
    for (let after = 0; ; ) {
      this.ctx.signal.throwIfAborted();
      const page = await this.ctx.state.linkKeys(after, DELETE_SCAN_PAGE);
      if (page.length === 0) return;
      after = page.at(-1)!.id;
      const linked = page.filter((l) => l.state === 'linked');
      const gone = { a: new Set<string>(), b: new Set<string>() };
      for (const id of scan) for (const k of await this.ctx.sides[id].missing(linked.map((l) => (id === 'a' ? l.aKey! : l.bKey!)))) gone[id].add(k);
      const hit = linked.filter((l) => gone.a.has(l.aKey!) || gone.b.has(l.bKey!));
      if (hit.length === 0) continue;
      // the whole links (with their bases) of the few that are gone somewhere
      const links = [...(await this.ctx.state.links('a', hit.map((l) => l.aKey!))).values()];
      const rows = await this.current(links);
      const work: Work[] = [];
      for (const link of links) work.push(await this.planLinked(gone.a.has(link.aKey!) ? 'a' : 'b', link, { a: rows.a.get(link.aKey!), b: rows.b.get(link.bKey!) }));
      await this.writer.execute(work);
    }
  }

  /** Both sides' current records of these links. */
  private async current(links: readonly SyncLink[]): Promise<Record<SideId, Map<string, SideRow>>> {
    return {
      a: await this.ctx.sides.a.get(links.map((l) => l.aKey).filter((k): k is string => k !== null)),
      b: await this.ctx.sides.b.get(links.map((l) => l.bKey).filter((k): k is string => k !== null)),
    };
  }
}
