// The Loki stand-in used by obs-loki.test.ts decodes both push formats Loki documents, so the
// shipping test checks against Loki's contract rather than against whatever pino-loki happens to send.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { encodeProtobufPush, parseLabelSet, startLokiReceiver, type LokiReceiver } from '../helpers/obs-loki-receiver';

let rx: LokiReceiver;
beforeAll(async () => {
  rx = await startLokiReceiver();
});
afterAll(() => rx.stop());

describe('the Loki push API stand-in', () => {
  it('accepts a snappy-compressed protobuf PushRequest', async () => {
    const body = encodeProtobufPush([{ labels: { service: 'a', level: 'info' }, entries: [{ ms: 1_700_000_000_123, line: '{"msg":"x"}' }, { ms: 1_700_000_000_124, line: '{"msg":"y"}' }] }]);
    const res = await fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from(body) });
    expect(res.status).toBe(204);
    const p = rx.pushes.at(-1)!;
    expect(p.format).toBe('protobuf');
    expect(p.streams[0]!.labels).toEqual({ service: 'a', level: 'info' });
    expect(p.streams[0]!.entries.map((e) => e.line)).toEqual(['{"msg":"x"}', '{"msg":"y"}']);
    expect(p.streams[0]!.entries[0]!.ts).toBe(1_700_000_000_123_000_000n);
  });

  it('accepts JSON, plain and gzip-encoded, and refuses malformed bodies with 400', async () => {
    const json = JSON.stringify({ streams: [{ stream: { service: 'b' }, values: [['1700000000000000000', '{"msg":"z"}']] }] });
    expect((await fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json })).status).toBe(204);
    expect(
      (await fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(json) })).status,
    ).toBe(204);
    expect(rx.pushes.slice(-2).map((p) => p.streams[0]!.entries[0]!.line)).toEqual(['{"msg":"z"}', '{"msg":"z"}']);
    expect((await fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"streams":1}' })).status).toBe(400);
    expect((await fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(400);
  });

  it('parses label sets with escapes', () => {
    expect(parseLabelSet('{a="b", c="d\\"e"}')).toEqual({ a: 'b', c: 'd"e' });
  });
});
