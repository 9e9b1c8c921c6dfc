/**
 * One e2e test file's world: prerequisites, the namespaces, ProFTPD with its fixtures, the client-side
 * upload source, and one teardown that undoes all of it, whatever failed on the way.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type E2eTools, requireE2ePrerequisites } from '../../helpers/prerequisites.js';
import { type FileFigures, type ProftpdServer, startProftpd, writeRandomFile } from '../../helpers/proftpd.js';
import { type Topology, createTopology } from '../../helpers/topology.js';

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
}

export async function setUpEnvironment(options: EnvironmentOptions = {}): Promise<E2eEnvironment> {
  const tools = requireE2ePrerequisites();
  const workDir = await mkdtemp(join(tmpdir(), 'fmq-e2e-'));
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
