/**
 * A second process for the state lock tests: takes the lock in DIR (waiting WAIT ms),
 * prints "locked", holds it HOLD ms, then releases it; prints "refused <message>" and
 * exits 3 when someone else holds it. HOLD < 0: hold until killed.
 */
import { acquireStateLock } from '../state-lock.js';
import { createLogger } from '../../util/log.js';

const [dir, wait, hold] = process.argv.slice(2);
const logger = createLogger({ level: 'info' });
try {
  const lock = await acquireStateLock({ stateDir: dir!, command: 'lock-holder test', logger, waitMs: Number(wait), pollMs: 20 });
  process.stdout.write('locked\n');
  if (Number(hold) < 0) setInterval(() => undefined, 60_000); // until killed
  if (Number(hold) < 0) await new Promise(() => undefined);
  await new Promise((r) => setTimeout(r, Number(hold)));
  await lock.release();
} catch (e) {
  process.stdout.write(`refused ${(e as Error).message}\n`);
  process.exitCode = 3;
}
