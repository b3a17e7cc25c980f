/**
 * The newest cursor value a checkpoint says was staged, for the checkpoint lag metric: read sources keep
 * it as `cursor`, pulls as `last.cursor` (or `walk.max.cursor` mid-walk). Null when there is none.
 */
import type { Checkpoint } from '../core/record';

export function newestCursor(checkpoint: Checkpoint | null | undefined): string | null {
  const c = checkpoint as { cursor?: unknown; last?: { cursor?: unknown }; walk?: { max?: { cursor?: unknown } } } | null | undefined;
  const v = c?.walk?.max?.cursor ?? c?.last?.cursor ?? c?.cursor;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : null;
}
