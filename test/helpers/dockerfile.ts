/**
 * Just enough of the Dockerfile format to check deploy/docker/Dockerfile in npm test, where no
 * container runtime runs (npm run container:test builds and runs the image itself): instructions
 * by stage (continuation lines joined, comments dropped) and the exec-form JSON arrays.
 */

export interface Instruction {
  /** Upper case: FROM, COPY, RUN, ... */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  readonly args: string;
}

export interface Stage {
  /** The image after FROM, as written (`${BASE_IMAGE}`). */
  readonly from: string;
  /** The name after AS, if any. */
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARG lines before the first FROM: the only ones FROM may use. */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
  readonly stages: readonly Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += `${continued ? line.replace(/\\\s*$/, '') : line} `;
    if (!continued) {
      if (pending.trim() !== '') logical.push(pending.trim().replace(/\s+/g, ' '));
      pending = '';
    }
  }
  const globalArgs = new Map<string, string | undefined>();
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    const keyword = (match?.[1] ?? '').toUpperCase();
    const args = match?.[2] ?? '';
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (from === null) throw new Error(`cannot read FROM ${args}`);
      stages.push({ from: from[1] ?? '', name: from[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) {
      if (keyword !== 'ARG') throw new Error(`${keyword} before the first FROM`);
      const [name = '', value] = args.split('=', 2);
      globalArgs.set(name, value);
      continue;
    }
    stage.instructions.push({ keyword, args });
  }
  return { globalArgs, stages };
}

/** The JSON array of an exec-form instruction (`["node", "-e", "..."]`), or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((item): item is string => typeof item === 'string')) {
    throw new Error(`not a JSON array of strings: ${args}`);
  }
  return parsed;
}

export interface Copy {
  /** The stage named by --from, or undefined for the build context. */
  readonly fromStage: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
}

/** A COPY's flags, sources and destination (shell form; no JSON form, no --chown handling). */
export function parseCopy(args: string): Copy {
  const words = args.split(' ');
  let fromStage: string | undefined;
  while (words[0]?.startsWith('--') === true) {
    const flag = words.shift() ?? '';
    const from = /^--from=(.+)$/.exec(flag);
    if (from === null) throw new Error(`COPY flag this parser does not know: ${flag}`);
    fromStage = from[1];
  }
  const destination = words.pop();
  if (destination === undefined || words.length === 0) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { fromStage, sources: words, destination };
}
