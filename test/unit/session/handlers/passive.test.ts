import { describe, expect, it } from 'vitest';
import { answerDataSetupReply, handleEpsv, handlePasv } from '../../../../src/session/handlers/passive.js';
import { command, counterValue, fakeLease, fakeScope } from './fake-scope.js';

const PASV_INTENT = { kind: 'passive', upstreamReply: 227, answerAs: 227 } as const;
const EPSV_INTENT = { kind: 'passive', upstreamReply: 229, answerAs: 229 } as const;
const TRANSLATED_INTENT = { kind: 'passive', upstreamReply: 227, answerAs: 229 } as const;
const UPSTREAM_227 = Buffer.from('227 Entering Passive Mode (10,0,11,251,234,96).\r\n');

describe('PASV', () => {
  it('releases the unused plan and goes upstream as sent', () => {
    const scope = fakeScope();
    handlePasv(command('pasv'), scope);
    expect(scope.fakeData.calls).toEqual(['rollback']);
    expect(scope.recorded.forwarded).toEqual([{ line: 'pasv\r\n', intent: PASV_INTENT }]);
  });

  it('is refused for an IPv6 client in relay mode, the plan kept', () => {
    const scope = fakeScope({}, { clientAddress: '2001:db8::2', ownAddress: '2001:db8::10', epsvAllSeen: false });
    handlePasv(command('PASV'), scope);
    expect(scope.recorded.local).toEqual(['425 PASV cannot name an IPv6 address; use EPSV.\r\n']);
    expect(scope.recorded.refusals.map((refusal) => refusal.reason)).toEqual(['ipv6_pasv']);
    expect(scope.fakeData.calls).toEqual([]);
  });
});

describe('EPSV', () => {
  it('passthrough: as sent, answered as a 229 of ftpmasq', () => {
    const scope = fakeScope();
    handleEpsv(command('EPSV'), scope);
    expect(scope.recorded.forwarded).toEqual([{ line: 'EPSV\r\n', intent: EPSV_INTENT }]);
  });

  it('translate: PASV goes upstream in its place', () => {
    const scope = fakeScope({ epsv: 'translate' });
    handleEpsv(command('EPSV 1'), scope);
    expect(scope.recorded.forwarded).toEqual([{ line: 'PASV\r\n', intent: TRANSLATED_INTENT }]);
  });

  it('translate: the other family gets 522, which is no refusal', () => {
    const scope = fakeScope({ epsv: 'translate' });
    handleEpsv(command('EPSV 2'), scope);
    expect(scope.recorded.local).toEqual(['522 Network protocol not supported, use (1).\r\n']);
    expect(scope.recorded.refusals).toEqual([]);
    expect(scope.recorded.forwarded).toEqual([]);
  });

  it('disable: 502 and counted', () => {
    const scope = fakeScope({ epsv: 'disable' });
    handleEpsv(command('EPSV'), scope);
    expect(scope.recorded.local).toEqual(['502 EPSV is disabled on this proxy; use PASV.\r\n']);
    expect(scope.recorded.refusals.map((refusal) => refusal.reason)).toEqual(['epsv_disabled']);
  });

  it('rewrite mode passthrough: forwarded plain, the 229 passed unchanged', () => {
    const scope = fakeScope({ mode: 'rewrite' });
    handleEpsv(command('EPSV'), scope);
    expect(scope.recorded.forwarded).toEqual([{ line: 'EPSV\r\n', intent: { kind: 'plain' } }]);
    expect(scope.fakeData.calls).toEqual([]);
  });

  it.each([
    { epsv: 'passthrough' as const, forwarded: ['EPSV ALL\r\n'], local: [] },
    { epsv: 'translate' as const, forwarded: [], local: ['200 EPSV ALL command successful.\r\n'] },
  ])('EPSV ALL ($epsv) is remembered; a later PASV is refused', ({ epsv, forwarded, local }) => {
    const scope = fakeScope({ epsv });
    handleEpsv(command('EPSV ALL'), scope);
    expect(scope.recorded.epsvAll).toBe(true);
    expect(scope.recorded.forwarded.map((entry) => entry.line)).toEqual(forwarded);
    expect(scope.recorded.local).toEqual(local);
    handlePasv(command('PASV'), scope);
    expect(scope.recorded.local.at(-1)).toBe('501 PASV not allowed after EPSV ALL.\r\n');
  });
});

describe('the passive reply', () => {
  it('relay mode: binds a port, prepares it and answers with the advertised address', async () => {
    const scope = fakeScope();
    const lease = fakeLease(60005);
    scope.fakeData.lease = lease;
    await answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    expect(scope.fakeData.calls).toEqual(['acquirePort', 'preparePassive 60005 60000']);
    expect(scope.recorded.toClient).toEqual(['227 Entering Passive Mode (203,0,113,10,234,101).\r\n']);
    expect(scope.recorded.completed).toEqual([1]);
    expect(await counterValue(scope, 'rewrites', 'pasv')).toBe(1);
    expect(lease.released).toBe(false);
  });

  it('relay mode, multi-line 229 with another delimiter: one answer keeping the delimiter', async () => {
    const scope = fakeScope();
    scope.fakeData.lease = fakeLease(60001);
    await answerDataSetupReply(EPSV_INTENT, 229, [Buffer.from('229-Entering\r\n'), Buffer.from('229 Extended Passive Mode (!!!50000!)\r\n')], scope);
    expect(scope.recorded.toClient).toEqual(['229 Entering Extended Passive Mode (!!!60001!)\r\n']);
    expect(scope.fakeData.calls).toEqual(['acquirePort', 'preparePassive 60001 50000']);
  });

  it('relay mode, no free port: 425, counted', async () => {
    const scope = fakeScope();
    await answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    expect(scope.recorded.toClient).toEqual(["425 Can't open data connection: no free passive port.\r\n"]);
    expect(scope.recorded.refusals).toEqual([{ reason: 'passive_ports_exhausted', details: { capacity: 10 } }]);
  });

  it('relay mode, session closed while the port was bound: the port goes back, nothing is sent', async () => {
    const scope = fakeScope();
    const lease = fakeLease(60002);
    scope.fakeData.lease = lease;
    const work = answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    scope.closed = true;
    await work;
    expect(lease.released).toBe(true);
    expect(scope.recorded.toClient).toEqual([]);
  });

  it('kernel mode: the port is forwarded by the kernel before the client hears of it', async () => {
    const scope = fakeScope({ mode: 'kernel' });
    scope.fakeData.lease = fakeLease(60005);
    await answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    expect(scope.fakeData.calls).toEqual(['acquirePort', 'prepareKernelPassive 60005 60000']);
    expect(scope.recorded.toClient).toEqual(['227 Entering Passive Mode (203,0,113,10,234,101).\r\n']);
  });

  it('kernel mode, the forward could not be installed: 425, nothing announced', async () => {
    const scope = fakeScope({ mode: 'kernel' });
    scope.fakeData.lease = fakeLease(60005);
    scope.fakeData.kernelInstalled = false;
    await answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    expect(scope.recorded.toClient).toEqual(["425 Can't open data connection: the kernel could not forward a passive port.\r\n"]);
  });

  it('kernel mode, IPv6 client (EPSV): its data is relayed, there is no NAT to the IPv4 server', async () => {
    const scope = fakeScope({ mode: 'kernel' }, { clientAddress: '2001:db8::2', ownAddress: '2001:db8::10', epsvAllSeen: false });
    scope.fakeData.lease = fakeLease(60001);
    await answerDataSetupReply(EPSV_INTENT, 229, [Buffer.from('229 Extended Passive Mode (|||50000|)\r\n')], scope);
    expect(scope.fakeData.calls).toEqual(['acquirePort', 'preparePassive 60001 50000']);
  });

  it('rewrite mode: an unroutable 227 names the advertised address and the server port, at once', async () => {
    const scope = fakeScope({ mode: 'rewrite', publicAddress: '198.51.100.10' });
    expect(answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope)).toBeUndefined();
    expect(scope.recorded.toClient).toEqual(['227 Entering Passive Mode (198,51,100,10,234,96).\r\n']);
    expect(scope.fakeData.calls).toEqual([]);
    expect(scope.recorded.logs.map((log) => log.msg)).toContain('pasv reply rewritten');
    expect(await counterValue(scope, 'rewrites', 'pasv')).toBe(1);
  });

  it('rewrite mode, translated EPSV: a 229 of the server port', () => {
    const scope = fakeScope({ mode: 'rewrite', epsv: 'translate' });
    answerDataSetupReply(TRANSLATED_INTENT, 227, [UPSTREAM_227], scope);
    expect(scope.recorded.toClient).toEqual(['229 Entering Extended Passive Mode (|||60000|)\r\n']);
  });

  it('passes a reply of another code on unchanged', () => {
    const scope = fakeScope();
    answerDataSetupReply(PASV_INTENT, 229, [Buffer.from('229 (|||50000|)\r\n')], scope);
    expect(scope.recorded.toClient).toEqual(['229 (|||50000|)\r\n']);
    expect(scope.fakeData.calls).toEqual([]);
  });

  it('answers an unreadable 227 with 425 and counts a bad reply', async () => {
    const scope = fakeScope();
    answerDataSetupReply(PASV_INTENT, 227, [Buffer.from('227 Entering Passive Mode\r\n')], scope);
    expect(scope.recorded.toClient).toEqual(['425 Cannot open data connection: unreadable upstream 227 reply.\r\n']);
    expect(await counterValue(scope, 'upstreamErrors', 'bad_reply')).toBe(1);
  });

  // Regression (hardening issue): ProFTPD writes IAC DONT x, its answer to a client's IAC WILL x,
  // just before the reply. The 227 after it must still be parsed and rewritten.
  describe('after Telnet commands the server wrote before the code', () => {
    const TELNET = '\xff\xfe\x01';
    const prefixed = (text: string): Buffer => Buffer.from(`${TELNET}${text}`, 'latin1');

    it('relay mode: the 227 is rewritten, the Telnet bytes kept in front', async () => {
      const scope = fakeScope();
      scope.fakeData.lease = fakeLease(60005);
      await answerDataSetupReply(PASV_INTENT, 227, [prefixed('227 Entering Passive Mode (10,0,11,251,234,96).\r\n')], scope);
      expect(scope.fakeData.calls).toEqual(['acquirePort', 'preparePassive 60005 60000']);
      expect(scope.recorded.toClient).toEqual([`${TELNET}227 Entering Passive Mode (203,0,113,10,234,101).\r\n`]);
    });

    it('relay mode: a 229 likewise', async () => {
      const scope = fakeScope();
      scope.fakeData.lease = fakeLease(60001);
      await answerDataSetupReply(EPSV_INTENT, 229, [prefixed('229 Extended Passive Mode (|||50000|)\r\n')], scope);
      expect(scope.recorded.toClient).toEqual([`${TELNET}229 Entering Extended Passive Mode (|||60001|)\r\n`]);
    });

    it('rewrite mode: the 227 is rewritten, the Telnet bytes kept in front', () => {
      const scope = fakeScope({ mode: 'rewrite', publicAddress: '198.51.100.10' });
      answerDataSetupReply(PASV_INTENT, 227, [prefixed('227 Entering Passive Mode (10,0,11,251,234,96).\r\n')], scope);
      expect(scope.recorded.toClient).toEqual([`${TELNET}227 Entering Passive Mode (198,51,100,10,234,96).\r\n`]);
    });

    it('for a PORT: 200, the Telnet bytes kept in front', () => {
      const scope = fakeScope();
      const intent = { kind: 'active', clientTarget: { host: '203.0.113.2', port: 50000 }, verb: 'PORT' } as const;
      answerDataSetupReply(intent, 227, [prefixed('227 Entering Passive Mode (10,0,11,251,234,96)\r\n')], scope);
      expect(scope.fakeData.calls).toEqual(['prepareActive 203.0.113.2:50000 60000']);
      expect(scope.recorded.toClient).toEqual([`${TELNET}200 PORT command successful.\r\n`]);
    });

    it('an unreadable 227: 425 behind the Telnet bytes', () => {
      const scope = fakeScope();
      answerDataSetupReply(PASV_INTENT, 227, [prefixed('227 Entering Passive Mode\r\n')], scope);
      expect(scope.recorded.toClient).toEqual([`${TELNET}425 Cannot open data connection: unreadable upstream 227 reply.\r\n`]);
    });
  });

  it('diagnoses an unroutable 227 in every reply and warns once', async () => {
    const scope = fakeScope();
    scope.fakeData.lease = fakeLease(60003);
    await answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    await answerDataSetupReply(PASV_INTENT, 227, [UPSTREAM_227], scope);
    expect((await scope.metricsRegistry.upstreamUnroutablePasv.get()).values[0]?.value).toBe(2);
    expect(scope.recorded.logs.filter((log) => log.msg.startsWith('upstream 227 names 10.0.11.251'))).toHaveLength(1);
    expect(scope.diagnosis.unroutablePasvWarned).toBe(true);
  });
});
