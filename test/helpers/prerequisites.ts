/**
 * What the end-to-end tier needs from the machine. A missing piece FAILS the tier with the apt package to
 * install: a skipped e2e tier would look green in CI while proving nothing.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface E2eTools {
  readonly ip: string;
  readonly iptables: string;
  readonly proftpd: string;
  readonly curl: string;
  readonly python3: string;
  readonly openssl: string;
  readonly lftp: string;
}

interface Requirement {
  readonly tool: keyof E2eTools;
  readonly program: string;
  readonly aptPackage: string;
  /** Tried before PATH: the Debian interpreter rather than a version manager's shim. */
  readonly preferred?: readonly string[];
}

const REQUIREMENTS: readonly Requirement[] = [
  { tool: 'ip', program: 'ip', aptPackage: 'iproute2' },
  { tool: 'iptables', program: 'iptables', aptPackage: 'iptables' },
  { tool: 'proftpd', program: 'proftpd', aptPackage: 'proftpd-basic' },
  { tool: 'curl', program: 'curl', aptPackage: 'curl' },
  { tool: 'python3', program: 'python3', aptPackage: 'python3', preferred: ['/usr/bin/python3'] },
  { tool: 'openssl', program: 'openssl', aptPackage: 'openssl' },
  { tool: 'lftp', program: 'lftp', aptPackage: 'lftp' },
];

// Root's programs live in sbin, which a non-login PATH may lack.
const EXTRA_DIRECTORIES = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findProgram(program: string, preferred: readonly string[] = []): string | undefined {
  const directories = [...(process.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...EXTRA_DIRECTORIES];
  const candidates = [...preferred, ...directories.map((dir) => join(dir, program))];
  return candidates.find(isExecutable);
}

/**
 * One program a test tier cannot do without, as an absolute path; else an error naming the Debian
 * package to install. Never a skip: a check that silently does not run proves nothing.
 */
export function requireProgram(program: string, aptPackage: string): string {
  const path = findProgram(program);
  if (path === undefined) throw new Error(`${program} not found on PATH or in ${EXTRA_DIRECTORIES.join(', ')}: apt-get install ${aptPackage}`);
  return path;
}

/** Resolves every tool to an absolute path, or throws one error that names all that is missing. */
export function requireE2ePrerequisites(): E2eTools {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('the e2e tier needs Linux network namespaces');
  if (process.getuid?.() !== 0) problems.push('the e2e tier must run as root (it creates network namespaces)');
  const found = new Map<keyof E2eTools, string>();
  const missingPackages: string[] = [];
  for (const requirement of REQUIREMENTS) {
    const path = findProgram(requirement.program, requirement.preferred);
    if (path === undefined) missingPackages.push(requirement.aptPackage);
    else found.set(requirement.tool, path);
  }
  if (missingPackages.length > 0) {
    problems.push(`missing programs: apt-get install ${missingPackages.join(' ')}`);
  }
  const get = (tool: keyof E2eTools): string => found.get(tool) ?? '';
  if (problems.length > 0) throw new Error(`e2e prerequisites not met: ${problems.join('; ')}`);
  return {
    ip: get('ip'),
    iptables: get('iptables'),
    proftpd: get('proftpd'),
    curl: get('curl'),
    python3: get('python3'),
    openssl: get('openssl'),
    lftp: get('lftp'),
  };
}
