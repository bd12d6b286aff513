// One browser edit is one trace: browser editor.edit → collab.message → authz / append / apply /
// broadcast → the other browser's editor.render; a refused write's spans carry the refusal reason.
// Browsers are stock y-websocket providers in Node with observability/browser.ts attached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemorySpanExporter, SimpleSpanProcessor, BasicTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { WebsocketProvider } from 'y-websocket';
import { startTracing, type Tracing } from '../../observability/tracing';
import { attachBrowserTracing } from '../../observability/browser';
import { Attr, SpanName } from '../../observability/attributes';
import { createFixture, provider, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';

let fx: Fixture;
let srv: InProcessServer;
let tracing: Tracing;
const serverSpans = new InMemorySpanExporter();
const browserSpans = new InMemorySpanExporter();
const browserTracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(browserSpans)] }).getTracer('browser');
const open: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  tracing = await startTracing({ enabled: true, serviceName: 'collab-test', instance: 'test', contextManager: 'sync', env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on' }, spanProcessors: [new SimpleSpanProcessor(serverSpans)] });
  expect(tracing.tracer).toBeDefined();
  srv = await startServer(fx, { tracer: tracing.tracer });
});
afterAll(async () => {
  for (const p of open) p.destroy();
  await srv.close();
  await tracing.shutdown(500);
  fx.cleanup();
});

async function tracedBrowser(docId: string, userId: string) {
  const p = provider(srv.url, docId, await fx.token(userId, docId));
  open.push(p);
  attachBrowserTracing(p, { tracer: browserTracer });
  await synced(p);
  return p;
}

const byName = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('tracing one edit from keystroke to the other browser', () => {
  it('browser span → collab.message → authz, append, apply, broadcast → remote render, in one trace', async () => {
    const owner = fx.user();
    const docId = fx.doc(owner);
    const a = await tracedBrowser(docId, owner);
    const b = await tracedBrowser(docId, owner);
    // Both sockets have opted in to trace context before the edit.
    await waitFor(() => [...srv.server.connections].filter((c) => c.docId === docId && c.traceExt).length === 2, { what: 'trace opt-in' });
    browserSpans.reset();
    serverSpans.reset();

    a.doc.getText('t').insert(0, 'hello, traced world');

    const edit = await waitFor(() => byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_EDIT)[0], { what: 'browser edit span' });
    const traceId = edit.spanContext().traceId;
    const inTrace = () => serverSpans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const msg = await waitFor(() => byName(inTrace(), SpanName.MESSAGE)[0], { what: 'collab.message in the browser trace' });
    expect(parentOf(msg)).toBe(edit.spanContext().spanId);
    expect(msg.attributes[Attr.DOC_ID]).toBe(docId);
    expect(msg.attributes[Attr.MESSAGE_TYPE]).toBe('update');
    expect(msg.attributes[Attr.MESSAGE_BYTES]).toBeGreaterThan(10);
    expect(msg.attributes[Attr.AUTHZ_DECISION]).toBe('allow');
    expect(msg.attributes[Attr.USER_ID]).toBe(owner);

    const children = inTrace().filter((s) => parentOf(s) === msg.spanContext().spanId);
    const names = children.map((s) => s.name).sort();
    expect(names).toEqual([SpanName.APPLY, SpanName.AUTHZ, SpanName.BROADCAST, SpanName.APPEND].sort());
    const authz = byName(children, SpanName.AUTHZ)[0]!;
    expect(authz.attributes[Attr.AUTHZ_DECISION]).toBe('allow');
    expect(authz.attributes[Attr.ROLE]).toBe('owner');
    const append = byName(children, SpanName.APPEND)[0]!;
    const apply = byName(children, SpanName.APPLY)[0]!;
    const broadcast = byName(children, SpanName.BROADCAST)[0]!;
    expect(append.attributes[Attr.DOC_ID]).toBe(docId);
    // Durable before applied, applied before anyone else sees it.
    const ns = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
    expect(ns(append.endTime)).toBeLessThanOrEqual(ns(apply.startTime));
    expect(ns(apply.endTime)).toBeLessThanOrEqual(ns(broadcast.startTime));
    expect(broadcast.attributes[Attr.FANOUT_COUNT]).toBe(1);
    expect(broadcast.attributes[Attr.FANOUT_BYTES]).toBeGreaterThan(10);

    // The receiving browser rendered it as part of the same trace, under the broadcast.
    const render = await waitFor(
      () => byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_RENDER).find((s) => s.spanContext().traceId === traceId),
      { what: 'remote render span in the same trace' },
    );
    expect(parentOf(render)).toBe(broadcast.spanContext().spanId);
    expect(b.doc.getText('t').toString()).toBe('hello, traced world');

    // The latency histogram's bucket carries this trace id as an exemplar (OpenMetrics).
    const text = await srv.metrics.registry.metrics();
    expect(text).toMatch(new RegExp(`tandem_update_handling_seconds_bucket\\{[^}]*\\} \\d+ # \\{trace_id="${traceId}"\\}`));
  });

  it('in the span tree of one keystroke no child starts before its parent, and in-process children end before their parents', async () => {
    const owner = fx.user();
    const docId = fx.doc(owner);
    const a = await tracedBrowser(docId, owner);
    await tracedBrowser(docId, owner);
    await waitFor(() => [...srv.server.connections].filter((c) => c.docId === docId && c.traceExt).length === 2, { what: 'trace opt-in' });
    browserSpans.reset();
    serverSpans.reset();
    for (let i = 0; i < 20; i++) a.doc.getText('t').insert(i, 'x');
    // Every keystroke's trace, once the other browser rendered it.
    const edits = await waitFor(() => (byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_EDIT).length === 20 ? byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_EDIT) : undefined), { what: '20 edit spans' });
    const traces = new Set(edits.map((e) => e.spanContext().traceId));
    await waitFor(() => byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_RENDER).filter((r) => traces.has(r.spanContext().traceId)).length === 20, { what: '20 renders' });
    await waitFor(() => byName(serverSpans.getFinishedSpans(), SpanName.MESSAGE).filter((m) => traces.has(m.spanContext().traceId)).length === 20, { what: '20 collab.message spans ended' });
    const ns = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
    const all = [...browserSpans.getFinishedSpans().map((s) => ({ s, side: 'browser' })), ...serverSpans.getFinishedSpans().map((s) => ({ s, side: 'server' }))].filter((x) => traces.has(x.s.spanContext().traceId));
    const byId = new Map(all.map((x) => [x.s.spanContext().spanId, x]));
    let checked = 0;
    const bad: string[] = [];
    for (const { s, side } of all) {
      const parent = byId.get(parentOf(s) ?? '');
      if (!parent) continue;
      checked++;
      if (ns(s.startTime) < ns(parent.s.startTime)) bad.push(`${s.name} starts ${ns(parent.s.startTime) - ns(s.startTime)} ns before ${parent.s.name}`);
      // Across a process boundary (browser → server → other browser) a child is asynchronous by
      // nature; within one process it must end inside its parent.
      if (side === parent.side && ns(s.endTime) > ns(parent.s.endTime)) bad.push(`${s.name} ends ${ns(s.endTime) - ns(parent.s.endTime)} ns after ${parent.s.name}`);
    }
    expect(bad).toEqual([]);
    // editor.edit → collab.message → authz/append/apply/broadcast → editor.render: 6 parent links each.
    expect(checked).toBe(20 * 6);
    // Sub-millisecond start times, not whole milliseconds.
    const msgs = all.filter((x) => x.s.name === SpanName.MESSAGE);
    expect(msgs.some((x) => x.s.startTime[1] % 1_000_000 !== 0)).toBe(true);
  });

  it('an edit made offline and sent on reconnect (sync step 2) is one editor.edit-rooted trace to the other browser\'s render', async () => {
    const owner = fx.user();
    const docId = fx.doc(owner);
    const a = await tracedBrowser(docId, owner);
    const b = await tracedBrowser(docId, owner);
    await waitFor(() => [...srv.server.connections].filter((c) => c.docId === docId && c.traceExt).length === 2, { what: 'trace opt-in' });
    a.disconnect();
    await waitFor(() => !a.wsconnected && [...srv.server.connections].filter((c) => c.docId === docId).length === 1, { what: 'a offline' });
    browserSpans.reset();
    serverSpans.reset();
    a.doc.getText('t').insert(0, 'written on the train');
    a.doc.getText('t').insert(0, '» ');
    a.connect();

    const edit = await waitFor(() => byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_EDIT).find((s) => s.attributes[Attr.EDIT_OFFLINE] === true), { what: 'offline editor.edit span' });
    expect(edit.parentSpanContext).toBeUndefined();
    expect(edit.attributes[Attr.EDIT_OFFLINE_UPDATES]).toBe(2);
    const traceId = edit.spanContext().traceId;
    const inTrace = () => serverSpans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const msg = await waitFor(() => byName(inTrace(), SpanName.MESSAGE)[0], { what: 'collab.message of the sync step 2' });
    expect(parentOf(msg)).toBe(edit.spanContext().spanId);
    expect(msg.attributes[Attr.MESSAGE_TYPE]).toBe('sync-step2');
    const broadcast = await waitFor(() => byName(inTrace(), SpanName.BROADCAST)[0], { what: 'broadcast in the trace' });
    expect(parentOf(broadcast)).toBe(msg.spanContext().spanId);
    const render = await waitFor(
      () => byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_RENDER).find((s) => s.spanContext().traceId === traceId),
      { what: "the other browser's render in the same trace" },
    );
    expect(parentOf(render)).toBe(broadcast.spanContext().spanId);
    await waitFor(() => b.doc.getText('t').toString() === '» written on the train', { what: 'b has the offline edit' });
  });

  it("a viewer's refused write carries the refusal reason on collab.message and collab.authz, and its log line the trace id", async () => {
    const owner = fx.user();
    const viewer = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    const v = await tracedBrowser(docId, viewer);
    await waitFor(() => [...srv.server.connections].some((c) => c.docId === docId && c.traceExt), { what: 'trace opt-in' });
    browserSpans.reset();
    serverSpans.reset();

    v.doc.getText('t').insert(0, 'not allowed');

    const edit = await waitFor(() => byName(browserSpans.getFinishedSpans(), SpanName.BROWSER_EDIT)[0], { what: 'browser edit span' });
    const traceId = edit.spanContext().traceId;
    const msg = await waitFor(
      () => byName(serverSpans.getFinishedSpans(), SpanName.MESSAGE).find((s) => s.spanContext().traceId === traceId),
      { what: 'refused collab.message' },
    );
    expect(parentOf(msg)).toBe(edit.spanContext().spanId);
    expect(msg.attributes[Attr.AUTHZ_DECISION]).toBe('deny');
    expect(msg.attributes[Attr.AUTHZ_REASON]).toBe('read-only: you are a viewer of this document');
    const kids = serverSpans.getFinishedSpans().filter((s) => parentOf(s) === msg.spanContext().spanId);
    expect(kids.map((s) => s.name)).toEqual([SpanName.AUTHZ]);
    expect(kids[0]!.attributes[Attr.AUTHZ_DECISION]).toBe('deny');
    expect(kids[0]!.attributes[Attr.AUTHZ_REASON]).toBe('read-only: you are a viewer of this document');
    const line = await waitFor(() => srv.logs.lines.find((l) => l.msg === 'write refused' && l.doc === docId), { what: 'refusal log line' });
    expect(line.trace_id).toBe(traceId);
    expect(line.span_id).toBe(msg.spanContext().spanId);
  });

  it('connection lifecycle: ws.upgrade records the auth result and the open/close log lines carry its trace id', async () => {
    const owner = fx.user();
    const stranger = fx.user();
    const docId = fx.doc(owner);
    serverSpans.reset();
    const p = provider(srv.url, docId, await fx.token(stranger, docId));
    open.push(p);
    const refused = await waitFor(
      () => byName(serverSpans.getFinishedSpans(), SpanName.WS_UPGRADE).find((s) => s.attributes[Attr.DOC_ID] === docId),
      { what: 'ws.upgrade span' },
    );
    expect(refused.attributes[Attr.AUTHZ_DECISION]).toBe('deny');
    expect(refused.attributes[Attr.CLOSE_CODE]).toBe('FORBIDDEN');
    // doc.load ran as part of this upgrade.
    const load = byName(serverSpans.getFinishedSpans(), SpanName.DOC_LOAD).find((s) => s.attributes[Attr.DOC_ID] === docId);
    expect(load?.spanContext().traceId).toBe(refused.spanContext().traceId);
    const closed = await waitFor(() => srv.logs.lines.find((l) => l.msg === 'connection closed' && l.doc === docId), { what: 'close log line' });
    expect(closed.trace_id).toBe(refused.spanContext().traceId);
  });
});
