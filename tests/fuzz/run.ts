/**
 * The long fuzz run (`npm run fuzz -- --seconds 600 [--seed N]`): an in-process collab-server over
 * a temporary SQLite database, fuzzed by tests/fuzz/frame-fuzzer.ts. Exits 1 on an unhandled
 * rejection, an uncaught exception, heap growth past 128 MiB, or a server that stops serving.
 * A failing seed replays with --seed; every crash it finds gets a regression test beside fuzz.test.ts.
 */
import { createFixture, provider, startServer, waitFor } from '../helpers/fixture';
import { fuzz } from './frame-fuzzer';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const seconds = Number(arg('seconds') ?? 600);
const seed = arg('seed') === undefined ? undefined : Number(arg('seed'));
const problems: string[] = [];
process.on('unhandledRejection', (err) => problems.push(`unhandled rejection: ${String(err)}`));
process.on('uncaughtException', (err) => problems.push(`uncaught exception: ${String(err)}`));

const fx = await createFixture();
const srv = await startServer(fx, { limits: { messagesPerSec: 2000, messageBurst: 10_000, connectionsPerUser: 0, connectionsPerIp: 0 } });
const owner = fx.user();
const docId = fx.doc(owner);
const before = process.memoryUsage().heapUsed;
let status = 0;
try {
  const stats = await fuzz({ url: srv.url, docId, token: () => fx.token(owner, docId) }, seconds * 1000, seed, () => {
    if (srv.logs.lines.length > 10_000) srv.logs.lines = [];
  });
  srv.logs.lines = [];
  (globalThis as { gc?: () => void }).gc?.();
  const growth = process.memoryUsage().heapUsed - before;
  console.log(`fuzz: ${stats.cases} cases, ${stats.frames} frames in ${seconds} s (seed ${stats.seed}); close codes ${JSON.stringify(stats.closes)}; heap growth ${(growth / 1048576).toFixed(1)} MiB`);
  if (growth > 128 * 1024 * 1024) problems.push(`heap grew ${(growth / 1048576).toFixed(1)} MiB`);
  const p = provider(srv.url, docId, await fx.token(owner, docId));
  await waitFor(() => p.synced, { what: 'honest client synced after the fuzz' }).catch((err: Error) => problems.push(err.message));
  p.destroy();
} catch (err) {
  problems.push(`fuzz case failed: ${(err as Error).message}`);
}
if (problems.length) {
  console.error(problems.join('\n'));
  status = 1;
}
await srv.close();
fx.cleanup();
process.exit(status);
