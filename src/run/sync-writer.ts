/**
 * A sync batch carried out, in the order that makes a crash harmless: creates are noted first (links
 * in state `creating_*`, with the values sent); the writes go to each side (one transaction per side);
 * then links, bases, the queue, events and the side's checkpoint are committed together. In a dry run
 * nothing is sent or kept: the work is recorded as the plan.
 */
import type { Checkpoint, Json, JsonObject } from '../core/record';
import type { SideId } from '../sync/config';
import { other } from '../sync/mapping';
import type { ApplyResult, SideOp, SideRow } from '../sync/side';
import { agree } from '../sync/merge';
import { fieldOf, fieldValue, pick, plainBase, waiting } from '../sync/values';
import type { LinkWrite, SideCounts, SyncCommit, SyncConflict, SyncLink } from '../stage/sync-store';
import { WRITES, type EngineContext, type SyncPlan, type Work } from './sync-work';

export class SyncWriter {
  /** Names of links this writer makes for matched records, until the store gives them ids. */
  private refs = 0;

  constructor(
    private readonly ctx: EngineContext,
    private readonly counts: Record<SideId, SideCounts>,
    private readonly plan: SyncPlan,
  ) {}

  private get names() {
    return this.ctx.mapping.names;
  }

  /** Notes creates, sends each side's writes, then commits links, bases, queue, events and the checkpoint. */
  async execute(work: Work[], checkpoint?: { side: SideId; value: Checkpoint }): Promise<void> {
    if (this.ctx.dryRun) {
      this.record(work);
      return;
    }
    const creates = work.filter((w) => w.create);
    let noted = new Map<string, number>();
    if (creates.length > 0) {
      noted = await this.ctx.state.commit(this.ctx.run, {
        links: creates.map((w) => {
          const from = other(w.create!.to);
          const op = w.ops[w.create!.to] as Extract<SideOp, { op: 'create' }>;
          const existing = w.link && w.link.id > 0 ? { id: w.link.id } : { ref: w.create!.ref };
          return { ...existing, aKey: from === 'a' ? w.rows.a!.key : null, bKey: from === 'b' ? w.rows.b!.key : null, ...this.notedBases(w, from), state: `creating_${w.create!.to}`, intent: { ref: op.ref, values: op.values } } as LinkWrite;
        }),
      });
    }
    const results: Record<SideId, Map<Work, ApplyResult>> = { a: new Map(), b: new Map() };
    for (const id of ['b', 'a'] as const) {
      const mine = work.filter((w) => w.ops[id]);
      if (mine.length === 0) continue;
      const answers = await this.ctx.sides[id].apply(mine.map((w) => w.ops[id]!));
      mine.forEach((w, i) => results[id].set(w, answers[i]!));
    }
    const change: Required<Omit<SyncCommit, 'checkpoint'>> = { links: [], dropLinks: [], queue: [], close: [], events: [] };
    for (const w of work) this.settle(w, results, noted, change);
    await this.ctx.state.commit(this.ctx.run, { ...change, ...(checkpoint ? { checkpoint } : {}) });
  }

  /** A create's note keeps the base of the side it came from: what that record held when it was sent. */
  private notedBases(w: Work, from: SideId): Pick<SyncLink, 'baseA' | 'baseB'> {
    const base = pick(w.rows[from]!.data, this.names[from]);
    return from === 'a' ? { baseA: base, baseB: null } : { baseA: null, baseB: base };
  }

  /** One record's writes are in (or failed): its link, base, queue entry and events for the commit. */
  private settle(w: Work, results: Record<SideId, Map<Work, ApplyResult>>, noted: Map<string, number>, change: Required<Omit<SyncCommit, 'checkpoint'>>): void {
    const existing = w.link && w.link.id > 0 ? w.link : undefined;
    const linkId = existing?.id ?? (w.create ? noted.get(w.create.ref) : undefined) ?? null;
    const after: Partial<Record<SideId, SideRow>> = { ...w.rows };
    const failures: string[] = [];
    const written = new Set<SideId>();
    for (const id of ['a', 'b'] as const) {
      const r = results[id].get(w);
      if (!r) continue;
      if (!r.ok) {
        failures.push(r.error.message);
        this.counts[id].failed++;
        continue;
      }
      written.add(id);
      if (r.row) after[id] = r.row;
      const op = w.ops[id]!.op;
      this.counts[id][op === 'create' ? 'created' : op === 'delete' ? 'deleted' : 'updated']++;
    }
    const keyOf = (id: SideId) => after[id]?.key ?? (id === 'a' ? w.link?.aKey : w.link?.bKey) ?? null;
    const events = w.events.filter((e) => !WRITES.has(e.action) || written.has(e.side));
    change.events.push(...events.map((e) => ({ ...e, linkId, aKey: keyOf('a'), bKey: keyOf('b') })));
    change.close.push(...w.close);
    const queued = w.queue ?? (failures.length > 0 ? { reason: 'write' as const, fields: [], detail: failures.join('; ') } : undefined);
    if (queued) {
      change.queue.push({ linkId, aKey: keyOf('a'), bKey: keyOf('b'), reason: queued.reason, fields: queued.fields, detail: queued.detail, values: this.conflictValues(w) });
      change.events.push({ linkId, aKey: keyOf('a'), bKey: keyOf('b'), side: w.from, action: 'queue', changes: {}, decidedBy: queued.reason });
      this.counts[w.from].queued++;
    }
    if (failures.length > 0) {
      // nothing moves: the base stays, so the record is merged again when the queue is retried
      if (w.create && linkId !== null) {
        if (existing) change.links.push(existing);
        else change.dropLinks.push(linkId);
      }
      return;
    }
    // not written at all (a conversion); a delete against an edit keeps its link, marked as waiting
    if (queued && !w.keep && queued.reason !== 'delete_edit') return;
    if (w.drop) {
      if (existing) change.dropLinks.push(existing.id);
      return;
    }
    const link = { aKey: keyOf('a'), bKey: keyOf('b'), baseA: this.baseAfter(w, 'a', after.a), baseB: this.baseAfter(w, 'b', after.b), state: w.state ?? 'linked', intent: null };
    change.links.push(linkId !== null ? { id: linkId, ...link } : { ref: `m${++this.refs}`, ...link });
  }

  /**
   * The base a side keeps after the writes: what it holds now, except fields still waiting for a
   * decision, which keep their old value marked as waiting. Under `manual` nothing was written: a field
   * both sides now hold alike takes that value, one changed on one side only keeps its old base (the
   * change is still to be carried). A delete against an edit marks every field of the standing record.
   */
  private baseAfter(w: Work, id: SideId, row: SideRow | undefined): JsonObject | null {
    const old = (id === 'a' ? w.link?.baseA : w.link?.baseB) ?? null;
    if (!row) return old;
    const next = pick(row.data, this.names[id]);
    const held = new Set(w.keep?.waiting ?? []);
    const manual = w.queue !== undefined && this.ctx.config.conflicts === 'manual';
    for (const f of this.ctx.mapping.fields) {
      const before = fieldValue(old, f[id]);
      if (held.has(f.a) || w.queue?.reason === 'delete_edit') next[f[id]] = waiting(before);
      else if (manual && !(w.rows.a && w.rows.b && agree(f, fieldOf(w.rows.a.data, f.a), fieldOf(w.rows.b.data, f.b)))) next[f[id]] = before;
    }
    return next;
  }

  private conflictValues(w: Work): SyncConflict['values'] {
    return {
      base: { a: plainBase(w.link?.baseA), b: plainBase(w.link?.baseB) },
      a: w.rows.a ? pick(w.rows.a.data, this.names.a) : null,
      b: w.rows.b ? pick(w.rows.b.data, this.names.b) : null,
    };
  }

  /** A dry run's record of what would be written and queued. */
  private record(work: Work[]): void {
    for (const w of work) {
      for (const id of ['a', 'b'] as const) {
        const op = w.ops[id];
        if (!op) continue;
        const plan = this.plan[id];
        const from = w.rows[other(id)];
        if (op.op === 'create') plan.creates.push({ from: from?.key ?? '', values: op.values });
        else if (op.op === 'delete') plan.deletes.push(op.key);
        else {
          const entry = { key: op.key, changes: Object.fromEntries(Object.entries(op.values).map(([f, v]) => [f, [fieldValue(w.rows[id]?.data, f), v]])) as Record<string, [Json, Json]> };
          (w.events.some((e) => e.action === 'archive') ? plan.archives : plan.updates).push(entry);
        }
        this.counts[id][op.op === 'create' ? 'created' : op.op === 'delete' ? 'deleted' : 'updated']++;
      }
      if (w.queue) {
        this.plan.conflicts.push({ aKey: w.rows.a?.key ?? w.link?.aKey ?? null, bKey: w.rows.b?.key ?? w.link?.bKey ?? null, reason: w.queue.reason, fields: w.queue.fields, detail: w.queue.detail, values: this.conflictValues(w) });
        this.counts[w.from].queued++;
      }
    }
  }
}
