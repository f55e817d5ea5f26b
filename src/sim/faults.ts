import type { Verb } from '../core/actions.js';

/** A failure the test wants the next matching action(s) to report. */
export interface FaultSpec {
  readonly code: string;
  readonly retryable: boolean;
  /** How many matching actions fail. Default 1. */
  readonly times?: number;
  readonly message?: string;
  /**
   * The command did its work on the node, but its result was lost (an SSH session that
   * hung and timed out after the remote side finished). Default false: nothing changed.
   */
  readonly applied?: boolean;
}

interface Rule {
  readonly verb: Verb | '*';
  readonly spec: FaultSpec;
  remaining: number;
}

/** Armed faults, consumed in the order they were armed. */
export class FaultPlan {
  private rules: Rule[] = [];

  add(verb: Verb | '*', spec: FaultSpec): void {
    const times = spec.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError('failNext: times must be an integer >= 1');
    this.rules.push({ verb, spec, remaining: times });
  }

  /** Take one use of the first rule matching `verb`, if any. */
  take(verb: string): FaultSpec | undefined {
    const rule = this.rules.find((r) => r.verb === '*' || r.verb === verb);
    if (rule === undefined) return undefined;
    rule.remaining--;
    if (rule.remaining === 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule.spec;
  }

  pending(): number {
    return this.rules.reduce((n, r) => n + r.remaining, 0);
  }

  clear(): void {
    this.rules = [];
  }
}
