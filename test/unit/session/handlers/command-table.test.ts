import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../../src/protocol/command.js';
import { handleActive } from '../../../../src/session/handlers/active.js';
import { COMMAND_HANDLERS, forwardPlain, handlerFor } from '../../../../src/session/handlers/command-table.js';
import { handleFeat, handleLongAddressCommand } from '../../../../src/session/handlers/features.js';
import { handleEpsv, handlePasv } from '../../../../src/session/handlers/passive.js';
import { handleAuth, handleCcc, handleLogin, handlePbsz, handleProt } from '../../../../src/session/handlers/security.js';
import { handleAbort, handleStat, handleTransfer } from '../../../../src/session/handlers/transfer.js';
import { command, fakeScope } from './fake-scope.js';

describe('the command table', () => {
  it.each([
    { verb: 'AUTH', handler: handleAuth },
    { verb: 'PBSZ', handler: handlePbsz },
    { verb: 'PROT', handler: handleProt },
    { verb: 'CCC', handler: handleCcc },
    ...['USER', 'PASS', 'ACCT'].map((verb) => ({ verb, handler: handleLogin })),
    { verb: 'PASV', handler: handlePasv },
    { verb: 'EPSV', handler: handleEpsv },
    { verb: 'PORT', handler: handleActive },
    { verb: 'EPRT', handler: handleActive },
    { verb: 'LPSV', handler: handleLongAddressCommand },
    { verb: 'LPRT', handler: handleLongAddressCommand },
    { verb: 'FEAT', handler: handleFeat },
    { verb: 'ABOR', handler: handleAbort },
    { verb: 'STAT', handler: handleStat },
    ...['RETR', 'STOR', 'STOU', 'APPE', 'LIST', 'NLST', 'MLSD'].map((verb) => ({ verb, handler: handleTransfer })),
    ...['CWD', 'SIZE', 'NOOP', 'QUIT', ''].map((verb) => ({ verb, handler: forwardPlain })),
  ])('$verb', ({ verb, handler }) => {
    expect(handlerFor(verb)).toBe(handler);
  });

  it('names 23 verbs', () => {
    expect(COMMAND_HANDLERS.size).toBe(23);
  });

  it('STAT goes upstream at once; its intent says whether a transfer awaits its reply', () => {
    const scope = fakeScope();
    handleStat(command('STAT'), scope);
    scope.transferRunning = true;
    handleStat(command('STAT'), scope);
    expect(scope.recorded.forwarded).toEqual([
      { line: 'STAT\r\n', intent: { kind: 'plain' } },
      { line: 'STAT\r\n', intent: { kind: 'status' } },
    ]);
  });

  it('forwards any other command as the same bytes, Telnet prefix and all', () => {
    const scope = fakeScope();
    const line = Buffer.from([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from('ABOR\r\n')]);
    forwardPlain({ verb: 'ABOR', argument: Buffer.alloc(0), line, forward: line }, scope);
    expect(scope.recorded.forwarded).toEqual([{ line: line.toString('latin1'), intent: { kind: 'plain' } }]);
    handlerFor('SIZE')(command('SIZE f\u00e9.txt'), scope);
    expect(scope.recorded.forwarded.at(-1)?.line).toBe('SIZE f\u00e9.txt\r\n');
  });

  it('forwards the parsed line as it came but ending in CRLF (a bare LF would join it to the next line at ProFTPD)', () => {
    const scope = fakeScope();
    const parsed = parseCommand(Buffer.from('\xff\xfb\x01noop\n', 'latin1'));
    if (!parsed.ok) throw new Error(parsed.reason);
    handlerFor(parsed.value.verb)(parsed.value, scope);
    expect(scope.recorded.forwarded).toEqual([{ line: '\xff\xfb\x01noop\r\n', intent: { kind: 'plain' } }]);
  });
});
