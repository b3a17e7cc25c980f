/**
 * The refine chain: each record goes through the steps in order while it keeps being refined; the first
 * step that filters, quarantines or fails it ends its way, and that outcome is what is kept — beside
 * the original, with the steps it went through (provenance). A step that throws, or answers with the
 * wrong shape, fails the records it was given and nothing else: their originals stay as they were.
 */
import { createHash } from 'node:crypto';
import { parseLossless, stringifyLossless } from '../core/json-text';
import type { RefineOutcome, RefineRecord, RefineStep } from './step';

export interface ChainInput {
  source: string;
  tenant: string;
  key: string;
  seq: number;
  json: string | null;
}

export interface ChainOutput {
  key: string;
  seq: number;
  status: RefineOutcome['status'];
  /** The refined record as JSON, for `refined`. */
  refined: string | null;
  /** JSON: the outcome's failures, error or reason, which step decided it, and the provenance. */
  detail: string;
}

export interface Provenance {
  step: string;
  version: string;
  at: string;
}

export class RefineChain {
  /** Changes when any step would refine differently: a new version re-refines every record. */
  readonly version: string;

  /**
   * `holdFailures`: a record a step failed on is held in quarantine (with the error as its reason)
   * instead of being exported as staged.
   */
  constructor(
    private readonly stepList: readonly RefineStep[],
    private readonly options: { holdFailures?: boolean } = {},
  ) {
    this.version = createHash('sha256')
      .update(JSON.stringify([...stepList.map((s) => [s.name, s.version]), ...(options.holdFailures ? ['hold-failures'] : [])]))
      .digest('hex')
      .slice(0, 12);
  }

  /** Each step's name and version, in order: what the chain's version stands for. */
  get steps(): { name: string; version: string }[] {
    return this.stepList.map((s) => ({ name: s.name, version: s.version }));
  }

  get empty(): boolean {
    return this.stepList.length === 0;
  }

  async refine(inputs: readonly ChainInput[]): Promise<ChainOutput[]> {
    const state = inputs.map((input) => ({ input, outcome: parse(input), provenance: [] as Provenance[], decidedBy: undefined as string | undefined }));
    for (const step of this.stepList) {
      const going = state.filter((s) => s.outcome.status === 'refined');
      if (going.length === 0) break;
      const records: RefineRecord[] = going.map((s) => ({
        source: s.input.source,
        tenant: s.input.tenant,
        key: s.input.key,
        data: (s.outcome as { data: Record<string, unknown> }).data,
      }));
      const outcomes = await run(step, records);
      const at = new Date().toISOString();
      going.forEach((s, i) => {
        s.outcome = outcomes[i]!;
        s.provenance.push({ step: step.name, version: step.version, at });
        if (s.outcome.status !== 'refined') s.decidedBy = step.name;
        if (s.outcome.status === 'failed' && this.options.holdFailures) {
          s.outcome = { status: 'quarantined', failures: [{ rule: step.name, reason: s.outcome.error }] };
        }
      });
    }
    return state.map(({ input, outcome, provenance, decidedBy }) => {
      const { status, ...rest } = outcome;
      const detail = status === 'refined' ? { provenance } : { ...rest, step: decidedBy, provenance };
      return { key: input.key, seq: input.seq, status, refined: status === 'refined' ? stringifyLossless(outcome.data) : null, detail: stringifyLossless(detail) };
    });
  }
}

function parse(input: ChainInput): RefineOutcome {
  try {
    // an integer past 2^53 (a 64-bit id) stays whole, as a BigInt, and is written back as the same digits
    const data: unknown = parseLossless(input.json ?? 'null');
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) return { status: 'refined', data: data as Record<string, unknown> };
  } catch {
    // falls through
  }
  return { status: 'failed', error: 'the staged record is not a JSON object' };
}

/** Runs one step, turning a throw or a malformed answer into failures of the records it was given. */
async function run(step: RefineStep, records: RefineRecord[]): Promise<RefineOutcome[]> {
  let answer: unknown;
  try {
    answer = await step.refine(records);
  } catch (err) {
    const error = `step ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`;
    return records.map(() => ({ status: 'failed', error }));
  }
  if (!Array.isArray(answer) || answer.length !== records.length || !answer.every(isOutcome)) {
    const what = Array.isArray(answer) ? `${answer.length} answers, not all outcomes,` : typeof answer;
    const error = `step ${step.name} answered ${what} for ${records.length} records: expected one outcome per record`;
    return records.map(() => ({ status: 'failed', error }));
  }
  return answer;
}

function isOutcome(o: unknown): o is RefineOutcome {
  if (o === null || typeof o !== 'object') return false;
  const x = o as Record<string, unknown>;
  switch (x.status) {
    case 'refined':
      return x.data !== null && typeof x.data === 'object' && !Array.isArray(x.data);
    case 'filtered':
      return typeof x.reason === 'string';
    case 'quarantined':
      return Array.isArray(x.failures);
    case 'failed':
      return typeof x.error === 'string';
    case 'pending':
      return typeof x.reason === 'string';
    default:
      return false;
  }
}
