/**
 * Alert evaluation in `sluice serve`: every interval, each pipeline's alert rules are checked against the
 * staging store (runs, checkpoints, quarantine), each instance's state moves as `nextState` says, and a
 * move is kept only if nobody else made it first (versioned states), so with several processes on one
 * PostgreSQL store, and across restarts, each breach fires once. Firing, repeated and resolved notices go
 * to the rule's notifiers; every move that notifies is in the audit log.
 */
import { messageOf } from '../core/errors';
import { newestCursor } from '../extract/cursor';
import { breached, conditionText, type AlertRule } from '../observe/alert-config';
import { INACTIVE, moved, nextState, type AlertEvent } from '../observe/alert-state';
import type { AlertStateRow, StagingStore } from '../stage/store';
import { notify } from './notify';
import type { Pipeline } from './pipeline';

export interface AlertingOptions {
  now?: () => number;
  retryDelayMs?: number;
  onError?(err: unknown): void;
}

export interface AlertView extends AlertStateRow {
  severity: string;
  condition: string;
}

export class Alerting {
  private readonly startedMs: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly pipelines: readonly Pipeline[],
    private readonly storeOf: (p: Pipeline) => StagingStore,
    private readonly o: AlertingOptions = {},
  ) {
    this.startedMs = this.now();
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  start(intervalMs: number): void {
    const tick = () => {
      this.running ??= this.evaluate()
        .then(() => undefined, (err: unknown) => this.o.onError?.(err))
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One evaluation of every rule; returns the notices it sent. */
  async evaluate(): Promise<{ pipeline: string; alert: string; instance: string; event: AlertEvent }[]> {
    const sent: { pipeline: string; alert: string; instance: string; event: AlertEvent }[] = [];
    for (const p of this.pipelines) {
      if (p.alerts.length === 0) continue;
      const store = this.storeOf(p);
      const states = new Map((await store.alertStates(p.name)).map((s) => [`${s.alert}\u0000${s.instance}`, s]));
      for (const rule of p.alerts) {
        const now = this.now();
        for (const { instance, value } of await this.values(store, p, rule, now)) {
          const prev = states.get(`${rule.name}\u0000${instance}`) ?? { ...INACTIVE, pipeline: p.name, alert: rule.name, instance, version: 0 };
          const { next, event } = nextState(prev, value !== null && breached(rule.when, value), value, now, { forSeconds: rule.for, repeatSeconds: rule.repeat });
          if (!moved(prev, next) || (prev.version === 0 && next.state === 'inactive')) continue;
          const row: AlertStateRow = { ...next, pipeline: p.name, alert: rule.name, instance, version: prev.version + 1 };
          if (!(await store.saveAlertState(row))) continue; // another process moved it first
          if (!event) continue;
          sent.push({ pipeline: p.name, alert: rule.name, instance, event });
          await this.tell(store, p, rule, row, event);
        }
      }
    }
    return sent;
  }

  /** Every alert's state, with its rule's severity and condition. */
  async list(): Promise<AlertView[]> {
    const out: AlertView[] = [];
    for (const p of this.pipelines) {
      if (p.alerts.length === 0) continue;
      const rules = new Map(p.alerts.map((a) => [a.name, a]));
      for (const s of await this.storeOf(p).alertStates(p.name)) {
        const rule = rules.get(s.alert);
        if (rule) out.push({ ...s, severity: rule.severity, condition: conditionText(rule.when) });
      }
    }
    return out;
  }

  /** The signal's value per instance now; null when there is nothing to judge (no runs in the window...). */
  private async values(store: StagingStore, p: Pipeline, rule: AlertRule, now: number): Promise<{ instance: string; value: number | null }[]> {
    switch (rule.when.signal) {
      case 'error_ratio': {
        const r = await store.runOutcomes(p.name, new Date(now - rule.over * 1000).toISOString());
        return [{ instance: '', value: r.finished === 0 ? null : r.failed / r.finished }];
      }
      case 'since_last_success_seconds': {
        // a pipeline that never succeeded counts from when this server started watching it
        const r = await store.runOutcomes(p.name, new Date(now).toISOString());
        const last = r.lastSuccess ? Date.parse(r.lastSuccess) : this.startedMs;
        return [{ instance: '', value: Math.max(0, (now - last) / 1000) }];
      }
      case 'checkpoint_lag_seconds':
        return (await store.streams(p.name)).map((s) => {
          const at = Date.parse(newestCursor(s.checkpoint) ?? '');
          return { instance: s.source, value: Number.isNaN(at) ? null : Math.max(0, (now - at) / 1000) };
        });
      case 'quarantined_records': {
        const cap = Math.max(1, Math.ceil(rule.when.threshold) + 1);
        const held = await store.held(p.name, { limit: cap });
        return [{ instance: '', value: held.filter((h) => h.status === 'quarantined').length }];
      }
    }
  }

  private async tell(store: StagingStore, p: Pipeline, rule: AlertRule, s: AlertStateRow, event: AlertEvent): Promise<void> {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const payload = {
      type: `alert.${event}`,
      alert: rule.name,
      pipeline: p.name,
      ...(s.instance ? { instance: s.instance } : {}),
      severity: rule.severity,
      condition: conditionText(rule.when),
      value: s.value,
      since: iso(s.sinceMs),
      firedAt: iso(s.firedMs),
      at: iso(this.now()),
    };
    await store.appendAudit({ actor: 'sluice', action: `alert.${event}`, pipeline: p.name, detail: payload });
    for (const name of rule.notify) {
      try {
        await notify(p.notifiers[name]!, payload, { retryDelayMs: this.o.retryDelayMs });
      } catch (err) {
        await store.appendAudit({ actor: 'sluice', action: 'alert.notify_failed', pipeline: p.name, detail: { alert: rule.name, notifier: name, reason: messageOf(err) } });
        this.o.onError?.(err);
      }
    }
  }
}
