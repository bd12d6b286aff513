/**
 * What the version-history routes share: the access step (no access at all is a 404, so a version
 * list cannot confirm that a document exists), views with people's names, content as the editor's
 * JSON and as HTML, and the two ways a restore reaches every client.
 */
import { z } from 'zod';
import * as Y from 'yjs';
import { yXmlFragmentToProsemirrorJSON } from '@tiptap/y-tiptap';
import { generateHTML } from '@tiptap/html/server';
import type { JSONContent } from '@tiptap/core';
import { decide, type Action, type Role } from '@/lib/acl';
import { DocIdSchema } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import { signCollabToken } from '@/lib/token';
import { contentExtensions } from '@/lib/editor-extensions';
import { CONTENT_FIELD, fragmentText } from '@/lib/versions';
import type { VersionMeta } from '@/lib/version-store';
import { VersionIdSchema, type VersionView } from '@/lib/version-api';
import type { AppContext } from '@/app/_server/context';
import { allowOrThrow, loadDoc, requireCaller, type Caller } from '@/app/_server/http';
import { versionsOf, type VersionsBackend } from '@/app/_server/stores/versions';
import { collabTargets } from '@/app/api/admin/sessions/collab-admin';

export const DocParams = z.object({ id: DocIdSchema });
export const VersionParams = z.object({ id: DocIdSchema, vid: VersionIdSchema });

/** Who is asking (401) → the document (404) → may they (no access: 404; too weak a role: 403). */
export async function access(req: Request, app: AppContext, docId: string, action: Action): Promise<{ me: Caller; role: Role; backend: VersionsBackend }> {
  const me = await requireCaller(req, app);
  const doc = await loadDoc(app, docId);
  const d = decide(me.principal, doc.acl, action);
  if (!d.allow && d.reason === 'no-access') throw new TandemError('not_found', 'document not found');
  allowOrThrow(d);
  return { me, role: d.role, backend: versionsOf(app) };
}

/** The version, or 404. */
export async function loadVersion(backend: VersionsBackend, docId: string, vid: string, field = 'vid'): Promise<VersionMeta> {
  const v = await backend.versions.get(docId, vid);
  if (!v) throw new TandemError('not_found', 'version not found', field);
  return v;
}

/** Views of versions with people's names (one lookup for all of them). */
export async function views(backend: VersionsBackend, list: readonly VersionMeta[]): Promise<VersionView[]> {
  const ids = new Set<string>();
  for (const v of list) {
    if (v.createdBy) ids.add(v.createdBy);
    for (const c of v.contributors) ids.add(c);
  }
  const names = await backend.users([...ids]);
  const person = (id: string) => ({ id, name: names.get(id)?.name ?? 'Former member' });
  return list.map((v) => ({
    id: v.id,
    n: v.n,
    createdAt: v.createdAt,
    kind: v.kind,
    name: v.name,
    createdBy: v.createdBy ? person(v.createdBy) : null,
    contributors: v.contributors.map(person),
    lastEditAt: v.lastEditAt,
    bytes: v.bytes,
    keyframe: v.baseId === null,
    restoredFrom: v.restoredFrom,
  }));
}

/** A document's content as the editor's JSON, HTML (the editor's own schema) and plain text. */
export function contentOf(doc: Y.Doc): { json: unknown; html: string; text: string } {
  const fragment = doc.getXmlFragment(CONTENT_FIELD);
  const json = yXmlFragmentToProsemirrorJSON(fragment) as JSONContent;
  // An empty fragment converts to a doc without content; the schema wants one empty paragraph.
  const forHtml = json.content && json.content.length ? json : { type: 'doc', content: [{ type: 'paragraph' }] };
  return { json, html: generateHTML(forHtml, contentExtensions()), text: fragmentText(fragment) };
}

/** The version's content, or 404. */
export async function versionDoc(backend: VersionsBackend, docId: string, vid: string): Promise<Y.Doc> {
  const d = await backend.versions.content(docId, vid);
  if (!d) throw new TandemError('not_found', 'version not found');
  return d;
}

/**
 * A REST restore: collab-server writes the version into the live document as the server (durable
 * before broadcast, so every connected editor sees it at once). Any instance can: the log and
 * Redis carry it to the others. Authorized there with a short collab token of the caller.
 */
export async function restoreThroughCollab(app: AppContext, me: Caller, docId: string, vid: string): Promise<void> {
  const keys = await app.keys();
  const { token } = await signCollabToken(keys.privateKey, { sub: me.user.id, name: me.user.name, doc: docId }, { ttlSeconds: 60, kid: keys.kid });
  const targets = await collabTargets(app);
  let lastError = 'no collab-server is registered';
  for (const t of targets) {
    let res: Response;
    try {
      res = await fetch(`${t.url}/docs/${encodeURIComponent(docId)}/restore`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ versionId: vid }),
        cache: 'no-store',
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      // That instance is gone or slow: any other can do it.
      app.log.warn({ err, instance: t.instance, url: t.url, doc: docId }, 'collab-server unreachable for a restore; trying the next');
      lastError = (err as Error).message;
      continue;
    }
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    if (res.ok) return;
    if (res.status === 403) throw new TandemError('forbidden', body.message ?? 'viewers cannot change this document');
    if (res.status === 404) throw new TandemError('not_found', body.message ?? 'not found');
    lastError = body.message ?? `collab-server answered ${res.status}`;
    if (res.status < 500) break;
  }
  throw new TandemError('unavailable', `the restore could not be applied: ${lastError}`);
}

/** Whether the stored state holds everything in `sv` (an editor's restore edit has been stored). */
export function covers(stored: Y.Doc, sv: Uint8Array): boolean {
  const have = Y.decodeStateVector(Y.encodeStateVector(stored));
  for (const [client, clock] of Y.decodeStateVector(sv)) if ((have.get(client) ?? 0) < clock) return false;
  return true;
}
