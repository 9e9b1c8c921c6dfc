import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SiteConfig } from '../config/types.js';
import { adoptWithReusedBuffer } from '../data/adopt-accepted.js';
import { DataRelay, type RelayReaders, type RelayResult, ReusedReadBuffer } from '../data/data-relay.js';
import type { PassivePortPool, PortLease } from '../data/passive-port-pool.js';
import { dial } from '../net/dial.js';
import type { Logger } from '../observability/logger.js';
import type { DataMode, RefusalReason, SiteMetrics } from '../observability/metrics.js';
import {
  checkActiveTarget,
  decidePasvRewrite,
  ipFamily,
  isAllowedDataPeer,
  isSameHost,
  isUnroutable,
  normalizeAddress,
} from '../protocol/address-policy.js';
import { argumentText, parseCommand, type ClientCommand } from '../protocol/command.js';
import {
  format227,
  format229,
  parse227,
  parse229,
  parseEprtArgument,
  parsePortArgument,
  type HostPort,
  type ParseResult,
} from '../protocol/data-addresses.js';
import { LineReader, lineEnding } from '../protocol/line-reader.js';
import { ReplyTracker, isPreliminary } from '../protocol/reply-tracker.js';
import { TRANSFER_VERBS, shouldDropFeature, type Intent } from './intents.js';

/** Shared by all sessions of one daemon. */
export interface SessionContext {
  /** The site snapshot the session started with; a reload never changes it. */
  readonly site: SiteConfig;
  readonly pool: PassivePortPool;
  readonly metrics: SiteMetrics;
  readonly logger: Logger;
  /** Process-wide: the diagnosis of a misconfigured upstream is logged once, not per session. */
  readonly diagnosis: { unroutablePasvWarned: boolean };
}

type PassiveSetup = {
  readonly kind: 'passive';
  readonly lease: PortLease;
  readonly upstreamPort: number;
  readonly timer: NodeJS.Timeout;
};
type ActiveSetup = { readonly kind: 'active'; readonly upstreamPort: number; readonly clientTarget: HostPort };
type DataSetup = PassiveSetup | ActiveSetup;

type UpstreamItem = Buffer | 'end' | 'line-too-long';
/**
 * Why a side is paused; it reads again when no reason is left. `replies-unread`: the client is
 * not reading its replies, so ftpmasq stops reading its commands too. `pipeline`: too many
 * commands await replies.
 */
type PauseReason = 'backpressure' | 'processing' | 'connecting' | 'replies-unread' | 'pipeline';

/**
 * Commands awaiting a reply before ftpmasq stops reading the client. Without it a client that
 * pipelines commands ftpmasq answers itself (AUTH ...) behind one slow upstream reply would grow
 * the queue without bound.
 */
const MAX_PENDING_COMMANDS = 256;

/** How long a closing session waits for the peer to take its last reply before destroying. */
const CLOSE_GRACE_MS = 2000;
/** After a negative transfer reply, how long the relay may still flush what it holds. */
const NEGATIVE_REPLY_FLUSH_MS = 2000;

let sessionCounter = 0;

/**
 * One client control connection and everything it owns: the upstream control connection, the
 * queue of commands awaiting replies, the current passive port or active target, and its data
 * relays. `close()` is the single teardown path.
 */
export class ControlSession {
  readonly id: string;
  private readonly startedAt = performance.now();
  private readonly log: Logger;
  private upstream: net.Socket | undefined;
  private readonly clientReader = new LineReader();
  private readonly upstreamReader = new LineReader();
  private readonly replies = new ReplyTracker();
  private readonly pending: Intent[] = [{ kind: 'greeting' }];
  private readonly upstreamBacklog: UpstreamItem[] = [];
  private draining = false;
  /** Lines of a 227/229 reply held until its last line, to be answered as one. */
  private heldReply: Buffer[] = [];
  private dataSetup: DataSetup | undefined;
  private readonly relays = new Set<DataRelay>();
  /** The newest relay: the one a transfer's final reply waits for. */
  private currentRelay: DataRelay | undefined;
  /** Settles when the data connections being made now are relayed or have failed. */
  private relaySetup: Promise<void> | undefined;
  /** Data sockets accepted or dialled whose relay does not exist yet. */
  private readonly connectingDataSockets = new Set<net.Socket>();
  private epsvAllSeen = false;
  /** While a command waits for I/O (an active transfer reaching the client), later lines wait here. */
  private clientBlocked = false;
  private unblockAfterActiveReply = false;
  private readonly clientBacklog: Buffer[] = [];
  private closed = false;
  private closeReason = '';
  private readonly clientPauses = new Set<PauseReason>();
  private readonly upstreamPauses = new Set<PauseReason>();
  private halfCloseTimer: NodeJS.Timeout | undefined;
  private readonly clientAddress: string;

  constructor(
    private readonly client: net.Socket,
    private readonly context: SessionContext,
    private readonly onClosed: (session: ControlSession) => void,
  ) {
    this.id = (++sessionCounter).toString(36);
    this.clientAddress = normalizeAddress(client.remoteAddress ?? '');
    this.log = context.logger.child({ session: this.id });
    client.setNoDelay(true);
    client.on('error', (error) => this.close(`client error: ${error.message}`));
    client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    client.on('end', () => this.onClientEnd());
    client.on('close', () => this.close('client closed'));
    client.on('drain', () => {
      this.resume('upstream', 'backpressure');
      this.resume('client', 'replies-unread');
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- STAND-IN drain hook (daemon branch): replaced at merge by the session helper's ---------
  // implementation of the same two methods. Polls, to stay in this one block.
  private drainRequested = false;

  /** The next client command gets 421 and the session closes; what is in flight completes. */
  beginDrain(): void {
    this.drainRequested = true;
  }

  /** Resolves when no command awaits its reply, no relay is open and none is being set up, or on close. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      const isIdle = (): boolean =>
        this.closed ||
        (this.pending.length === 0 && this.relays.size === 0 && this.connectingDataSockets.size === 0 && this.relaySetup === undefined);
      if (isIdle()) {
        resolve();
        return;
      }
      const timer = setInterval(() => {
        if (!isIdle()) return;
        clearInterval(timer);
        resolve();
      }, 20);
    });
  }
  // ---- end of STAND-IN -----------------------------------------------------------------------

  async start(): Promise<void> {
    const { site: config, metrics } = this.context;
    metrics.sessionStarted();
    this.log.info({ client: `${this.clientAddress}:${this.client.remotePort}` }, 'session start');
    this.pause('client', 'connecting');
    try {
      const upstream = await dial({
        host: config.upstream.host,
        port: config.upstream.port,
        timeoutMs: config.upstreamConnectTimeoutMs,
        allowHalfOpen: true,
      });
      if (this.closed) {
        upstream.destroy();
        return;
      }
      this.attachUpstream(upstream);
      this.resume('client', 'connecting');
    } catch (error) {
      metrics.upstreamError('connect');
      this.log.error({ err: errorMessage(error) }, 'upstream unreachable');
      this.close('upstream unreachable', '421 Service not available, closing control connection.\r\n');
    }
  }

  private attachUpstream(upstream: net.Socket): void {
    this.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    upstream.on('end', () => this.enqueueUpstream('end'));
    upstream.on('error', (error) => {
      this.context.metrics.upstreamError('control');
      this.log.error({ err: error.message }, 'upstream control connection failed');
      this.close('upstream error', '421 Service not available, upstream connection lost.\r\n');
    });
    upstream.on('close', () => this.enqueueUpstream('end'));
    upstream.on('drain', () => this.resume('client', 'backpressure'));
    // The client may have left while the upstream was being dialled: pass its EOF on now.
    if (this.client.readableEnded) upstream.end();
  }

  // ---- client -> upstream ------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    const result = this.clientReader.push(chunk);
    for (const line of result.lines) {
      if (this.closed) return;
      if (this.clientBlocked) this.clientBacklog.push(line);
      else this.handleClientLine(line);
    }
    if (this.pending.length > MAX_PENDING_COMMANDS) this.pause('client', 'pipeline');
    if (!result.ok) {
      this.refuse('line_too_long', { limit: this.clientReader.maxLineBytes });
      this.close('client line too long', '500 Command line too long.\r\n');
    }
  }

  private onClientEnd(): void {
    if (this.closed) return;
    // Pass the half-close on: the server answers what it has and closes, which closes us.
    this.upstream?.end();
    this.halfCloseTimer ??= setTimeout(() => this.close('client closed'), CLOSE_GRACE_MS);
  }

  private handleClientLine(line: Buffer): void {
    if (this.drainRequested) return this.close('drain', '421 Service shutting down, try again later.\r\n'); // STAND-IN (daemon branch)
    const command = parseCommand(line);
    if (TRANSFER_VERBS.has(command.verb) && this.pending.some((intent) => intent.kind === 'active')) {
      // PORT and RETR in one write: the RETR must wait until the PASV sent for the PORT is
      // answered, or it would reach the server before ftpmasq knows where to connect.
      this.clientBacklog.unshift(line);
      this.blockClientCommands();
      this.unblockAfterActiveReply = true;
      return;
    }
    if (this.context.logger.isLevelEnabled('debug')) this.log.debug({ verb: command.verb }, 'command');
    switch (command.verb) {
      case 'AUTH':
        // RFC 2228 534: the control channel must stay readable, or the 227 could not be fixed.
        this.refuse('auth_tls', { verb: command.verb });
        this.answerLocally('534 AUTH is not available through this ftpmasq proxy; continue without TLS.\r\n');
        return;
      case 'PASV':
        this.onPasv(command);
        return;
      case 'EPSV':
        this.onEpsv(command);
        return;
      case 'PORT':
      case 'EPRT':
        this.onActiveCommand(command, command.verb);
        return;
      case 'LPSV':
      case 'LPRT':
        this.refuse('not_supported', { verb: command.verb });
        this.answerLocally(`502 ${command.verb} is not implemented; use EPSV or PASV.\r\n`);
        return;
      case 'FEAT':
        this.forward(line, { kind: 'feat' });
        return;
      default:
        if (TRANSFER_VERBS.has(command.verb)) {
          this.onTransferCommand(line);
          return;
        }
        this.forward(line, { kind: 'plain' });
    }
  }

  private onPasv(command: ClientCommand): void {
    if (this.refuseAfterEpsvAll('PASV')) return;
    // An IPv6 client would come back over IPv4 from an address ftpmasq cannot tie to its control
    // connection, so the data-peer check could not hold: refused even with an IPv4 public address.
    if (this.context.site.mode === 'relay' && (ipFamily(this.clientAddress) === 6 || this.advertisedIpv4() === undefined)) {
      this.refuse('ipv6_pasv', { verb: 'PASV' });
      this.answerLocally('425 PASV cannot name an IPv6 address; use EPSV.\r\n');
      return;
    }
    this.releaseDataSetup();
    this.forward(command.line, { kind: 'passive', upstreamReply: 227, answerAs: 227 });
  }

  private onEpsv(command: ClientCommand): void {
    const { site: config } = this.context;
    const argument = argumentText(command).toUpperCase();
    if (config.epsv === 'disable') {
      this.refuse('epsv_disabled', { verb: 'EPSV' });
      this.answerLocally('502 EPSV is disabled on this proxy; use PASV.\r\n');
      return;
    }
    if (argument === 'ALL') {
      // RFC 2428 section 4: after EPSV ALL, PORT, EPRT and PASV are refused.
      this.epsvAllSeen = true;
      if (config.epsv === 'translate') this.answerLocally('200 EPSV ALL command successful.\r\n');
      else this.forward(command.line, { kind: 'plain' });
      return;
    }
    if (config.epsv === 'translate') {
      const clientFamily = ipFamily(this.clientAddress) === 6 ? '2' : '1';
      if (argument !== '' && argument !== clientFamily) {
        this.answerLocally(`522 Network protocol not supported, use (${clientFamily}).\r\n`);
        return;
      }
      this.releaseDataSetup();
      this.forward(Buffer.from('PASV\r\n'), { kind: 'passive', upstreamReply: 227, answerAs: 229 });
      return;
    }
    if (config.mode === 'rewrite') {
      // The server's 229 names only a port, which the NAT forwards as it is: nothing to change.
      this.forward(command.line, { kind: 'plain' });
      return;
    }
    this.releaseDataSetup();
    this.forward(command.line, { kind: 'passive', upstreamReply: 229, answerAs: 229 });
  }

  private onActiveCommand(command: ClientCommand, verb: 'PORT' | 'EPRT'): void {
    const { site: config } = this.context;
    if (config.active === 'disable') {
      this.refuse('active_disabled', { verb });
      this.answerLocally(`502 ${verb} is disabled on this proxy; use passive mode.\r\n`);
      return;
    }
    if (this.refuseAfterEpsvAll(verb)) return;
    const parsed: ParseResult<HostPort> =
      verb === 'PORT' ? parsePortArgument(argumentText(command)) : parseEprtArgument(argumentText(command));
    if (!parsed.ok) {
      this.refuse('bad_argument', { verb, problem: parsed.reason });
      this.answerLocally(`501 Syntax error in ${verb} argument: ${parsed.reason}.\r\n`);
      return;
    }
    const decision = checkActiveTarget(parsed.value.host, parsed.value.port, this.clientAddress);
    if (!decision.ok) {
      this.refuse(decision.reason === 'foreign-host' ? 'bounce_foreign_host' : 'bounce_privileged_port', {
        verb,
        target: `${parsed.value.host}:${parsed.value.port}`,
      });
      this.answerLocally(`${decision.reply}\r\n`);
      return;
    }
    this.releaseDataSetup();
    // The server's own active mode would need a route back through the gateway: ftpmasq asks
    // for a passive port upstream instead and connects out to the client itself.
    this.forward(Buffer.from('PASV\r\n'), { kind: 'active', clientTarget: parsed.value, verb });
  }

  /** Every refusal is counted and logged at warn, with what was refused. */
  private refuse(reason: RefusalReason, details: Record<string, unknown> = {}): void {
    this.context.metrics.refuse(reason);
    this.log.warn({ reason, ...details }, 'refused');
  }

  private refuseAfterEpsvAll(verb: string): boolean {
    if (!this.epsvAllSeen) return false;
    this.refuse('after_epsv_all', { verb });
    this.answerLocally(`501 ${verb} not allowed after EPSV ALL.\r\n`);
    return true;
  }

  private onTransferCommand(line: Buffer): void {
    const setup = this.dataSetup;
    if (setup?.kind !== 'active') {
      this.forward(line, { kind: 'transfer' });
      return;
    }
    // Active mode: reach the client before the server acts. If the client cannot be reached the
    // command never goes upstream (a STOR would otherwise truncate the file) and gets 425.
    this.dataSetup = undefined;
    this.blockClientCommands();
    const startedAt = performance.now();
    const clientReader = new ReusedReadBuffer();
    const connecting = dial({
      host: setup.clientTarget.host,
      port: setup.clientTarget.port,
      timeoutMs: this.context.site.upstreamConnectTimeoutMs,
      localAddress: this.clientSideLocalAddress(),
      allowHalfOpen: true,
      onread: clientReader.onread,
    }).then(
      (clientData) => {
        if (this.closed) {
          clientData.destroy();
          return;
        }
        clientData.pause();
        this.forward(line, { kind: 'transfer' });
        this.trackRelaySetup(this.relayActive(clientData, clientReader, setup.upstreamPort, startedAt));
      },
      (error: unknown) => {
        if (this.closed) return;
        this.log.warn({ target: `${setup.clientTarget.host}:${setup.clientTarget.port}`, err: errorMessage(error) }, 'active data connection to the client failed');
        this.answerLocally("425 Can't open data connection to your PORT/EPRT address.\r\n");
      },
    );
    void connecting.finally(() => this.unblockClientCommands());
  }

  private blockClientCommands(): void {
    this.clientBlocked = true;
    this.pause('client', 'processing');
  }

  private unblockClientCommands(): void {
    this.clientBlocked = false;
    if (this.closed) return;
    this.resume('client', 'processing');
    while (!this.clientBlocked && !this.closed) {
      const line = this.clientBacklog.shift();
      if (line === undefined) break;
      this.handleClientLine(line);
    }
  }

  private forward(line: Buffer, intent: Intent): void {
    const upstream = this.upstream;
    if (upstream === undefined) return;
    this.pending.push(intent);
    if (!upstream.write(line)) this.pause('client', 'backpressure');
  }

  /** A reply of ftpmasq's own, sent after the replies still owed for earlier commands. */
  private answerLocally(reply: string): void {
    const bytes = Buffer.from(reply, 'latin1');
    if (this.pending.length === 0) this.sendToClient(bytes);
    else this.pending.push({ kind: 'local', reply: bytes });
  }

  // ---- upstream -> client ------------------------------------------------------------------

  private onUpstreamData(chunk: Buffer): void {
    const result = this.upstreamReader.push(chunk);
    for (const line of result.lines) this.upstreamBacklog.push(line);
    if (!result.ok) this.upstreamBacklog.push('line-too-long');
    void this.drainUpstream();
  }

  private enqueueUpstream(item: 'end'): void {
    if (this.upstreamBacklog.at(-1) === item) return;
    const unterminated = this.upstreamReader.takePending();
    if (unterminated !== undefined) this.upstreamBacklog.push(unterminated);
    this.upstreamBacklog.push(item);
    void this.drainUpstream();
  }

  /**
   * Replies are handled strictly in order. Most are handled synchronously; a 227 that needs a
   * port bound, or a transfer reply waiting for its data, pauses the upstream until done.
   */
  private async drainUpstream(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (!this.closed) {
        const item = this.upstreamBacklog.shift();
        if (item === undefined) break;
        if (item === 'end') {
          this.closeAfterFlush('upstream closed');
          break;
        }
        if (item === 'line-too-long') {
          this.context.metrics.upstreamError('bad_reply');
          this.log.error({ limit: this.upstreamReader.maxLineBytes }, 'upstream line too long');
          this.close('upstream line too long', '421 Service not available, upstream sent a line that is too long.\r\n');
          break;
        }
        const work = this.handleUpstreamLine(item);
        if (work !== undefined) {
          this.pause('upstream', 'processing');
          await work;
          this.resume('upstream', 'processing');
        }
      }
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, 'reply handling failed');
      this.close('internal error', '421 Service not available, internal error.\r\n');
    } finally {
      this.draining = false;
    }
  }

  private handleUpstreamLine(line: Buffer): Promise<void> | undefined {
    const reply = this.replies.classify(line);
    const head = this.pending[0];
    const code = reply.code;
    if (code === undefined) {
      this.sendToClient(line);
      return undefined;
    }
    if (
      (head?.kind === 'passive' || head?.kind === 'active') &&
      (this.heldReply.length > 0 || code === 227 || code === 229)
    ) {
      this.heldReply.push(line);
      if (!reply.last) return undefined;
      const lines = this.heldReply;
      this.heldReply = [];
      return this.answerDataSetupReply(head, code, lines);
    }
    if (!reply.last) {
      if (head?.kind === 'feat' && shouldDropFeature(line, this.context.site.epsv === 'disable')) return undefined;
      this.sendToClient(line);
      return undefined;
    }
    if (isPreliminary(code) || head === undefined) {
      this.sendToClient(line);
      return undefined;
    }
    if (head.kind === 'transfer') {
      // In active mode the server may finish a small transfer before ftpmasq has reached the
      // client: the reply then waits for the relay to exist, and then for its data.
      const setup = this.relaySetup;
      if (setup !== undefined) return setup.then(() => this.answerTransferReply(line, code));
      return this.answerTransferReply(line, code);
    }
    this.sendToClient(line);
    this.completeHead();
    return undefined;
  }

  private answerTransferReply(line: Buffer, code: number): Promise<void> | undefined {
    const relay = this.currentRelay;
    if (relay !== undefined && !relay.isClosed) return this.gateTransferReply(line, code, relay);
    this.sendToClient(line);
    this.completeHead();
    return undefined;
  }

  /** The final reply to RETR/STOR/LIST reaches the client only after the data has. */
  private async gateTransferReply(line: Buffer, code: number, relay: DataRelay): Promise<void> {
    if (code < 400) {
      await relay.toClientDone();
    } else {
      // 426/451/550: the transfer failed; let the relay flush what it holds, briefly, then end it.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        relay.toClientDone(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, NEGATIVE_REPLY_FLUSH_MS);
        }),
      ]);
      clearTimeout(timer);
      relay.close('aborted');
    }
    if (this.closed) return;
    this.sendToClient(line);
    this.completeHead();
  }

  private async answerDataSetupReply(
    intent: Extract<Intent, { kind: 'passive' | 'active' }>,
    code: number,
    lines: Buffer[],
  ): Promise<void> {
    const replyText = Buffer.concat(lines);
    const eol = lineEnding(lines.at(-1) ?? Buffer.alloc(0)) || '\r\n';
    const expected = intent.kind === 'active' ? 227 : intent.upstreamReply;
    if (code !== expected) {
      // An error such as 530 or 425, or a reply of the other kind: passed on as it came.
      for (const line of lines) this.sendToClient(line);
      this.completeHead();
      return;
    }
    const upstreamPassive = this.parseUpstreamPassive(code, replyText);
    if (upstreamPassive === undefined) {
      this.context.metrics.upstreamError('bad_reply');
      this.log.error({ reply: replyText.toString('latin1').trim() }, 'cannot parse upstream passive reply');
      this.finishWithReply(`425 Cannot open data connection: unreadable upstream ${code} reply.\r\n`);
      return;
    }
    const upstreamPort = upstreamPassive.port;
    // RFC 2428 allows any delimiter: a relayed 229 keeps the one the server chose.
    const delimiter = upstreamPassive.delimiter ?? '|';
    if (intent.kind === 'active') {
      this.dataSetup = { kind: 'active', upstreamPort, clientTarget: intent.clientTarget };
      this.context.metrics.rewrite(intent.verb === 'PORT' ? 'port' : 'eprt');
      this.log.info(
        { verb: intent.verb, target: `${intent.clientTarget.host}:${intent.clientTarget.port}`, upstreamPort },
        'active command relayed',
      );
      this.finishWithReply(`200 ${intent.verb} command successful.${eol}`);
      return;
    }
    if (this.context.site.mode === 'rewrite') {
      this.answerRewriteMode(intent, upstreamPort, lines, replyText, eol);
      return;
    }
    const lease = await this.context.pool.acquire(this.clientSideLocalAddress());
    if (this.closed) {
      lease?.release();
      return;
    }
    if (lease === undefined) {
      this.refuse('passive_ports_exhausted', { capacity: this.context.pool.capacity });
      this.finishWithReply("425 Can't open data connection: no free passive port.\r\n");
      return;
    }
    this.holdPassivePort(lease, upstreamPort);
    const advertised = this.advertisedIpv4();
    const answer =
      intent.answerAs === 227 && advertised !== undefined
        ? format227(advertised, lease.port, eol)
        : format229(lease.port, delimiter, eol);
    this.context.metrics.rewrite(intent.answerAs === 227 ? 'pasv' : 'epsv');
    this.log.info(
      { from: replyText.toString('latin1').trim(), to: answer.toString('latin1').trim(), upstreamPort },
      'passive reply relayed',
    );
    this.finishWithReply(answer);
  }

  private answerRewriteMode(
    intent: Extract<Intent, { kind: 'passive' }>,
    upstreamPort: number,
    lines: Buffer[],
    replyText: Buffer,
    eol: string,
  ): void {
    if (intent.answerAs === 229) {
      // EPSV translated to PASV upstream: the port is the server's, reached through the NAT.
      const answer = format229(upstreamPort, '|', eol);
      this.context.metrics.rewrite('epsv');
      this.log.info({ from: replyText.toString('latin1').trim(), to: answer.toString('latin1').trim() }, 'passive reply relayed');
      this.finishWithReply(answer);
      return;
    }
    const parsed = parse227(replyText);
    const advertised = this.advertisedIpv4();
    if (parsed.ok && advertised !== undefined && intent.upstreamReply === 227) {
      const decision = decidePasvRewrite(parsed.value.host, advertised);
      if (decision.rewrite) {
        const answer = format227(advertised, upstreamPort, eol);
        this.context.metrics.rewrite('pasv');
        this.log.info({ from: replyText.toString('latin1').trim(), to: answer.toString('latin1').trim() }, 'pasv reply rewritten');
        this.finishWithReply(answer);
        return;
      }
    }
    for (const line of lines) this.sendToClient(line);
    this.completeHead();
  }

  private parseUpstreamPassive(code: number, replyText: Buffer): { port: number; delimiter?: string } | undefined {
    if (code === 229) {
      const parsed = parse229(replyText);
      return parsed.ok ? parsed.value : undefined;
    }
    const parsed = parse227(replyText);
    if (!parsed.ok) return undefined;
    this.diagnoseUpstreamPasv(parsed.value.host);
    // CVE-2020-8284: the address inside a 227 is never dialled, only the port is used.
    return { port: parsed.value.port };
  }

  private diagnoseUpstreamPasv(advertisedHost: string): void {
    const upstreamAddress = this.upstream?.remoteAddress ?? '';
    if (!isUnroutable(advertisedHost) && isSameHost(advertisedHost, upstreamAddress)) return;
    this.context.metrics.upstreamUnroutablePasv();
    if (this.context.diagnosis.unroutablePasvWarned) return;
    this.context.diagnosis.unroutablePasvWarned = true;
    const problem = isUnroutable(advertisedHost)
      ? `${advertisedHost}, which clients cannot reach`
      : `${advertisedHost}, which is not the upstream's own address (${upstreamAddress})`;
    this.log.warn(
      { advertised: advertisedHost, upstream: upstreamAddress },
      `upstream 227 names ${problem}; ftpmasq is covering for it. ` +
        'Fix at the source: ProFTPD MasqueradeAddress, vsftpd pasv_address, Pure-FTPd ForcePassiveIP.',
    );
  }

  private finishWithReply(reply: string | Buffer): void {
    this.sendToClient(typeof reply === 'string' ? Buffer.from(reply, 'latin1') : reply);
    this.completeHead();
  }

  private completeHead(): void {
    const completed = this.pending.shift();
    if (completed?.kind === 'active' && this.unblockAfterActiveReply) {
      this.unblockAfterActiveReply = false;
      // After this reply is out: the waiting commands may answer locally or block again.
      queueMicrotask(() => this.unblockClientCommands());
    }
    while (this.pending[0]?.kind === 'local') {
      const local = this.pending.shift();
      if (local?.kind === 'local') this.sendToClient(local.reply);
    }
    if (this.pending.length <= MAX_PENDING_COMMANDS / 2) this.resume('client', 'pipeline');
  }

  private sendToClient(bytes: Buffer): void {
    if (this.closed) return;
    if (!this.client.write(bytes)) {
      this.pause('upstream', 'backpressure');
      this.pause('client', 'replies-unread');
    }
  }

  // ---- data connections --------------------------------------------------------------------

  /** The address clients are told to connect to in a 227: IPv4 only, by the protocol. */
  private advertisedIpv4(): string | undefined {
    const configured = this.context.site.publicAddress;
    if (configured !== undefined && ipFamily(configured) === 4) return normalizeAddress(configured);
    const local = this.clientSideLocalAddress();
    return ipFamily(local) === 4 && ipFamily(this.clientAddress) === 4 ? local : undefined;
  }

  private clientSideLocalAddress(): string {
    return normalizeAddress(this.client.localAddress ?? '0.0.0.0');
  }

  private holdPassivePort(lease: PortLease, upstreamPort: number): void {
    this.releaseDataSetup();
    const timer = setTimeout(() => {
      if (this.dataSetup !== setup) return;
      this.log.info({ port: lease.port }, 'passive port timed out waiting for the client');
      this.releaseDataSetup();
    }, this.context.site.passiveTimeoutMs);
    const setup: PassiveSetup = { kind: 'passive', lease, upstreamPort, timer };
    this.dataSetup = setup;
    lease.server.on('connection', (socket: net.Socket) => this.onPassiveConnection(setup, socket));
  }

  private onPassiveConnection(setup: PassiveSetup, accepted: net.Socket): void {
    accepted.on('error', () => accepted.destroy());
    if (this.closed || this.dataSetup !== setup) {
      accepted.destroy();
      return;
    }
    if (!isAllowedDataPeer(accepted.remoteAddress, this.clientAddress)) {
      this.refuse('foreign_data_peer', { peer: accepted.remoteAddress, port: setup.lease.port });
      accepted.destroy();
      return;
    }
    const { socket, reader: clientReader } = adoptWithReusedBuffer(accepted, new ReusedReadBuffer());
    if (socket !== accepted) socket.on('error', () => socket.destroy());
    clearTimeout(setup.timer);
    setup.lease.stopListening();
    this.dataSetup = undefined;
    const startedAt = performance.now();
    this.connectingDataSockets.add(socket);
    const upstreamReader = new ReusedReadBuffer();
    const settled = this.dialUpstreamData(setup.upstreamPort, upstreamReader).then(
      (upstreamData) => {
        this.connectingDataSockets.delete(socket);
        if (this.closed || socket.destroyed) {
          upstreamData.destroy();
          socket.destroy();
          setup.lease.release();
          return;
        }
        this.startRelay(socket, upstreamData, 'passive', startedAt, () => setup.lease.release(), {
          client: clientReader,
          upstream: upstreamReader,
        });
      },
      (error: unknown) => {
        this.connectingDataSockets.delete(socket);
        socket.destroy();
        setup.lease.release();
        this.context.metrics.upstreamError('data_connect');
        this.log.error({ err: errorMessage(error) }, 'upstream data connection failed');
      },
    );
    this.trackRelaySetup(settled);
  }

  /** The client's data socket is connected: connect upstream and relay. Settles when done either way. */
  private relayActive(
    clientData: net.Socket,
    clientReader: ReusedReadBuffer,
    upstreamPort: number,
    startedAt: number,
  ): Promise<void> {
    this.connectingDataSockets.add(clientData);
    const upstreamReader = new ReusedReadBuffer();
    return this.dialUpstreamData(upstreamPort, upstreamReader).then(
      (upstreamData) => {
        this.connectingDataSockets.delete(clientData);
        if (this.closed || clientData.destroyed) {
          upstreamData.destroy();
          clientData.destroy();
          return;
        }
        upstreamData.pause();
        this.startRelay(clientData, upstreamData, 'active', startedAt, () => undefined, {
          client: clientReader,
          upstream: upstreamReader,
        });
      },
      (error: unknown) => {
        this.connectingDataSockets.delete(clientData);
        clientData.destroy();
        this.context.metrics.upstreamError('data_connect');
        this.log.error({ err: errorMessage(error) }, 'upstream data connection failed');
      },
    );
  }

  private trackRelaySetup(settled: Promise<void>): void {
    const tracked = settled.finally(() => {
      if (this.relaySetup === tracked) this.relaySetup = undefined;
    });
    this.relaySetup = tracked;
  }

  private dialUpstreamData(port: number, reader: ReusedReadBuffer): Promise<net.Socket> {
    const upstream = this.upstream;
    if (upstream?.remoteAddress === undefined) return Promise.reject(new Error('no upstream control connection'));
    return dial({
      host: upstream.remoteAddress,
      port,
      timeoutMs: this.context.site.upstreamConnectTimeoutMs,
      // The same source address as the control connection: servers check that they match.
      localAddress: upstream.localAddress,
      allowHalfOpen: true,
      onread: reader.onread,
    });
  }

  private startRelay(
    clientData: net.Socket,
    upstreamData: net.Socket,
    mode: DataMode,
    startedAt: number,
    releasePort: () => void,
    readers: RelayReaders,
  ): void {
    const { metrics } = this.context;
    metrics.dataConnection(mode, (performance.now() - startedAt) / 1000);
    const relay = new DataRelay(clientData, upstreamData, (result: RelayResult) => {
      releasePort();
      this.relays.delete(relay);
      if (this.currentRelay === relay) this.currentRelay = undefined;
      metrics.dataBytes('to_client', result.bytesToClient);
      metrics.dataBytes('to_server', result.bytesToUpstream);
      this.log.info(
        { mode, reason: result.reason, bytesToClient: result.bytesToClient, bytesToServer: result.bytesToUpstream },
        'data connection closed',
      );
    }, readers);
    this.relays.add(relay);
    this.currentRelay = relay;
  }

  private releaseDataSetup(): void {
    const setup = this.dataSetup;
    this.dataSetup = undefined;
    if (setup?.kind === 'passive') {
      clearTimeout(setup.timer);
      setup.lease.release();
    }
  }

  // ---- flow control and teardown -----------------------------------------------------------

  private pause(side: 'client' | 'upstream', reason: PauseReason): void {
    const reasons = side === 'client' ? this.clientPauses : this.upstreamPauses;
    reasons.add(reason);
    (side === 'client' ? this.client : this.upstream)?.pause();
  }

  private resume(side: 'client' | 'upstream', reason: PauseReason): void {
    const reasons = side === 'client' ? this.clientPauses : this.upstreamPauses;
    if (!reasons.delete(reason) || reasons.size > 0 || this.closed) return;
    (side === 'client' ? this.client : this.upstream)?.resume();
  }

  /** The upstream has gone: everything already received has been forwarded; end the client. */
  private closeAfterFlush(reason: string): void {
    this.close(reason, Buffer.alloc(0));
  }

  /**
   * The one teardown path. With a last reply, the client connection is ended gracefully (so the
   * reply and anything before it arrive) and destroyed after a grace period; without, at once.
   */
  close(reason: string, lastReply?: string | Buffer): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    clearTimeout(this.halfCloseTimer);
    this.releaseDataSetup();
    for (const relay of this.relays) relay.close('session-closed');
    for (const socket of this.connectingDataSockets) socket.destroy();
    this.connectingDataSockets.clear();
    this.upstream?.destroy();
    if (lastReply !== undefined && !this.client.destroyed && this.client.writable) {
      this.client.end(lastReply);
      const grace = setTimeout(() => this.client.destroy(), CLOSE_GRACE_MS);
      grace.unref();
      this.client.once('close', () => clearTimeout(grace));
    } else {
      this.client.destroy();
    }
    this.context.metrics.sessionEnded();
    this.log.info(
      { reason: this.closeReason, durationMs: Math.round(performance.now() - this.startedAt) },
      'session end',
    );
    this.onClosed(this);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
