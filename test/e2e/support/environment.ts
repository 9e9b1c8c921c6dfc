/**
 * One e2e test file's world: prerequisites, the namespaces, ProFTPD with its fixtures, the client-side
 * upload source, and one teardown that undoes all of it, whatever failed on the way.
 */
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type E2eTools, requireE2ePrerequisites } from '../../helpers/prerequisites.js';
import { type FileFigures, type ProftpdServer, startProftpd, writeRandomFile } from '../../helpers/proftpd.js';
import { type Topology, createTopology, isLiveRun } from '../../helpers/topology.js';

export const UPLOAD_SIZE = 5 * 1024 * 1024;

export interface UploadSource extends FileFigures {
  readonly path: string;
}

export interface E2eEnvironment {
  readonly tools: E2eTools;
  readonly topology: Topology;
  readonly proftpd: ProftpdServer;
  /** Where the clients write what they download (the client namespaces share the file system). */
  readonly clientDir: string;
  readonly upload: UploadSource;
  teardown(): Promise<void>;
}

export interface EnvironmentOptions {
  readonly masqueradeAddress?: string;
  /** Appended to ProFTPD's configuration (see ProftpdOptions.extraConfig). */
  readonly proftpdExtraConfig?: string;
}

const WORK_DIR_PREFIX = 'fmq-e2e-';

/** Removes the work dirs (64 MiB and more each) that a crashed run left behind; a live run's stay. */
async function removeStaleWorkDirs(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const match = /^fmq-e2e-(\d+)-/.exec(name);
    if (match?.[1] === undefined) continue;
    const owner = Number(match[1]);
    if (owner === process.pid || !isLiveRun(owner)) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

export async function setUpEnvironment(options: EnvironmentOptions = {}): Promise<E2eEnvironment> {
  const tools = requireE2ePrerequisites();
  await removeStaleWorkDirs();
  const workDir = await mkdtemp(join(tmpdir(), `${WORK_DIR_PREFIX}${process.pid}-`));
  const undo: (() => Promise<void>)[] = [() => rm(workDir, { recursive: true, force: true })];
  const teardown = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const step of undo.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'e2e teardown failed');
  };
  try {
    const topology = await createTopology(tools);
    undo.push(() => topology.destroy());
    const proftpd = await startProftpd({
      tools,
      topology,
      workDir,
      ...(options.masqueradeAddress === undefined ? {} : { masqueradeAddress: options.masqueradeAddress }),
      ...(options.proftpdExtraConfig === undefined ? {} : { extraConfig: options.proftpdExtraConfig }),
    });
    undo.push(() => proftpd.stop());
    const clientDir = join(workDir, 'client');
    await mkdir(clientDir);
    const uploadPath = join(clientDir, 'upload-source.bin');
    const upload = { ...(await writeRandomFile(uploadPath, UPLOAD_SIZE)), path: uploadPath };
    return { tools, topology, proftpd, clientDir, upload, teardown };
  } catch (error) {
    await teardown().catch(() => undefined);
    throw error;
  }
}
