/**
 * The core-proxy scenario shared by relay and rewrite mode: ftpmasq in the gateway namespace on
 * 203.0.113.10:21 in front of ProFTPD (no MasqueradeAddress), the whole client matrix through it, and the
 * process's own end: still running after the matrix, exit code 0 on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_KINDS } from '../../helpers/clients.js';
import { type FtpmasqMode, type FtpmasqProcess, startFtpmasq } from '../../helpers/ftpmasq-process.js';
import { type NatMode, PUBLIC_ADDRESS } from '../../helpers/topology.js';
import { describeClientMatrix } from './client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './environment.js';

const LOG_TAIL_LINES = 60;

export function describeCoreProxy(mode: FtpmasqMode, nat: NatMode): void {
  let env: E2eEnvironment | undefined;
  let ftpmasq: FtpmasqProcess | undefined;
  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };
  const requireFtpmasq = (): FtpmasqProcess => {
    if (ftpmasq === undefined) throw new Error('ftpmasq was not started (see the beforeAll error)');
    return ftpmasq;
  };
  const logTail = (): string => {
    if (ftpmasq === undefined) return '';
    const lines = ftpmasq.output().trimEnd().split('\n');
    return `--- ftpmasq ${ftpmasq.args.join(' ')} (${ftpmasq.running() ? 'running' : 'EXITED'}), last ${LOG_TAIL_LINES} lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
  };

  beforeAll(async () => {
    env = await setUpEnvironment();
    await env.topology.setNat(nat);
    ftpmasq = await startFtpmasq({ tools: env.tools, topology: env.topology, mode });
  });

  afterAll(async () => {
    try {
      await ftpmasq?.stop();
    } finally {
      await env?.teardown();
    }
  });

  describe(`ftpmasq --mode ${mode} (gateway NAT: ${nat})`, () => {
    describeClientMatrix(mode, CLIENT_KINDS, () => ({
      env: requireEnv(),
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
      diagnostics: logTail,
      expectedPasvAddress: PUBLIC_ADDRESS.replaceAll('.', ','),
    }));

    if (nat === 'passive-only') {
      it("sent the data connections through the gateway's NAT, not through ftpmasq", async () => {
        const connections = await requireEnv().topology.countNattedPassiveConnections();
        console.log(`[e2e] ftpmasq --mode ${mode}: the gateway NAT forwarded ${connections} data connections`);
        expect(connections).toBeGreaterThan(0);
      });
    }

    it('is still running after the matrix and exits 0 on SIGTERM', async () => {
      const proxy = requireFtpmasq();
      expect(proxy.running(), logTail()).toBe(true);
      const exit = await proxy.stop();
      const errors = proxy.logRecords.filter((record) => record['level'] === 'error' || record['level'] === 'fatal');
      console.log(`[e2e] ftpmasq --mode ${mode}: ${proxy.logRecords.length} log records, ${errors.length} at error level; exit ${exit.code ?? exit.signal}`);
      expect(exit, logTail()).toEqual({ code: 0, signal: null });
    });
  });
}
