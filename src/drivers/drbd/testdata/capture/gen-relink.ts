/**
 * Print the bash script that boot-vm.sh runs inside the capture VM for the "linked to
 * another peer" golden files (issue 10): the same two resources as gen-script.ts, synced,
 * A Primary; then A disconnected and connected to a third endpoint nobody listens on
 * (127.0.0.3:7790, a node that is gone), so A waits for the wrong peer (WFConnection) and
 * B for A; read; then the repair Gantry plans (disconnect A from what `drbdsetup show`
 * names, connect A to B again), read again once Connected. The 8.4 builders' own argv.
 *   npx tsx src/drivers/drbd/testdata/capture/gen-relink.ts > /tmp/relink.sh
 *   src/drivers/drbd/testdata/capture/boot-vm.sh /tmp/drbdrelink /tmp/relink.sh
 */
import { quoteArgv } from '../../../../transport/quote.js';
import * as c from '../../cmd84.js';

const A = { minor: 0, dataDev: '/dev/vda', metaDev: '/dev/vdb', sizeMiB: 240, local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 } };
const B = { minor: 1, dataDev: '/dev/vdc', metaDev: '/dev/vdd', sizeMiB: 240, local: { host: '127.0.0.2', port: 7789 }, peer: { host: '127.0.0.1', port: 7788 } };
const GONE = { host: '127.0.0.3', port: 7790 };
const fast: c.ResyncOptions = { kind: 'fixed', rateKiB: 102400 };
const lines: string[] = ['set -u', 'echo /bin/true > /sys/module/drbd/parameters/usermode_helper', 'run() { echo "+ $*" >> commands.log; timeout 60 "$@" >> commands.log 2>&1; echo "rc=$?" >> commands.log; }',
  'cap() { local f=$1; shift; timeout 20 "$@" > "$f" 2>&1; echo "$f rc=$?" >> captures.log; }',
  'snap() { cap "$1-proc.txt" cat /proc/drbd; cap "$1-events2.txt" drbdsetup events2 --now all; cap "$1-show.txt" drbdsetup show; }'];
const run = (argv: string[]): void => { lines.push(`run ${quoteArgv(argv)}`); };

for (const s of [A, B]) {
  run(c.wipeMetaCmd(s.metaDev));
  run(c.createMdCmd(s.minor, s.metaDev));
}
for (const s of [A, B]) for (const argv of c.localUpCmds(c.resourceName(s.minor), s)) run(argv);
for (const s of [A, B]) run(c.diskOptionsCmd(s.minor, fast));
for (const s of [A, B]) run(c.connectCmd(c.resourceName(s.minor), { local: s.local, peer: s.peer }));
lines.push('sleep 3');
run(c.forcePrimaryForInitialSyncCmd(A.minor));
lines.push('for i in $(seq 1 120); do [ "$(grep -c ds:UpToDate/UpToDate /proc/drbd)" = 2 ] && break; sleep 2; done', 'snap 01-uptodate');
// A's link moved to a node that is gone: A waits for it, B waits for A.
run(c.disconnectCmd(A.local, A.peer));
run(c.connectCmd(c.resourceName(A.minor), { local: A.local, peer: GONE }));
lines.push('sleep 3', 'snap 02-wrong-peer', `cap 02-wrong-peer-show-0.txt ${quoteArgv(c.showCmd(0))}`);
// The repair: connect to the right peer without a disconnect is refused by DRBD (recorded), then disconnect + connect.
run(c.connectCmd(c.resourceName(A.minor), { local: A.local, peer: A.peer }));
run(c.disconnectCmd(A.local, GONE));
run(c.connectCmd(c.resourceName(A.minor), { local: A.local, peer: A.peer }));
lines.push('for i in $(seq 1 30); do [ "$(grep -c cs:Connected /proc/drbd)" = 2 ] && break; sleep 1; done', 'snap 03-relinked');
for (const s of [A, B]) run(c.downCmd(c.resourceName(s.minor)));
lines.push('dmesg | grep -i drbd > dmesg.txt');
process.stdout.write(`${lines.join('\n')}\n`);
