/**
 * Alert rules and notifiers in a pipeline file:
 *
 *   alerts:
 *     - { name: HighErrorRate, when: "error_ratio > 0.05", over: 15m, for: 5m, severity: critical, notify: [ops] }
 *     - { name: StaleCheckpoint, when: "checkpoint_lag_seconds > 3600" }
 *     - { name: NoSuccessfulRun, when: "since_last_success_seconds > 86400" }
 *   notifiers:
 *     ops: { url: ${ALERT_URL}, sign: standard-webhooks, secret: ${ALERT_SECRET} }
 *
 * A condition is one signal, a comparison and a number: simple enough to evaluate in `sluice serve` and
 * to write as PromQL for teams that alert from their own Prometheus (`sluice alerts export`).
 */
import { z } from 'zod';
import { duration, identifier } from '../config/parts';

/** What an alert can watch; each is per pipeline, `checkpoint_lag_seconds` per source. */
export const SIGNALS = {
  error_ratio: 'failed runs / finished runs over the window `over`',
  checkpoint_lag_seconds: 'now minus the newest cursor staged (sources whose cursor is a time)',
  since_last_success_seconds: 'seconds since the last successful run finished',
  quarantined_records: 'records held in quarantine now',
} as const;
export type Signal = keyof typeof SIGNALS;

const OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Op = (typeof OPS)[number];

export interface Condition {
  signal: Signal;
  op: Op;
  threshold: number;
}

const condition = z.string().transform((text, ctx): Condition => {
  const m = /^\s*([a-z_]+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i.exec(text);
  if (!m || !(m[1]! in SIGNALS)) {
    ctx.addIssue({ code: 'custom', message: `expected "<signal> <op> <number>" with a signal of ${Object.keys(SIGNALS).join(', ')}, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return { signal: m[1] as Signal, op: m[2] as Op, threshold: Number(m[3]) };
});

export const alertSchema = z.strictObject({
  name: identifier.describe('The alert\'s name, as in Prometheus (`HighErrorRate`).'),
  when: condition.describe(`A condition on one signal: ${Object.entries(SIGNALS).map(([k, v]) => `\`${k}\` (${v})`).join('; ')}.`),
  over: duration.prefault('15m').describe('The window `error_ratio` is computed over.'),
  for: duration.prefault('0s').describe('How long the condition must hold before the alert fires.'),
  severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  notify: z.array(identifier).default([]).describe('Notifiers (by name) told when it fires, repeats and resolves.'),
  repeat: duration.prefault('4h').describe('While it keeps firing, notify again at most this often.'),
  description: z.string().optional(),
});

export const notifierSchema = z.strictObject({
  url: z.string().url().describe('Where notifications are POSTed (JSON).'),
  sign: z.enum(['standard-webhooks', 'none']).default('standard-webhooks').describe('How each notification is signed.'),
  secret: z.string().min(1).optional().describe('The Standard Webhooks secret (`whsec_…`, or any text).'),
  retries: z.number().int().min(0).max(10).default(5).describe('Retries on network errors, 429 and 5xx, with backoff.'),
  timeout: duration.prefault('10s'),
});

export type AlertRule = z.output<typeof alertSchema>;
export type NotifierConfig = z.output<typeof notifierSchema>;

export function breached(c: Condition, value: number): boolean {
  switch (c.op) {
    case '>':
      return value > c.threshold;
    case '>=':
      return value >= c.threshold;
    case '<':
      return value < c.threshold;
    case '<=':
      return value <= c.threshold;
    case '==':
      return value === c.threshold;
    case '!=':
      return value !== c.threshold;
  }
}

/** The condition as the pipeline file wrote it. */
export const conditionText = (c: Condition) => `${c.signal} ${c.op} ${c.threshold}`;
