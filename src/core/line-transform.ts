const NEWLINE = 0x0a;

/**
 * A byte transform of newline-ended lines, for streams cut anywhere (COPY chunks end where a socket
 * read did). Each whole line goes to `line()`, in place where it lies in a chunk, joined first only
 * when a chunk boundary cuts it. Output is written into buffers of about `size` bytes: `line()` asks
 * for room once, then writes without checks; a buffer that fills goes out when the chunk is done.
 */
export abstract class LineTransform {
  protected out: Buffer;
  protected pos = 0;
  private carry: Buffer | undefined;
  private readonly full: Buffer[] = [];

  constructor(private readonly size: number) {
    this.out = Buffer.allocUnsafe(size);
  }

  /** The line `chunk[from, end)` (`end` at its newline) written at `this.out[this.pos]`. */
  protected abstract line(chunk: Buffer, from: number, end: number): void;

  /** The output buffers this chunk filled. */
  push(chunk: Buffer): Buffer[] {
    let from = 0;
    if (this.carry) {
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return [];
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, end)]);
      this.carry = undefined;
      this.line(line, 0, line.length);
      from = end + 1;
    }
    for (let end = chunk.indexOf(NEWLINE, from); end !== -1; from = end + 1, end = chunk.indexOf(NEWLINE, from)) this.line(chunk, from, end);
    if (from < chunk.length) this.carry = chunk.subarray(from);
    return this.full.splice(0);
  }

  /** What is left; throws if the input ended inside a line. */
  end(): Buffer[] {
    if (this.carry) throw new Error(`${this.constructor.name}: the input ends inside a line`);
    if (this.pos > 0) this.full.push(this.out.subarray(0, this.pos));
    this.pos = 0;
    return this.full.splice(0);
  }

  /** Room for `bytes` more at `this.pos`: a buffer without it is set aside and a new one begun. */
  protected room(bytes: number): void {
    if (this.pos + bytes <= this.out.length) return;
    if (this.pos > 0) this.full.push(this.out.subarray(0, this.pos));
    this.out = Buffer.allocUnsafe(Math.max(this.size, bytes));
    this.pos = 0;
  }
}
