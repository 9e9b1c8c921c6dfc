/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a load balancer
 * sends before the first byte of a proxied TCP connection to name the real client. Pure and
 * incremental: bytes in, `need-more`, `ok` (the header and how many bytes it took) or `error` out.
 * The caller keeps the bytes after `consumed`: they are the start of the FTP stream.
 *
 * Bounds: a v1 header is at most 107 bytes with its CRLF (spec 2.1); a v2 header at most
 * 16 + MAX_V2_PAYLOAD bytes. TLVs (spec 2.2.7) are skipped unread, so no TLV can make ftpmasq
 * parse, allocate or trust anything.
 */
import ipaddr from 'ipaddr.js';

export interface ProxyEndpoint {
  /** Normalized: an IPv4-mapped IPv6 address is written as IPv4. */
  readonly host: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * The client (source) and the address it connected to (destination). Undefined when the header
   * names no TCP client: v2 LOCAL (a balancer's own health check), v1 UNKNOWN, v2 UNSPEC, UDP or
   * UNIX. The spec says to use the connection's own addresses then, and ftpmasq does.
   */
  readonly addresses: { readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint } | undefined;
}

export type ProxyHeaderParse =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'ok'; readonly header: ProxyHeader; readonly consumed: number }
  | { readonly kind: 'error'; readonly reason: string };

/** The 12 bytes every v2 header starts with: CR LF CR LF NUL CR LF "QUIT" LF. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Spec 2.1: "PROXY UNKNOWN" with the longest TCP6 addresses and ports is 107 bytes with its CRLF. */
export const V1_MAX_BYTES = 107;
/** The v2 length field is bounded here: room for any address block and a few TLVs (AWS, TLS facts). */
export const MAX_V2_PAYLOAD = 2048;
const V2_FIXED_BYTES = 16;

const NEED_MORE: ProxyHeaderParse = { kind: 'need-more' };

function fail(reason: string): ProxyHeaderParse {
  return { kind: 'error', reason };
}

/** How many of the first bytes of `bytes` agree with `signature`; all of them when it is shorter. */
function matchesPrefix(bytes: Buffer, signature: Buffer): boolean {
  const length = Math.min(bytes.length, signature.length);
  return bytes.subarray(0, length).equals(signature.subarray(0, length));
}

/**
 * What the first bytes of a connection are: `header` when they start a PROXY header (v1 `PROXY `
 * or the v2 signature), `undecided` while they are a shorter prefix of one of those, `not-header`
 * otherwise. Used on connections from untrusted sources, which must never send one.
 */
export function classifyFirstBytes(bytes: Buffer): 'header' | 'not-header' | 'undecided' {
  const v1 = matchesPrefix(bytes, V1_PREFIX);
  const v2 = matchesPrefix(bytes, V2_SIGNATURE);
  if ((v1 && bytes.length >= V1_PREFIX.length) || (v2 && bytes.length >= V2_SIGNATURE.length)) return 'header';
  return v1 || v2 ? 'undecided' : 'not-header';
}

/** Parses the header at the start of `bytes`, which may hold fewer bytes than the header (need-more). */
export function parseProxyHeader(bytes: Buffer): ProxyHeaderParse {
  if (bytes.length === 0) return NEED_MORE;
  if (matchesPrefix(bytes, V2_SIGNATURE)) return bytes.length < V2_SIGNATURE.length ? NEED_MORE : parseV2(bytes);
  if (matchesPrefix(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? NEED_MORE : parseV1(bytes);
  return fail('no PROXY header: the connection does not start with "PROXY " or the v2 signature');
}

// ---- version 1: one ASCII line --------------------------------------------------------------------

function parseV1(bytes: Buffer): ProxyHeaderParse {
  const lineFeed = bytes.subarray(0, V1_MAX_BYTES).indexOf(0x0a);
  if (lineFeed === -1) return bytes.length >= V1_MAX_BYTES ? fail(`v1 header longer than ${V1_MAX_BYTES} bytes`) : NEED_MORE;
  if (lineFeed === 0 || bytes[lineFeed - 1] !== 0x0d) return fail('v1 header does not end in CRLF');
  const line = bytes.subarray(0, lineFeed - 1);
  for (const byte of line) if (byte < 0x20 || byte > 0x7e) return fail('v1 header has a byte that is not printable ASCII');
  const fields = line.toString('latin1').split(' ');
  const consumed = lineFeed + 1;
  const protocol = fields[1];
  // Spec 2.1: after UNKNOWN the rest of the line is ignored, whatever it holds.
  if (protocol === 'UNKNOWN') return { kind: 'ok', header: { version: 1, addresses: undefined }, consumed };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return fail(`v1 protocol must be TCP4, TCP6 or UNKNOWN, got ${JSON.stringify(protocol ?? '')}`);
  if (fields.length !== 6) return fail('v1 header must have exactly 6 fields separated by single spaces');
  const [, , sourceText = '', destinationText = '', sourcePortText = '', destinationPortText = ''] = fields;
  const family = protocol === 'TCP4' ? 4 : 6;
  const source = parseV1Address(sourceText, family);
  const destination = parseV1Address(destinationText, family);
  if (source === undefined || destination === undefined) return fail(`v1 ${protocol} header has an address that is not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const sourcePort = parseV1Port(sourcePortText);
  const destinationPort = parseV1Port(destinationPortText);
  if (sourcePort === undefined || destinationPort === undefined) return fail('v1 header has a port that is not a number from 0 to 65535');
  return {
    kind: 'ok',
    header: { version: 1, addresses: { source: { host: source, port: sourcePort }, destination: { host: destination, port: destinationPort } } },
    consumed,
  };
}

function parseV1Address(text: string, family: 4 | 6): string | undefined {
  if (family === 4) return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).toString() : undefined;
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return undefined;
  return ipaddr.process(text).toString();
}

/** Spec 2.1: decimal, 0 to 65535, no leading zero. */
function parseV1Port(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

// ---- version 2: binary ----------------------------------------------------------------------------

const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const FAMILY_TCP4 = 0x11;
const FAMILY_TCP6 = 0x21;

function parseV2(bytes: Buffer): ProxyHeaderParse {
  if (bytes.length < V2_FIXED_BYTES) {
    // The version is checked as soon as it has arrived: a v1 balancer's bytes fail at once.
    const versionByte = bytes[12];
    return versionByte !== undefined && versionByte >> 4 !== 2 ? fail(`v2 header has version ${versionByte >> 4}, not 2`) : NEED_MORE;
  }
  const versionCommand = bytes.readUInt8(12);
  const family = bytes.readUInt8(13);
  const payload = bytes.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return fail(`v2 header has version ${versionCommand >> 4}, not 2`);
  const command = versionCommand & 0x0f;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return fail(`v2 header has command ${command}, neither LOCAL nor PROXY`);
  if (payload > MAX_V2_PAYLOAD) return fail(`v2 header announces ${payload} bytes, more than the ${MAX_V2_PAYLOAD} accepted`);
  const consumed = V2_FIXED_BYTES + payload;
  if (bytes.length < consumed) return NEED_MORE;
  // Spec 2.2: LOCAL "must ignore the protocol block and use the real connection endpoints".
  if (command === COMMAND_LOCAL) return { kind: 'ok', header: { version: 2, addresses: undefined }, consumed };
  const block = bytes.subarray(V2_FIXED_BYTES, consumed);
  if (family === FAMILY_TCP4) return v2Addresses(block, 4, consumed);
  if (family === FAMILY_TCP6) return v2Addresses(block, 16, consumed);
  // UNSPEC, UDP, UNIX: no TCP client to name; the spec has the receiver use the connection's own.
  if ([0x00, 0x12, 0x22, 0x31, 0x32].includes(family)) return { kind: 'ok', header: { version: 2, addresses: undefined }, consumed };
  return fail(`v2 header has an unknown address family 0x${family.toString(16).padStart(2, '0')}`);
}

function v2Addresses(block: Buffer, addressBytes: 4 | 16, consumed: number): ProxyHeaderParse {
  const needed = 2 * addressBytes + 4;
  if (block.length < needed) return fail(`v2 header's ${addressBytes === 4 ? 'TCP4' : 'TCP6'} address block needs ${needed} bytes, has ${block.length}`);
  const host = (offset: number): string => ipaddr.process(ipaddr.fromByteArray([...block.subarray(offset, offset + addressBytes)]).toString()).toString();
  // What follows the address block (TLVs) is skipped, never read: ftpmasq uses none of them.
  return {
    kind: 'ok',
    header: {
      version: 2,
      addresses: {
        source: { host: host(0), port: block.readUInt16BE(2 * addressBytes) },
        destination: { host: host(addressBytes), port: block.readUInt16BE(2 * addressBytes + 2) },
      },
    },
    consumed,
  };
}

// ---- formatting (what ftpmasq sends to its upstream) ----------------------------------------------

/**
 * Both ends in one family, as both versions require: when one side is IPv4 and the other IPv6
 * (a dual-stack listener), the IPv4 one is written IPv4-mapped.
 */
function commonFamily(source: ProxyEndpoint, destination: ProxyEndpoint): { family: 4 | 6; source: ipaddr.IPv4 | ipaddr.IPv6; destination: ipaddr.IPv4 | ipaddr.IPv6 } {
  const parsedSource = ipaddr.process(source.host);
  const parsedDestination = ipaddr.process(destination.host);
  if (parsedSource.kind() === parsedDestination.kind()) return { family: parsedSource.kind() === 'ipv4' ? 4 : 6, source: parsedSource, destination: parsedDestination };
  const asIpv6 = (address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv6 => (address instanceof ipaddr.IPv4 ? address.toIPv4MappedAddress() : address);
  return { family: 6, source: asIpv6(parsedSource), destination: asIpv6(parsedDestination) };
}

/** `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`. Both hosts must be IP addresses. */
export function formatProxyHeaderV1(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const ends = commonFamily(source, destination);
  return Buffer.from(`PROXY TCP${ends.family} ${ends.source.toString()} ${ends.destination.toString()} ${source.port} ${destination.port}\r\n`, 'latin1');
}

/** A v2 PROXY header over TCP, without TLVs. */
export function formatProxyHeaderV2(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const ends = commonFamily(source, destination);
  const addressBytes = ends.family === 4 ? 4 : 16;
  const header = Buffer.alloc(V2_FIXED_BYTES + 2 * addressBytes + 4);
  V2_SIGNATURE.copy(header, 0);
  header.writeUInt8(0x20 | COMMAND_PROXY, 12);
  header.writeUInt8(ends.family === 4 ? FAMILY_TCP4 : FAMILY_TCP6, 13);
  header.writeUInt16BE(2 * addressBytes + 4, 14);
  header.set(ends.source.toByteArray(), V2_FIXED_BYTES);
  header.set(ends.destination.toByteArray(), V2_FIXED_BYTES + addressBytes);
  header.writeUInt16BE(source.port, V2_FIXED_BYTES + 2 * addressBytes);
  header.writeUInt16BE(destination.port, V2_FIXED_BYTES + 2 * addressBytes + 2);
  return header;
}

export type ProxyHeaderVersion = 'v1' | 'v2';

export function formatProxyHeader(version: ProxyHeaderVersion, source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  return version === 'v1' ? formatProxyHeaderV1(source, destination) : formatProxyHeaderV2(source, destination);
}
