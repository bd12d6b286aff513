/**
 * Bytes per version: a 200-paragraph document (~60 KB of text) edited a little between versions
 * (one sentence typed, one paragraph deleted), stored through the real VersionStore on SQLite with
 * the default keyframe interval. Prints the keyframe size, the median diff, and the average per
 * version against a full copy per version. Run: node --import tsx tests/load/version-bytes.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { openSqlite } from '../../collab-server/persistence/sqlite';
import { createSqliteVersionStore } from '../../lib/version-store';
import { CONTENT_FIELD } from '../../lib/versions';

const dir = mkdtempSync(join(tmpdir(), 'tandem-version-bytes-'));
const db = openSqlite(join(dir, 'tandem.db'));
const store = createSqliteVersionStore(db);
const doc = new Y.Doc();
const frag = doc.getXmlFragment(CONTENT_FIELD);
const para = (t: string) => {
  const p = new Y.XmlElement('paragraph');
  p.insert(0, [new Y.XmlText(t)]);
  return p;
};
const sentence = 'The committee reviewed the figures and agreed on the next steps for the quarter. ';
for (let i = 0; i < 200; i++) frag.insert(frag.length, [para(`${i}. ${sentence.repeat(4)}`)]);
const VERSIONS = 60;
const sizes: { bytes: number; full: number; keyframe: boolean }[] = [];
const run = async () => {
  for (let v = 0; v < VERSIONS; v++) {
    // A little editing: a sentence typed into a paragraph, character by character, and one paragraph removed.
    const t = (frag.get(v % frag.length) as Y.XmlElement).get(0) as Y.XmlText;
    for (const ch of 'A few words typed since the last version. ') t.insert(t.length, ch);
    frag.delete((v * 7) % frag.length, 1);
    const m = await store.add('doc', () => ({ kind: 'auto', uptoSeq: v + 1, doc }), { keyframeEvery: 20 });
    sizes.push({ bytes: m!.bytes, full: Y.encodeStateAsUpdate(doc).byteLength, keyframe: m!.baseId === null });
  }
  const diffs = sizes.filter((s) => !s.keyframe).map((s) => s.bytes).sort((a, b) => a - b);
  const total = sizes.reduce((n, s) => n + s.bytes, 0);
  const fullTotal = sizes.reduce((n, s) => n + s.full, 0);
  console.log(JSON.stringify({
    versions: VERSIONS,
    keyframeEvery: 20,
    keyframeBytes: sizes.filter((s) => s.keyframe).map((s) => s.bytes),
    medianDiffBytes: diffs[Math.floor(diffs.length / 2)],
    maxDiffBytes: diffs[diffs.length - 1],
    avgBytesPerVersion: Math.round(total / VERSIONS),
    avgFullCopyBytes: Math.round(fullTotal / VERSIONS),
  }));
  db.close();
  rmSync(dir, { recursive: true, force: true });
};
void run();
