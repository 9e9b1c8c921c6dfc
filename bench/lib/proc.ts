/**
 * What the benchmark reads about a process from /proc: CPU time (all threads, plus reaped
 * children for ProFTPD, whose sessions are children), PSS, peak RSS, and the children list.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts clock ticks of 1/100 s on Linux (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

export interface CpuTimes {
  /** utime + stime of the process itself, seconds. */
  readonly self: number;
  /** cutime + cstime: children that have exited and been waited for, seconds. */
  readonly reapedChildren: number;
}

function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name in parentheses may hold spaces: fields start after the last ')'.
  const after = text.slice(text.lastIndexOf(')') + 2);
  // `after` starts at field 3 (state).
  return after.trim().split(/\s+/);
}

export function readCpu(pid: number): CpuTimes {
  const fields = statFields(pid);
  const tick = (field: number): number => Number(fields[field - 3] ?? 'NaN');
  return {
    self: (tick(14) + tick(15)) / TICKS_PER_SECOND,
    reapedChildren: (tick(16) + tick(17)) / TICKS_PER_SECOND,
  };
}

/** utime+stime of the process and its reaped children; live children are not in it (see cpuOfTree). */
export function cpuSeconds(pid: number, withReapedChildren: boolean): number {
  const cpu = readCpu(pid);
  return withReapedChildren ? cpu.self + cpu.reapedChildren : cpu.self;
}

/** Direct children (every thread's), from /proc/<pid>/task/<tid>/children. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim();
      if (text !== '') for (const word of text.split(/\s+/)) children.push(Number(word));
    } catch {
      // the thread has gone
    }
  }
  return children;
}

function statusField(pid: number, name: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'latin1');
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return match?.[1] === undefined ? Number.NaN : Number(match[1]);
}

/** Proportional set size, KiB (shared pages divided among the processes that map them). */
export function pssKiB(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    const match = /^Pss:\s+(\d+) kB/m.exec(text);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]);
  } catch {
    return 0; // exited in between
  }
}

/** Anonymous PSS, KiB: the process's own memory, without the shared file-backed pages of its binary. */
export function pssAnonKiB(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    const match = /^Pss_Anon:\s+(\d+) kB/m.exec(text);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]);
  } catch {
    return 0; // exited in between
  }
}

export function rssKiB(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/** Peak resident set size since start or the last resetPeakRss, KiB. */
export function peakRssKiB(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** proc(5): writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Sum of PSS over the children of a process (ProFTPD: one child per session), KiB. */
export function childrenPssKiB(pid: number): { readonly kib: number; readonly processes: number } {
  const children = childrenOf(pid);
  let kib = 0;
  for (const child of children) kib += pssKiB(child);
  return { kib, processes: children.length };
}

/** CPU of the process, its reaped children and its live children (their own utime+stime), seconds. */
export function cpuOfTree(pid: number): number {
  let total = cpuSeconds(pid, true);
  for (const child of childrenOf(pid)) {
    try {
      total += cpuSeconds(child, false);
    } catch {
      // exited between the listing and the read; its time moves to the parent once reaped
    }
  }
  return total;
}

export interface IoCounters {
  /** Bytes through read-type syscalls (sockets included), and how many such calls. */
  readonly rchar: number;
  readonly syscr: number;
  readonly wchar: number;
  readonly syscw: number;
}

/** proc(5) /proc/<pid>/io of the whole process (all threads); zeros for one that has gone. */
export function readIo(pid: number): IoCounters {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/io`, 'latin1');
  } catch {
    return { rchar: 0, syscr: 0, wchar: 0, syscw: 0 };
  }
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 'NaN');
  return { rchar: field('rchar'), syscr: field('syscr'), wchar: field('wchar'), syscw: field('syscw') };
}

export interface Schedstat {
  /** Nanoseconds on a CPU, and waiting on a run queue while runnable (proc(5) schedstat), all threads. */
  readonly runNs: number;
  readonly waitNs: number;
}

/** Summed over the process's threads; zeros for one that has gone. */
export function readSchedstat(pid: number): Schedstat {
  let runNs = 0;
  let waitNs = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { runNs, waitNs };
  }
  for (const tid of tasks) {
    try {
      const [run = '0', wait = '0'] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').trim().split(' ');
      runNs += Number(run);
      waitNs += Number(wait);
    } catch {
      // the thread has gone
    }
  }
  return { runNs, waitNs };
}

/**
 * CPU seconds of a process, its reaped children and its live children, the live ones from the
 * scheduler's nanosecond counters. For a short window over many session processes (mod_proxy,
 * ProFTPD): /proc/<pid>/stat counts whole ticks of 10 ms per process, and 50 sessions of a few ms
 * each read as nothing. A child reaped within the window moves from the live sum to the parent's
 * reaped-children total (kept in nanoseconds by the kernel, so one rounding for all of them).
 */
export function runSecondsOfTree(pid: number): number {
  let seconds: number;
  try {
    seconds = readCpu(pid).reapedChildren;
  } catch {
    return Number.NaN;
  }
  let ns = readSchedstat(pid).runNs;
  for (const child of childrenOf(pid)) ns += readSchedstat(child).runNs;
  return seconds + ns / 1e9;
}

export interface SystemCpu {
  /** Jiffies, all cores together: busy (user+nice+system+irq+softirq+steal) and total. */
  readonly busy: number;
  readonly softirq: number;
  readonly total: number;
}

export function readSystemCpu(): SystemCpu {
  const line = readFileSync('/proc/stat', 'latin1').split('\n')[0] ?? '';
  const [, ...values] = line.trim().split(/\s+/);
  const n = values.map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = n;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, softirq, total: busy + idle + iowait };
}

/** Seconds of CPU (all cores) that the whole machine spent busy between two readings. */
export function systemBusySeconds(before: SystemCpu, after: SystemCpu): { busy: number; softirq: number } {
  return { busy: (after.busy - before.busy) / TICKS_PER_SECOND, softirq: (after.softirq - before.softirq) / TICKS_PER_SECOND };
}
