import { pino, destination, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Build the process logger. There is no module-level singleton: callers create one in
 * main() and pass it (or a child) down. Secrets are redacted by key name wherever they
 * appear in a log object.
 */
export function createLogger(opts: { level?: string; destination?: number | string } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.GANTRY_LOG_LEVEL ?? 'info',
    base: undefined,
    redact: {
      paths: ['*.password', '*.privateKey', '*.passphrase', '*.token', '*.secret', 'password', 'privateKey', 'token', 'secret'],
      censor: '[redacted]',
    },
  };
  return pino(options, destination({ dest: opts.destination ?? 2, sync: true }));
}

/** A logger that discards everything, for tests and pure callers. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
