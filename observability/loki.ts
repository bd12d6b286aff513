/**
 * Log shipping to Grafana Loki: a pino destination backed by a pino worker thread running
 * pino-loki (see ./loki-worker.mjs). The update path only writes a line into pino's shared ring
 * buffer; batching, HTTP and retries-by-dropping happen in the worker. Lines Loki did not accept
 * (down, slow past `timeoutMs`, or refusing) are counted, never retried into unbounded memory.
 * Loki stream labels are {service, instance, level} only; everything else stays in the line.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type DestinationStream } from 'pino';

export interface LokiOptions {
  url: string;
  service: string;
  instance: string;
  /** How often a batch is pushed. */
  intervalMs?: number;
  /** One push may take this long before its lines count as dropped. */
  timeoutMs?: number;
  /** Lines buffered between pushes; beyond it the oldest are dropped. */
  maxBufferSize?: number;
  /** The worker file; default ./loki-worker.mjs next to this module (see lokiWorkerPath for bundlers). */
  workerPath?: string;
  /** Called with the number of newly dropped lines (e.g. metrics.logLinesDropped.inc). */
  onDropped?: (n: number) => void;
}

export interface LokiShipper {
  /** Pass to createLogger({ streams: [stream] }). */
  readonly stream: DestinationStream;
  /** Lines Loki did not accept so far. */
  dropped(): number;
  /** Lines Loki accepted so far. */
  shipped(): number;
  /** Push what is buffered and stop the worker, waiting at most `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * The worker file in this checkout, found from the working directory: Next.js bundles this module
 * into .next/ (where `import.meta.url` points), but the worker thread must load the plain file.
 */
export function lokiWorkerPath(cwd = process.cwd()): string {
  return join(cwd, 'observability', 'loki-worker.mjs');
}

/** Start the Loki worker; lines written to `stream` are shipped in batches. */
export function createLokiShipper(o: LokiOptions): LokiShipper {
  const counters = new Int32Array(new SharedArrayBuffer(8));
  const target = o.workerPath ?? fileURLToPath(new URL('./loki-worker.mjs', import.meta.url));
  const stream = pino.transport({
    target,
    options: {
      host: o.url,
      labels: { service: o.service, instance: o.instance },
      intervalMs: o.intervalMs ?? 1000,
      timeoutMs: o.timeoutMs ?? 5000,
      maxBufferSize: o.maxBufferSize ?? 10_000,
      counters: counters.buffer,
    },
  }) as DestinationStream & NodeJS.EventEmitter & { end(): void; unref?(): void };
  // The worker must never keep the process alive or take it down.
  stream.on('error', () => {
    Atomics.add(counters, 0, 1);
  });
  let reported = 0;
  const report = () => {
    const d = Atomics.load(counters, 0);
    if (d > reported) {
      o.onDropped?.(d - reported);
      reported = d;
    }
  };
  const timer = setInterval(report, 1000);
  timer.unref();
  return {
    stream,
    dropped: () => Atomics.load(counters, 0),
    shipped: () => Atomics.load(counters, 1),
    async close(timeoutMs = 2000) {
      clearInterval(timer);
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => {
          stream.once('close', () => r());
          stream.end();
        }),
        new Promise<void>((r) => {
          t = setTimeout(r, timeoutMs);
          t.unref();
        }),
      ]);
      clearTimeout(t);
      report();
    },
  };
}
