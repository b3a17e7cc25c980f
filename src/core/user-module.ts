/**
 * A user's own module (a refine step, a field transform, a conflict resolver), loaded by path relative
 * to the working directory: TypeScript through jiti, JavaScript as it is. One loader, so every kind of
 * module a pipeline file names is found and compiled the same way.
 */
import { resolve } from 'node:path';

/** The module's exports; throws when it cannot be found or does not compile. */
export function loadUserModule(path: string): Record<string, unknown> {
  // jiti loads on first use: most pipelines name no module of their own
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createJiti } = require('jiti') as typeof import('jiti');
  return (createJiti(__filename)(resolve(path)) as Record<string, unknown> | undefined) ?? {};
}

/** A named export, or the same name on the default export (`export default { toB, toA }`). */
export function functionIn(exports: Record<string, unknown>, name: string): ((...args: unknown[]) => unknown) | undefined {
  const own = exports[name];
  if (typeof own === 'function') return own as (...args: unknown[]) => unknown;
  const fallback = exports.default;
  if ((typeof fallback === 'object' || typeof fallback === 'function') && fallback !== null) {
    const inner = (fallback as Record<string, unknown>)[name];
    if (typeof inner === 'function') return inner as (...args: unknown[]) => unknown;
  }
  return undefined;
}
