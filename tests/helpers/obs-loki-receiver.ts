/**
 * A stand-in for Grafana Loki's push API, as Loki documents it
 * (https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs):
 * `POST /loki/api/v1/push` with either
 *  - `Content-Type: application/x-protobuf`: a snappy (block format) compressed `logproto.PushRequest`, or
 *  - `Content-Type: application/json` (optionally `Content-Encoding: gzip`):
 *    `{"streams":[{"stream":{label:value},"values":[["<unix ns>","<line>", {structured metadata}?]]}]}`.
 * Answers 204 like Loki. Modes let a test make it slow (never answer) or stop it.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
// @ts-expect-error snappyjs ships no types
import snappy from 'snappyjs';

export interface ReceivedStream {
  labels: Record<string, string>;
  entries: { ts: bigint; line: string }[];
}
export interface ReceivedPush {
  format: 'protobuf' | 'json';
  streams: ReceivedStream[];
  lines: number;
}

// logproto.PushRequest (pkg/push/push.proto), the subset a push carries.
const root = protobuf.Root.fromJSON({
  nested: {
    logproto: {
      nested: {
        PushRequest: { fields: { streams: { rule: 'repeated', type: 'StreamAdapter', id: 1 } } },
        StreamAdapter: {
          fields: { labels: { type: 'string', id: 1 }, entries: { rule: 'repeated', type: 'EntryAdapter', id: 2 }, hash: { type: 'uint64', id: 3 } },
        },
        EntryAdapter: {
          fields: {
            timestamp: { type: 'Timestamp', id: 1 },
            line: { type: 'string', id: 2 },
            structuredMetadata: { rule: 'repeated', type: 'LabelPairAdapter', id: 3 },
          },
        },
        LabelPairAdapter: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
      },
    },
  },
});
export const PushRequest = root.lookupType('logproto.PushRequest');

/** Parse a Prometheus-style label set: {a="b", c="d\"e"}. */
export function parseLabelSet(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
  for (let m; (m = re.exec(s)); ) out[m[1]!] = JSON.parse(`"${m[2]}"`);
  return out;
}

/** Encode a push the way Promtail/Alloy do (protobuf + snappy), for testing this receiver. */
export function encodeProtobufPush(streams: { labels: Record<string, string>; entries: { ms: number; line: string }[] }[]): Uint8Array {
  const msg = PushRequest.create({
    streams: streams.map((s) => ({
      labels: `{${Object.entries(s.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`,
      entries: s.entries.map((e) => ({ timestamp: { seconds: Math.floor(e.ms / 1000), nanos: (e.ms % 1000) * 1e6 }, line: e.line })),
    })),
  });
  return snappy.compress(PushRequest.encode(msg).finish()) as Uint8Array;
}

function decode(contentType: string, encodingHeader: string, body: Buffer): ReceivedPush {
  if (contentType.startsWith('application/x-protobuf')) {
    const raw = snappy.uncompress(new Uint8Array(body)) as Uint8Array;
    const req = PushRequest.toObject(PushRequest.decode(raw), { longs: String }) as {
      streams?: { labels: string; entries?: { timestamp?: { seconds?: string; nanos?: number }; line: string }[] }[];
    };
    const streams = (req.streams ?? []).map((s) => ({
      labels: parseLabelSet(s.labels),
      entries: (s.entries ?? []).map((e) => ({ ts: BigInt(e.timestamp?.seconds ?? '0') * 1_000_000_000n + BigInt(e.timestamp?.nanos ?? 0), line: e.line })),
    }));
    return { format: 'protobuf', streams, lines: streams.reduce((a, s) => a + s.entries.length, 0) };
  }
  if (contentType.startsWith('application/json')) {
    const text = (encodingHeader === 'gzip' ? gunzipSync(body) : body).toString('utf8');
    const req = JSON.parse(text) as { streams: { stream: Record<string, string>; values: [string, string, unknown?][] }[] };
    if (!Array.isArray(req.streams)) throw new Error('streams must be an array');
    const streams = req.streams.map((s) => {
      for (const v of Object.values(s.stream)) if (typeof v !== 'string') throw new Error('label values must be strings');
      return { labels: s.stream, entries: s.values.map(([ts, line]) => ({ ts: BigInt(ts), line })) };
    });
    return { format: 'json', streams, lines: streams.reduce((a, s) => a + s.entries.length, 0) };
  }
  throw new Error(`unsupported content type ${contentType}`);
}

export interface LokiReceiver {
  url: string;
  pushes: ReceivedPush[];
  /** Every received line, parsed as JSON, with its stream's labels. */
  lines(): { labels: Record<string, string>; log: Record<string, unknown>; ts: bigint }[];
  /** 'ok' answers 204; 'hang' reads the body and never answers (a slow Loki). */
  mode: 'ok' | 'hang';
  /** Stop listening and drop open connections (Loki down). */
  stop(): Promise<void>;
}

export async function startLokiReceiver(): Promise<LokiReceiver> {
  const pushes: ReceivedPush[] = [];
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/loki/api/v1/push') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (r.mode === 'hang') return;
      try {
        pushes.push(decode(req.headers['content-type'] ?? '', String(req.headers['content-encoding'] ?? ''), Buffer.concat(chunks)));
        res.writeHead(204).end();
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String((err as Error).message));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const r: LokiReceiver = {
    url: `http://127.0.0.1:${port}`,
    pushes,
    mode: 'ok',
    lines: () =>
      pushes.flatMap((p) => p.streams.flatMap((s) => s.entries.map((e) => ({ labels: s.labels, ts: e.ts, log: JSON.parse(e.line) as Record<string, unknown> })))),
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return r;
}
