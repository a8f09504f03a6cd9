import { z } from 'zod';
import { configSchema } from './schema.ts';

/** JSON Schema for editors (yaml-language-server); `npm run schema` writes it, a test checks it is fresh. */
export function configJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
  return JSON.stringify({ ...schema, title: 'furrow.yaml' }, null, 2) + '\n';
}
