/**
 * How Gantry runs a command on a node. Commands are argv arrays, never shell strings:
 * an implementation that must go through a shell (ssh exec) quotes every element itself.
 */
export interface ExecOptions {
  /** Bytes written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /** Kill the command (and report a timeout) after this many milliseconds. */
  timeoutMs?: number;
  /** Extra environment variables (names must match /^[A-Z_][A-Z0-9_]*$/). */
  env?: Record<string, string>;
}

export interface ExecResult {
  argv: readonly string[];
  /** Exit code; null when killed by a signal or timeout. */
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface Transport {
  /** The node this transport reaches (for logs and errors). */
  readonly node: string;
  /** Run one command. Resolves with its result even when the exit code is non-zero;
   *  rejects only with a TransportError (unreachable, host key mismatch, timeout). */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Run several independent commands in one round trip (one ssh channel) and return
   * one result per command, in order. A failing command does not stop the others.
   */
  execBatch(commands: readonly (readonly string[])[], opts?: Omit<ExecOptions, 'stdin'>): Promise<ExecResult[]>;
  close(): Promise<void>;
}
