/**
 * What a `push:` source is configured with: how deliveries are signed, where each one's key and tenant
 * are in its body, and how large a body may be.
 */
import { z } from 'zod';
import { duration, jsonPath } from '../../config/parts';
import { createVerifier } from './verify';

export const pushConfig = z
  .strictObject({
    verify: z
      .enum(['standard-webhooks', 'github', 'stripe', 'hmac-sha256', 'none'])
      .describe('How deliveries are signed. `none` needs `allowInsecure: true`.'),
    secret: z.string().min(1).optional().describe('The signing secret (`whsec_…` for Standard Webhooks and Stripe). `${ENV}` allowed.'),
    allowInsecure: z.boolean().default(false).describe('Accept unsigned deliveries (`verify: none`). Only for tests and trusted networks.'),
    header: z.string().min(1).optional().describe('hmac-sha256: the header that carries the signature (default `x-signature`).'),
    encoding: z.enum(['hex', 'base64']).optional().describe('hmac-sha256: how the signature is written (default hex).'),
    prefix: z.string().optional().describe('hmac-sha256: what precedes the digest in the header, e.g. `sha256=`.'),
    tolerance: duration.prefault('5m').describe('standard-webhooks and stripe: how far a delivery\'s timestamp may be from now.'),
    idHeader: z.string().min(1).optional().describe('The header with the delivery id, when the scheme has none of its own. Without one, the body\'s hash is the id.'),
    key: jsonPath.optional().describe('Where the record\'s key is in the body, e.g. `$.issue.id`. Default: the delivery id (each delivery is its own record).'),
    tenant: jsonPath.optional().describe('Where the tenant is in the body, e.g. `$.repository.owner.login`. Default: the source\'s or pipeline\'s `tenant`.'),
    maxBodyBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(1024 * 1024).describe('Larger bodies are refused with 413.'),
  })
  .superRefine((c, ctx) => {
    if (c.verify === 'none') {
      if (!c.allowInsecure) ctx.addIssue({ code: 'custom', path: ['verify'], message: '`verify: none` accepts anyone\'s deliveries: add `allowInsecure: true` to mean it' });
      return;
    }
    if (c.secret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: `\`verify: ${c.verify}\` needs a secret` });
      return;
    }
    try {
      createVerifier(verifyOptions(c));
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: (err as Error).message });
    }
  })
  .describe('Receive records as webhook deliveries on `sluice serve` (POST /hooks/<pipeline>/<source>).');

export type PushConfig = z.output<typeof pushConfig>;

export function verifyOptions(c: PushConfig) {
  return { scheme: c.verify, secret: c.secret, header: c.header, encoding: c.encoding, prefix: c.prefix, toleranceSeconds: c.tolerance };
}
