/**
 * The Lease holder's pod carries a label (default `gantry.dev/rapi-leader: "true"`) and the
 * others do not, so a Service selecting on it sends the remote API's requests to the one
 * replica that may write (the others would answer writes with 503). The label follows
 * leadership: set when this process starts leading, removed when it stops, and removed at
 * start-up (a container restarted inside the same pod keeps the pod's labels). A failed
 * patch is retried every `retryMs` until it lands or the wanted state changes; the last
 * wanted state always wins. While a deposed leader cannot reach the API server its label
 * stays, and the Service may reach it too: it answers writes with 503 (it knows it no
 * longer holds the Lease once its renew deadline passed).
 */
import { sleep, systemClock, type Clock } from '../runtime/clock.js';
import type { Logger } from '../util/log.js';
import type { KubeApi } from './client.js';

export const LEADER_LABEL = 'gantry.dev/rapi-leader';
const FIELD_MANAGER = 'gantry-leader-label';

export interface PodLeaderLabelOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly pod: string;
  readonly logger: Logger;
  readonly label?: string;
  readonly retryMs?: number;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
}

export class PodLeaderLabel {
  private wanted = false;
  private applied: boolean | undefined;
  private running?: Promise<void>;
  private readonly label: string;
  private readonly log: Logger;

  constructor(private readonly opts: PodLeaderLabelOptions) {
    this.label = opts.label ?? LEADER_LABEL;
    this.log = opts.logger.child({ component: 'leader-label', pod: `${opts.namespace}/${opts.pod}`, label: this.label });
  }

  /** Whether the pod's label matches what was last wanted (as far as this process knows). */
  get settled(): boolean {
    return this.applied === this.wanted;
  }

  /** Want the label on (leading) or off; resolves once it landed, or the signal aborted. */
  set(leading: boolean): Promise<void> {
    this.wanted = leading;
    this.running ??= this.converge().finally(() => (this.running = undefined));
    return this.running;
  }

  private async converge(): Promise<void> {
    const clock = this.opts.clock ?? systemClock;
    while (this.applied !== this.wanted && !this.opts.signal?.aborted) {
      const want = this.wanted;
      try {
        await this.opts.api.patchPodLabels(this.opts.namespace, this.opts.pod, { [this.label]: want ? 'true' : null }, FIELD_MANAGER);
        this.applied = want;
        this.log.info({ leading: want }, want ? 'labelled this pod as the API leader' : 'removed the API leader label from this pod');
      } catch (err) {
        this.log.warn({ err, leading: want }, 'could not patch this pod\'s leader label; retrying');
        await sleep(clock, this.opts.retryMs ?? 2_000, this.opts.signal);
      }
    }
  }
}
