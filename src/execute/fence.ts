/**
 * Fencing through a node's out-of-band program (Ganeti's oob_program, doc/design-oob.rst):
 * `PROGRAM... power-off NODE`, then `PROGRAM... power-status NODE`, which prints
 * {"powered": true|false}. Only a status that says powered false confirms the node dead;
 * a failed, timed-out or unparsable answer confirms nothing. Run on the controller as an
 * argv (LocalTransport), never through a shell.
 */
import type { Fencer, FenceRecord } from '../core/liveness.js';

export type { Fencer } from '../core/liveness.js';
import type { Logger } from '../util/log.js';
import type { DesiredState } from '../desired/model.js';
import { LocalTransport } from '../transport/local.js';
import { ExecError, GantryError } from '../util/errors.js';

export interface OobSpec {
  readonly program: readonly string[];
  readonly timeoutSeconds: number;
}


/** The JSON power-status prints, or an error naming what was wrong. */
export function parsePowerStatus(stdout: string): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout.trim());
  } catch {
    throw new ExecError('OOB_BAD_STATUS', `power-status printed ${JSON.stringify(stdout.trim().slice(0, 200))}, not {"powered": true|false}`);
  }
  const powered = (doc as { powered?: unknown } | null)?.powered;
  if (typeof powered !== 'boolean') throw new ExecError('OOB_BAD_STATUS', `power-status printed ${JSON.stringify(stdout.trim().slice(0, 200))}: "powered" is not true or false`);
  return powered;
}

export class OobFencer implements Fencer {
  private readonly run: LocalTransport;
  constructor(private readonly programs: ReadonlyMap<string, OobSpec>, private readonly logger: Logger) {
    this.run = new LocalTransport({ logger, node: 'controller' });
  }

  private async verb(node: string, spec: OobSpec, verb: string): Promise<string> {
    const argv = [...spec.program, verb, node];
    let r;
    try {
      r = await this.run.exec(argv, { timeoutMs: spec.timeoutSeconds * 1000 });
    } catch (e) {
      throw new ExecError('OOB_FAILED', `${verb} ${node}: ${(e as Error).message}`, { node, verb }, { cause: e });
    }
    if (r.code !== 0) throw new ExecError('OOB_FAILED', `${verb} ${node}: ${spec.program[0]} exited ${r.code ?? 'on a signal'}: ${r.stderr.trim().slice(0, 500)}`, { node, verb, code: r.code });
    return r.stdout;
  }

  async fence(node: string, now: () => Date): Promise<FenceRecord> {
    const spec = this.programs.get(node);
    if (!spec) throw new ExecError('OOB_NONE', `${node} has no out-of-band program (Node spec.oob)`, { node });
    const log = this.logger.child({ node, component: 'fence' });
    log.warn({ program: spec.program[0] }, 'fencing: power-off');
    await this.verb(node, spec, 'power-off');
    const powered = parsePowerStatus(await this.verb(node, spec, 'power-status'));
    const rec: FenceRecord = { at: now().toISOString(), verbs: ['power-off', 'power-status'], powered };
    if (powered) throw new ExecError('OOB_STILL_POWERED', `${node}: power-off ran but power-status still says powered: not confirmed dead`, { node });
    log.warn({ at: rec.at }, 'fenced: power off confirmed');
    return rec;
  }
}

/** The fencing error's words for the job log and status. */
export function fenceError(e: unknown): { code: string; message: string } {
  return e instanceof GantryError ? { code: e.code, message: e.message } : { code: 'OOB_FAILED', message: String(e) };
}

/** The fencer for a desired state: every node that declares spec.oob. */
export function fencerFor(state: DesiredState, logger: Logger): OobFencer {
  const programs = new Map<string, OobSpec>();
  for (const n of state.nodes.values()) if (n.oob) programs.set(n.name, n.oob);
  return new OobFencer(programs, logger);
}
