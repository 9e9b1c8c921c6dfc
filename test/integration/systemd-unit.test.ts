/**
 * deploy/systemd/ftpmasq.service passes `systemd-analyze verify` (Debian's systemd 252): sections and
 * keys are known, values parse (capabilities, address families, the restart policy), `WantedBy`'s
 * target exists, and every Exec*= program exists and is executable.
 *
 * The shipped ExecStart is `/usr/bin/env ftpmasq ...`: verify only sees `/usr/bin/env`, which exists
 * on every machine, not the `ftpmasq` that `npm install -g` puts on systemd's PATH. So the unit is
 * verified twice: as shipped, and as a copy whose ExecStart names the built CLI (`dist/cli.js`, the
 * file `npm install -g` links `ftpmasq` to, run through its `#!/usr/bin/env node` line) instead of
 * `/usr/bin/env ftpmasq`, with every other line checked to be the shipped one. The second proves
 * the program the unit starts exists with its run bit; neither runs it (what a start does is the
 * CLI tests' job).
 *
 * `systemd-analyze verify` exits 0 on some mistakes (an unknown key is only a warning), so any output
 * at all fails here, and a copy with a misspelt key proves that this check catches it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireProgram } from '../helpers/prerequisites.js';
import { run } from '../helpers/topology.js';

const UNIT_FILE = fileURLToPath(new URL('../../deploy/systemd/ftpmasq.service', import.meta.url));
const BUILT_CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SHIPPED_EXEC_START = /^ExecStart=\/usr\/bin\/env ftpmasq (.*)$/m;

interface Verdict {
  readonly code: number | null;
  /** stdout and stderr together: anything at all is a finding. */
  readonly output: string;
}

let scratch = '';
let analyze = '';
let shipped = '';

beforeAll(async () => {
  analyze = requireProgram('systemd-analyze', 'systemd');
  scratch = await mkdtemp(join(tmpdir(), 'fmq-systemd-'));
  shipped = await readFile(UNIT_FILE, 'utf8');
});

afterAll(async () => {
  if (scratch !== '') await rm(scratch, { recursive: true, force: true });
});

/** Writes `text` as <scratch>/<name>/ftpmasq.service (the unit's own name) and verifies it. */
async function verify(name: string, text: string): Promise<Verdict> {
  const directory = await mkdtemp(join(scratch, `${name}-`));
  const path = join(directory, 'ftpmasq.service');
  await writeFile(path, text);
  const result = await run(analyze, ['verify', path], { timeoutMs: 20_000 });
  return { code: result.code, output: `${result.stdout.toString('utf8')}${result.stderr}`.trim() };
}

/** The shipped unit with ExecStart naming `cli` directly instead of `/usr/bin/env ftpmasq`. */
function withExecStart(text: string, cli: string): string {
  if (/\s/.test(cli)) throw new Error(`${cli}: a path with white space would need systemd quoting`);
  return text.replace(SHIPPED_EXEC_START, (_line, args: string) => `ExecStart=${cli} ${args}`);
}

describe('deploy/systemd/ftpmasq.service under systemd-analyze verify', () => {
  it('starts ftpmasq through /usr/bin/env with the config file, on one ExecStart line', () => {
    expect(shipped.match(/^ExecStart=/gm)).toHaveLength(1);
    expect(shipped).toMatch(SHIPPED_EXEC_START);
  });

  it('verifies as shipped, without a single warning', async () => {
    expect(await verify('shipped', shipped)).toEqual({ code: 0, output: '' });
  });

  it('verifies with ExecStart naming the built CLI, every other line unchanged', async () => {
    const built = withExecStart(shipped, BUILT_CLI);
    const shippedLines = shipped.split('\n');
    const builtLines = built.split('\n');
    expect(builtLines).toHaveLength(shippedLines.length);
    const changed = builtLines.flatMap((line, index) => (line === shippedLines[index] ? [] : [line]));
    expect(changed).toEqual([`ExecStart=${BUILT_CLI} --config /etc/ftpmasq/ftpmasq.yaml`]);
    expect(await verify('built', built)).toEqual({ code: 0, output: '' });
  });

  it('fails, never skips, without systemd-analyze, naming the package to install', () => {
    expect(() => requireProgram('systemd-analyze-that-does-not-exist', 'systemd')).toThrow(/: apt-get install systemd$/);
  });

  it.each([
    {
      title: 'a misspelt key (exit 0, but a warning)',
      text: (): string => shipped.replace(/^Type=simple$/m, 'Tyep=simple'),
      finding: "Unknown key 'Tyep'",
    },
    {
      title: 'an ExecStart program that does not exist',
      text: (): string => withExecStart(shipped, join(scratch, 'missing', 'cli.js')),
      finding: 'is not executable: No such file or directory',
    },
  ])('catches $title', async ({ text, finding }) => {
    const verdict = await verify('broken', text());
    expect(verdict.output).toContain(finding);
  });
});
