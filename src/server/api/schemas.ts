/** The request bodies the API takes: checked by the routes, described by the OpenAPI document. */
import { z } from 'zod';
import { CONNECTION_KINDS } from '../../run/connections';

export const connectionRequest = z.strictObject({
  name: z.string().min(1).max(100).describe('Unique per tenant.'),
  kind: z.enum(CONNECTION_KINDS),
  url: z.string().min(1).max(4096).describe('With its credentials: stored sealed, never shown again.'),
  tenant: z.string().min(1).optional().describe('Admin tokens only: whose connection it is.'),
});
export const connectionUpdate = connectionRequest.omit({ tenant: true }).partial();

export const runRequest = z.strictObject({ full: z.boolean().optional().describe('Write full snapshots instead of the changes since the previous exports.') });

export const conflictResolution = z
  .strictObject({
    take: z.enum(['a', 'b', 'base']).optional().describe('Every conflicting field from side a, side b or the base (a delete against an edit: the side whose state stands).'),
    set: z.record(z.string(), z.unknown()).optional().describe('Values for single fields, by their side-a names, in side a\'s terms.'),
  })
  .describe('How to settle a sync conflict; the next sync run applies it.');
