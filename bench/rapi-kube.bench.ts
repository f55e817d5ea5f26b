/**
 * `npm run bench:rapi-kube`: an instance shutdown and startup through the remote API in
 * Kubernetes mode, from the request to the job's success. In process: the in-repo API
 * DOUBLE of kube-apiserver (test/helpers/kube-api-double.ts: none can run here), SimCluster
 * nodes, and `gantry run --kubernetes --serve` (runKubeDaemon + startRapiKube) over HTTPS on
 * 127.0.0.1 with a users file. Each round: PUT .../shutdown, poll /2/jobs/ID every 10 ms
 * until final, then PUT .../startup, the same. A job is: validate against the cached CRs,
 * conditional merge patch, the leader's watch event, the debounced reconcile pass over
 * every instance of the namespace (simulated nodes: no SSH, no QEMU), its report.
 *
 *   npm run bench:rapi-kube                                 # 200 instances, 20 rounds
 *   npm run bench:rapi-kube -- --instances 2000 --rounds 10
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { runKubeDaemon } from '../src/cli/run-kube.js';
import { startRapiKube } from '../src/cli/serve-commands.js';
import { SimCluster } from '../src/sim/index.js';
import { silentLogger } from '../src/util/log.js';
import { freePort, https } from '../test/helpers/https.js';
import { createCr, loadRepoCrds, startKubeApiDouble } from '../test/helpers/kube-api-double.js';
import { numberFlag } from './flags.js';

const INSTANCES = numberFlag('instances', 200);
const NODES = numberFlag('nodes', 4);
const ROUNDS = numberFlag('rounds', 20);
const DEBOUNCE_MS = numberFlag('debounce', 20);
const NS = 'bench';
const AUTH = 'admin:adminpw';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-kube-bench-'));
  await writeFile(path.join(dir, 'users'), 'admin adminpw write\n');
  const api = await startKubeApiDouble(await loadRepoCrds());
  await createCr(api, NS, 'Cluster', 'bench', {
    enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain'], storage: { volumeGroup: 'vg0' }, nodeProfile: { volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }] },
  });
  const nodes = Array.from({ length: NODES }, (_, i) => `node${i + 1}`);
  for (const [i, n] of nodes.entries()) await createCr(api, NS, 'Node', n, { address: `198.18.2.${i + 1}`, memory: '1024G', cpus: 512 });
  for (let i = 0; i < INSTANCES; i++) {
    await createCr(api, NS, 'Instance', `vm${i + 1}`, { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], beParams: { memory: '128M' }, placement: { primary: nodes[i % NODES] } });
  }
  const sim = new SimCluster(nodes);
  const port = await freePort();
  const stop = new AbortController();
  const t0 = performance.now();
  const running = runKubeDaemon({
    namespace: NS, kubeConfig: api.kubeConfig(), leaseName: 'gantry', identity: 'bench', logger: silentLogger(),
    resyncMs: 0, debounceMs: DEBOUNCE_MS, ops: sim.nodes, signal: stop.signal,
    serve: (hooks) => startRapiKube({ listen: `127.0.0.1:${port}`, stateDir: path.join(dir, 'state'), users: path.join(dir, 'users'), namespace: NS, api: hooks.api }, silentLogger(), hooks),
  });
  // converge first: every instance running on the simulated nodes
  for (;;) {
    const running = nodes.reduce((k, n) => k + Object.values(sim.node(n).snapshot().instances).filter((v) => v.runState === 'running').length, 0);
    if (running === INSTANCES) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const convergedS = (performance.now() - t0) / 1000;

  const job = async (method: string, url: string): Promise<number> => {
    const start = performance.now();
    const r = await https(port, method, url, AUTH);
    if (r.status !== 200) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
    for (;;) {
      const j = (await https(port, 'GET', `/2/jobs/${r.json as number}`, AUTH)).json as { status: string; opresult: unknown };
      if (j.status === 'success') return performance.now() - start;
      if (j.status === 'error') throw new Error(`job ${r.json as number}: ${JSON.stringify(j.opresult)}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const name = `vm${(i % INSTANCES) + 1}`;
    times.push(await job('PUT', `/2/instances/${name}/shutdown`));
    times.push(await job('PUT', `/2/instances/${name}/startup`));
  }
  stop.abort();
  await running;
  await api.stop();
  await sim.close();
  // the job log may still be written to as the server closes: retried (ENOTEMPTY)
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`${INSTANCES} instances on ${NODES} simulated nodes, debounce ${DEBOUNCE_MS} ms: converged in ${convergedS.toFixed(1)} s`);
  console.log(`request to job success (n ${times.length}, shutdown and startup): median ${ms(pct(times, 50))}, p90 ${ms(pct(times, 90))}, max ${ms(Math.max(...times))}`);
}

await main();
