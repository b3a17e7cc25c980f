/**
 * The runs of each pipeline under way in one server. Whoever starts them (a schedule, a change
 * notification, an annotation webhook, the API), a pipeline's runs here never overlap, and a run asked
 * for while another is under way is not lost: it follows once that one ends.
 */
export class PipelineRuns {
  private readonly underWay = new Map<string, Promise<void>>();
  /** Pipelines asked for a run while one was under way: the run to start when it ends (asks meanwhile make one). */
  private readonly again = new Map<string, () => Promise<void>>();
  private stopping = false;

  /** Whether a run of the pipeline is under way (or waiting for the one before) here. */
  busy(pipeline: string): boolean {
    return this.underWay.has(pipeline);
  }

  /**
   * Starts `work` as the pipeline's run under way; it is given the run it follows, if any, to wait for.
   * Returns the run, which rejects if `work` does.
   */
  start(pipeline: string, work: (before: Promise<void> | undefined) => Promise<void>): Promise<void> {
    const before = this.underWay.get(pipeline);
    const run: Promise<void> = work(before).finally(() => {
      if (this.underWay.get(pipeline) !== run) return; // a run started after this one is the one under way
      this.underWay.delete(pipeline);
      const next = this.again.get(pipeline);
      this.again.delete(pipeline);
      if (next && !this.stopping) this.start(pipeline, next).catch(() => undefined);
    });
    this.underWay.set(pipeline, run);
    return run;
  }

  /** Runs `work` now, or once the run under way ends. `work` reports its own failures. */
  soon(pipeline: string, work: () => Promise<void>): void {
    if (this.stopping) return;
    if (this.underWay.has(pipeline)) this.again.set(pipeline, work);
    else this.start(pipeline, work).catch(() => undefined);
  }

  /** Starts nothing more, and resolves when every run under way has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.again.clear();
    while (this.underWay.size > 0) await Promise.allSettled([...this.underWay.values()]);
  }
}
