/**
 * How a session gets its upstream control connection. Without `routes` it is dialled at once and
 * the server greets the client (transparent). With `routes` the LoginRouter runs the pre-login
 * phase: ftpmasq greets the client itself, answers what a client sends before USER, and at USER
 * dials the upstream the site's routes choose, reads and drops its greeting, and hands the
 * connection to the session, which replays the USER line (docs/DESIGN.md, "User routing").
 */
import type { SiteConfig } from '../config/types.js';
import type { Conn } from '../net/conn.js';
import { DialError, dialConn } from '../net/dial.js';
import { connectUpstream, type UpstreamTlsSession } from '../net/upstream-tls.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics, UpstreamStage } from '../observability/metrics.js';
import { argumentText, type ClientCommand } from '../protocol/command.js';
import { LineReader } from '../protocol/line-reader.js';
import { ReplyTracker } from '../protocol/reply-tracker.js';
import { advertisedFeatures, decideLogin } from '../site/site-policy.js';
import { chooseUpstream } from '../site/user-routes.js';
import type { CommandExchange } from './command-exchange.js';
import type { CommandHandler, SessionScope } from './handlers/scope.js';
import { handleLogin, securityFacts } from './handlers/security.js';
import { TIMEOUT_REPLIES } from './session-timers.js';

export interface UpstreamOpener {
  /** ftpmasq greets the client itself and reads its commands before the upstream exists. */
  readonly greetsClient: boolean;
  /** The upstream control connection; rejects with an {@link OpenFailure} (or a DialError). */
  open(): Promise<Conn>;
  /** The TLS towards the server of the connection `open()` gave, when the site has `upstreamTls`. */
  readonly upstreamTls: UpstreamTlsSession | undefined;
  /** Before the upstream exists: the handler for a verb, or undefined for the usual one. */
  handlerBeforeUpstream(verb: string): CommandHandler | undefined;
  /** The session attached the connection `open()` gave: the USER line that chose it goes up. */
  attached(): void;
  /** The session closed: a connection still being made is destroyed. Idempotent. */
  close(): void;
}

/** An upstream control connection dialled before its session, and its TLS towards the server. */
export interface PreconnectedUpstream {
  /** Connected (and TLS, with upstreamTls), its greeting still to be read. */
  readonly conn: Conn;
  /** The TLS session the connection made: the session's data connections resume it. */
  readonly upstreamTls: UpstreamTlsSession | undefined;
}

/** Where a session's opener takes a preconnected upstream connection from (daemon/upstream-spares.ts). */
export interface UpstreamSpareSource {
  take(): PreconnectedUpstream | undefined;
}

export interface OpenerContext {
  readonly site: SiteConfig;
  readonly exchange: CommandExchange;
  readonly log: Logger;
  readonly metrics: SiteMetrics;
  /** The session's TLS towards its server, when the site has `upstreamTls` (not with `routes`: a config error). */
  readonly upstreamTls?: UpstreamTlsSession | undefined;
  /** `upstreamProxyProtocol`: the header to send first on the control connection to the server. */
  readonly proxyHeader?: Buffer | undefined;
  /** `upstreamPreconnect`: connections dialled before the session, taken first. */
  readonly spares?: UpstreamSpareSource | undefined;
}

/** Why opening failed: what is counted, logged, and the client's last reply. */
export class OpenFailure extends Error {
  constructor(
    message: string,
    readonly stage: UpstreamStage | undefined,
    readonly reply: string,
  ) {
    super(message);
    this.name = 'OpenFailure';
  }
}

const UNAVAILABLE = '421 Service not available, closing control connection.\r\n';
/** The session closed while the upstream was being opened: nothing to count or answer. */
const CANCELLED = new OpenFailure('session closed', undefined, '');

/**
 * A failed open, counted and logged; returns the session's close reason and the client's last
 * reply. A cancelled open (the session had closed) is neither.
 */
export function reportOpenFailure(error: unknown, metrics: SiteMetrics, log: Logger): [reason: string, reply: string] {
  const failure = error instanceof OpenFailure ? error : undefined;
  const stage = error instanceof DialError ? 'connect' : failure?.stage;
  if (stage !== undefined) {
    metrics.upstreamError(stage);
    log.error({ err: error instanceof Error ? error.message : String(error), stage }, 'upstream unreachable');
  }
  return ['upstream unreachable', failure?.reply ?? UNAVAILABLE];
}

export function createUpstreamOpener(context: OpenerContext): UpstreamOpener {
  return context.site.routes.length > 0 ? new LoginRouter(context) : new DirectOpener(context.site, context.upstreamTls, context.proxyHeader, context.spares);
}

/** Without routes: the site's upstream, preconnected or dialled as the session starts; its greeting reaches the client. */
class DirectOpener implements UpstreamOpener {
  readonly greetsClient = false;

  constructor(
    private readonly site: SiteConfig,
    /** The session's own; replaced by a preconnected connection's. */
    public upstreamTls: UpstreamTlsSession | undefined,
    private readonly proxyHeader: Buffer | undefined,
    private readonly spares: UpstreamSpareSource | undefined,
  ) {}

  open(): Promise<Conn> {
    const spare = this.spares?.take();
    if (spare === undefined) return connectUpstream(this.site, this.upstreamTls, this.proxyHeader);
    this.upstreamTls = spare.upstreamTls;
    return Promise.resolve(spare.conn);
  }

  handlerBeforeUpstream(): undefined {
    return undefined;
  }

  attached(): void {}

  close(): void {}
}

/** ftpmasq's own greeting on a site with routes (RFC 959's words for 220). */
export const ROUTED_GREETING = '220 Service ready for new user.\r\n';
export const LOGIN_FIRST = '530 Please login with USER and PASS.\r\n';
export const USER_FIRST = '503 Login with USER first.\r\n';
export const ROUTED_QUIT = '221 Goodbye.\r\n';

function answer(reply: string): CommandHandler {
  return (_command, scope) => scope.answerLocally(reply);
}

/**
 * The pre-login phase of a session on a site with routes. Before USER only this answers (nothing
 * is forwarded, since there is no server yet): AUTH and, on a site with a certificate, PBSZ, PROT
 * and CCC by the site's TLS policy as always; FEAT with ftpmasq's own features; NOOP 200; QUIT
 * 221; PASS and ACCT 503; anything else 530. USER, once the site policy lets it through, holds
 * the client's later commands, and the route is chosen by its name.
 */
export class LoginRouter implements UpstreamOpener {
  readonly greetsClient = true;
  /** Routes dial plain connections: routes beside upstreamTls is a config error. */
  readonly upstreamTls = undefined;
  private readonly site: SiteConfig;
  private readonly exchange: CommandExchange;
  private readonly log: Logger;
  private readonly metrics: SiteMetrics;
  private userLine: Buffer | undefined;
  private userNameSeen: ((name: string) => void) | undefined;
  private cancel: ((failure: OpenFailure) => void) | undefined;
  /** Dialled, its greeting not read yet: this router's until `open()` hands it over. */
  private pending: Conn | undefined;
  private closed = false;

  private readonly proxyHeader: Buffer | undefined;

  constructor({ site, exchange, log, metrics, proxyHeader }: OpenerContext) {
    this.proxyHeader = proxyHeader;
    this.site = site;
    this.exchange = exchange;
    this.log = log;
    this.metrics = metrics;
  }

  async open(): Promise<Conn> {
    const name = await new Promise<string>((resolve, reject) => {
      this.userNameSeen = resolve;
      this.cancel = reject;
      // Through the reply path, as the server's greeting would come: the login clock starts.
      void this.exchange.onReplyLine(Buffer.from(ROUTED_GREETING, 'latin1'));
    });
    const choice = chooseUpstream(this.site, name);
    const target = `${choice.upstream.host}:${choice.upstream.port}`;
    this.log.info({ route: choice.route ?? 'upstream', upstream: target }, 'login routed');
    this.metrics.routedLogin(choice.route === undefined ? 'upstream' : 'route');
    const conn = await dialConn({
      host: choice.upstream.host,
      port: choice.upstream.port,
      timeoutMs: this.site.upstreamConnectTimeoutMs,
      allowHalfOpen: true,
      ...(this.proxyHeader === undefined ? {} : { proxyHeader: this.proxyHeader }),
    });
    if (this.closed) {
      conn.stream.destroy();
      throw CANCELLED;
    }
    this.pending = conn;
    try {
      await readGreeting(conn, this.site.greetingTimeoutMs, target);
    } finally {
      this.pending = undefined;
    }
    if (this.closed) {
      conn.stream.destroy();
      throw CANCELLED;
    }
    return conn;
  }

  handlerBeforeUpstream(verb: string): CommandHandler | undefined {
    switch (verb) {
      case 'USER':
        return (command, scope) => this.onUser(command, scope);
      case 'AUTH':
        return undefined;
      case 'PBSZ':
      case 'PROT':
      case 'CCC':
        return this.site.tls === undefined ? answer(LOGIN_FIRST) : undefined;
      case 'FEAT':
        return answer(featureReply(advertisedFeatures(this.site)));
      case 'NOOP':
        return answer('200 NOOP command successful.\r\n');
      case 'QUIT':
        return () => this.exchange.answerLastly(ROUTED_QUIT, 'client quit');
      case 'PASS':
      case 'ACCT':
        return answer(USER_FIRST);
      default:
        return answer(LOGIN_FIRST);
    }
  }

  attached(): void {
    const line = this.userLine;
    if (line === undefined) return;
    this.userLine = undefined;
    this.exchange.forward(line, { kind: 'plain' });
    this.exchange.releaseCommands();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending?.stream.destroy();
    this.cancel?.(CANCELLED);
  }

  /** USER: the site's TLS policy first (a refused USER never opens a connection), then the route. */
  private onUser(command: ClientCommand, scope: SessionScope): void {
    if (decideLogin(scope.site, 'USER', securityFacts(scope)).kind !== 'forward' || this.userNameSeen === undefined) {
      handleLogin(command, scope);
      return;
    }
    this.userLine = command.forward;
    scope.holdCommands();
    const seen = this.userNameSeen;
    this.userNameSeen = undefined;
    // Matched as UTF-8 (RFC 2640); bytes that are not become U+FFFD, which no name pattern should need.
    seen(Buffer.from(argumentText(command), 'latin1').toString('utf8'));
  }
}

/** FEAT before login: ftpmasq's own features (FTPS); the server's are listed once logged in. */
export function featureReply(features: readonly string[]): string {
  if (features.length === 0) return '211 No features before login.\r\n';
  return `211-Features:\r\n${features.map((feature) => ` ${feature}\r\n`).join('')}211 End\r\n`;
}

/**
 * Reads the server's greeting and drops it: a 220 (after any 120 "ready in n minutes") resolves,
 * with what came after it put back into the stream for the session; anything else, an EOF, an
 * error or the greeting timeout rejects with an OpenFailure. A refusal the server sent (421 too
 * many users) is the client's last reply, as it would be without routes.
 */
function readGreeting(conn: Conn, timeoutMs: number, target: string): Promise<void> {
  const stream = conn.stream;
  const reader = new LineReader();
  const replies = new ReplyTracker();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new OpenFailure(`${target} did not greet within ${timeoutMs} ms`, 'greeting_timeout', TIMEOUT_REPLIES.greeting)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      const read = reader.push(chunk);
      if (!read.ok) {
        fail(new OpenFailure(`${target} sent a greeting line that is too long`, 'bad_reply', UNAVAILABLE));
        return;
      }
      for (const [index, line] of read.lines.entries()) {
        const reply = replies.classify(line);
        if (reply.code === undefined || !reply.last || reply.code === 120) continue;
        if (reply.code !== 220) {
          fail(new OpenFailure(`${target} refused: ${line.toString('latin1').trim()}`, 'connect', asLastReply(line)));
          return;
        }
        done();
        const rest = [...read.lines.slice(index + 1), reader.takePending() ?? Buffer.alloc(0)];
        const unread = Buffer.concat(rest);
        if (unread.length > 0) stream.unshift(unread);
        resolve();
        return;
      }
    };
    const onEnd = (): void => fail(new OpenFailure(`${target} closed before its greeting`, 'connect', UNAVAILABLE));
    const onError = (error: Error): void => fail(new OpenFailure(`${target}: ${error.message}`, 'connect', UNAVAILABLE));
    function done(): void {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      stream.pause();
    }
    function fail(failure: OpenFailure): void {
      done();
      stream.on('error', () => undefined);
      stream.destroy();
      reject(failure);
    }
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
  });
}

/** The server's refusal as the client's last reply, ending in CRLF whatever the server used. */
function asLastReply(line: Buffer): string {
  return `${line.toString('latin1').trimEnd()}\r\n`;
}
