/**
 * Group commit: callers submit items one at a time and each waits for its own result, while the items
 * are written in groups — one transaction for everything that arrived while the previous one was being
 * written (or within `maxWaitMs` when idle). Under load the groups grow by themselves; past `maxPending`
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
}

interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export class GroupCommit<T, R> {
  private queue: Waiting<T, R>[] = [];
  private writing = 0;
  private timer: NodeJS.Timeout | undefined;
  private idle: Promise<void> = Promise.resolve();

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
      if (this.writing > 0) return; // the write under way takes the next group when it ends
      if (this.queue.length >= this.options.maxItems) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.pending > 0) {
      if (this.writing === 0) this.flush();
      await this.idle;
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0 || this.writing > 0) return;
    const group = this.queue.splice(0, this.options.maxItems);
    this.writing = group.length;
    this.idle = this.write(group.map((w) => w.item))
      .then(
        (results) => group.forEach((w, i) => w.resolve(results[i]!)),
        (err: unknown) => group.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.writing = 0;
        if (this.queue.length > 0) this.flush();
      });
  }
}
