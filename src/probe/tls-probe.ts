/**
 * The probe's TLS check, on a control connection of its own: does the server offer `AUTH TLS`
 * (RFC 4217), what certificate does it show, and does it require TLS session reuse on data
 * connections (ProFTPD mod_tls by default, vsftpd `require_ssl_reuse`, FileZilla Server)? The
 * last is tried, not guessed: a `LIST` over a data connection with a fresh TLS handshake, and,
 * when that fails, one that resumes the control connection's session.
 *
 * The certificate is reported, not trusted or refused: the probe only reads a directory listing.
 * It dials the server's control address only, as ftpmasq does for data.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { dial } from '../net/dial.js';
import { TLS_MAX_VERSION, TLS_MIN_VERSION } from '../net/tls-context.js';
import { UpstreamReplyReader, type UpstreamReply } from '../net/upstream-reply-reader.js';
import { normalizeAddress } from '../protocol/address-policy.js';
import { stripLineEnding } from '../protocol/line-reader.js';
import { parse227 } from '../protocol/data-addresses.js';
import type { ProbeTarget } from './probe-url.js';
import type { ProbeTimeouts } from './run-probe.js';

export interface TlsCertificateFacts {
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 as `openssl x509 -fingerprint -sha256` prints it: what --upstream-tls-fingerprint takes. */
  readonly fingerprint256: string;
  /** Trusted by Node's bundled CAs for the probed host name or IP. */
  readonly trusted: boolean;
  /** Why not, when not (`SELF_SIGNED_CERT_IN_CHAIN`, a name mismatch ...). */
  readonly problem: string | undefined;
}

export type SessionReuseFinding =
  | { readonly verdict: 'required'; readonly detail: string }
  | { readonly verdict: 'not-required'; readonly detail: string }
  | { readonly verdict: 'unknown'; readonly detail: string };

export type TlsProbe =
  | { readonly outcome: 'not-offered'; readonly reply: string }
  | { readonly outcome: 'failed'; readonly error: string }
  | {
      readonly outcome: 'offered';
      readonly protocol: string;
      readonly certificate: TlsCertificateFacts | undefined;
      readonly sessionReuse: SessionReuseFinding;
    };

function text(reply: UpstreamReply): string {
  const last = reply.lines.at(-1);
  return last === undefined ? String(reply.code) : stripLineEnding(last).toString('latin1');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function runTlsProbe(target: ProbeTarget, timeouts: ProbeTimeouts): Promise<TlsProbe> {
  let plain: net.Socket;
  try {
    plain = await dial({ host: target.host, port: target.port, timeoutMs: timeouts.connectMs, allowHalfOpen: false });
  } catch (error) {
    return { outcome: 'failed', error: errorText(error) };
  }
  const sockets: net.Socket[] = [plain];
  try {
    const reader = new UpstreamReplyReader(plain);
    const greeting = await reader.next(timeouts.replyMs);
    if (greeting.code !== 220) return { outcome: 'failed', error: `the server greeted with ${text(greeting)}` };
    plain.write('AUTH TLS\r\n');
    const auth = await reader.next(timeouts.replyMs);
    if (auth.code !== 234) return { outcome: 'not-offered', reply: text(auth) };
    reader.detach();
    const secure = await handshake(plain, target.host, undefined, timeouts.connectMs);
    sockets.push(secure);
    let session: Buffer | undefined;
    secure.on('session', (ticket: Buffer) => (session = ticket));
    const control = new UpstreamReplyReader(secure);
    const ask = async (command: string): Promise<UpstreamReply> => {
      secure.write(`${command}\r\n`);
      return control.next(timeouts.replyMs);
    };
    const protocol = secure.getProtocol() ?? 'unknown';
    const certificate = certificateFacts(secure, target.host);
    const found = (sessionReuse: SessionReuseFinding): TlsProbe => ({ outcome: 'offered', protocol, certificate, sessionReuse });

    const user = await ask(`USER ${target.user}`);
    const pass = user.code === 331 ? await ask(`PASS ${target.password}`) : user;
    if (pass.code !== 230 && pass.code !== 202) return found({ verdict: 'unknown', detail: `the login over TLS was answered ${text(pass)}` });
    for (const command of ['PBSZ 0', 'PROT P']) {
      const reply = await ask(command);
      if (reply.code !== 200) return found({ verdict: 'unknown', detail: `${command} was answered ${text(reply)}` });
    }
    const controlAddress = normalizeAddress(plain.remoteAddress ?? target.host);
    const list = (resume: Buffer | undefined): Promise<string | undefined> => listOverTls(ask, controlAddress, target.host, resume, timeouts, sockets);
    const fresh = await list(undefined);
    if (fresh === undefined) return found({ verdict: 'not-required', detail: 'a data connection with a fresh TLS handshake listed the directory' });
    if (session === undefined) return found({ verdict: 'unknown', detail: `a fresh TLS data connection failed (${fresh}) and the server issued no session to resume` });
    const resumed = await list(session);
    if (resumed === undefined) {
      return found({ verdict: 'required', detail: `a fresh TLS data connection failed (${fresh}); one resuming the control connection's session listed the directory` });
    }
    return found({ verdict: 'unknown', detail: `TLS data connections failed, fresh (${fresh}) and resumed (${resumed})` });
  } catch (error) {
    return { outcome: 'failed', error: errorText(error) };
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

function handshake(socket: net.Socket, host: string, session: Buffer | undefined, timeoutMs: number): Promise<tls.TLSSocket> {
  const secure = tls.connect({
    socket,
    host,
    rejectUnauthorized: false,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    ...(session === undefined ? {} : { session }),
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      secure.destroy();
      reject(new Error(`TLS handshake failed: ${error.message}`));
    };
    secure.once('error', fail);
    secure.once('close', () => fail(new Error('closed')));
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.removeAllListeners('close');
      secure.off('error', fail);
      secure.on('error', () => undefined);
      resolve(secure);
    });
  });
}

function certificateFacts(secure: tls.TLSSocket, host: string): TlsCertificateFacts | undefined {
  const certificate = secure.getPeerCertificate();
  if (Object.keys(certificate).length === 0) return undefined;
  const mismatch = secure.authorized ? tls.checkServerIdentity(host, certificate) : undefined;
  const problem = secure.authorized ? mismatch?.message : String(secure.authorizationError);
  return {
    subject: commonName(certificate.subject),
    issuer: commonName(certificate.issuer),
    fingerprint256: certificate.fingerprint256,
    trusted: problem === undefined,
    problem,
  };
}

function commonName(name: tls.Certificate): string {
  const cn = name.CN;
  if (cn === undefined) return JSON.stringify(name);
  return Array.isArray(cn) ? cn.join(', ') : cn;
}

/** PASV, a TLS data connection to the control address (resuming `session` if given), LIST: undefined when it worked, else why not. */
async function listOverTls(
  ask: (command: string) => Promise<UpstreamReply>,
  controlAddress: string,
  host: string,
  session: Buffer | undefined,
  timeouts: ProbeTimeouts,
  sockets: net.Socket[],
): Promise<string | undefined> {
  const pasv = await ask('PASV');
  const parsed = pasv.code === 227 ? parse227(Buffer.from(text(pasv), 'latin1')) : undefined;
  if (parsed?.ok !== true) return `PASV was answered ${text(pasv)}`;
  let socket: net.Socket;
  try {
    socket = await dial({ host: controlAddress, port: parsed.value.port, timeoutMs: timeouts.dataConnectMs, allowHalfOpen: false });
  } catch (error) {
    return errorText(error);
  }
  sockets.push(socket);
  // The server starts its side of the handshake once it has the LIST (after its 150).
  const final = ask('LIST');
  const received = handshake(socket, host, session, timeouts.transferMs).then(
    (secure) =>
      new Promise<string | undefined>((resolve) => {
        secure.on('data', () => undefined);
        secure.once('end', () => resolve(undefined));
        secure.once('close', () => resolve('the data connection closed without close_notify'));
      }),
    (error: unknown) => errorText(error),
  );
  const [reply, data] = await Promise.all([final, received]);
  if (reply.code >= 300) return `LIST was answered ${text(reply)}`;
  return data;
}

/** The report's TLS section: what was found, and the ftpmasq flags that follow from it. */
export function formatTlsProbe(probe: TlsProbe): string {
  const lines = ['', 'TLS towards the server (a second control connection):'];
  const row = (label: string, value: string): void => {
    lines.push(`  ${label.padEnd(22)}${value}`);
  };
  switch (probe.outcome) {
    case 'failed':
      row('AUTH TLS', `not checked: ${probe.error}`);
      break;
    case 'not-offered':
      row('AUTH TLS', `not offered (${probe.reply}): the server is plain; --upstream-tls off`);
      break;
    case 'offered': {
      row('AUTH TLS', `offered (${probe.protocol})`);
      const certificate = probe.certificate;
      if (certificate === undefined) row('certificate', 'none shown');
      else {
        row('certificate', `${certificate.subject}, issued by ${certificate.issuer}`);
        row('SHA-256', certificate.fingerprint256);
        row('trusted', certificate.trusted ? 'yes, by the system CAs' : `no: ${certificate.problem ?? 'unknown'}`);
      }
      row('session reuse', `${probe.sessionReuse.verdict}: ${probe.sessionReuse.detail}`);
      const verify =
        certificate === undefined || certificate.trusted ? '' : ` --upstream-tls-fingerprint ${certificate.fingerprint256} (or --upstream-tls-ca FILE)`;
      row('ftpmasq', `--upstream-tls explicit${verify}; its data connections resume the session either way`);
      break;
    }
  }
  return `${lines.join('\n')}\n`;
}
