/**
 * The load generator process: `node --import tsx tests/load/loadgen.ts <spec.json>`. Runs the
 * spec's scenarios in order against one server and prints one `RESULT {json}` line per scenario.
 * bench.ts starts it pinned to the core the server is not on.
 */
import { readFileSync } from 'node:fs';
import { closeProbe, runScenario, type LoadSpec } from './scenarios';

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec;
for (const s of spec.scenarios) {
  try {
    const r = await runScenario(s, spec);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  } catch (err) {
    process.stdout.write(`RESULT ${JSON.stringify({ kind: s.kind, label: s.label, server: spec.target.name, fatal: (err as Error).stack ?? String(err) })}\n`);
  }
}
await closeProbe().catch(() => {});
process.exit(0);
