/**
 * Buffers joined into chunks of at least `size` bytes, so whoever takes them does its per-chunk work (a
 * write, a hash update, a COPY message) thousands of times, not once a row. A buffer of `pass` bytes or
 * more that arrives while nothing is pending goes on as it is, uncopied.
 */
export async function* gathered(parts: AsyncIterable<Buffer> | Iterable<Buffer>, size: number, pass = Infinity): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let bytes = 0;
  for await (const part of parts) {
    if (bytes === 0 && part.length >= pass) {
      yield part;
      continue;
    }
    pending.push(part);
    bytes += part.length;
    if (bytes >= size) {
      yield Buffer.concat(pending, bytes);
      pending = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield Buffer.concat(pending, bytes);
}
