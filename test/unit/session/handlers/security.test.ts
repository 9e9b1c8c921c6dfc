import { describe, expect, it } from 'vitest';
import type { SiteTls } from '../../../../src/config/types.js';
import { handleAuth, handleCcc, handleLogin, handlePbsz, handleProt } from '../../../../src/session/handlers/security.js';
import { finishFeatureReply } from '../../../../src/session/handlers/features.js';
import { command, fakeScope } from './fake-scope.js';

const TLS: SiteTls = { certFile: 'c', keyFile: 'k', cert: '', key: '', clientTls: 'optional', dataTlsReuse: 'required', allowClearData: true, implicitListen: [] };

describe('AUTH without a certificate', () => {
  it.each(['AUTH TLS', 'AUTH SSL', 'auth tls', 'AUTH'])('%s: answered 534 by ftpmasq, counted, never forwarded', (text) => {
    const scope = fakeScope();
    handleAuth(command(text), scope);
    expect(scope.recorded.forwarded).toEqual([]);
    expect(scope.recorded.local).toEqual(['534 AUTH is not available through this ftpmasq proxy; continue without TLS.\r\n']);
    expect(scope.recorded.refusals).toEqual([{ reason: 'auth_tls', details: { verb: 'AUTH' } }]);
  });

  it.each(['PBSZ 0', 'PROT P', 'CCC', 'PASS tiger'])('%s goes upstream as before', (text) => {
    const scope = fakeScope();
    const handler = { PBSZ: handlePbsz, PROT: handleProt, CCC: handleCcc, PASS: handleLogin }[text.split(' ')[0] as 'PBSZ'];
    handler(command(text), scope);
    expect(scope.recorded.forwarded).toEqual([{ line: `${text}\r\n`, intent: { kind: 'plain' } }]);
  });

  it('USER scott goes upstream with its name in the intent (the live view takes the user from its reply)', () => {
    const scope = fakeScope();
    handleLogin(command('USER scott'), scope);
    expect(scope.recorded.forwarded).toEqual([{ line: 'USER scott\r\n', intent: { kind: 'plain', user: Buffer.from('scott') } }]);
  });
});

describe('AUTH with a certificate', () => {
  it('AUTH TLS starts TLS through the scope, nothing upstream', () => {
    const scope = fakeScope({ tls: TLS });
    handleAuth(command('AUTH TLS'), scope);
    expect(scope.recorded.local).toEqual(['startTls 234 AUTH TLS successful; start the TLS handshake.\r\n']);
    expect(scope.recorded.forwarded).toEqual([]);
  });

  it('USER under clientTls required: 530, counted, nothing upstream', () => {
    const scope = fakeScope({ tls: { ...TLS, clientTls: 'required' } });
    handleLogin(command('USER scott'), scope);
    expect(scope.recorded.local).toEqual(['530 TLS required: send AUTH TLS before USER.\r\n']);
    expect(scope.recorded.refusals.map((refusal) => refusal.reason)).toEqual(['tls_required']);
    expect(scope.recorded.forwarded).toEqual([]);
  });
});

describe('the FEAT reply on a site with a certificate', () => {
  it('lists the TLS features before the last line of a multi-line reply', () => {
    const scope = fakeScope({ tls: TLS });
    finishFeatureReply(Buffer.from('211 End\r\n'), 211, false, scope);
    expect(scope.recorded.toClient.join('')).toBe(' AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n');
  });

  it('turns a single-line 211 into a multi-line reply', () => {
    const scope = fakeScope({ tls: TLS });
    finishFeatureReply(Buffer.from('211 No features\n'), 211, true, scope);
    expect(scope.recorded.toClient.join('')).toBe('211-No features\n AUTH TLS\n PBSZ\n PROT\n211 End\n');
  });

  it('passes an error reply as it came', () => {
    const scope = fakeScope({ tls: TLS });
    finishFeatureReply(Buffer.from('500 FEAT not understood\r\n'), 500, true, scope);
    expect(scope.recorded.toClient).toEqual(['500 FEAT not understood\r\n']);
  });
});

