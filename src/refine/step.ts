/**
 * A refine step takes staged records and says, for each, what it became: refined data, set aside by a
 * filter, quarantined with every reason it failed, or failed outright. It never changes its input: the
 * staged original stays as it was, and the chain stores each step's outcome beside it with provenance
 * (step, version, time). A user's own step implements this interface.
 */

export interface RefineRecord {
  source: string;
  tenant: string;
  key: string;
  /** The record as the previous step left it (the staged record for the first step). */
  data: Record<string, unknown>;
}

/** One reason a record did not pass: which rule, on which field, and why, in words. */
export interface RuleFailure {
  rule: string;
  field?: string;
  reason: string;
}

export type RefineOutcome =
  | { status: 'refined'; data: Record<string, unknown> }
  /** A filter left it out of the datasets; it stays staged. */
  | { status: 'filtered'; reason: string }
  /** It failed validation: it is held back until fixed or released. */
  | { status: 'quarantined'; failures: RuleFailure[] }
  /** The step itself failed on it (a module threw, a service was down): it is kept as it was. */
  | { status: 'failed'; error: string }
  /** Not decided yet (a budget ran out): it is refined again next run, and not exported until then. */
  | { status: 'pending'; reason: string };

export interface RefineStep {
  /** Names the step in provenance, e.g. `rules`, `llm:classify`. */
  readonly name: string;
  /** Changes when the step would refine the same input differently (a rule edited, a new prompt). */
  readonly version: string;
  /** One outcome per record, in order. */
  refine(records: readonly RefineRecord[]): Promise<RefineOutcome[]>;
}
