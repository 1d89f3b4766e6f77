/**
 * The transfer manager (issue #14 "the page renders, a manager orchestrates"; issue #17 item 4): protect,
 * retrieve and resume, their progress rows (transfers.svelte.ts), where a retrieved file is saved, what is
 * reported to the coordinator's history, and the toasts for finished and failed operations. Pages call
 * its verbs and render its state; immich's `*-manager.svelte.ts` shape: a class, one exported instance.
 */
import { api } from '$lib/api';
import { handleError, formatLimit } from '$lib/errors';
import { transfers, type Transfer, type TransferGroup } from '$lib/state/transfers.svelte';
import { toasts } from '$lib/state/toasts.svelte';
import { coalesce, type Coalesced } from '$lib/state/coalesce';
import { throttleRuns } from '$lib/state/throttle-runs';
import { degradedRetrievalNotice } from '$lib/state/retrieval-notice';
import { coordinatorBatches, protectFile, resumeUpload, smallFilePool, type CoordinatorBatches, type ProtectOptions, type ProtectProgress } from '$lib/engine/protect';
import type { ShareWorker, WorkerPool } from '$lib/engine/pool';
import { pendingUploads } from '$lib/engine/upload-store';
import { retrieveFile, type RetrieveError, type Sink, type SinkFor } from '$lib/engine/retrieve';
import { blobSink, canPickFile, pickFileSink, safeFileName, serviceWorkerSink } from '$lib/engine/sinks';
import { retrieveZip, type ZipFileError, type ZipItem } from '$lib/engine/zip';
import { KofnError, type FolderView, type LayoutRequest, type OnNameConflict, type RelayTimeouts } from '@kofn/shared';
import type { DroppedFolder } from '$lib/engine/dropped';
import { totalSize } from '$lib/engine/main-thread';

/** Transfer rows show progress this often at most: smooth to the eye, a handful of renders a second. */
const PROGRESS_MS = 200;
/**
 * The page's lists are refreshed at most this often while files are protected (throttle-runs.ts): a drop
 * of many small files refreshed after each one spent its time refreshing (issue #18, many-files.bench).
 */
const REFRESH_MS = 1000;
/**
 * And after a slow refresh, at least this many times its duration later: a coordinator slow to answer is
 * busy, and the drop's own reservations and commits wait behind the refresh's requests (throttle-runs.ts).
 */
const REFRESH_SPACING = 4;
/**
 * Files of one drop protected at once. A small file is a handful of round trips (reserve, two chunks to
 * each relay, commit) with the CPU idle between them, so files in turn left the machine waiting; a few at
 * once fill those waits. Each file has its own share worker, so this also bounds the workers alive.
 */
const PARALLEL_FILES = 8;

/**
 * Runs `fn` over `items`, at most `limit` at once, in order of start; `fn` must not throw. Each lane (one
 * of the `limit`) protects its files one after another with a worker pool of its own, reused from file to
 * file (smallFilePool; a file that fails or is cancelled ends it, and the lane's next file starts another).
 */
async function eachAtOnce<T>(items: readonly T[], limit: number, fn: (item: T, pool: () => WorkerPool<ShareWorker>) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    let pool: WorkerPool<ShareWorker> | undefined;
    const current = () => (pool && !pool.terminated ? pool : (pool = smallFilePool()));
    try {
      while (next < items.length) await fn(items[next++]!, current);
    } finally {
      pool?.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

/** The coordinator's limit (validate.ts fileName), checked here first so the reason is named before any work. */
export const MAX_NAME_LENGTH = 255;

/** Toasts name a file in at most this many characters: a 255-character name would fill the corner. */
const TOAST_NAME = 60;
const short = (name: string) => (name.length > TOAST_NAME ? `${name.slice(0, TOAST_NAME - 1)}…` : name);

/** What a retrieval needs to know about a listed file. */
export interface Retrievable {
  id: string;
  name: string;
  size: number;
}

export interface TransferSettings {
  relayTimeouts: RelayTimeouts;
  maxFileSize: number;
}

/** Threshold, relays and (issue #23) the storage mode of new files: Shamir unless compact is chosen. */
interface Sharing {
  k: number;
  relays: string[];
  mode?: 'shamir' | 'compact';
  /** Issue #21: a two-level layout instead of k of the relays. */
  layout?: LayoutRequest;
}

class TransferManager {
  #settings: TransferSettings | undefined;
  #listeners = new Set<() => void | Promise<void>>();
  /** Whether this page load has looked for interrupted uploads (resumePending). */
  #resumed = false;

  /** Set by the page from its server data before any transfer starts. */
  configure(settings: TransferSettings): void {
    this.#settings = settings;
  }

  /** Called after every finished or failed transfer (the page reloads its lists); returns the unsubscribe. */
  onChange(listener: () => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #changed(): Promise<void> {
    await Promise.all([...this.#listeners].map(async (l) => l()));
  }

  /** #changed, throttled: for protections, which may come by the hundred. */
  readonly #refresh = throttleRuns(() => this.#changed(), REFRESH_MS, REFRESH_SPACING);

  get #config(): TransferSettings {
    if (!this.#settings) throw new Error('transferManager.configure() was not called');
    return this.#settings;
  }

  /**
   * Protects each file in turn with threshold k over the chosen relays, into `place.folderId` (the root
   * without one) resolving taken names by `place.onConflict` (issue #18; the coordinator refuses by default).
   */
  async protect(list: File[], sharing: Sharing, place: { folderId?: string | null; onConflict?: OnNameConflict } = {}): Promise<{ failed: number }> {
    let failed = 0;
    // Loose files go in turn, as before issue #18's many-files work (their names may repeat, dropped from
    // two places, and files-manage.spec's drag right after protecting three failed with them at once:
    // not understood yet); a dropped folder's files go several at once (protectFolders).
    const limit = 1;
    const batches = coordinatorBatches();
    await eachAtOnce(list, limit, async (file, pool) => {
      if (!(await this.#protectOne(file, sharing, place, pool, batches))) failed += 1;
    });
    // Each file asked for a refresh as it ended; the lists are current once those ran (one more would only
    // re-render them again while the person already acts on them).
    await this.#refresh.settled();
    return { failed };
  }

  /** Protects one file with its own transfer row; false when it failed (the row and a toast say why). */
  async #protectOne(
    file: File,
    sharing: Sharing,
    place: { folderId?: string | null; onConflict?: OnNameConflict },
    pool: () => WorkerPool<ShareWorker>,
    batches: CoordinatorBatches,
    group?: TransferGroup
  ): Promise<boolean> {
    const t = transfers.start('protect', file.name, file.size, group);
    if (group) {
      // The group's Cancel stops this file too, and a file whose group was cancelled before it started
      // ends as cancelled at once (protectFile checks the signal before its first request).
      const stop = () => t.controller.abort(new DOMException('Cancelled', 'AbortError'));
      if (group.controller.signal.aborted) stop();
      else group.controller.signal.addEventListener('abort', stop, { once: true, signal: t.controller.signal });
    }
    const refused = this.#refusal(file);
    if (refused) {
      this.#fail(t, refused);
      return false;
    }
    let ok = true;
    try {
      const progress = this.#showProgress(t);
      await protectFile(file, {
        k: sharing.k,
        relays: sharing.relays,
        ...(sharing.mode ? { mode: sharing.mode } : {}),
        ...(sharing.layout ? { layout: sharing.layout } : {}),
        ...place,
        ...this.#uploadCallbacks(t, progress),
        pool,
        batches
      });
      this.#finish(t, progress);
    } catch (err) {
      this.#fail(t, err);
      ok = false;
    }
    // The list shows the file soon, without waiting for it (callers wait for a refresh at their end).
    void this.#refresh.request();
    return ok;
  }

  /**
   * Protects dropped folders with their structure into `place.folderId` (issue #18): each folder below is
   * made through the folders API (`{ path }`, which makes what is missing), then each file is protected
   * into its folder. A dropped folder whose name is taken follows `place.onConflict`, as a file would:
   * `skip` leaves it out, `keepBoth` makes "name (2)", and `replace` protects it under a free name first
   * and only when every file of it is protected moves the old folder to the trash (restorable) and takes
   * its name, so a drop that fails half way leaves the old folder where it was.
   */
  async protectFolders(dropped: DroppedFolder[], sharing: Sharing, place: { folderId?: string | null; onConflict?: OnNameConflict } = {}): Promise<void> {
    const parentId = place.folderId ?? null;
    for (const folder of dropped) {
      /** Whether the files' own refreshes (asked for as each ended) show the folder as it now is. */
      let listed: boolean;
      try {
        const target = await this.#placeFolder(folder.name, parentId, place.onConflict ?? 'fail');
        if (!target) {
          toasts.success(`Skipped the folder ${short(folder.name)}: that name is taken here.`);
          continue;
        }
        /** Folder id by path below the dropped folder ('' is the dropped folder itself). */
        const ids: Record<string, string> = { '': target.made.id };
        for (const path of folder.folders) {
          const made = await api<FolderView>('POST', '/api/folders', { path: path.join('/'), parentId: target.made.id });
          ids[path.join('/')] = made.id;
        }
        let failed = 0;
        // Names within one folder differ, so its files go several at once (PARALLEL_FILES).
        const batches = coordinatorBatches();
        const group = transfers.startGroup(folder.name, folder.files.length, await totalSize(folder.files.map((f) => f.file)));
        try {
          await eachAtOnce(folder.files, PARALLEL_FILES, async ({ file, dir }, pool) => {
            // After the folder's Cancel the rest never start: no row, no request.
            if (group.controller.signal.aborted) failed += 1;
            else if (!(await this.#protectOne(file, sharing, { folderId: ids[dir.join('/')] ?? target.made.id, onConflict: 'fail' }, pool, batches, group))) failed += 1;
          });
        } finally {
          group.finished = true;
        }
        listed = folder.files.length > 0;
        if (target.replaces && failed === 0) {
          await api('DELETE', `/api/folders/${target.replaces.id}`);
          await api('PATCH', `/api/folders/${target.made.id}`, { name: folder.name });
          listed = false;
        }
        if (group.controller.signal.aborted) toasts.success(`Cancelled the folder ${short(folder.name)}: ${folder.files.length - failed} of ${folder.files.length} files protected.`);
        else if (!failed && folder.files.length > 0) toasts.success(`Protected the folder ${short(folder.name)} (${folder.files.length} ${folder.files.length === 1 ? 'file' : 'files'}).`);
        else if (failed)
          toasts.error(
            `${failed} of ${folder.files.length} files of the folder ${short(folder.name)} were not protected${target.replaces ? `; it stays beside the old one as ${short(target.made.name)}` : ''}.`
          );
      } catch (err) {
        listed = false;
        const shown = handleError(err);
        if (shown) toasts.error(`Protecting the folder ${short(folder.name)} failed: ${shown.message}`);
      }
      // Without files, after the replacing renames or a failure, the lists need one more refresh.
      await (listed ? this.#refresh.settled() : this.#refresh.request());
    }
  }

  /**
   * The folder a dropped folder named `name` goes into, made in `parentId`; undefined: skipped. Under
   * `replace`, also the folder it will replace (a file holding the name is not replaced by a folder).
   */
  async #placeFolder(name: string, parentId: string | null, onConflict: OnNameConflict): Promise<{ made: FolderView; replaces?: FolderView } | undefined> {
    try {
      return { made: await api<FolderView>('POST', '/api/folders', { name, parentId }) };
    } catch (err) {
      if ((err as { code?: string } | null)?.code !== 'FILENAME_IN_USE' || onConflict === 'fail') throw err;
    }
    if (onConflict === 'skip') return undefined;
    // `{ path }` answers the folder holding the name (FILENAME_IN_USE if a file holds it).
    const replaces = onConflict === 'replace' ? await api<FolderView>('POST', '/api/folders', { path: name, parentId }) : undefined;
    const made = await api<FolderView>('POST', '/api/folders', { name, parentId, onConflict: 'keepBoth' });
    return replaces ? { made, replaces } : { made };
  }

  /** Why a file is refused before a single byte is read, in words naming the real reason (issue #17 defects 3, 10). */
  #refusal(file: File): { code: string; message: string } | undefined {
    if (file.name.length > MAX_NAME_LENGTH) {
      return { code: 'INVALID_FILENAME', message: `The file name is not allowed: it is ${file.name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed. Rename the file and try again.` };
    }
    // The licence's file size limit is checked before a single byte is read.
    if (file.size > this.#config.maxFileSize) {
      return { code: 'FILE_TOO_BIG', message: `File too big, empty or wrong field. The licence allows files up to ${formatLimit(this.#config.maxFileSize)}.` };
    }
    return undefined;
  }

  /**
   * Uploads interrupted by a reload or a lost connection continue where every relay had them. Once per page
   * load: the page that calls this mounts again on every visit to it, and by then every upload kept in
   * IndexedDB is one this page is running (a second run of it would delete, past its own resume point, the
   * chunks the first had just stored) or one it has resumed already.
   */
  async resumePending(): Promise<void> {
    if (this.#resumed) return;
    this.#resumed = true;
    for (const state of await pendingUploads().catch(() => [])) {
      const t = transfers.start('protect', state.file.name, state.file.size);
      t.done = Math.min(state.file.size, Math.max(0, state.doneUpTo) * state.chunkSize);
      try {
        const progress = this.#showProgress(t);
        await resumeUpload(state, this.#uploadCallbacks(t, progress));
        this.#finish(t, progress);
      } catch (err) {
        this.#fail(t, err);
      }
      await this.#changed();
    }
  }

  async retrieve(f: Retrievable): Promise<void> {
    const t = transfers.start('retrieve', f.name, f.size);
    const progress = this.#showProgress(t);
    try {
      const sink = await this.#sinkFor(f);
      const result = await retrieveFile(f.id, sink, {
        signal: t.controller.signal,
        relayTimeouts: this.#config.relayTimeouts,
        onManifest: (m) => (t.relayNames = Object.fromEntries(m.placements.map((p) => [p.relayId, p.name]))),
        onProgress: (done, _total, perRelay) => progress.push({ done, perRelay })
      });
      const degraded = result.badRelays.length > 0 || result.unreachable.length > 0;
      this.#finish(t, progress, !degraded);
      const report = await api<{ checkScheduled?: boolean }>('POST', `/api/files/${f.id}/retrievals`, { result: 'ok', badRelays: result.badRelays, failedRelays: result.unreachable }).catch(
        () => undefined
      );
      // The file is whole, but a storage server failed it: the person hears of it, naming the servers
      // (issue #16), after the coordinator has been told (it records it and schedules a check).
      const nameOf = (id: string) => t.relayNames[id] ?? id;
      const notice = degradedRetrievalNotice(short(t.name), result.badRelays.map(nameOf), result.unreachable.map(nameOf), report?.checkScheduled === true);
      if (notice) toasts.warning(notice);
    } catch (err) {
      this.#fail(t, err);
      const { badRelays = [], unreachable = [] } = (err ?? {}) as Partial<RetrieveError>;
      if (t.status === 'error') await api('POST', `/api/files/${f.id}/retrievals`, { result: 'error', badRelays, failedRelays: unreachable, message: t.message }).catch(() => undefined);
    }
    await this.#changed();
  }

  /**
   * Retrieves a folder or a selection as one ZIP named `zipName` (issue #18), through the same save path
   * as single files. The save picker opens first, in the click; then `plan` lists what goes in (the folders'
   * contents, walked on the coordinator), and the files are retrieved one by one into the zip. Each file's
   * retrieval is reported to the history as a single retrieval is; one failing fails the zip, and nothing
   * is saved.
   */
  async retrieveZip(zipName: string, plan: () => Promise<ZipItem[]>): Promise<void> {
    const t = transfers.start('retrieve', zipName, 0);
    const progress = this.#showProgress(t);
    let out: Sink | undefined;
    /** Whether retrieveZip took the sink (it aborts it on failure); before that, a failure aborts it here. */
    let handedOver = false;
    try {
      out = await this.#zipSink(zipName);
      const items = await plan();
      t.total = items.reduce((sum, i) => sum + (i.kind === 'file' ? i.size : 0), 0);
      // No streaming way to disk: a Blob, refused past BLOB_LIMIT now that the size is known.
      out ??= blobSink(safeFileName(zipName), t.total, 'application/zip');
      const reports: Array<Promise<unknown>> = [];
      handedOver = true;
      await retrieveZip(items, out, {
        signal: t.controller.signal,
        relayTimeouts: this.#config.relayTimeouts,
        onProgress: (done) => progress.push({ done, perRelay: {} }),
        onFile: (item, outcome) => {
          const body = outcome.ok
            ? { result: 'ok', badRelays: outcome.result.badRelays, failedRelays: outcome.result.unreachable }
            : { result: 'error', ...this.#relaysOf(outcome.error), message: handleError(outcome.error)?.message ?? 'cancelled' };
          if (outcome.ok || handleError(outcome.error)) reports.push(api('POST', `/api/files/${item.id}/retrievals`, body).catch(() => undefined));
        }
      });
      await Promise.all(reports);
      this.#finish(t, progress);
    } catch (err) {
      if (out && !handedOver) await out.abort(err).catch(() => undefined);
      const { path } = (err ?? {}) as Partial<ZipFileError>;
      // Name the file that failed the zip, and say the zip as a whole was not kept.
      this.#fail(t, err, (message) => (path ? `${path}: ${message} The ZIP was not saved.` : message));
    }
    await this.#changed();
  }

  /** Where a zip goes: the save picker (opened in the click), else a streamed download; undefined: a Blob, once its size is known. */
  async #zipSink(name: string): Promise<Sink | undefined> {
    if (canPickFile() && localStorage.getItem('kofn.save') !== 'download') return pickFileSink(safeFileName(name));
    return serviceWorkerSink(safeFileName(name), undefined, 'application/zip');
  }

  #relaysOf(err: unknown): { badRelays: string[]; failedRelays: string[] } {
    const { badRelays = [], unreachable = [] } = (err ?? {}) as Partial<RetrieveError>;
    return { badRelays, failedRelays: unreachable };
  }

  /** Progress reports for transfer `t`'s row, shown a few times a second (coalesce.ts) and only while it runs. */
  #showProgress(t: Transfer): Coalesced<{ done: number; perRelay: Record<string, number> }> {
    return coalesce((p) => {
      if (t.status !== 'running') return;
      t.done = p.done;
      t.perRelay = p.perRelay;
    }, PROGRESS_MS);
  }

  /**
   * Marks `t` done, after showing the progress report still waiting (the final per-server figures); `toast`
   * false when the caller tells the person more than "done" (a retrieval a storage server failed).
   */
  #finish(t: Transfer, progress: Pick<Coalesced<unknown>, 'flush'>, toast = true): void {
    progress.flush();
    t.done = t.total;
    t.status = 'done';
    // A dropped folder's files are announced once, by the folder (protectFolders), not a toast per file.
    if (toast && t.group === undefined) toasts.success(`${t.kind === 'protect' ? 'Protected' : 'Retrieved'} ${short(t.name)}.`);
  }

  /** Marks `t` failed (or cancelled) with the error in plain words, which `explain` may put in context. */
  #fail(t: Transfer, err: unknown, explain: (message: string) => string = (m) => m): void {
    const shown = handleError(err);
    t.status = shown ? 'error' : 'cancelled';
    t.message = shown ? explain(shown.message) : '';
    // A dropped folder's files say it once, in the folder's toast (protectFolders), not a toast per file.
    if (shown && t.group === undefined) toasts.error(`${t.kind === 'protect' ? 'Protecting' : 'Retrieving'} ${short(t.name)} failed: ${t.message}`);
  }

  /** Wires an upload's cancel signal and progress to its row in the transfers panel. */
  #uploadCallbacks(t: Transfer, progress: Coalesced<ProtectProgress>): ProtectOptions {
    return {
      signal: t.controller.signal,
      relayTimeouts: this.#config.relayTimeouts,
      onReserved: (r) => (t.relayNames = Object.fromEntries(r.placements.map((p) => [p.relayId, p.name]))),
      onProgress: progress.push
    };
  }

  /**
   * Where a retrieved file goes, named by its authenticated metadata record (retrieve.ts). The save picker
   * must open in the click (it needs user activation), before that record is known: it suggests the listed
   * name, and the retrieval stops, removing the picked file, if the record names the file otherwise.
   */
  async #sinkFor(f: Retrievable): Promise<SinkFor> {
    if (canPickFile() && localStorage.getItem('kofn.save') !== 'download') {
      const suggested = safeFileName(f.name);
      const picked = await pickFileSink(suggested);
      const open: SinkFor = async (file) => {
        if (file.name === suggested) return picked;
        throw new KofnError('METADATA_MISMATCH', 'The coordinator names this file differently from its authenticated record; nothing was saved.');
      };
      // Retrieval failing before the sink is asked for (or refusing it, above) removes the picked file.
      open.abort = (reason) => picked.abort(reason);
      return open;
    }
    return async (file): Promise<Sink> => (await serviceWorkerSink(file.name, file.size, file.type)) ?? blobSink(file.name, file.size, file.type);
  }
}

export const transferManager = new TransferManager();
