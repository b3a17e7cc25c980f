/**
 * The push intake of every pushed source a server serves: a delivery is checked and read
 * (extract/push/receive) and staged in group commits (core/group-commit), and answered only once its
 * group is committed. Past the group commit's bound, and while the server shuts down, deliveries are
 * answered 503 with Retry-After rather than queued.
 */
import { messageOf } from '../core/errors';
import { GroupCommit, Overloaded, type GroupCommitOptions } from '../core/group-commit';
import { pushReceiver, type PushDelivery } from '../extract/push/receive';
import type { WebhookHeaders } from '../extract/push/verify';
import type { IntakeResult, StagingStore } from '../stage/store';
import type { Pipeline, PipelineSource } from './pipeline';

/** An answer to a webhook request. */
export interface HookAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

interface Intake {
  receive: ReturnType<typeof pushReceiver>;
  commits: GroupCommit<PushDelivery, IntakeResult>;
  maxBodyBytes: number;
}

const GROUP_COMMIT: GroupCommitOptions = { maxWaitMs: 2, maxItems: 500, maxPending: 5000, concurrency: 1 };

export class PushIntakes {
  /** By `pipeline/source`. */
  private readonly intakes = new Map<string, Intake>();
  private closing = false;

  constructor(private readonly groupCommit: Partial<GroupCommitOptions> = {}) {}

  /** A pushed source's intake, staging into `store` under the run id `run`. */
  add(p: Pipeline, s: PipelineSource, store: StagingStore, run: string): void {
    const push = s.push!;
    const where = { id: run, pipeline: p.name, source: s.name };
    this.intakes.set(`${p.name}/${s.name}`, {
      receive: pushReceiver(push, s.tenant ?? p.tenant),
      commits: new GroupCommit((deliveries) => store.intake(where, deliveries), { ...GROUP_COMMIT, ...this.groupCommit }),
      maxBodyBytes: push.maxBodyBytes,
    });
  }

  /** The largest body any pushed source accepts (0 without any). */
  get maxBodyBytes(): number {
    return Math.max(0, ...[...this.intakes.values()].map((i) => i.maxBodyBytes));
  }

  /** Each intake's route and the deliveries waiting for or in a group commit. */
  get states(): { route: string; pending: number }[] {
    return [...this.intakes.entries()].map(([route, i]) => ({ route: `/hooks/${route}`, pending: i.commits.pending }));
  }

  /** Verifies and stages one webhook delivery; answers only after it is committed. */
  async receive(pipeline: string, source: string, headers: WebhookHeaders, body: Buffer): Promise<HookAnswer> {
    const intake = this.intakes.get(`${pipeline}/${source}`);
    if (!intake) return { status: 404, body: { error: 'not_found', reason: `no pushed source ${source} in a pipeline ${pipeline} here` } };
    if (this.closing) return { status: 503, headers: { 'retry-after': '5' }, body: { error: 'shutting_down', reason: 'the server is shutting down' } };
    if (body.length > intake.maxBodyBytes) return tooLarge(intake.maxBodyBytes);
    const received = intake.receive(headers, body);
    if (!received.ok) return { status: received.refusal.status, body: { error: errorName(received.refusal.status), reason: received.refusal.reason } };
    try {
      const result = await intake.commits.submit(received.delivery);
      return { status: 200, body: { status: result, id: received.delivery.id } };
    } catch (err) {
      if (err instanceof Overloaded) return { status: 503, headers: { 'retry-after': '1' }, body: { error: 'overloaded', reason: err.message } };
      return { status: 503, headers: { 'retry-after': '5' }, body: { error: 'staging_failed', reason: `could not stage the delivery: ${messageOf(err)}` } };
    }
  }

  /** Refuses new deliveries and waits for those already taken to be committed (or to fail). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.intakes.values()].map((i) => i.commits.drain()));
  }
}

function tooLarge(limit: number): HookAnswer {
  return { status: 413, body: { error: 'payload_too_large', reason: `the body is larger than this source's limit of ${limit} bytes` } };
}

function errorName(status: number): string {
  return { 400: 'bad_request', 401: 'unauthorized', 413: 'payload_too_large', 415: 'unsupported_media_type', 422: 'unprocessable' }[status] ?? 'error';
}
