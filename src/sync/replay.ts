/**
 * A record's state rebuilt from its audit events: every event that says what a side held or was given
 * (first seen, seen changed, linked, created, updated, archived) sets those fields; a delete empties the
 * side. Replaying a record's events in order gives what the sync last knew of it on each side.
 */
import type { JsonObject } from '../core/record';

interface ReplayEvent {
  side: 'a' | 'b';
  action: string;
  changes: Record<string, [unknown, unknown]>;
}

const SETS = new Set(['changed', 'link', 'create', 'update', 'archive']);

export function replayEvents(events: readonly ReplayEvent[]): { a: JsonObject; b: JsonObject } {
  const state: { a: JsonObject; b: JsonObject } = { a: {}, b: {} };
  for (const e of events) {
    if (e.action === 'delete') state[e.side] = {};
    else if (SETS.has(e.action)) for (const [field, [, now]] of Object.entries(e.changes)) state[e.side][field] = now as JsonObject[string];
  }
  return state;
}
