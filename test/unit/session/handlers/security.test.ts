import { describe, expect, it } from 'vitest';
import { handleAuth } from '../../../../src/session/handlers/security.js';
import { command, fakeScope } from './fake-scope.js';

describe('AUTH', () => {
  it.each(['AUTH TLS', 'AUTH SSL', 'auth tls', 'AUTH'])('%s: answered 534 by ftpmasq, counted, never forwarded', (text) => {
    const scope = fakeScope();
    handleAuth(command(text), scope);
    expect(scope.recorded.forwarded).toEqual([]);
    expect(scope.recorded.local).toEqual(['534 AUTH is not available through this ftpmasq proxy; continue without TLS.\r\n']);
    expect(scope.recorded.refusals).toEqual([{ reason: 'auth_tls', details: { verb: 'AUTH' } }]);
  });
});
