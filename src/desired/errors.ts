/** Errors found while loading a set of manifests, each pointing at a file position. */
export type LoadErrorCode =
  | 'io' | 'yaml-syntax' | 'not-a-resource' | 'unknown-api-version' | 'unknown-kind'
  | 'unknown-field' | 'missing-field' | 'invalid-value' | 'invalid-type' | 'bad-size' | 'invalid-name'
  | 'duplicate-name' | 'unknown-reference' | 'template-not-enabled' | 'drbd-no-secondary'
  | 'network-not-connected' | 'bad-cidr' | 'ip-outside-subnet' | 'duplicate-ip' | 'ip-reserved'
  | 'missing-cluster' | 'multiple-clusters' | 'unknown-hypervisor' | 'duplicate-address'
  | 'nic-no-link' | 'placement-conflict' | 'ipolicy-violation' | 'invalid-port-range' | 'sysctl-not-allowed'
  | 'unsupported-field';

export interface LoadError {
  readonly file: string;
  /** 1-based */
  readonly line: number;
  /** 1-based */
  readonly column: number;
  /** field path like spec.disks[0].size ("" for the whole document or set) */
  readonly path: string;
  readonly message: string;
  readonly code: LoadErrorCode;
}

/** `file:line:col: path: message` (the path part is left out when empty). */
export function formatLoadError(e: LoadError): string {
  return `${e.file}:${e.line}:${e.column}: ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

/** spec.disks[0].size from ['spec', 'disks', 0, 'size']. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
