/**
 * A pipeline's alert rules as a Prometheus rules file (`promtool check rules` accepts it), over the
 * metrics Sluice exposes, for teams that alert from their own Prometheus instead of `sluice serve`.
 */
import { stringify } from 'yaml';
import type { AlertRule, Condition } from './alert-config';

export function prometheusRules(pipeline: string, alerts: readonly AlertRule[]): string {
  const rules = alerts.map((a) => ({
    alert: a.name,
    expr: `${promql(pipeline, a.when, a.over)} ${a.when.op} ${a.when.threshold}`,
    ...(a.for > 0 ? { for: seconds(a.for) } : {}),
    labels: { severity: a.severity, pipeline },
    annotations: {
      summary: `${pipeline}: ${a.name} (${a.when.signal} ${a.when.op} ${a.when.threshold})`,
      ...(a.description ? { description: a.description } : {}),
    },
  }));
  return stringify({ groups: [{ name: `sluice-${pipeline}`, rules }] }, { lineWidth: 0 });
}

/** The signal's value as PromQL; the pipeline name is a label value, escaped as PromQL strings are. */
function promql(pipeline: string, c: Condition, over: number): string {
  const p = `pipeline=${JSON.stringify(pipeline)}`;
  switch (c.signal) {
    case 'error_ratio':
      return `(sum by (pipeline) (increase(sluice_runs_total{${p},outcome="failed"}[${seconds(over)}])) / clamp_min(sum by (pipeline) (increase(sluice_runs_total{${p}}[${seconds(over)}])), 1))`;
    case 'checkpoint_lag_seconds':
      return `max by (pipeline, source) (sluice_checkpoint_lag_seconds{${p}})`;
    case 'since_last_success_seconds':
      return `(time() - max by (pipeline) (sluice_last_success_timestamp_seconds{${p}}))`;
    case 'quarantined_records':
      return `sum by (pipeline) (sluice_records_quarantined{${p}})`;
  }
}

/** A Prometheus duration: whole seconds (`900s`). */
const seconds = (s: number) => `${Math.round(s)}s`;
