/**
 * Alert notifications: a JSON POST to the notifier's URL, signed with Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) so the receiver can check it came from us, and retried with
 * exponential backoff and jitter on network errors, 429 and 5xx. The message id stays the same across
 * retries, so a receiver that deduplicates by it sees each notice once.
 */
import { randomUUID } from 'node:crypto';
import { msg } from '../core/i18n';
import pRetry, { AbortError } from 'p-retry';
import { SluiceError, messageOf } from '../core/errors';
import { signStandardWebhook } from '../extract/push/verify';
import type { NotifierConfig } from '../observe/alert-config';

export async function notify(n: NotifierConfig, payload: Record<string, unknown>, o: { retryDelayMs?: number } = {}): Promise<void> {
  const body = JSON.stringify(payload);
  const id = `msg_${randomUUID().replace(/-/g, '')}`;
  await pRetry(
    async () => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'sluice' };
      if (n.sign === 'standard-webhooks') {
        const timestamp = Math.floor(Date.now() / 1000);
        Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signStandardWebhook(n.secret!, id, timestamp, body) });
      }
      let res: Response;
      try {
        res = await fetch(n.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(n.timeout * 1000) });
      } catch (err) {
        throw new Error(`cannot reach ${new URL(n.url).origin}: ${messageOf(err)}`);
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      const failure = new Error(`${new URL(n.url).origin} answered ${res.status}`);
      if (res.status === 429 || res.status >= 500) throw failure;
      throw new AbortError(failure);
    },
    { retries: n.retries, minTimeout: o.retryDelayMs ?? 1000, factor: 2, randomize: true },
  ).catch((err: unknown) => {
    throw new SluiceError('SLUICE_NOTIFY', msg('err.run.notify.1', { reason: messageOf(err) }), {});
  });
}
