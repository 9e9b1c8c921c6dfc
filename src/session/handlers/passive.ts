import { isDialableUpstreamDataPort, isSameHost, isUnroutable } from '../../protocol/address-policy.js';
import { argumentText } from '../../protocol/command.js';
import { parse227, parse229 } from '../../protocol/data-addresses.js';
import { lineEnding } from '../../protocol/line-reader.js';
import { telnetPrefixLength } from '../../protocol/telnet.js';
import {
  advertisedIpv4,
  decideEpsv,
  decidePassiveReply,
  decidePasv,
  formatRelayedPassiveReply,
} from '../../site/site-policy.js';
import { advertisedPassivePort } from '../../site/port-slices.js';
import type { Intent } from '../intents.js';
import { answerActiveReply } from './active.js';
import { applyRefusal, PASV_LINE, withPrefix, type CommandHandler, type SessionScope } from './scope.js';

type PassiveIntent = Extract<Intent, { kind: 'passive' }>;

interface UpstreamPassive {
  /** The reply without `telnetPrefix`: what the 227/229 parse reads. */
  readonly text: Buffer;
  /** Telnet commands the server wrote before the code (IAC DONT x): kept in front of the answer. */
  readonly telnetPrefix: Buffer;
  readonly upstreamPort: number;
  /** RFC 2428 allows any delimiter: a relayed 229 keeps the one the server chose. */
  readonly delimiter: string;
  /** The server's line ending, kept in the answer. */
  readonly eol: string;
}

/** PASV: a new passive exchange replaces the session's unused passive port. */
export const handlePasv: CommandHandler = (command, scope) => {
  const decision = decidePasv(scope.site, scope.facts());
  if (decision.kind === 'refuse') {
    applyRefusal(scope, decision);
    return;
  }
  scope.data.rollback();
  scope.forward(command.forward, { kind: 'passive', ...decision.exchange });
};

export const handleEpsv: CommandHandler = (command, scope) => {
  const decision = decideEpsv(scope.site, argumentText(command), scope.facts());
  switch (decision.kind) {
    case 'refuse':
      applyRefusal(scope, decision);
      return;
    case 'answer':
      scope.answerLocally(decision.reply);
      return;
    case 'epsv-all':
      // RFC 2428 section 4: after EPSV ALL, PORT, EPRT and PASV are refused.
      scope.noteEpsvAll();
      if (decision.reply === undefined) scope.forward(command.forward, { kind: 'plain' });
      else scope.answerLocally(decision.reply);
      return;
    case 'forward':
      scope.forward(command.forward, { kind: 'plain' });
      return;
    case 'passive':
      scope.data.rollback();
      scope.forward(decision.send === 'PASV' ? PASV_LINE : command.forward, { kind: 'passive', ...decision.exchange });
      return;
  }
};

/**
 * The whole reply (every line) to a PASV/EPSV ftpmasq sent for a client's PASV, EPSV, PORT or
 * EPRT. A reply of another kind (530, 425, a 229 to a PASV) is passed on as it came; one ftpmasq
 * cannot read gets 425. Returns the work still running (a port being bound), if any.
 */
export function answerDataSetupReply(
  intent: Extract<Intent, { kind: 'passive' | 'active' }>,
  code: number,
  lines: Buffer[],
  scope: SessionScope,
): Promise<void> | undefined {
  const expected = intent.kind === 'active' ? 227 : intent.upstreamReply;
  if (code !== expected) {
    scope.passOn(lines);
    return undefined;
  }
  const whole = Buffer.concat(lines);
  // The ReplyTracker read the code after them; the parse must start there too.
  const telnetPrefix = whole.subarray(0, telnetPrefixLength(whole));
  const text = whole.subarray(telnetPrefix.length);
  const parsed = readUpstreamPassive(code, text, scope);
  if (parsed === undefined) {
    scope.metrics.upstreamError('bad_reply');
    scope.log.error({ reply: text.toString('latin1').trim() }, 'cannot parse upstream passive reply');
    scope.finish(withPrefix(telnetPrefix, `425 Cannot open data connection: unreadable upstream ${code} reply.\r\n`));
    return undefined;
  }
  if (!isDialableUpstreamDataPort(parsed.port)) {
    scope.metrics.upstreamError('bad_reply');
    scope.log.error({ reply: text.toString('latin1').trim(), port: parsed.port }, 'upstream passive reply names a port below 1024');
    scope.finish(`425 Cannot open data connection: the upstream ${code} reply names a port below 1024.\r\n`);
    return undefined;
  }
  const reply: UpstreamPassive = {
    text,
    telnetPrefix,
    upstreamPort: parsed.port,
    delimiter: parsed.delimiter ?? '|',
    eol: lineEnding(lines.at(-1) ?? Buffer.alloc(0)) || '\r\n',
  };
  if (intent.kind === 'active') {
    answerActiveReply(intent, reply.upstreamPort, reply.eol, scope, telnetPrefix);
    return undefined;
  }
  return answerPassiveReply(intent, reply, lines, scope);
}

function answerPassiveReply(
  intent: PassiveIntent,
  reply: UpstreamPassive,
  lines: Buffer[],
  scope: SessionScope,
): Promise<void> | undefined {
  const decision = decidePassiveReply(scope.site, intent, reply, scope.facts());
  switch (decision.kind) {
    case 'pass':
      scope.passOn(lines);
      return undefined;
    case 'rewrite':
      scope.metrics.rewrite(decision.rewrite);
      scope.log.info(
        { from: trimmed(reply.text), to: trimmed(decision.answer) },
        decision.rewrite === 'epsv' ? 'passive reply relayed' : 'pasv reply rewritten',
      );
      scope.finish(withPrefix(reply.telnetPrefix, decision.answer));
      return undefined;
    case 'relay':
      return relayPassiveReply(intent, reply, scope);
    case 'kernel':
      return relayPassiveReply(intent, reply, scope, 'kernel');
  }
}

/**
 * Relay mode: a port of the pool is bound and held for the client, and named in the answer.
 * Kernel mode: the same port, forwarded by the kernel to the server's before the client hears of it.
 */
async function relayPassiveReply(intent: PassiveIntent, reply: UpstreamPassive, scope: SessionScope, path: 'relay' | 'kernel' = 'relay'): Promise<void> {
  const lease = await scope.data.acquirePort();
  if (scope.isClosed()) {
    lease?.release();
    return;
  }
  if (lease === undefined) {
    scope.refuse('passive_ports_exhausted', { capacity: scope.data.portCapacity });
    scope.finish("425 Can't open data connection: no free passive port.\r\n");
    return;
  }
  if (path === 'relay') {
    scope.data.preparePassive(lease, reply.upstreamPort);
  } else if (!(await scope.data.prepareKernelPassive(lease, reply.upstreamPort))) {
    if (!scope.isClosed()) scope.finish("425 Can't open data connection: the kernel could not forward a passive port.\r\n");
    return;
  } else if (scope.isClosed()) {
    return;
  }
  const { answer, rewrite } = formatRelayedPassiveReply(
    intent,
    advertisedPassivePort(scope.site, lease.port),
    reply.delimiter,
    reply.eol,
    advertisedIpv4(scope.site, scope.facts()),
  );
  scope.metrics.rewrite(rewrite);
  scope.log.info({ from: trimmed(reply.text), to: trimmed(answer), upstreamPort: reply.upstreamPort, boundPort: lease.port }, 'passive reply relayed');
  scope.finish(withPrefix(reply.telnetPrefix, answer));
}

function readUpstreamPassive(code: number, text: Buffer, scope: SessionScope): { port: number; delimiter?: string } | undefined {
  if (code === 229) {
    const parsed = parse229(text);
    return parsed.ok ? parsed.value : undefined;
  }
  const parsed = parse227(text);
  if (!parsed.ok) return undefined;
  diagnoseUpstreamPasv(parsed.value.host, scope);
  // CVE-2020-8284: the address inside a 227 is never dialled, only the port is used.
  return { port: parsed.value.port };
}

function diagnoseUpstreamPasv(advertisedHost: string, scope: SessionScope): void {
  const upstreamAddress = scope.upstreamAddress();
  if (!isUnroutable(advertisedHost) && isSameHost(advertisedHost, upstreamAddress)) return;
  scope.metrics.upstreamUnroutablePasv();
  if (scope.diagnosis.unroutablePasvWarned) return;
  scope.diagnosis.unroutablePasvWarned = true;
  const problem = isUnroutable(advertisedHost)
    ? `${advertisedHost}, which clients cannot reach`
    : `${advertisedHost}, which is not the upstream's own address (${upstreamAddress})`;
  scope.log.warn(
    { advertised: advertisedHost, upstream: upstreamAddress },
    `upstream 227 names ${problem}; ftpmasq is covering for it. ` +
      'Fix at the source: ProFTPD MasqueradeAddress, vsftpd pasv_address, Pure-FTPd ForcePassiveIP.',
  );
}

function trimmed(bytes: Buffer): string {
  return bytes.toString('latin1').trim();
}
