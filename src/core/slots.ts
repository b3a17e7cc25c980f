/**
 * A counting semaphore — at most `size` holders at once, the others wait, first come first served:
 * each tenant's run slots in `sluice serve`.
 */
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  get full(): boolean {
    return this.used >= this.size;
  }

  async acquire(): Promise<() => void> {
    if (this.used >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.used++;
    // a waiter is handed the slot of the one that left: `used` stays as it is
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }
}
