import { describe, expect, it } from 'vitest';
import { answerActiveReply, handleActive } from '../../../../src/session/handlers/active.js';
import { answerDataSetupReply } from '../../../../src/session/handlers/passive.js';
import { command, counterValue, fakeScope } from './fake-scope.js';

describe('PORT, EPRT', () => {
  it.each([
    { text: 'PORT 203,0,113,2,195,80', verb: 'PORT' },
    { text: 'EPRT |1|203.0.113.2|50000|', verb: 'EPRT' },
  ])('$verb to the client itself: the unused plan is released and PASV goes upstream in its place', ({ text, verb }) => {
    const scope = fakeScope();
    handleActive(command(text), scope);
    expect(scope.fakeData.calls).toEqual(['rollback']);
    expect(scope.recorded.forwarded).toEqual([
      { line: 'PASV\r\n', intent: { kind: 'active', clientTarget: { host: '203.0.113.2', port: 50000 }, verb } },
    ]);
    expect(scope.recorded.local).toEqual([]);
  });

  it.each([
    { text: 'PORT 198,51,100,7,195,80', reason: 'bounce_foreign_host', reply: '500 Illegal PORT command: address must be your own.\r\n' },
    { text: 'EPRT |1|203.0.113.2|21|', reason: 'bounce_privileged_port', reply: '504 Illegal PORT command: port below 1024.\r\n' },
  ])('$reason: refused with $reply, nothing upstream, the plan kept', ({ text, reason, reply }) => {
    const scope = fakeScope();
    handleActive(command(text), scope);
    expect(scope.recorded.refusals.map((refusal) => refusal.reason)).toEqual([reason]);
    expect(scope.recorded.local).toEqual([reply]);
    expect(scope.recorded.forwarded).toEqual([]);
    expect(scope.fakeData.calls).toEqual([]);
  });

  it('is refused when the site disables active mode', () => {
    const scope = fakeScope({ active: 'disable' });
    handleActive(command('PORT 203,0,113,2,195,80'), scope);
    expect(scope.recorded.local).toEqual(['502 PORT is disabled on this proxy; use passive mode.\r\n']);
    expect(scope.recorded.refusals.map((refusal) => refusal.reason)).toEqual(['active_disabled']);
  });
});

describe('the reply to the PASV sent for a PORT', () => {
  const intent = { kind: 'active', clientTarget: { host: '203.0.113.2', port: 50000 }, verb: 'EPRT' } as const;

  it('keeps the server port as the plan and answers 200 with the server line ending', async () => {
    const scope = fakeScope();
    const work = answerDataSetupReply(intent, 227, [Buffer.from('227 Entering Passive Mode (10,0,11,251,234,96)\n')], scope);
    expect(work).toBeUndefined();
    expect(scope.fakeData.calls).toEqual(['prepareActive 203.0.113.2:50000 60000']);
    expect(scope.recorded.toClient).toEqual(['200 EPRT command successful.\n']);
    expect(scope.recorded.completed).toEqual([1]);
    expect(await counterValue(scope, 'rewrites', 'eprt')).toBe(1);
  });

  it('passes an error reply on as it came, with no plan', () => {
    const scope = fakeScope();
    answerDataSetupReply(intent, 530, [Buffer.from('530 Not logged in.\r\n')], scope);
    expect(scope.recorded.toClient).toEqual(['530 Not logged in.\r\n']);
    expect(scope.fakeData.calls).toEqual([]);
  });

  it('answers directly through answerActiveReply', () => {
    const scope = fakeScope();
    answerActiveReply({ ...intent, verb: 'PORT' }, 61000, '\r\n', scope);
    expect(scope.recorded.toClient).toEqual(['200 PORT command successful.\r\n']);
    expect(scope.recorded.logs.map((log) => log.msg)).toEqual(['active command relayed']);
  });
});
