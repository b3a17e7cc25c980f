/**
 * What the stores share about pushed deliveries: which of a group were new, and the records to stage.
 */
import type { SourceRecord } from '../core/record';

export interface Delivery {
  /** The sender's delivery id: the idempotency key. */
  id: string;
  record: SourceRecord;
}

export type IntakeResult = 'staged' | 'duplicate';

/**
 * Given the delivery ids the store had not seen (just recorded), says of each delivery whether it is
 * staged or a repeat (a second copy within the group is a repeat too), and returns the records to stage:
 * one per key, the last delivery winning, since it arrived last.
 */
export function freshDeliveries(deliveries: readonly Delivery[], unseen: ReadonlySet<string>): { results: IntakeResult[]; records: SourceRecord[] } {
  const taken = new Set<string>();
  const byKey = new Map<string, SourceRecord>();
  const results = deliveries.map((d): IntakeResult => {
    if (!unseen.has(d.id) || taken.has(d.id)) return 'duplicate';
    taken.add(d.id);
    byKey.delete(d.record.key); // re-inserting keeps arrival order
    byKey.set(d.record.key, d.record);
    return 'staged';
  });
  return { results, records: [...byKey.values()] };
}
