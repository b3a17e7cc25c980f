/**
 * Links whose create did not finish (a crash came between sending a create to a side and committing
 * its key): each is settled before a run carries anything else. The side's ledger, where it keeps one,
 * says exactly whether the create happened and under which key; without one, the record is looked for
 * by the values sent. Found, the link gets its key and the sent values as that side's base; not found,
 * the note is dropped and the record, still after its side's checkpoint, is created again.
 */
import type { JsonObject } from '../core/record';
import type { SideId } from '../sync/config';
import type { SideRow } from '../sync/side';
import { fieldOf, fieldValue, sameValue } from '../sync/values';
import type { LinkWrite } from '../stage/sync-store';
import type { EngineContext } from './sync-work';

export async function recoverCreates(ctx: EngineContext): Promise<void> {
  const unfinished = await ctx.state.unfinishedCreates();
  if (unfinished.length === 0) return;
  const names = ctx.mapping.names;
  const links: LinkWrite[] = [];
  const drop: number[] = [];
  const ledger: Record<SideId, Map<string, string> | undefined> = { a: undefined, b: undefined };
  for (const id of ['a', 'b'] as const) {
    const refs = unfinished.filter((l) => l.state === `creating_${id}`).map((l) => String(l.intent?.ref));
    ledger[id] = refs.length > 0 ? await ctx.sides[id].created?.(refs) : undefined;
  }
  for (const link of unfinished) {
    const to: SideId = link.state === 'creating_a' ? 'a' : 'b';
    const intent = (link.intent ?? {}) as { ref?: string; values?: JsonObject };
    const key = ledger[to]?.get(String(intent.ref));
    const found = ledger[to] ? (key === undefined ? undefined : (await ctx.sides[to].get([key])).get(key)) : await findCreated(ctx, to, intent.values ?? {});
    if (!found) {
      drop.push(link.id);
      continue;
    }
    // the base is what was sent (a user may have edited the record since: that edit is a change to carry);
    // the other side's base was noted with the create
    const sent = intent.values ?? {};
    const base = Object.fromEntries(names[to].map((f) => [f, Object.hasOwn(sent, f) ? sent[f]! : fieldValue(found.data, f)]));
    links.push({ ...link, ...(to === 'a' ? { aKey: found.key, baseA: base } : { bKey: found.key, baseB: base }), state: 'linked', intent: null });
  }
  if (!ctx.dryRun) await ctx.state.commit(ctx.run, { links, dropLinks: drop });
}

/** The record a create made: by `match`, else by the first sent value, checked against every sent value. */
async function findCreated(ctx: EngineContext, side: SideId, intent: JsonObject): Promise<SideRow | undefined> {
  const names = ctx.mapping.names[side];
  const field = ctx.config.match?.[side] ?? names.find((f) => fieldValue(intent, f) !== null);
  const value = field === undefined ? null : fieldValue(intent, field);
  if (field === undefined || value === null) return undefined;
  const candidates = await ctx.sides[side].findBy(field, [String(value)]);
  const row = candidates.get(String(value));
  if (!row || !Object.entries(intent).every(([f, v]) => !names.includes(f) || sameThrough(ctx, side, f, v, fieldOf(row.data, f)))) return undefined;
  const linked = await ctx.state.links(side, [row.key]);
  return linked.has(row.key) ? undefined : row;
}

/**
 * Whether a value sent to `side`'s field and the value found there say the same, directly or once both
 * are read back through the mapping (an API may answer in another shape: label names sent, label
 * objects returned).
 */
function sameThrough(ctx: EngineContext, side: SideId, field: string, sent: unknown, found: unknown): boolean {
  if (sameValue(sent, found)) return true;
  const f = ctx.mapping.fields.find((x) => x[side] === field);
  const back = side === 'b' ? f?.transform.toA : f?.transform.toB;
  if (!back) return false;
  const [x, y] = [back(sent), back(found)];
  return x.ok && y.ok && sameValue(x.value, y.value);
}
