/** The daemon names configurations by the loader's hash: one definition, in src/config. */
export { canonicalJson, hashConfig } from '../config/load-config.js';
