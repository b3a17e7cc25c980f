/**
 * Earlier steps' output sent with a task as Label Studio pre-annotations (`predictions`), so people start
 * from what the rules or the model decided: each control tag of the labeling config whose name is a
 * record field (or is mapped to one) gets a result item in the shape Label Studio stores for that tag.
 */
import { createHash } from 'node:crypto';
import type { ControlTag, LabelConfig } from '../../core/label-config';
import { stringifyLossless } from '../../core/json-text';

export interface PredictionOptions {
  /** control tag name → record field; by default every control whose name is a field */
  fields?: Record<string, string>;
  /** the record field holding the model's confidence (0–1), sent as the prediction's `score` */
  score?: string;
  /** names the steps that produced the values, e.g. `rules@1a2b3c+llm:classify@4d5e6f` */
  modelVersion: string;
}

export interface Prediction {
  model_version: string;
  score?: number;
  result: Record<string, unknown>[];
}

export function predictionFor(config: LabelConfig, data: Record<string, unknown>, o: PredictionOptions): Prediction | undefined {
  const result: Record<string, unknown>[] = [];
  for (const control of config.controls) {
    const field = o.fields ? o.fields[control.name] : control.name;
    if (field === undefined) continue;
    const v = data[field];
    if (v === undefined || v === null || v === '') continue;
    const value = valueFor(control, v);
    if (!value) continue;
    // region ids are stable for the same answer, so a re-import of unchanged output looks the same
    const id = createHash('sha256').update(`${control.name}\u0000${stringifyLossless(value)}`).digest('base64url').slice(0, 10);
    result.push({ id, from_name: control.name, to_name: control.toName[0], type: control.type, value, origin: 'prediction' });
  }
  if (result.length === 0) return undefined;
  const score = o.score === undefined ? undefined : Number(data[o.score]);
  return { model_version: o.modelVersion, ...(score !== undefined && Number.isFinite(score) ? { score } : {}), result };
}

/** The `value` Label Studio keeps for an answer of this control type; undefined when it cannot hold `v`. */
function valueFor(control: ControlTag, v: unknown): Record<string, unknown> | undefined {
  const list = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : stringifyLossless(x)));
  switch (control.type) {
    case 'choices': {
      // a value the config does not offer would show as an unknown choice: leave it to people instead
      const known = control.values.length === 0 ? list : list.filter((x) => control.values.includes(x));
      return known.length > 0 ? { choices: known } : undefined;
    }
    case 'textarea':
      return { text: list };
    case 'rating':
    case 'number': {
      const n = Number(v);
      return Number.isFinite(n) ? { [control.type]: n } : undefined;
    }
    default:
      // regions (rectanglelabels, labels on text...) already in Label Studio's value shape pass as they are
      return v !== null && typeof v === 'object' && !Array.isArray(v) && control.type in (v as object) ? (v as Record<string, unknown>) : undefined;
  }
}
