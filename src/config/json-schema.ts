/**
 * config/ftpmasq.schema.json, generated from the zod document schema so that editors (through
 * yaml-language-server's `$schema` comment) check a config file against the same description
 * ftpmasq validates with. `npm run schema` writes it; a unit test fails when it is stale.
 */
import { z } from 'zod';
import { configDocumentSchema } from './document-schema.js';

/** The JSON Schema text (draft-07, which yaml-language-server and most editors support), with a final newline. */
export function renderJsonSchema(): string {
  // `input`: what a file may hold (text, numbers, defaults), not the parsed DaemonConfig.
  const schema = z.toJSONSchema(configDocumentSchema, { io: 'input', target: 'draft-07' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
