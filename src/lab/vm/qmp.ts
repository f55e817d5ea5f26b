/**
 * A minimal QMP client for the lab's power control: connect to a VM node's socket,
 * negotiate capabilities, run one command, return its answer.
 */
import { connect } from 'node:net';
import { ExecError } from '../../util/errors.js';

export interface QmpReply {
  return?: unknown;
  error?: { class: string; desc: string };
}

/**
 * Run one QMP command. `quit` closes the socket as its answer may or may not arrive
 * first: a close after the command was sent counts as success for it.
 */
export function qmpCommand(socket: string, execute: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<QmpReply> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    let stage: 'greeting' | 'caps' | 'cmd' = 'greeting';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ExecError('LAB_QMP_TIMEOUT', `QMP ${execute} on ${socket} did not answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      s.destroy();
      fn();
    };
    s.on('error', (err) => done(() => reject(new ExecError('LAB_QMP_FAILED', `QMP ${execute} on ${socket}: ${err.message}`, {}, { cause: err }))));
    s.on('close', () => {
      if (stage === 'cmd' && execute === 'quit') done(() => resolve({ return: {} }));
    });
    s.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as QmpReply & { QMP?: unknown; event?: string };
        if (msg.event) continue;
        if (stage === 'greeting' && msg.QMP) {
          stage = 'caps';
          s.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (stage === 'caps') {
          stage = 'cmd';
          s.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n');
        } else if (stage === 'cmd') {
          done(() => resolve(msg));
          return;
        }
      }
    });
  });
}
