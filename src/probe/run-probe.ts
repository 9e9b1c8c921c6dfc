/**
 * The probe's I/O: one FTP session with the server under test, recorded as ProbeObservations.
 *
 * The only addresses it dials are the server's own: the URL's host (control and the careful
 * clients' data connections) and the address inside the server's 227 (the trusting clients'
 * data connection), with short timeouts. A 227 that names a loopback, unspecified, multicast or
 * broadcast address that is not the control address is not dialled: that would reach this
 * machine or a network, not the server.
 */
import { DialError, dial } from '../net/dial.js';
import { isSameHost, normalizeAddress } from '../protocol/address-policy.js';
import { type HostPort, parse227, parse229 } from '../protocol/data-addresses.js';
import { FtpClientError, FtpControlClient, type FtpReply, receiveOverData, replyLines, replySummary } from './ftp-client.js';
import type { DataAttempt, ExtendedPassiveReply, PassiveReply, ProbeRun, ProbeStage, ProbeSubject } from './observations.js';
import { canBeServerAddress, describeAddress } from './diagnose.js';
import type { ProbeTarget } from './probe-url.js';

export interface ProbeTimeouts {
  readonly connectMs: number;
  readonly replyMs: number;
  /** A data connection that is not up by then counts as failed (a dropped SYN, say). */
  readonly dataConnectMs: number;
  readonly transferMs: number;
}

export const DEFAULT_PROBE_TIMEOUTS: ProbeTimeouts = {
  connectMs: 5000,
  replyMs: 10_000,
  dataConnectMs: 3000,
  transferMs: 10_000,
};

/** Ports below 1024 are never dialled, by ftpmasq or by its probe (RFC 2577 section 3). */
const MIN_DATA_PORT = 1024;

class StageError extends Error {
  constructor(
    readonly stage: ProbeStage,
    message: string,
  ) {
    super(message);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function runProbe(target: ProbeTarget, timeouts: ProbeTimeouts = DEFAULT_PROBE_TIMEOUTS): Promise<ProbeRun> {
  const subject: ProbeSubject = { host: target.host, port: target.port, user: target.user };
  let client: FtpControlClient;
  try {
    client = await FtpControlClient.connect({
      host: target.host,
      port: target.port,
      connectTimeoutMs: timeouts.connectMs,
      replyTimeoutMs: timeouts.replyMs,
    });
  } catch (error) {
    return { complete: false, subject, stage: 'connect', error: errorText(error) };
  }
  const controlAddress = normalizeAddress(client.remoteAddress);
  const localAddress = normalizeAddress(client.localAddress);
  let greeting: string[] | undefined;
  try {
    greeting = await readGreeting(client);
    const login = await logIn(client, target);
    const featReply = await ask(client, 'FEAT');
    const feat = { code: featReply.code, lines: replyLines(featReply) };

    const pasv = await requestPassive(client);
    let dataToAdvertised: DataAttempt = { outcome: 'not-tried', target: undefined, why: 'no usable 227' };
    let dataToControl: DataAttempt = { outcome: 'not-tried', target: undefined, why: 'no usable 227' };
    if (pasv.outcome === 'ok') {
      const advertised = pasv.advertised;
      dataToAdvertised = await tryData(client, advertised, controlAddress, timeouts);
      if (isSameHost(advertised.host, controlAddress)) {
        dataToControl = { outcome: 'not-tried', target: { host: controlAddress, port: advertised.port }, why: 'the 227 names the control address' };
      } else {
        // A fresh PASV: the server's first passive listener may still wait for the failed dial.
        const second = await requestPassive(client);
        dataToControl =
          second.outcome === 'ok'
            ? await tryData(client, { host: controlAddress, port: second.advertised.port }, controlAddress, timeouts)
            : { outcome: 'not-tried', target: undefined, why: `the second PASV got ${second.reply}` };
      }
    }

    const epsv = await requestExtendedPassive(client);
    const epsvData: DataAttempt =
      epsv.outcome === 'ok'
        ? await tryData(client, { host: controlAddress, port: epsv.port }, controlAddress, timeouts)
        : { outcome: 'not-tried', target: undefined, why: 'no usable 229' };
    await client.quit();
    return {
      complete: true,
      observations: {
        subject,
        controlAddress,
        localAddress,
        greeting,
        login,
        feat,
        pasv,
        dataToAdvertised,
        dataToControl,
        epsv,
        epsvData,
      },
    };
  } catch (error) {
    client.close();
    const stage = error instanceof StageError ? error.stage : 'session';
    return {
      complete: false,
      subject,
      stage,
      error: errorText(error),
      controlAddress,
      ...(greeting === undefined ? {} : { greeting }),
    };
  }
}

/** A command's final reply; control-channel failures end the probe at `stage`. */
async function ask(client: FtpControlClient, command: string, stage: ProbeStage = 'session'): Promise<FtpReply> {
  try {
    return await client.command(command);
  } catch (error) {
    const verb = command.split(' ')[0] ?? command;
    throw new StageError(stage, `${verb}: ${errorText(error)}`);
  }
}

async function readGreeting(client: FtpControlClient): Promise<string[]> {
  const lines: string[] = [];
  try {
    let reply = await client.readReply();
    // RFC 959 section 5.4: 120 "ready in nnn minutes" comes before the 220.
    while (reply.code === 120) {
      lines.push(...replyLines(reply));
      reply = await client.readReply();
    }
    lines.push(...replyLines(reply));
    if (reply.code !== 220) throw new StageError('greeting', `the server greeted with ${replySummary(reply)}`);
    return lines;
  } catch (error) {
    if (error instanceof StageError) throw error;
    throw new StageError('greeting', errorText(error));
  }
}

async function logIn(client: FtpControlClient, target: ProbeTarget): Promise<string> {
  const user = await ask(client, `USER ${target.user}`, 'login');
  if (user.code === 230) return replySummary(user);
  if (user.code !== 331) throw new StageError('login', `USER was answered ${replySummary(user)}`);
  const pass = await ask(client, `PASS ${target.password}`, 'login');
  if (pass.code !== 230 && pass.code !== 202) throw new StageError('login', `PASS was answered ${replySummary(pass)}`);
  return replySummary(pass);
}

async function requestPassive(client: FtpControlClient): Promise<PassiveReply> {
  const reply = await ask(client, 'PASV');
  const text = replySummary(reply);
  if (reply.code !== 227) return { outcome: 'refused', reply: text };
  const parsed = parse227(Buffer.from(text, 'latin1'));
  if (!parsed.ok) return { outcome: 'unreadable', reply: text, reason: parsed.reason };
  return { outcome: 'ok', reply: text, advertised: parsed.value };
}

async function requestExtendedPassive(client: FtpControlClient): Promise<ExtendedPassiveReply> {
  const reply = await ask(client, 'EPSV');
  const text = replySummary(reply);
  if (reply.code !== 229) return { outcome: 'refused', reply: text };
  const parsed = parse229(Buffer.from(text, 'latin1'));
  if (!parsed.ok) return { outcome: 'unreadable', reply: text, reason: parsed.reason };
  return { outcome: 'ok', reply: text, port: parsed.value.port };
}

/** Why an address from a 227 is not dialled, or undefined when it may be. */
export function refuseDataTarget(target: HostPort, controlAddress: string): string | undefined {
  if (target.port < MIN_DATA_PORT) return `port ${target.port} is below ${MIN_DATA_PORT}`;
  if (isSameHost(target.host, controlAddress)) return undefined;
  const facts = describeAddress(target.host);
  if (facts.range === 'invalid') return 'not an IP address';
  if (!canBeServerAddress(facts)) return `${facts.range} address: dialling it would not reach the server`;
  return undefined;
}

/** Opens a passive data connection and lists the directory over it. */
async function tryData(client: FtpControlClient, target: HostPort, controlAddress: string, timeouts: ProbeTimeouts): Promise<DataAttempt> {
  const refusal = refuseDataTarget(target, controlAddress);
  if (refusal !== undefined) return { outcome: 'not-tried', target, why: refusal };
  let socket;
  try {
    socket = await dial({ host: target.host, port: target.port, timeoutMs: timeouts.dataConnectMs, allowHalfOpen: false });
  } catch (error) {
    const code = error instanceof DialError ? error.code : 'EUNKNOWN';
    const detail = code === 'ETIMEDOUT' ? `ETIMEDOUT (no answer within ${timeouts.dataConnectMs} ms)` : code;
    return { outcome: 'connect-failed', target, error: detail };
  }
  try {
    const result = await receiveOverData(client, 'LIST', socket, timeouts.transferMs);
    if (result.final === undefined) return { outcome: 'transfer-failed', target, reply: replySummary(result.first) };
    const reply = replySummary(result.final);
    if (result.final.code >= 300) return { outcome: 'transfer-failed', target, reply };
    return { outcome: 'ok', target, reply, bytes: result.data.length };
  } catch (error) {
    if (error instanceof FtpClientError && error.code !== 'data') throw new StageError('session', `LIST: ${error.message}`);
    return { outcome: 'transfer-failed', target, reply: errorText(error) };
  }
}
