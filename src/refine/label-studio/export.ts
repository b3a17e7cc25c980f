/**
 * Reading what Label Studio exports (reference §5): the synchronous export of a project, and export
 * snapshots — created, polled until completed, converted when another format is asked for, downloaded
 * and deleted — which are the only way on Enterprise and the one that does not time out on large
 * projects. A download is told apart by its file name (or, without one, by the ZIP signature), never by
 * Content-Type; COCO, YOLO and VOC come as ZIP files and are unpacked. A JSON snapshot is read task by
 * task as it arrives, never held whole.
 */
import { Readable } from 'node:stream';
import { msg } from '../../core/i18n';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { unzipSync } from 'fflate';
import { parser } from 'stream-json';
import { streamArray } from 'stream-json/streamers/StreamArray';
import { SluiceError } from '../../core/errors';
import type { LabelStudioClient, LsTask } from './client';

export interface ExportFile {
  /** the path inside the download (`result.json`, `labels/a.txt`), or the download's own name */
  name: string;
  bytes: Uint8Array;
}

export interface SnapshotOptions {
  /** `JSON` (default) is the snapshot itself; any other export type is converted from it */
  exportType?: string;
  /** how often to ask whether it is done; the SDK asks every second */
  pollMs?: number;
  timeoutMs?: number;
  /** `task_filter_options` of the create call, e.g. `{ only_with_annotations: true }` */
  taskFilter?: Record<string, unknown>;
}

interface Snapshot {
  id: number;
  status: 'created' | 'in_progress' | 'failed' | 'completed';
  converted_formats?: { id: number; status: string; export_type: string; traceback?: string | null }[];
}

/** The synchronous export (§5a). */
export async function exportProject(client: LabelStudioClient, project: number, o: { exportType?: string; allTasks?: boolean; ids?: number[] } = {}): Promise<ExportFile[]> {
  const q = new URLSearchParams({ exportType: o.exportType ?? 'JSON' });
  if (o.allTasks) q.set('download_all_tasks', 'true');
  for (const id of o.ids ?? []) q.append('ids[]', String(id));
  return files(await client.download(`/api/projects/${project}/export?${q}`));
}

/** An export snapshot (§5b) in any format, unpacked; the snapshot is deleted afterwards. */
export async function exportSnapshot(client: LabelStudioClient, project: number, o: SnapshotOptions = {}): Promise<ExportFile[]> {
  const snapshot = await readySnapshot(client, project, o);
  try {
    return await files(await client.download(snapshot.download));
  } finally {
    await snapshot.remove();
  }
}

/** The tasks of a JSON export snapshot, one at a time as the download arrives. */
export async function* snapshotTasks(client: LabelStudioClient, project: number, o: Omit<SnapshotOptions, 'exportType'> = {}): AsyncGenerator<LsTask> {
  const snapshot = await readySnapshot(client, project, o);
  try {
    const { body } = await client.download(snapshot.download);
    const tasks = Readable.fromWeb(body as NodeReadableStream<Uint8Array>).pipe(parser()).pipe(streamArray());
    for await (const item of tasks as AsyncIterable<{ value: LsTask }>) yield item.value;
  } finally {
    await snapshot.remove();
  }
}

/** Creates a snapshot and waits until it (and its conversion, for another format) is completed. */
async function readySnapshot(client: LabelStudioClient, project: number, o: SnapshotOptions): Promise<{ download: string; remove(): Promise<void> }> {
  const base = `/api/projects/${project}/exports/`;
  const created: Snapshot = await client.request('POST', base, { title: 'sluice', ...(o.taskFilter ? { task_filter_options: o.taskFilter } : {}) });
  const remove = async () => void (await client.request('DELETE', `${base}${created.id}`).catch(() => undefined));
  const fail = (why: string) => new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.export.1', { id: created.id, project, why }), {});
  const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
  const until = async (done: (s: Snapshot) => boolean, what: string): Promise<Snapshot> => {
    for (;;) {
      const s: Snapshot = await client.request('GET', `${base}${created.id}`);
      if (s.status === 'failed') throw fail('failed');
      if (done(s)) return s;
      if (Date.now() > deadline) throw fail(`was not ${what} in time`);
      await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
    }
  };
  try {
    await until((s) => s.status === 'completed', 'completed');
    const type = o.exportType ?? 'JSON';
    if (type === 'JSON') return { download: `${base}${created.id}/download`, remove };
    await client.request('POST', `${base}${created.id}/convert`, { export_type: type, download_resources: false });
    const formatOf = (s: Snapshot) => (s.converted_formats ?? []).find((f) => f.export_type === type && (f.status === 'completed' || f.status === 'failed'));
    const format = formatOf(await until((s) => formatOf(s) !== undefined, `converted to ${type}`))!;
    if (format.status === 'failed') throw fail(`could not be converted to ${type}: ${format.traceback ?? 'no reason given'}`);
    return { download: `${base}${created.id}/download?exportType=${encodeURIComponent(type)}`, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A download as files: a ZIP unpacked (folders left out), anything else as the one file it is. */
async function files(download: { filename: string | undefined; body: ReadableStream<Uint8Array> }): Promise<ExportFile[]> {
  const bytes = new Uint8Array(await new Response(download.body).arrayBuffer());
  const zip = download.filename ? /\.zip$/i.test(download.filename) : bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (!zip) return [{ name: download.filename ?? 'export', bytes }];
  return Object.entries(unzipSync(bytes))
    .filter(([name]) => !name.endsWith('/'))
    .map(([name, content]) => ({ name, bytes: content }));
}
