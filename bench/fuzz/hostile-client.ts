/**
 * Generated hostile client sessions: a plan of writes (command lines built from a verb, a
 * separator, an argument and a line end, with Telnet sequences, CR, LF and NUL spliced in at
 * random places, overlong lines, pipelined bursts split at random offsets), pauses, data
 * connections opened to whatever a 227/229 names (loopback only), and an ending (wait for the
 * proxy, half-close, close, or reset), all drawn from one seeded Prng.
 *
 * Every address a generated PORT or EPRT names is on loopback or is no address at all, so even a
 * proxy that let a PORT through could only make the server dial loopback.
 */
import net from 'node:net';
import { Prng } from './prng.js';

const IAC = 0xff;
const TELNET_IP = 0xf4;
const TELNET_DM = 0xf2;
const TELNET_NEGOTIATIONS = [0xfb, 0xfc, 0xfd, 0xfe];

const VERBS = [
  'USER', 'PASS', 'PORT', 'EPRT', 'PASV', 'EPSV', 'AUTH', 'ABOR', 'REST', 'RETR', 'STOR', 'APPE', 'LIST', 'NLST',
  'MLSD', 'NOOP', 'TYPE', 'STAT', 'FEAT', 'SIZE', 'CWD', 'PWD', 'SYST', 'OPTS', 'PBSZ', 'PROT', 'CCC', 'QUIT',
  'port', 'Pasv', 'ePsV', 'XYZZY', '', 'EPSV', 'EPRT', 'LPSV', 'LPRT',
];

/** One step of a session's plan. `own-port` arguments are filled in with the session's listener. */
export type ClientStep =
  | { readonly kind: 'write'; readonly bytes: Buffer }
  | { readonly kind: 'pause'; readonly ms: number }
  | { readonly kind: 'data'; readonly action: 'read' | 'close' | 'reset' | 'send' };

export type ClientEnding = 'wait' | 'half-close' | 'close' | 'reset';

export interface ClientPlan {
  readonly steps: readonly ClientStep[];
  readonly ending: ClientEnding;
}

const OWN_PORT_MARK = '\u0000OWNPORT\u0000';

function telnetSequence(prng: Prng): Buffer {
  switch (prng.int(0, 4)) {
    case 0:
      return Buffer.from([IAC, TELNET_IP]);
    case 1:
      return Buffer.from([IAC, TELNET_IP, IAC, TELNET_DM]);
    case 2:
      return Buffer.from([IAC, prng.pick(TELNET_NEGOTIATIONS), prng.int(0, 255)]);
    case 3:
      return Buffer.from([IAC, IAC]);
    default:
      return Buffer.from([IAC]);
  }
}

/** A PORT tuple or EPRT argument naming loopback, this session's own listener, or no address at all. */
function addressArgument(prng: Prng, verb: string): string {
  const port = prng.chance(0.5) ? OWN_PORT_MARK : String(prng.pick([0, 1, 21, 1023, 1024, 65535, 65536, 99999, -1]));
  const host = prng.pick(['127.0.0.1', '127.0.0.2', '127.1', '300.1.1.1', '127.0.0.1.5', '', '::1', '0x7f.0.0.1']);
  if (verb.toUpperCase() === 'EPRT') {
    // An IPv6 client's own EPRT, as an IPv6 session sends it (the address may be wrong for an IPv4 one).
    if (prng.chance(0.3)) return `|2|::1|${port}|`;
    const delimiter = prng.pick(['|', '!', '|', ' ', '', '||']);
    const family = prng.pick(['1', '2', '3', '', 'x']);
    return `${delimiter}${family}${delimiter}${host}${delimiter}${port}${delimiter}`;
  }
  const octets = host.startsWith('127.') && !host.includes('x') ? host.split('.') : [String(prng.int(256, 999)), '0', '0', '1'];
  const high = port === OWN_PORT_MARK ? `${OWN_PORT_MARK}H` : String(prng.int(0, 300));
  const low = port === OWN_PORT_MARK ? `${OWN_PORT_MARK}L` : String(prng.int(0, 300));
  const parts = [...octets.slice(0, 4), high, low];
  if (prng.chance(0.2)) parts.splice(prng.int(0, parts.length - 1), 1);
  return parts.join(prng.pick([',', ',', ', ', ',,']));
}

function argumentFor(prng: Prng, verb: string): Buffer {
  const upper = verb.toUpperCase();
  if ((upper === 'PORT' || upper === 'EPRT') && prng.chance(0.8)) return Buffer.from(addressArgument(prng, verb), 'latin1');
  switch (prng.int(0, 7)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.from(prng.pick(['sample.txt', 'nosuch', '../../etc/passwd', 'scott', 'tiger', 'TLS', 'SSL', 'A', 'I', '0', '100', '-1', '99999999999999999999']), 'latin1');
    case 2:
      return prng.bytes(prng.int(1, 40));
    case 3:
      return Buffer.from(Array.from({ length: prng.int(1, 60) }, () => prng.int(0x20, 0x7e)));
    case 4:
      return Buffer.from(String(prng.int(-5, 1 << 30)), 'latin1');
    case 5:
      return Buffer.concat([Buffer.from('sample', 'latin1'), telnetSequence(prng), Buffer.from('.txt', 'latin1')]);
    case 6:
      return Buffer.from('\u00e9\u00e8 \u65e5\u672c.txt', 'utf8');
    default:
      return Buffer.from(`${prng.pick(['(|||', '|2|::1|', 'UTF8 ON', 'P', 'C'])}${prng.int(0, 70000)}`, 'latin1');
  }
}

/** Splices `insert` into `line` at a random offset. */
function splice(prng: Prng, line: Buffer, insert: Buffer): Buffer {
  const at = prng.int(0, line.length);
  return Buffer.concat([line.subarray(0, at), insert, line.subarray(at)]);
}

/** One generated command line (or something that only looks like one). */
export function generateLine(prng: Prng): Buffer {
  if (prng.chance(0.03)) {
    // Overlong: past any sane command limit and past the 8 KiB the proxy's readers hold.
    const length = prng.pick([4097, 8191, 8193, 16_384, 65_536]);
    const fill = prng.chance(0.5) ? Buffer.alloc(length, 0x41) : prng.bytes(length);
    return Buffer.concat([Buffer.from('RETR ', 'latin1'), fill, Buffer.from(prng.pick(['\r\n', '\n', '']), 'latin1')]);
  }
  if (prng.chance(0.04)) return prng.bytes(prng.int(1, 200));
  const verb = prng.pick(VERBS);
  const separator = Buffer.from(prng.pick([' ', ' ', ' ', ' ', '\t', '  ', '\x0b', '\x0c', '\r', '\0', '']), 'latin1');
  let line: Buffer = Buffer.concat([Buffer.from(verb, 'latin1'), separator, argumentFor(prng, verb)]);
  if (prng.chance(0.15)) line = Buffer.concat([telnetSequence(prng), line]);
  // Nothing is spliced into a PORT or EPRT line: a byte cut out of `127` by a server's Telnet
  // layer, or a line split inside it, could leave an address off loopback (`27,0,0,1`).
  const addressLine = ['PORT', 'EPRT'].includes(verb.toUpperCase());
  if (!addressLine && prng.chance(0.08)) line = splice(prng, line, telnetSequence(prng));
  if (!addressLine && prng.chance(0.08)) line = splice(prng, line, Buffer.from(prng.pick(['\r', '\n', '\0', '\r\n', '\n\n']), 'latin1'));
  const ending = prng.pick(['\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r', '\0', '\r\r\n', '\r\0', '']);
  return Buffer.concat([line, Buffer.from(ending, 'latin1')]);
}

/** A session's whole plan: a login half the time, then bursts, pauses and data steps, then an ending. */
export function generatePlan(prng: Prng): ClientPlan {
  const steps: ClientStep[] = [];
  if (prng.chance(0.5)) steps.push({ kind: 'write', bytes: Buffer.from('USER scott\r\nPASS tiger\r\n', 'latin1') });
  const bursts = prng.int(0, 6);
  for (let burst = 0; burst < bursts; burst++) {
    const lines = Array.from({ length: prng.chance(0.3) ? prng.int(2, 40) : 1 }, () => generateLine(prng));
    const bytes = Buffer.concat(lines);
    // A burst goes out in one write, or split at random offsets (every split the reader must survive).
    if (prng.chance(0.5)) steps.push({ kind: 'write', bytes });
    else {
      let offset = 0;
      while (offset < bytes.length) {
        const size = prng.int(1, Math.max(1, Math.min(64, bytes.length - offset)));
        steps.push({ kind: 'write', bytes: bytes.subarray(offset, offset + size) });
        offset += size;
        if (prng.chance(0.2)) steps.push({ kind: 'pause', ms: prng.int(0, 5) });
      }
    }
    if (prng.chance(0.4)) steps.push({ kind: 'pause', ms: prng.int(0, 150) });
    if (prng.chance(0.25)) steps.push({ kind: 'data', action: prng.pick(['read', 'close', 'reset', 'send'] as const) });
  }
  const ending = prng.pick(['wait', 'wait', 'half-close', 'close', 'reset'] as const);
  return { steps, ending };
}

export interface ClientSessionResult {
  /** Who ended the control connection: the proxy (EOF, reset or close) or this client. */
  readonly endedBy: 'proxy' | 'client';
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** From the last byte this client sent (or its ending) to the proxy's close; 0 when the client closed. */
  readonly closeAfterMs: number;
}

export class SessionHangError extends Error {}

/**
 * Runs one plan against `endpoint`. Resolves when the session is over; rejects with
 * SessionHangError when a session the client did not close is still open `closeBoundMs` after
 * the client's last action.
 */
export async function runClientPlan(endpoint: { host: string; port: number }, plan: ClientPlan, prng: Prng, closeBoundMs: number): Promise<ClientSessionResult> {
  if (!endpoint.host.startsWith('127.') && endpoint.host !== '::1') throw new Error(`the fuzzer dials only loopback, not ${endpoint.host}`);
  const listener = net.createServer((socket) => handleDataSocket(socket, prng.fork(), 'read'));
  // The session's own PORT/EPRT target, in the control connection's family (::1 for an IPv6 site).
  await new Promise<void>((resolve) => listener.listen({ host: endpoint.host === '::1' ? '::1' : '127.0.0.1', port: 0 }, () => resolve()));
  const listenerAddress = listener.address();
  const ownPort = listenerAddress !== null && typeof listenerAddress !== 'string' ? listenerAddress.port : 0;
  const dataSockets = new Set<net.Socket>();
  const socket = net.connect({ host: endpoint.host, port: endpoint.port });
  socket.on('error', () => undefined);
  let received = Buffer.alloc(0);
  let bytesReceived = 0;
  let bytesSent = 0;
  let closed = false;
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  socket.on('data', (chunk: Buffer) => {
    bytesReceived += chunk.length;
    // Only the tail matters: the last 227/229 names the data port to try.
    received = Buffer.concat([received, chunk]).subarray(-512);
  });

  function handleDataSocket(data: net.Socket, dataPrng: Prng, action: 'read' | 'close' | 'reset' | 'send'): void {
    dataSockets.add(data);
    data.on('error', () => undefined);
    data.on('close', () => dataSockets.delete(data));
    data.resume();
    switch (action) {
      case 'read':
        return;
      case 'close':
        data.destroy();
        return;
      case 'reset':
        if (data.connecting) data.once('connect', () => data.resetAndDestroy());
        else data.resetAndDestroy();
        return;
      case 'send':
        data.end(dataPrng.bytes(dataPrng.int(0, 4096)));
        return;
    }
  }

  function lastPassivePort(): number | undefined {
    const text = received.toString('latin1');
    const pasv = /227[^\n]*?\(?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)?[^\n]*\n[^]*$/.exec(text);
    const epsv = /229[^\n]*\(\|\|\|(\d+)\|\)[^\n]*\n[^]*$/.exec(text);
    if (epsv !== null) return Number(epsv[1]);
    if (pasv !== null) return Number(pasv[5]) * 256 + Number(pasv[6]);
    return undefined;
  }

  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  try {
    for (const step of plan.steps) {
      if (closed) break;
      switch (step.kind) {
        case 'write': {
          const bytes = Buffer.from(
            step.bytes
              .toString('latin1')
              .replaceAll(`${OWN_PORT_MARK}H`, String(ownPort >> 8))
              .replaceAll(`${OWN_PORT_MARK}L`, String(ownPort & 0xff))
              .replaceAll(OWN_PORT_MARK, String(ownPort)),
            'latin1',
          );
          bytesSent += bytes.length;
          socket.write(bytes);
          break;
        }
        case 'pause':
          await new Promise((resolve) => setTimeout(resolve, step.ms));
          break;
        case 'data': {
          const port = lastPassivePort();
          // The proxy's own address (the control peer): never what a 227 says, so never off loopback.
          if (port === undefined || port <= 0 || port > 65535) break;
          const data = net.connect({ host: endpoint.host, port });
          handleDataSocket(data, prng.fork(), step.action);
          break;
        }
      }
    }
    if (closed) return { endedBy: 'proxy', bytesSent, bytesReceived, closeAfterMs: 0 };
    switch (plan.ending) {
      case 'close':
        socket.destroy();
        return { endedBy: 'client', bytesSent, bytesReceived, closeAfterMs: 0 };
      case 'reset':
        socket.resetAndDestroy();
        return { endedBy: 'client', bytesSent, bytesReceived, closeAfterMs: 0 };
      case 'half-close':
        socket.end();
        break;
      case 'wait':
        break;
    }
    const waitStarted = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const hung = await Promise.race([
      closedPromise.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), closeBoundMs);
      }),
    ]);
    clearTimeout(timer);
    if (hung) {
      const tail = JSON.stringify(received.toString('latin1').slice(-200));
      throw new SessionHangError(`session still open ${closeBoundMs} ms after the client's ${plan.ending}; last bytes received: ${tail}`);
    }
    return { endedBy: 'proxy', bytesSent, bytesReceived, closeAfterMs: Date.now() - waitStarted };
  } finally {
    socket.destroy();
    for (const data of dataSockets) data.destroy();
    listener.close();
  }
}
