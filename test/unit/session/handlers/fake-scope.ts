/**
 * A SessionScope that records what a handler did, with no socket anywhere: handlers are tested by
 * feeding a command (or a reply) and reading what was forwarded, answered, refused or prepared.
 */
import net from 'node:net';
import { buildConfig } from '../../../../src/config/schema.js';
import type { SiteConfig } from '../../../../src/config/types.js';
import type { ActiveDialResult, ActivePlan } from '../../../../src/data/data-connector.js';
import type { PortLease } from '../../../../src/data/passive-port-pool.js';
import { createLogger } from '../../../../src/observability/logger.js';
import { Metrics, type RefusalReason } from '../../../../src/observability/metrics.js';
import type { ClientCommand } from '../../../../src/protocol/command.js';
import { parseCommand } from '../../../../src/protocol/command.js';
import type { SessionFacts } from '../../../../src/site/site-policy.js';
import type { DataPlanner, GatedRelay, SessionScope } from '../../../../src/session/handlers/scope.js';
import type { Intent } from '../../../../src/session/intents.js';

function testSite(): SiteConfig {
  // Every other key at its default, as the flags would give it: a key added later needs no edit here.
  const site = buildConfig({ upstream: '10.0.11.251:21', passivePorts: '60000-60009', maxSessions: '100' }).sites[0];
  if (site === undefined) throw new Error('buildConfig made no site');
  return { ...site, name: 'test' };
}

export const SITE: SiteConfig = testSite();

export const IPV4_CLIENT: SessionFacts = { clientAddress: '203.0.113.2', ownAddress: '203.0.113.10', epsvAllSeen: false };

export interface FakeLease extends PortLease {
  released: boolean;
}

export function fakeLease(port: number): FakeLease {
  const lease: FakeLease = {
    port,
    server: new net.Server(),
    released: false,
    onConnection: (handler) => void lease.server.on('connection', handler),
    stopListening: () => undefined,
    release: () => {
      lease.released = true;
    },
  };
  return lease;
}

/** A relay whose end the test decides. */
export class FakeRelay implements GatedRelay {
  isClosed = false;
  closedWith: string | undefined;
  private readonly waiters: Array<() => void> = [];

  toClientDone(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The upstream's bytes have all reached the client. */
  flush(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  close(reason: 'aborted' | 'complete' | 'client-error' | 'upstream-error' | 'session-closed'): void {
    this.isClosed = true;
    this.closedWith = reason;
    this.flush();
  }
}

export interface FakeData extends DataPlanner {
  lease: PortLease | undefined;
  activePlan: ActivePlan | undefined;
  dialResult: ActiveDialResult;
  settling: Promise<void> | undefined;
  currentRelay: GatedRelay | undefined;
  /** The newest relay was closed by the stall timeout (reported once). */
  stalled: boolean;
  /** A PROT P data connection was refused (reported once). */
  tlsRefusal: string | undefined;
  /** What prepareKernelPassive resolves (kernel mode: the forward was installed). */
  kernelInstalled: boolean;
  /** Transfer final replies the handlers reported (kernel mode removes the transfer's forward then). */
  transfersReplied: number;
  readonly calls: string[];
}

export function fakeData(): FakeData {
  const data: FakeData = {
    lease: undefined,
    activePlan: undefined,
    dialResult: { ok: true },
    settling: undefined,
    currentRelay: undefined,
    stalled: false,
    calls: [],
    tlsRefusal: undefined,
    kernelInstalled: true,
    transfersReplied: 0,
    prepareKernelPassive: (lease, upstreamPort) => {
      data.calls.push(`prepareKernelPassive ${lease.port} ${upstreamPort}`);
      return Promise.resolve(data.kernelInstalled);
    },
    transferReplied: () => void data.transfersReplied++,
    takeTlsRefusal: () => {
      const refusal = data.tlsRefusal;
      data.tlsRefusal = undefined;
      return refusal;
    },
    takeStall: () => {
      const stalled = data.stalled;
      data.stalled = false;
      return stalled;
    },
    portCapacity: 10,
    acquirePort: () => {
      data.calls.push('acquirePort');
      return Promise.resolve(data.lease);
    },
    preparePassive: (lease, upstreamPort) => void data.calls.push(`preparePassive ${lease.port} ${upstreamPort}`),
    prepareActive: (plan) => void data.calls.push(`prepareActive ${plan.clientTarget.host}:${plan.clientTarget.port} ${plan.upstreamPort}`),
    takeActivePlan: () => {
      const plan = data.activePlan;
      data.activePlan = undefined;
      return plan;
    },
    rollback: () => void data.calls.push('rollback'),
    abortTransfers: () => void data.calls.push('abortTransfers'),
    connectActive: (plan, onClientReached) => {
      data.calls.push(`connectActive ${plan.clientTarget.host}:${plan.clientTarget.port}`);
      if (data.dialResult.ok) onClientReached();
      return Promise.resolve(data.dialResult);
    },
  };
  return data;
}

export interface Recorded {
  readonly forwarded: { line: string; intent: Intent }[];
  readonly local: string[];
  readonly refusals: { reason: RefusalReason; details: Readonly<Record<string, unknown>> }[];
  /** Every byte sent to the client, in order, with `|` after each finished reply. */
  readonly toClient: string[];
  readonly completed: number[];
  readonly logs: { level: number; msg: string }[];
  holds: number;
  releases: number;
  epsvAll: boolean;
}

export interface FakeScope extends SessionScope {
  readonly recorded: Recorded;
  readonly fakeData: FakeData;
  readonly metricsRegistry: Metrics;
  closed: boolean;
  currentFacts: SessionFacts;
  /** What `transferPending()` answers. */
  transferRunning: boolean;
  /** A STAT sent during the transfer awaits its reply: `finishStatusDuringTransfer` takes one. */
  statusAwaited: boolean;
}

export function fakeScope(site: Partial<SiteConfig> = {}, facts: SessionFacts = IPV4_CLIENT): FakeScope {
  const recorded: Recorded = { forwarded: [], local: [], refusals: [], toClient: [], completed: [], logs: [], holds: 0, releases: 0, epsvAll: false };
  const metrics = new Metrics({ defaultMetrics: false });
  const data = fakeData();
  const log = createLogger('debug', {
    write: (text: string) => {
      const record: unknown = JSON.parse(text);
      if (typeof record === 'object' && record !== null && 'msg' in record && 'level' in record) {
        recorded.logs.push({ level: Number(record.level), msg: String(record.msg) });
      }
    },
  });
  const scope: FakeScope = {
    recorded,
    fakeData: data,
    metricsRegistry: metrics,
    closed: false,
    currentFacts: facts,
    transferRunning: false,
    statusAwaited: false,
    site: { ...SITE, ...site },
    metrics: metrics.forSite('test'),
    log,
    data,
    diagnosis: { unroutablePasvWarned: false },
    clientTls: undefined,
    startTls: (reply) => void recorded.local.push(`startTls ${reply}`),
    facts: () => ({ ...scope.currentFacts, epsvAllSeen: scope.currentFacts.epsvAllSeen || recorded.epsvAll }),
    isClosed: () => scope.closed,
    upstreamAddress: () => '10.0.11.251',
    forward: (line, intent) => void recorded.forwarded.push({ line: line.toString('latin1'), intent }),
    answerLocally: (reply) => void recorded.local.push(reply),
    refuse: (reason, details = {}) => void recorded.refusals.push({ reason, details }),
    noteEpsvAll: () => {
      recorded.epsvAll = true;
    },
    holdCommands: () => {
      recorded.holds++;
    },
    releaseCommands: () => {
      recorded.releases++;
    },
    send: (line) => void recorded.toClient.push(line.toString('latin1')),
    finish: (reply) => {
      recorded.toClient.push(typeof reply === 'string' ? reply : reply.toString('latin1'));
      recorded.completed.push(recorded.toClient.length);
    },
    transferPending: () => scope.transferRunning,
    finishStatusDuringTransfer: (line) => {
      if (!scope.statusAwaited) return false;
      scope.statusAwaited = false;
      recorded.toClient.push(line.toString('latin1'));
      return true;
    },
    passOn: (lines) => {
      for (const line of lines) recorded.toClient.push(line.toString('latin1'));
      recorded.completed.push(recorded.toClient.length);
    },
  };
  return scope;
}

export function command(text: string): ClientCommand {
  const parsed = parseCommand(Buffer.from(`${text}\r\n`, 'latin1'));
  if (!parsed.ok) throw new Error(`not a command: ${JSON.stringify(text)} (${parsed.reason})`);
  return parsed.value;
}

/** ftpmasq_<name> for one label value, read off the fake's registry. */
export async function counterValue(scope: FakeScope, metric: 'refusals' | 'rewrites' | 'upstreamErrors', label: string): Promise<number> {
  const values = (await scope.metricsRegistry[metric].get()).values;
  return values.find((value) => Object.values(value.labels).includes(label))?.value ?? 0;
}
