import { timingSafeEqual } from 'node:crypto';

/**
 * Whether a secret someone sent is the one we hold, compared in constant time for equal lengths (a
 * different length answers at once: it says nothing about the secret's content).
 */
export function sameSecret(given: string, held: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(held);
  return a.length === b.length && timingSafeEqual(a, b);
}
