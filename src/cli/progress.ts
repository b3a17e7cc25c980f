/**
 * Progress of a run. On a terminal: one line, redrawn, with rows and rows/s. Otherwise: a plain line
 * per finished source and export, so logs of cron runs stay readable.
 */
import type { ProgressEvent } from '../run/run';
import { say } from './format';

export interface Progress {
  (event: ProgressEvent): void;
  done(): void;
}

export function progressReporter(out: NodeJS.WriteStream, { quiet }: { quiet: boolean }): Progress {
  const tty = Boolean(out.isTTY);
  let source = '';
  let rows = 0;
  let exported = 0;
  let started = Date.now();
  let lastDraw = 0;
  const rate = () => Math.round(rows / Math.max((Date.now() - started) / 1000, 0.001));
  const finishSource = () => {
    if (!source) return;
    if (tty) out.write('\r\x1b[2K');
    if (!quiet || tty) out.write(`${say('cli.progress.source_done', { source, rows: rows.toLocaleString('en-US'), rate: rate().toLocaleString('en-US') })}\n`);
  };
  const report = ((event: ProgressEvent) => {
    if (event.type === 'source') {
      finishSource();
      source = event.source;
      rows = 0;
      started = Date.now();
    } else if (event.type === 'batch') {
      rows += event.read;
      if (tty && Date.now() - lastDraw > 100) {
        lastDraw = Date.now();
        out.write(`\r\x1b[2K${say('cli.progress.source_reading', { source, rows: rows.toLocaleString('en-US'), rate: rate().toLocaleString('en-US') })}`);
      }
    } else {
      exported += event.rows;
    }
  }) as Progress;
  report.done = () => {
    finishSource();
    source = '';
    if (exported && (!quiet || tty)) out.write(`${say('cli.progress.exported', { rows: exported.toLocaleString('en-US') })}\n`);
  };
  return report;
}
