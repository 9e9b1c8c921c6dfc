import { describe, expect, it } from 'vitest';
import {
  type Diagnosis,
  PUBLIC_ADDRESS_PLACEHOLDER,
  type Problem,
  RECOMMENDED_PASSIVE_PORTS,
  type Verdict,
  canBeServerAddress,
  describeAddress,
  diagnoseProbe,
  serverFixFor,
} from '../../../src/probe/diagnose.js';
import type { DataAttempt, ProbeObservations, ProbeRun } from '../../../src/probe/observations.js';

const PROFTPD_GREETING = ['220 ProFTPD Server (ftpmasq e2e legacy server) [10.0.11.251]'];

function ok(host: string, port: number): DataAttempt {
  return { outcome: 'ok', target: { host, port }, reply: '226 Transfer complete', bytes: 120 };
}
function unreachable(host: string, port: number, error = 'ENETUNREACH'): DataAttempt {
  return { outcome: 'connect-failed', target: { host, port }, error };
}
const SAME: DataAttempt = { outcome: 'not-tried', target: undefined, why: 'the 227 names the control address' };

interface Scenario {
  readonly control: string;
  readonly advertised: string;
  readonly toAdvertised: 'ok' | 'fail';
  /** Ignored when the 227 names the control address. */
  readonly toControl?: 'ok' | 'fail';
  readonly epsv?: 'ok' | 'refused';
  readonly port?: number;
  readonly host?: string;
  readonly greeting?: readonly string[];
}

function observe(scenario: Scenario): ProbeRun {
  const port = scenario.port ?? 21;
  const same = scenario.control === scenario.advertised;
  const observations: ProbeObservations = {
    subject: { host: scenario.host ?? scenario.control, port, user: 'scott' },
    controlAddress: scenario.control,
    localAddress: '203.0.113.2',
    greeting: scenario.greeting ?? PROFTPD_GREETING,
    login: '230 User scott logged in',
    feat: { code: 211, lines: ['211-Features:', ' EPSV', ' SIZE', '211 End'] },
    pasv: {
      outcome: 'ok',
      reply: `227 Entering Passive Mode (${scenario.advertised.replaceAll('.', ',')},234,112).`,
      advertised: { host: scenario.advertised, port: 60016 },
    },
    dataToAdvertised:
      scenario.toAdvertised === 'ok' ? ok(scenario.advertised, 60016) : unreachable(scenario.advertised, 60016),
    dataToControl: same
      ? SAME
      : scenario.toControl === 'ok'
        ? ok(scenario.control, 60017)
        : unreachable(scenario.control, 60017, 'ECONNREFUSED'),
    epsv:
      scenario.epsv === 'refused'
        ? { outcome: 'refused', reply: '500 EPSV not understood' }
        : { outcome: 'ok', reply: '229 Entering Extended Passive Mode (|||60018|)', port: 60018 },
    epsvData: ok(scenario.control, 60018),
  };
  return { complete: true, observations };
}

describe('diagnoseProbe: verdicts', () => {
  const cases: {
    title: string;
    input: Scenario;
    expected: { verdict: Verdict; exitCode: 0 | 1; problems: readonly Problem[]; recommends: boolean };
  }[] = [
    {
      title: 'fixed server probed through its public address: the 227 names it, data works',
      input: { control: '198.18.0.1', advertised: '198.18.0.1', toAdvertised: 'ok' },
      expected: { verdict: 'fine', exitCode: 0, problems: [], recommends: false },
    },
    {
      title: 'a public server that names its own routable address',
      input: { control: '93.184.216.34', advertised: '93.184.216.34', toAdvertised: 'ok' },
      expected: { verdict: 'fine', exitCode: 0, problems: [], recommends: false },
    },
    {
      title: 'probed from inside the LAN: the 227 names the private control address, data works',
      input: { control: '10.0.11.251', advertised: '10.0.11.251', toAdvertised: 'ok' },
      expected: { verdict: 'fine', exitCode: 0, problems: [], recommends: false },
    },
    {
      title: 'the field case: public control address, private 227, NAT forwards the passive ports',
      input: { control: '203.0.113.10', advertised: '10.0.11.251', toAdvertised: 'fail', toControl: 'ok' },
      expected: { verdict: 'needs-ftpmasq', exitCode: 1, problems: ['advertises-private-address'], recommends: true },
    },
    {
      title: 'private 227 that this machine happens to reach: still a problem for everyone else',
      input: { control: '93.184.216.34', advertised: '192.168.1.20', toAdvertised: 'ok', toControl: 'ok' },
      expected: { verdict: 'needs-ftpmasq', exitCode: 1, problems: ['advertises-private-address'], recommends: true },
    },
    {
      title: 'private 227 and no forwarded passive ports: nothing works',
      input: { control: '203.0.113.10', advertised: '10.0.11.251', toAdvertised: 'fail', toControl: 'fail' },
      expected: {
        verdict: 'needs-ftpmasq',
        exitCode: 1,
        problems: ['advertises-private-address', 'no-data-connection'],
        recommends: true,
      },
    },
    {
      title: 'a second routable address in the 227, reachable, and the control address too',
      input: { control: '93.184.216.34', advertised: '93.184.216.35', toAdvertised: 'ok', toControl: 'ok' },
      expected: { verdict: 'fine', exitCode: 0, problems: [], recommends: false },
    },
    {
      title: 'a routable 227 address that does not answer: trusting clients fail',
      input: { control: '93.184.216.34', advertised: '93.184.216.35', toAdvertised: 'fail', toControl: 'ok' },
      expected: { verdict: 'needs-ftpmasq', exitCode: 1, problems: ['advertised-address-unreachable'], recommends: true },
    },
    {
      title: 'a routable 227 address that answers, control address does not: careful clients fail',
      input: { control: '93.184.216.34', advertised: '93.184.216.35', toAdvertised: 'ok', toControl: 'fail' },
      expected: { verdict: 'needs-ftpmasq', exitCode: 1, problems: ['control-address-data-unreachable'], recommends: true },
    },
    {
      title: 'a routable 227 address, neither answers',
      input: { control: '93.184.216.34', advertised: '93.184.216.35', toAdvertised: 'fail', toControl: 'fail' },
      expected: {
        verdict: 'needs-ftpmasq',
        exitCode: 1,
        problems: ['advertised-address-unreachable', 'no-data-connection'],
        recommends: true,
      },
    },
    {
      title: 'the 227 names the control address but its passive ports are firewalled',
      input: { control: '93.184.216.34', advertised: '93.184.216.34', toAdvertised: 'fail' },
      expected: { verdict: 'needs-ftpmasq', exitCode: 1, problems: ['no-data-connection'], recommends: true },
    },
  ];
  for (const { title, input, expected } of cases) {
    it(title, () => {
      const diagnosis = diagnoseProbe(observe(input));
      expect({
        verdict: diagnosis.verdict,
        exitCode: diagnosis.exitCode,
        problems: diagnosis.problems,
        recommends: diagnosis.recommendation !== undefined,
      }).toEqual(expected);
      // Every problem is explained.
      expect(diagnosis.reasons.length).toBeGreaterThanOrEqual(diagnosis.problems.length);
    });
  }
});

function recommendationOf(diagnosis: Diagnosis): NonNullable<Diagnosis['recommendation']> {
  if (diagnosis.recommendation === undefined) throw new Error(`no recommendation: ${diagnosis.headline}`);
  return diagnosis.recommendation;
}

describe('diagnoseProbe: the recommended command line', () => {
  it('the field case: upstream is the private address the server names, public is the address clients use', () => {
    const diagnosis = diagnoseProbe(
      observe({ control: '203.0.113.10', advertised: '10.0.11.251', toAdvertised: 'fail', toControl: 'ok' }),
    );
    const recommendation = recommendationOf(diagnosis);
    expect(recommendation.primary.argv.join(' ')).toBe(
      `npx ftpmasq --listen 0.0.0.0:21 --upstream 10.0.11.251:21 --public-address 203.0.113.10 --passive-ports ${RECOMMENDED_PASSIVE_PORTS}`,
    );
    // The passive ports were reachable at the control address: rewrite mode would do.
    expect(recommendation.alternative?.argv.join(' ')).toBe(
      'npx ftpmasq --listen 0.0.0.0:21 --upstream 10.0.11.251:21 --public-address 203.0.113.10 --mode rewrite',
    );
    expect(recommendation.serverFix).toBe('ProFTPD: MasqueradeAddress 203.0.113.10 (in proftpd.conf), then restart ProFTPD');
    expect(recommendation.placement).toContain('reaches 10.0.11.251:21');
    expect(diagnosis.reasons.join('\n')).toMatch(/dial 10\.0\.11\.251 and fail/);
  });

  it('no rewrite alternative and no server fix when data to the control address fails', () => {
    const recommendation = recommendationOf(
      diagnoseProbe(observe({ control: '203.0.113.10', advertised: '10.0.11.251', toAdvertised: 'fail', toControl: 'fail' })),
    );
    expect(recommendation.alternative).toBeUndefined();
    expect(recommendation.serverFix).toBeUndefined();
    expect(recommendation.primary.argv).not.toContain('rewrite');
  });

  it('keeps a non-default control port, on both sides', () => {
    const recommendation = recommendationOf(
      diagnoseProbe(observe({ control: '203.0.113.10', advertised: '10.0.11.251', toAdvertised: 'fail', toControl: 'ok', port: 2121 })),
    );
    expect(recommendation.primary.argv).toEqual(expect.arrayContaining(['--listen', '0.0.0.0:2121', '--upstream', '10.0.11.251:2121']));
  });

  it('adds --epsv translate when the server refuses EPSV, and says why', () => {
    const diagnosis = diagnoseProbe(
      observe({ control: '203.0.113.10', advertised: '10.0.11.251', toAdvertised: 'fail', toControl: 'ok', epsv: 'refused' }),
    );
    const recommendation = recommendationOf(diagnosis);
    expect(recommendation.primary.argv.slice(-2)).toEqual(['--epsv', 'translate']);
    expect(recommendation.alternative?.argv.slice(-2)).toEqual(['--epsv', 'translate']);
    expect(diagnosis.notes.join('\n')).toMatch(/refuses EPSV/);
  });

  it('uses the URL host (a name) as the upstream when the 227 names the control address', () => {
    const recommendation = recommendationOf(
      diagnoseProbe(observe({ control: '93.184.216.34', advertised: '93.184.216.34', toAdvertised: 'fail', host: 'ftp.example.com' })),
    );
    expect(recommendation.primary.argv).toEqual(expect.arrayContaining(['--upstream', 'ftp.example.com:21']));
    // ftpmasq cannot take over the server's own address: the public address is the user's to fill in.
    expect(recommendation.primary.argv).toEqual(expect.arrayContaining(['--public-address', PUBLIC_ADDRESS_PLACEHOLDER]));
  });

  it('brackets an IPv6 upstream', () => {
    const recommendation = recommendationOf(
      diagnoseProbe(observe({ control: '2001:db8::5', advertised: '2001:db8::5', toAdvertised: 'fail' })),
    );
    expect(recommendation.primary.argv).toEqual(expect.arrayContaining(['--upstream', '[2001:db8::5]:21']));
  });
});

describe('diagnoseProbe: notes', () => {
  it('a private control address that works: fine, but says the verdict holds only for clients on that network', () => {
    const diagnosis = diagnoseProbe(observe({ control: '10.0.11.251', advertised: '10.0.11.251', toAdvertised: 'ok' }));
    expect(diagnosis.notes.join('\n')).toMatch(/10\.0\.11\.251 is private, not routable .* probe that address too/);
  });

  it('a routable control address that works: no notes', () => {
    const diagnosis = diagnoseProbe(observe({ control: '93.184.216.34', advertised: '93.184.216.34', toAdvertised: 'ok' }));
    expect(diagnosis.notes).toEqual([]);
  });

  it('a private 227 reached from here says so', () => {
    const diagnosis = diagnoseProbe(observe({ control: '93.184.216.34', advertised: '192.168.1.20', toAdvertised: 'ok', toControl: 'ok' }));
    expect(diagnosis.reasons.join('\n')).toMatch(/worked from here only because this machine reaches 192\.168\.1\.20/);
  });
});

describe('diagnoseProbe: PASV that cannot be judged', () => {
  const base = observe({ control: '203.0.113.10', advertised: '203.0.113.10', toAdvertised: 'ok' });
  if (!base.complete) throw new Error('unreachable');
  const cases: { title: string; pasv: ProbeObservations['pasv']; problem: Problem }[] = [
    { title: 'PASV refused', pasv: { outcome: 'refused', reply: '502 PASV not implemented' }, problem: 'pasv-refused' },
    {
      title: 'a 227 without an address',
      pasv: { outcome: 'unreadable', reply: '227 Entering Passive Mode', reason: 'no h1,h2,h3,h4,p1,p2 tuple' },
      problem: 'pasv-unreadable',
    },
  ];
  for (const { title, pasv, problem } of cases) {
    it(title, () => {
      const diagnosis = diagnoseProbe({ complete: true, observations: { ...base.observations, pasv } });
      expect(diagnosis).toMatchObject({ verdict: 'inconclusive', exitCode: 1, problems: [problem], recommendation: undefined });
    });
  }
});

describe('diagnoseProbe: a probe that could not finish', () => {
  const subject = { host: '203.0.113.10', port: 21, user: 'scott' };
  const cases: { stage: 'connect' | 'greeting' | 'login' | 'session'; problem: Problem; headline: RegExp }[] = [
    { stage: 'connect', problem: 'cannot-connect', headline: /cannot connect to 203\.0\.113\.10:21/ },
    { stage: 'greeting', problem: 'no-greeting', headline: /no FTP greeting/ },
    { stage: 'login', problem: 'login-failed', headline: /cannot log in to 203\.0\.113\.10:21 as scott/ },
    { stage: 'session', problem: 'session-failed', headline: /session .* failed/ },
  ];
  for (const { stage, problem, headline } of cases) {
    it(stage, () => {
      const diagnosis = diagnoseProbe({ complete: false, subject, stage, error: 'what went wrong' });
      expect(diagnosis).toMatchObject({ verdict: 'inconclusive', exitCode: 1, problems: [problem], reasons: ['what went wrong'] });
      expect(diagnosis.headline).toMatch(headline);
    });
  }
});

describe('serverFixFor', () => {
  const cases: { title: string; input: string; expected: RegExp }[] = [
    { title: 'ProFTPD', input: '220 ProFTPD 1.3.8 Server (Debian) [10.0.11.251]', expected: /^ProFTPD: MasqueradeAddress 198\.51\.100\.1 / },
    { title: 'vsftpd', input: '220 (vsFTPd 3.0.3)', expected: /^vsftpd: pasv_address=198\.51\.100\.1 / },
    { title: 'Pure-FTPd', input: '220---------- Welcome to Pure-FTPd [privsep] ----------', expected: /^Pure-FTPd: ForcePassiveIP 198\.51\.100\.1/ },
    { title: 'anything else', input: '220 Microsoft FTP Service', expected: /announce 198\.51\.100\.1 .*MasqueradeAddress.*pasv_address.*ForcePassiveIP/ },
  ];
  for (const { title, input, expected } of cases) {
    it(title, () => {
      expect(serverFixFor([input], '198.51.100.1')).toMatch(expected);
    });
  }
});

describe('describeAddress', () => {
  const cases: { input: string; expected: { range: string; unroutable: boolean; address: string } }[] = [
    { input: '10.0.11.251', expected: { address: '10.0.11.251', range: 'private', unroutable: true } },
    { input: '203.0.113.10', expected: { address: '203.0.113.10', range: 'reserved', unroutable: true } },
    { input: '93.184.216.34', expected: { address: '93.184.216.34', range: 'unicast', unroutable: false } },
    { input: '::ffff:10.0.11.251', expected: { address: '10.0.11.251', range: 'private', unroutable: true } },
    { input: 'not-an-ip', expected: { address: 'not-an-ip', range: 'invalid', unroutable: true } },
  ];
  for (const { input, expected } of cases) {
    it(input, () => {
      expect(describeAddress(input)).toEqual(expected);
    });
  }
});

describe('diagnoseProbe: a 227 that cannot name the server', () => {
  for (const advertised of ['0.0.0.0', '127.0.0.1']) {
    it(`${advertised}: the upstream is the address the probe used, and the reason says it was not dialled`, () => {
      const run = observe({ control: '203.0.113.10', advertised, toAdvertised: 'fail', toControl: 'ok' });
      if (!run.complete) throw new Error('unreachable');
      const notTried = { ...run, observations: { ...run.observations, dataToAdvertised: { outcome: 'not-tried' as const, target: { host: advertised, port: 60016 }, why: 'not the server' } } };
      const diagnosis = diagnoseProbe(notTried);
      expect(diagnosis.problems).toEqual(['advertises-private-address']);
      expect(recommendationOf(diagnosis).primary.argv).toEqual(expect.arrayContaining(['--upstream', '203.0.113.10:21']));
      expect(diagnosis.reasons.join('\n')).toContain(`the probe did not dial ${advertised}:60016: not the server`);
    });
  }
});

describe('canBeServerAddress', () => {
  const cases: { input: string; expected: boolean }[] = [
    { input: '10.0.11.251', expected: true },
    { input: '100.64.0.1', expected: true },
    { input: '169.254.1.1', expected: true },
    { input: '93.184.216.34', expected: true },
    { input: '0.0.0.0', expected: false },
    { input: '127.0.0.1', expected: false },
    { input: '224.0.0.1', expected: false },
    { input: '255.255.255.255', expected: false },
    { input: 'nonsense', expected: false },
  ];
  for (const { input, expected } of cases) {
    it(input, () => {
      expect(canBeServerAddress(describeAddress(input))).toBe(expected);
    });
  }
});
