import { describe, expect, it } from 'vitest';
import { handleFeat, handleLongAddressCommand, passFeatureLine } from '../../../../src/session/handlers/features.js';
import { command, fakeScope } from './fake-scope.js';

describe('FEAT', () => {
  it('goes upstream as sent, with a feat intent', () => {
    const scope = fakeScope();
    handleFeat(command('feat'), scope);
    expect(scope.recorded.forwarded).toEqual([{ line: 'feat\r\n', intent: { kind: 'feat' } }]);
  });

  it.each([
    { epsv: 'passthrough' as const, expected: '211-Features:\r\n EPSV\r\n SIZE\r\n' },
    { epsv: 'translate' as const, expected: '211-Features:\r\n EPSV\r\n SIZE\r\n' },
    { epsv: 'disable' as const, expected: '211-Features:\r\n SIZE\r\n' },
  ])('passes the lines the site keeps (epsv $epsv)', ({ epsv, expected }) => {
    const scope = fakeScope({ epsv });
    for (const line of ['211-Features:\r\n', ' AUTH TLS\r\n', ' EPSV\r\n', ' PBSZ\r\n', ' SIZE\r\n']) passFeatureLine(Buffer.from(line), scope);
    expect(scope.recorded.toClient.join('')).toBe(expected);
    expect(scope.recorded.completed).toEqual([]);
  });
});

describe('LPSV, LPRT', () => {
  it.each(['LPSV', 'LPRT 4,4,1,2,3,4,2,1,2'])('%s: 502, counted, nothing upstream', (text) => {
    const scope = fakeScope();
    handleLongAddressCommand(command(text), scope);
    const verb = text.slice(0, 4);
    expect(scope.recorded.local).toEqual([`502 ${verb} is not implemented; use EPSV or PASV.\r\n`]);
    expect(scope.recorded.refusals).toEqual([{ reason: 'not_supported', details: { verb } }]);
    expect(scope.recorded.forwarded).toEqual([]);
  });
});
