/**
 * Micro-benchmark of kernel mode's nft calls, root, in a network namespace of its own (the
 * script's `unshare --net`): KernelForwarder against the real nft and kernel, one transfer after
 * another (install, one counter read, removal), through the one long-lived `nft -j -i` and through
 * one nft run per call (the way before it), interleaved round by round.
 *
 *   npm run bench:kernel-calls                 (about 30 s)
 *   npm run bench:kernel-calls -- --quick      (a smoke test)
 *
 * Figures per transfer, medians over rounds (min–max): wall time, ftpmasq's CPU, nft's CPU (the
 * long-lived process's, or the reaped runs'). No packet crosses the table: this is the cost of
 * the calls alone, which a short session in kernel mode pays once per transfer.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { KernelForwarder } from '../src/kernel/kernel-forwarder.js';
import { NftRunner } from '../src/kernel/nft-command.js';
import { createLogger } from '../src/observability/logger.js';
import { childrenOf, readCpu } from './lib/proc.js';
import { summarize } from './lib/stats.js';

type Transport = 'session' | 'fork';

interface Round {
  readonly wallMs: number;
  readonly ftpmasqCpuMs: number;
  readonly nftCpuMs: number;
}

const ROOT_SOURCES = {
  procStatus: () => readFile('/proc/self/status'),
  // The namespace is the benchmark's own: whether it forwards does not matter to the calls.
  ipForward: () => Promise.resolve('1\n'),
};

function readFile(path: string): Promise<string> {
  return Promise.resolve(readFileSync(path, 'utf8'));
}

/** CPU seconds of this process's live children (the long-lived nft) plus its reaped ones (the runs). */
function nftCpuSeconds(): number {
  const live = childrenOf(process.pid).reduce((total, pid) => {
    try {
      return total + readCpu(pid).self;
    } catch {
      return total;
    }
  }, 0);
  return live + readCpu(process.pid).reapedChildren;
}

async function measure(transport: Transport, transfers: number): Promise<Round> {
  const forwarder = new KernelForwarder(createLogger('silent'), {
    ...(transport === 'fork' ? { nft: new NftRunner() } : {}),
    checkSources: ROOT_SOURCES,
  });
  await forwarder.start();
  const nftBefore = nftCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let index = 0; index < transfers; index++) {
    const forward = await forwarder.install({ client: '203.0.113.2', port: 30000 + index, server: '10.0.11.251', serverPort: 40000 + index, source: '10.0.11.1' });
    if (forward === undefined) throw new Error(`${transport}: an installation failed`);
    await forward.finish(false);
  }
  const wall = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const nft = nftCpuSeconds() - nftBefore;
  await forwarder.stop();
  return { wallMs: wall / transfers, ftpmasqCpuMs: (cpu.user + cpu.system) / 1000 / transfers, nftCpuMs: (nft * 1000) / transfers };
}

function cell(values: readonly number[]): string {
  const summary = summarize(values);
  return summary === undefined ? '–' : `${summary.median.toFixed(2)} (${summary.min.toFixed(2)}–${summary.max.toFixed(2)})`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:kernel-calls needs root (nftables) and runs in a network namespace of its own (unshare --net).\n');
    process.exitCode = 2;
    return;
  }
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 1 : 5;
  const transfers = quick ? 50 : 300;
  const results: Record<Transport, Round[]> = { session: [], fork: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const transport of ['session', 'fork'] as const) {
      const result = await measure(transport, transfers);
      results[transport].push(result);
      process.stderr.write(`round ${round} ${transport}: ${JSON.stringify(result)}\n`);
    }
  }
  const lines = [
    `Kernel calls per transfer (install, one counter read, removal), ${transfers} transfers a round, ${rounds} rounds; ${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}, Node ${process.version}. Median (min–max), ms.`,
    '',
    '| nft | wall | ftpmasq CPU | nft CPU |',
    '| --- | ---: | ---: | ---: |',
    ...(['session', 'fork'] as const).map((transport) => {
      const rows = results[transport];
      const name = transport === 'session' ? 'one long-lived `nft -j -i`' : 'one `nft -j` run per call';
      return `| ${name} | ${cell(rows.map((row) => row.wallMs))} | ${cell(rows.map((row) => row.ftpmasqCpuMs))} | ${cell(rows.map((row) => row.nftCpuMs))} |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
