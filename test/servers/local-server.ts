/**
 * Plumbing the local test servers share: listen on a free loopback port, delay answers (timers that
 * `close` cancels), read a request body, and close for good even with keep-alive connections open.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class LocalServer {
  readonly server: Server;
  /** e.g. `http://127.0.0.1:41234`, set by `listen` */
  origin = '';
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(handler: RequestListener) {
    this.server = createServer(handler);
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.origin;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  /** idempotent, so an `afterEach` can close whatever the test started */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // fetch keeps connections alive; without this, close() would wait for them to time out
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }
}

/** The body as text; a client that goes away mid-body leaves what arrived. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', done);
    req.on('error', done);
    req.on('close', done);
  });
}
