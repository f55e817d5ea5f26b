import { watch } from 'chokidar';

/** A source of "some manifest changed" events; chokidar in production, a stub in tests. */
export interface ManifestWatcher {
  /** Resolves when the initial scan is done and later changes will be reported. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface WatchHandlers {
  onChange(path: string): void;
  onError(err: unknown): void;
}

export type WatchFactory = (paths: readonly string[], handlers: WatchHandlers) => ManifestWatcher;

const MANIFEST = /\.ya?ml$/i;

/** Watch files and directories (recursively) for changes to YAML manifests. */
export const chokidarWatch: WatchFactory = (paths, handlers) => {
  const w = watch([...paths], {
    // The daemon lists every key itself at start; initial "add" events are noise.
    ignoreInitial: true,
    // Directories must pass so they are descended into; only YAML files count.
    ignored: (p, stats) => stats?.isFile() === true && !MANIFEST.test(p),
  });
  w.on('all', (_event, path) => {
    if (MANIFEST.test(path)) handlers.onChange(path);
  });
  w.on('error', (err) => handlers.onError(err));
  const ready = new Promise<void>((resolve) => w.once('ready', () => resolve()));
  return { ready, close: () => w.close() };
};
