/**
 * The daemon's entry point for the CLI, the demo and the tests; the parts live in src/daemon/.
 */
export { type DaemonState, type DrainResult, type ReloadResult, type RunningDaemon, type StartOptions, start } from './daemon/daemon.js';
export { ListenError } from './daemon/listeners.js';
export { KernelSetupError } from './kernel/kernel-checks.js';
export { hashConfig } from './daemon/config-hash.js';
