// One contract, both VersionStore adapters: SQLite (embedded) and PostgreSQL (own schema per run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import { createSqliteVersionStore, createPgVersionStore, type VersionStore } from '../../lib/version-store';
import { CONTENT_FIELD, fragmentText } from '../../lib/versions';
import type { DocStore } from '../../collab-server/persistence/doc-store';
import { createSqliteDocStore, openSqlite } from '../../collab-server/persistence/sqlite';
import { createPostgresDocStoreOnPool } from '../../collab-server/persistence/postgres';
import { openPgPool } from '../../collab-server/persistence/pg-pool';
import { PG_URL } from '../helpers/pg-fixture';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Made = { versions: VersionStore; docs: DocStore; done: () => Promise<void> };

const adapters: [string, () => Promise<Made>][] = [
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tandem-versions-'));
      const db = openSqlite(join(dir, 'tandem.db'));
      return {
        versions: createSqliteVersionStore(db),
        docs: createSqliteDocStore(db),
        done: async () => {
          db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const schema = `t_${randomBytes(5).toString('hex')}`;
      const pool = await openPgPool({ connectionString: PG_URL, schema, applicationName: `tandem-test-${schema}`, max: 4 });
      return {
        versions: createPgVersionStore(pool, schema),
        docs: createPostgresDocStoreOnPool(pool, schema),
        done: async () => {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await pool.end();
        },
      };
    },
  ],
];

/** A writer on its own Y.Doc: paragraphs of text in the editor's fragment. */
function writer(clientID: number) {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  const frag = doc.getXmlFragment(CONTENT_FIELD);
  return {
    doc,
    add(text: string) {
      const p = new Y.XmlElement('paragraph');
      p.insert(0, [new Y.XmlText(text)]);
      frag.insert(frag.length, [p]);
    },
    removeFirst() {
      frag.delete(0, 1);
    },
    text: () => fragmentText(frag),
  };
}

/** A frozen copy of a document (what the test expects a version to rebuild to). */
const copy = (d: Y.Doc) => {
  const c = new Y.Doc();
  Y.applyUpdate(c, Y.encodeStateAsUpdate(d));
  return c;
};
const text = (d: Y.Doc) => fragmentText(d.getXmlFragment(CONTENT_FIELD));

describe.each(adapters)('VersionStore on %s', (_name, make) => {
  let m: Made;
  beforeAll(async () => {
    m = await make();
  });
  afterAll(async () => m?.done());

  it('adds versions as diffs with periodic keyframes, rebuilds each exactly, and records contributors from the log', async () => {
    const docId = `d${randomBytes(4).toString('hex')}`;
    const w = writer(1001);
    const expected: Y.Doc[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      w.add(`paragraph ${i} `.repeat(20));
      if (i === 3) w.removeFirst();
      // The log records who wrote under the client id (as collab-server's append does).
      await m.docs.append(docId, [Y.encodeStateAsUpdate(w.doc)], i === 0 ? new Map([[1001, 'ada']]) : undefined);
      const v = await m.versions.add(docId, ({ head }) => ({ kind: 'auto', uptoSeq: head!.lastSeq, doc: w.doc }), { keyframeEvery: 3 });
      expect(v).not.toBeNull();
      ids.push(v!.id);
      expected.push(copy(w.doc));
    }
    const list = await m.versions.list(docId);
    expect(list.map((v) => v.n)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    // keyframeEvery 3: depth 0,1,2,0,1,2,0.
    expect([...list].reverse().map((v) => v.depth)).toEqual([0, 1, 2, 0, 1, 2, 0]);
    const full = list.find((v) => v.n === 4)!;
    const diff = list.find((v) => v.n === 5)!;
    expect(diff.bytes).toBeLessThan(full.bytes / 2);
    expect(list.find((v) => v.n === 1)!.contributors).toEqual(['ada']);
    expect(list.find((v) => v.n === 2)!.contributors).toEqual(['ada']);
    for (let i = 0; i < ids.length; i++) {
      const got = (await m.versions.content(docId, ids[i]!))!;
      expect(text(got)).toBe(text(expected[i]!));
      expect(Y.encodeStateVector(got)).toEqual(Y.encodeStateVector(expected[i]!));
    }
  });

  it('a planner that returns null adds nothing; it sees the newest version and the log head', async () => {
    const docId = `d${randomBytes(4).toString('hex')}`;
    const w = writer(7);
    w.add('hello');
    await m.docs.append(docId, [Y.encodeStateAsUpdate(w.doc)]);
    const first = await m.versions.add(docId, ({ latest, head }) => {
      expect(latest).toBeNull();
      expect(head!.lastSeq).toBe(1);
      return { kind: 'auto', uptoSeq: head!.lastSeq, doc: w.doc };
    }, { keyframeEvery: 10 });
    const again = await m.versions.add(docId, ({ latest, head }) => (latest!.uptoSeq >= head!.lastSeq ? null : { kind: 'auto', uptoSeq: head!.lastSeq, doc: w.doc }), { keyframeEvery: 10 });
    expect(first!.uptoSeq).toBe(1);
    expect(again).toBeNull();
    expect((await m.versions.list(docId)).length).toBe(1);
  });

  it('concurrent adds of the same range produce one version', async () => {
    const docId = `d${randomBytes(4).toString('hex')}`;
    const w = writer(8);
    w.add('racing');
    await m.docs.append(docId, [Y.encodeStateAsUpdate(w.doc)]);
    const plan = ({ latest, head }: { latest: { uptoSeq: number } | null; head: { lastSeq: number } | null }) =>
      latest && latest.uptoSeq >= head!.lastSeq ? null : { kind: 'auto' as const, uptoSeq: head!.lastSeq, doc: w.doc };
    const results = await Promise.all(Array.from({ length: 6 }, () => m.versions.add(docId, plan, { keyframeEvery: 10 })));
    expect(results.filter(Boolean).length).toBe(1);
    expect((await m.versions.list(docId)).length).toBe(1);
  });

  it('retention keeps all recent versions, one per hour then one per day, never a named one, and every kept version still rebuilds', async () => {
    const docId = `d${randomBytes(4).toString('hex')}`;
    const now = Date.UTC(2026, 5, 15, 12, 0, 0);
    const w = writer(9);
    // Versions every 20 minutes over the last 3 days: 216 of them, each adding a paragraph.
    const made: { id: string; at: number; text: string }[] = [];
    const start = now - 3 * DAY;
    for (let at = start; at < now; at += 20 * 60_000) {
      w.add(`at ${new Date(at).toISOString()}`);
      const i = made.length;
      const v = await m.versions.add(docId, () => ({ kind: 'auto', uptoSeq: i + 1, doc: w.doc, createdAt: at, name: i === 5 ? 'Kick-off' : null }), { keyframeEvery: 20 });
      made.push({ id: v!.id, at, text: w.text() });
    }
    const policy = { keepAllMs: 1 * DAY, keepHourlyMs: 2 * DAY, keepDailyMs: 0 };
    const removed = await m.versions.prune(docId, policy, now);
    const kept = await m.versions.list(docId);
    expect(removed).toBe(made.length - kept.length);
    const keptIds = new Set(kept.map((v) => v.id));
    // The named one (in the daily zone, not the newest of its day) survives.
    expect(keptIds.has(made[5]!.id)).toBe(true);
    expect(kept.find((v) => v.id === made[5]!.id)!.name).toBe('Kick-off');
    // Younger than a day: all 71. Up to two days: the newest of each clock hour (12:20 of day -2
    // through 12:00 of day -1: 25 hours). Older: the newest of each UTC day (2), plus the named one.
    const inZone = (lo: number, hi: number) => kept.filter((v) => now - v.createdAt >= lo && now - v.createdAt < hi).length;
    expect(inZone(0, DAY)).toBe(71);
    expect(inZone(DAY, 2 * DAY)).toBe(25);
    expect(inZone(2 * DAY, 4 * DAY)).toBe(3);
    for (const v of kept) {
      const want = made.find((x) => x.id === v.id)!;
      expect(text((await m.versions.content(docId, v.id))!)).toBe(want.text);
    }
    // Chains stay bounded after folding.
    expect(Math.max(...kept.map((v) => v.depth))).toBeLessThan(20);
    // Running it again removes nothing.
    expect(await m.versions.prune(docId, policy, now)).toBe(0);
  });

  it('removing a version folds it into the next (content and contributors); named versions are not removed; rename works', async () => {
    const docId = `d${randomBytes(4).toString('hex')}`;
    const w = writer(10);
    const ids: string[] = [];
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) {
      w.add(`line ${i}`);
      const v = await m.versions.add(docId, () => ({ kind: 'auto', uptoSeq: i + 1, doc: w.doc, contributors: [`u${i}`] }), { keyframeEvery: 10 });
      ids.push(v!.id);
      texts.push(w.text());
    }
    expect((await m.versions.rename(docId, ids[0]!, 'First'))!.name).toBe('First');
    expect(await m.versions.rename(docId, 'nope', 'x')).toBeUndefined();
    expect(await m.versions.remove(docId, [ids[0]!, ids[1]!])).toBe(1); // the named one stays
    const kept = await m.versions.list(docId);
    expect(kept.map((v) => v.id)).toEqual([ids[3], ids[2], ids[0]]);
    expect(kept.find((v) => v.id === ids[2])!.contributors).toEqual(['u1', 'u2']);
    expect(text((await m.versions.content(docId, ids[2]!))!)).toBe(texts[2]);
    expect(text((await m.versions.content(docId, ids[3]!))!)).toBe(texts[3]);
    // Remove the keyframe's successor chain start: the next becomes a keyframe.
    await m.versions.rename(docId, ids[0]!, null);
    await m.versions.remove(docId, [ids[0]!]);
    const v2 = await m.versions.get(docId, ids[2]!);
    expect(v2!.baseId).toBeNull();
    expect(v2!.depth).toBe(0);
    expect(text((await m.versions.content(docId, ids[3]!))!)).toBe(texts[3]);
  });

  it('finds documents edited past their newest version once quiet', async () => {
    const docId = `d${randomBytes(4).toString('hex')}`;
    const w = writer(11);
    w.add('x');
    await m.docs.append(docId, [Y.encodeStateAsUpdate(w.doc)]);
    expect(await m.versions.unversioned(Date.now() + 1000, 1000)).toContain(docId);
    expect(await m.versions.unversioned(Date.now() - 60_000, 1000)).not.toContain(docId);
    await m.versions.add(docId, ({ head }) => ({ kind: 'auto', uptoSeq: head!.lastSeq, doc: w.doc }), { keyframeEvery: 10 });
    expect(await m.versions.unversioned(Date.now() + 1000, 1000)).not.toContain(docId);
    expect(await m.versions.docsWithVersions()).toContain(docId);
  });
});
