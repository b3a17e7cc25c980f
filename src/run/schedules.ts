/**
 * The schedules `sluice serve` keeps (node-cron): a tick is claimed in the staging store first, so with
 * several servers on one store each tick runs once; a tick that finds the pipeline's last run here still
 * going is skipped, and says so.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { asError, SluiceError } from '../core/errors';
import type { StagingStore } from '../stage/store';
import type { PipelineRuns } from './pipeline-runs';

export type TickEvent =
  | { type: 'run-failed'; pipeline: string; source: string; tick: string; error: SluiceError | Error }
  | { type: 'tick-skipped'; pipeline: string; source: string; tick: string; reason: string };

interface Schedule {
  pipeline: string;
  source: string;
  expression: string;
  task?: ScheduledTask;
  running: boolean;
  last?: { tick: string; status: 'succeeded' | 'failed' | 'skipped'; at: string; detail?: string };
}

/** A schedule as `/health` shows it. */
export type ScheduleState = Omit<Schedule, 'task'> & { next: string | null };

export class Schedules {
  private readonly schedules: Schedule[] = [];
  private stopped = false;

  constructor(
    private readonly o: {
      runs: PipelineRuns;
      /** Names this server in the ticks it claims. */
      worker: string;
      log?(event: TickEvent): void;
    },
  ) {}

  /** Runs `run` (which returns when it finished) at each tick of `expression`, once per store. */
  add(pipeline: string, source: string, expression: string, store: StagingStore, run: (tick: string) => Promise<string>): void {
    const schedule: Schedule = { pipeline, source, expression, running: false };
    schedule.task = cron.schedule(expression, (ctx) => this.tick(schedule, store, ctx.date, run), { name: `${pipeline}/${source}`, noOverlap: true });
    this.schedules.push(schedule);
  }

  get states(): ScheduleState[] {
    return this.schedules.map(({ task, ...s }) => ({ ...s, next: task?.getNextRun()?.toISOString() ?? null }));
  }

  /** No tick starts a run from now on. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.schedules.map((s) => s.task?.destroy()));
  }

  private async tick(schedule: Schedule, store: StagingStore, at: Date, run: (tick: string) => Promise<string>): Promise<void> {
    const { pipeline, source } = schedule;
    const tick = new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString();
    const skip = (reason: string) => {
      schedule.last = { tick, status: 'skipped', at: new Date().toISOString(), detail: reason };
      this.o.log?.({ type: 'tick-skipped', pipeline, source, tick, reason });
    };
    if (this.stopped) return;
    if (this.o.runs.busy(pipeline)) return skip('the previous run of this pipeline is still going');
    await this.o.runs.start(pipeline, async () => {
      if (!(await store.claimTick(pipeline, source, tick, this.o.worker))) return skip('another server took this tick');
      schedule.running = true;
      try {
        schedule.last = { tick, status: 'succeeded', at: await run(tick) };
      } catch (err) {
        const error = asError(err);
        if (error instanceof SluiceError && error.code === 'SLUICE_LOCKED') return skip(error.message);
        schedule.last = { tick, status: 'failed', at: new Date().toISOString(), detail: error.message };
        this.o.log?.({ type: 'run-failed', pipeline, source, tick, error });
      } finally {
        schedule.running = false;
      }
    });
  }
}
