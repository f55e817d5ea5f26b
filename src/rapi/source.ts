/**
 * Where the server's view comes from in file mode: the manifests (-f) and the state
 * directory's last observation (written by apply/run). Reloaded when one of them changed,
 * checked at most every `checkMs`, and at once after a write (invalidate()). A reload
 * that fails (a manifest made invalid by hand) keeps serving the last good view and logs
 * why; until a first good load, requests fail with 503 naming the errors.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { collectFiles, loadDesired, ParseCache } from '../desired/load.js';
import { formatLoadError } from '../desired/errors.js';
import type { DesiredState } from '../desired/model.js';
import { readObserved } from '../status/state-dir.js';
import type { ObservedCluster } from '../core/plan.js';
import type { Logger } from '../util/log.js';
import { warmBodies } from './bodies.js';
import { buildModel, type RapiModel } from './view.js';
import { RapiHttpError, type RapiSource } from './server.js';

export interface Snapshot {
  readonly state: DesiredState;
  readonly observed?: ObservedCluster;
  /** ISO time of the observation (observed.json). */
  readonly observedAt?: string;
  readonly model: RapiModel;
}

async function mtimes(files: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(files.map(async (f) => {
    try { out.set(f, (await stat(f)).mtimeMs / 1000); } catch { out.set(f, -1); }
  }));
  return out;
}

export class FileSource implements RapiSource {
  private snap: Snapshot | undefined;
  private stamp = '';
  private checkedAt = 0;
  private dirty = true;
  private loading: Promise<void> | undefined;
  private lastError = '';
  /** Only the manifests that changed since the last view are parsed again. */
  private readonly parsed = new ParseCache();

  constructor(private readonly o: { files: readonly string[]; stateDir: string; logger: Logger; checkMs?: number; now?: () => number }) {}

  /** After a write: the next snapshot() waits for a reload (a client reads its own writes). */
  invalidate(): void {
    this.dirty = true;
  }

  /**
   * The current snapshot. The view is built once per change of the inputs, never per
   * request: when checkMs has passed, the inputs are checked (and a changed view built)
   * in the background while requests keep getting the last view; only the first load
   * and a load after invalidate() are waited for.
   */
  async snapshot(): Promise<Snapshot> {
    const now = (this.o.now ?? Date.now)();
    if (!this.snap || this.dirty) {
      this.dirty = false;
      this.checkedAt = now;
      if (this.loading) await this.loading; // it may have read the files before the write
      await this.reload();
    } else if (now - this.checkedAt >= (this.o.checkMs ?? 2000)) {
      this.checkedAt = now;
      void this.reload();
    }
    if (!this.snap) throw new RapiHttpError(503, 'Service Unavailable', `the manifests do not load: ${this.lastError}`);
    return this.snap;
  }

  async current(): Promise<RapiModel> {
    return (await this.snapshot()).model;
  }

  /** One refresh at a time; a refresh that throws is logged and keeps the last view. */
  private reload(): Promise<void> {
    this.loading ??= this.refresh()
      .catch((err: unknown) => { this.lastError = String(err); this.o.logger.error({ err }, 'remote API view reload failed: serving the last good view'); })
      .finally(() => { this.loading = undefined; });
    return this.loading;
  }

  private async refresh(): Promise<void> {
    const { files } = await collectFiles([...this.o.files]);
    const observedFile = path.join(this.o.stateDir, 'observed.json');
    const times = await mtimes([...files, observedFile]);
    const stamp = JSON.stringify([...times]);
    if (stamp === this.stamp && this.snap) return;
    const { state, errors } = await loadDesired([...this.o.files], undefined, this.parsed);
    if (!state) {
      this.lastError = errors.map(formatLoadError).join('; ');
      this.o.logger.error({ errors: errors.slice(0, 20).map(formatLoadError) }, 'manifests do not load: serving the last good view');
      return;
    }
    const last = await readObserved(this.o.stateDir);
    const observed = last?.observed;
    const model = buildModel({ state, ...(observed ? { observed } : {}), fileTimes: times });
    await warmBodies(model);
    this.snap = { state, ...(last ? { observed: last.observed, observedAt: last.observedAt } : {}), model };
    this.stamp = stamp;
  }
}
