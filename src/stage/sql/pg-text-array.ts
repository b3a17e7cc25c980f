/**
 * A `text[]` query parameter in PostgreSQL's binary array format. node-postgres sends a Buffer parameter
 * as binary, and the server reads it with `array_recv`: each element is its length and its UTF-8 bytes.
 * Sent as text instead, every element is escaped by the driver (a JSON document's every quote) and
 * scanned back by the server's array parser — for a group of webhook bodies, most of the parameter.
 */

/** The type of the elements: `text`. */
const TEXT_OID = 25;
/** ndim, has-null flag, element type, then the one dimension's length and lower bound. */
const HEADER_BYTES = 20;

export function textArray(values: readonly (string | null)[]): Buffer {
  let size = HEADER_BYTES;
  const lengths = values.map((v) => {
    // a NULL element is the length -1 and no bytes
    const n = v === null ? -1 : Buffer.byteLength(v, 'utf8');
    size += 4 + Math.max(n, 0);
    return n;
  });
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(1, 0);
  out.writeInt32BE(lengths.includes(-1) ? 1 : 0, 4);
  out.writeInt32BE(TEXT_OID, 8);
  out.writeInt32BE(values.length, 12);
  out.writeInt32BE(1, 16);
  let at = HEADER_BYTES;
  values.forEach((v, i) => {
    out.writeInt32BE(lengths[i]!, at);
    at += 4 + (v === null ? 0 : out.write(v, at + 4, 'utf8'));
  });
  return out;
}
