// Exactly one copy of yjs is installed: a second copy silently breaks collaboration
// ("Yjs was already imported"; instanceof checks fail across copies).
import { describe, expect, it } from 'vitest';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixture';

function findYjs(dir: string, depth = 0, out: string[] = []): string[] {
  if (depth > 8 || !existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    if (e.name === 'yjs' && existsSync(join(p, 'package.json'))) out.push(p);
    if (e.name.startsWith('@')) findYjs(p, depth, out);
    else if (existsSync(join(p, 'node_modules'))) findYjs(join(p, 'node_modules'), depth + 1, out);
  }
  return out;
}

describe('dependencies', () => {
  it('exactly one yjs in node_modules', () => {
    expect(findYjs(join(ROOT, 'node_modules')).map((p) => p.slice(ROOT.length + 1))).toEqual(['node_modules/yjs']);
  });
});
