// pino transport target (runs in pino's worker thread, so plain JS): ships log lines to Grafana
// Loki with pino-loki, batched, and counts what could not be delivered in a SharedArrayBuffer the
// main thread turns into the tandem_log_lines_dropped_total metric. Nothing here can block or
// crash the server: a slow or absent Loki costs a timed-out fetch in this thread, nothing more.
import build from 'pino-abstract-transport';
import { pinoLoki } from 'pino-loki';

/** Counter slots in the shared Int32Array. */
const DROPPED = 0;
const SHIPPED = 1;

export default async function lokiTransport(opts) {
  const counters = new Int32Array(opts.counters);
  // pino-loki reports push failures only to the console; wrap this thread's fetch to count them.
  // Each pushed line is one entry of `streams` (pino-loki writes one stream entry per line).
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    let n = 0;
    try {
      n = JSON.parse(init.body).streams.reduce((a, s) => a + s.values.length, 0);
    } catch {
      n = 1;
    }
    try {
      const res = await realFetch(url, init);
      Atomics.add(counters, res.ok ? SHIPPED : DROPPED, n);
      return res;
    } catch (err) {
      Atomics.add(counters, DROPPED, n);
      throw err;
    }
  };
  const inner = pinoLoki({
    host: opts.host,
    labels: opts.labels,
    // pino's level label ("info", "warn", …) as the `level` label, the same word stdout shows.
    propsToLabels: ['level'],
    batching: { interval: opts.intervalMs / 1000, maxBufferSize: opts.maxBufferSize },
    timeout: opts.timeoutMs,
    silenceErrors: true,
    structuredMetaKey: false,
  });
  return build(
    async (source) => {
      for await (const obj of source) {
        // Our stdout lines carry ISO times; Loki wants epoch nanoseconds (pino-loki expects ms).
        if (typeof obj.time === 'string') obj.time = Date.parse(obj.time);
        // Labels are {service, instance, level} only: service and instance travel as labels.
        delete obj.service;
        delete obj.instance;
        if (!inner.write(`${JSON.stringify(obj)}\n`)) await new Promise((r) => inner.once('drain', r));
      }
    },
    {
      async close() {
        await new Promise((r) => {
          inner.once('close', r);
          inner.once('finish', r);
          inner.end();
        });
      },
    },
  );
}
