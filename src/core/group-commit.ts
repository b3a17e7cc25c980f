/**
 * Group commit: callers submit items one at a time and each waits for its own result, while the items
 * are written in groups — one transaction for everything that arrived while the previous writes were
 * under way (or within `maxWaitMs` when idle), with at most `concurrency` groups written at once. Under load the groups grow by themselves; past `maxPending`
 * items waiting, `submit` refuses at once so the caller can answer "try later" instead of queueing
 * without bound.
 */

export class Overloaded extends Error {
  constructor(readonly pending: number) {
    super(`${pending} items are already waiting to be committed`);
  }
}

export interface GroupCommitOptions {
  /** How long the first item of an idle period waits for company. */
  maxWaitMs: number;
  /** Largest group. */
  maxItems: number;
  /** Most items waiting or being written at once. */
  maxPending: number;
  /** Groups written at once (each in its own transaction). */
  concurrency: number;
}

interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export class GroupCommit<T, R> {
  private queue: Waiting<T, R>[] = [];
  /** Items in groups being written. */
  private writing = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Writes a group in one transaction and returns one result per item, in order. */
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly options: GroupCommitOptions,
  ) {}

  get pending(): number {
    return this.queue.length + this.writing;
  }

  submit(item: T): Promise<R> {
    if (this.pending >= this.options.maxPending) return Promise.reject(new Overloaded(this.pending));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight.size >= this.options.concurrency) return; // a write that ends takes the next group
      if (this.queue.length >= this.options.maxItems || this.inFlight.size > 0) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.pending > 0) {
      this.flush();
      await Promise.race(this.inFlight);
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0 || this.inFlight.size >= this.options.concurrency) return;
    const group = this.queue.splice(0, this.options.maxItems);
    this.writing += group.length;
    const done: Promise<void> = this.write(group.map((w) => w.item))
      .then(
        (results) => group.forEach((w, i) => w.resolve(results[i]!)),
        (err: unknown) => group.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.writing -= group.length;
        this.inFlight.delete(done);
        this.flush();
      });
    this.inFlight.add(done);
  }
}
