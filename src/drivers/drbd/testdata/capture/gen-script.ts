/**
 * Print the bash script that boot-vm.sh runs inside the capture VM: the 8.4 builders'
 * own argv (quoted by transport/quote.ts) on two resources of one VM linked over
 * loopback (resource0 = vda/vdb at 127.0.0.1:7788, resource1 = vdc/vdd at
 * 127.0.0.2:7789), with the reads saved to /mnt (the host's out/ directory).
 *   npx tsx src/drivers/drbd/testdata/capture/gen-script.ts > /tmp/capture.sh
 */
import { quoteArgv } from '../../../../transport/quote.js';
import * as c from '../../cmd84.js';

const A = { minor: 0, dataDev: '/dev/vda', metaDev: '/dev/vdb', sizeMiB: 240, barriers: { noDiskBarrier: true, noMdFlushes: true }, local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 } };
const B = { minor: 1, dataDev: '/dev/vdc', metaDev: '/dev/vdd', sizeMiB: 240, local: { host: '127.0.0.2', port: 7789 }, peer: { host: '127.0.0.1', port: 7788 } };
const fixed: c.ResyncOptions = { kind: 'fixed', rateKiB: 8192 };
const dynamic: c.ResyncOptions = { kind: 'dynamic', planAhead: 20, fillTarget: 0, delayTarget: 10, maxRateKiB: 8192, minRateKiB: 4096 };
const lines: string[] = ['set -u', 'run() { echo "+ $*" >> commands.log; timeout 60 "$@" >> commands.log 2>&1; echo "rc=$?" >> commands.log; }',
  'cap() { local f=$1; shift; timeout 20 "$@" > "$f" 2>&1; echo "$f rc=$?" >> captures.log; }',
  'snap() { cap "$1-proc.txt" cat /proc/drbd; cap "$1-events2.txt" drbdsetup events2 --now all; cap "$1-show.txt" drbdsetup show; }'];
const run = (argv: string[]): void => { lines.push(`run ${quoteArgv(argv)}`); };
const cap = (file: string, argv: string[]): void => { lines.push(`cap ${file} ${quoteArgv(argv)}`); };

cap('drbdadm-version.txt', c.versionCmd());
cap('proc-empty.txt', c.procDrbdCmd());
for (const s of [A, B]) {
  cap(`dump-md-before-${s.minor}.txt`, c.dumpMdCmd(s.minor, s.metaDev));
  run(c.wipeMetaCmd(s.metaDev));
  run(c.createMdCmd(s.minor, s.metaDev));
  cap(`dump-md-after-${s.minor}.txt`, c.dumpMdCmd(s.minor, s.metaDev));
}
for (const s of [A, B]) for (const argv of c.localUpCmds(c.resourceName(s.minor), s)) run(argv);
lines.push('snap 01-attached');
run(c.diskOptionsCmd(A.minor, fixed));
run(c.diskOptionsCmd(B.minor, dynamic));
lines.push('drbdsetup events2 all > events2-stream.txt 2>&1 & EV=$!');
for (const s of [A, B]) run(c.connectCmd(c.resourceName(s.minor), { local: s.local, peer: s.peer }));
lines.push('sleep 3', 'snap 02-connected-inconsistent');
run(c.forcePrimaryForInitialSyncCmd(A.minor));
lines.push('sleep 4', 'snap 03-syncing', 'cap 03-syncing-status-json.txt drbdsetup status --json all', 'cap 03-syncing-status.txt drbdsetup status all');
lines.push('for i in 1 2 3 4 5 6; do sleep 3; cat /proc/drbd > 03-syncing-proc-$i.txt; done');
lines.push('for i in $(seq 1 120); do grep -q "ds:UpToDate/UpToDate" /proc/drbd && [ "$(grep -c ds:UpToDate/UpToDate /proc/drbd)" = 2 ] && break; sleep 2; done');
lines.push('snap 04-uptodate', `cap 04-uptodate-show-0.txt ${quoteArgv(c.showCmd(0))}`, 'cap 04-uptodate-status-json.txt drbdsetup status --json all');
// A split brain, made on purpose: both sides primary and written while apart.
run(c.disconnectCmd(A.local, A.peer));
run(c.disconnectCmd(B.local, B.peer));
run(c.primaryCmd(B.minor));
lines.push('dd if=/dev/urandom of=/dev/drbd0 bs=4096 count=4 oflag=direct 2>>commands.log', 'dd if=/dev/urandom of=/dev/drbd1 bs=4096 count=4 seek=100 oflag=direct 2>>commands.log');
run(c.secondaryCmd(A.minor));
run(c.secondaryCmd(B.minor));
lines.push('snap 05-disconnected');
for (const s of [A, B]) run(c.connectCmd(c.resourceName(s.minor), { local: s.local, peer: s.peer }));
lines.push('sleep 4', 'snap 06-split-brain', 'dmesg | grep -i drbd > 06-split-brain-dmesg.txt');
run(c.detachCmd(B.minor));
lines.push('snap 07-detached');
for (const s of [A, B]) run(c.downCmd(c.resourceName(s.minor)));
lines.push('snap 08-down', 'kill $EV', 'dmesg | grep -i drbd > dmesg.txt');
process.stdout.write(`${lines.join('\n')}\n`);
