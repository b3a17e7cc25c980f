/**
 * The push benchmark's ceiling: a bare Node HTTP server that checks a Standard Webhooks signature
 * (HMAC-SHA256 over `id.timestamp.body`, constant-time compare) and answers 204 — the least any webhook
 * receiver must do. It stores nothing. Started as a child process; prints its port on stdout.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const key = Buffer.from(process.env.SLUICE_BENCH_SECRET!.replace(/^whsec_/, ''), 'base64');

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const id = String(req.headers['webhook-id'] ?? '');
    const ts = String(req.headers['webhook-timestamp'] ?? '');
    const expected = Buffer.from(`v1,${createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64')}`);
    const ok = String(req.headers['webhook-signature'] ?? '')
      .split(' ')
      .some((s) => s.length === expected.length && timingSafeEqual(Buffer.from(s), expected));
    res.writeHead(ok ? 204 : 401).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : ''}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
