/**
 * How an alert moves, for one instance: the condition starts to hold (pending), holds for `for` (firing:
 * notify), keeps holding (notify again once `repeat` has passed since the last notice), stops holding
 * (resolved: notify, back to inactive). A pure function of the previous state, the condition's value
 * and the time, so every process computes the same move and the store decides which one makes it.
 */
export interface AlertState {
  state: 'inactive' | 'pending' | 'firing';
  sinceMs: number | null;
  firedMs: number | null;
  notifiedMs: number | null;
  value: number | null;
}

export type AlertEvent = 'firing' | 'repeat' | 'resolved';

export const INACTIVE: AlertState = { state: 'inactive', sinceMs: null, firedMs: null, notifiedMs: null, value: null };

export function nextState(prev: AlertState, breached: boolean, value: number | null, nowMs: number, rule: { forSeconds: number; repeatSeconds: number }): { next: AlertState; event?: AlertEvent } {
  if (!breached) {
    if (prev.state === 'firing') return { next: { ...INACTIVE, value }, event: 'resolved' };
    return { next: { ...INACTIVE, value } };
  }
  const since = prev.state === 'inactive' ? nowMs : (prev.sinceMs ?? nowMs);
  if (prev.state === 'firing') {
    const due = prev.notifiedMs === null || nowMs - prev.notifiedMs >= rule.repeatSeconds * 1000;
    return due ? { next: { ...prev, value, notifiedMs: nowMs }, event: 'repeat' } : { next: { ...prev, value } };
  }
  if (nowMs - since >= rule.forSeconds * 1000) return { next: { state: 'firing', sinceMs: since, firedMs: nowMs, notifiedMs: nowMs, value }, event: 'firing' };
  return { next: { state: 'pending', sinceMs: since, firedMs: null, notifiedMs: null, value } };
}

/** Whether two states differ in what is worth storing (the value alone is refreshed only with a move). */
export const moved = (a: AlertState, b: AlertState) => a.state !== b.state || a.sinceMs !== b.sinceMs || a.notifiedMs !== b.notifiedMs;
