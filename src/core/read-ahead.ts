/**
 * Iterates `source` one item ahead: while the consumer works on item k, item k+1 is already being
 * produced. A run uses it so the source database reads the next batch while the staging store commits
 * this one. At most two items are held at a time.
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      next.catch(() => undefined); // if the consumer stops early, a failure of the read-ahead is not unhandled
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}
