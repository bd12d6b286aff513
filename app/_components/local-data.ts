'use client';
/**
 * What a document leaves on this device: its y-indexeddb database (`tandem:<userId>:<docId>`, the
 * offline copy of its content) and its page in the offline page cache. When access ends (4403:
 * revoked or deleted) or the user signs out, both go, so the next person at this browser, or the
 * revoked user offline, cannot read it any more.
 */
import { PAGE_CACHE } from './editor/offline';

const dbPrefix = (userId: string) => `tandem:${userId}:`;

function deleteDb(name: string): Promise<void> {
  return new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(name);
    // "blocked": an open tab still holds it; it is deleted as soon as that tab closes it.
    r.onsuccess = r.onerror = r.onblocked = () => resolve();
  });
}

/** Forget one document's offline copy and cached page (access to it ended). */
export async function purgeDocLocal(userId: string, docId: string): Promise<void> {
  await deleteDb(`${dbPrefix(userId)}${docId}`).catch((err: unknown) => console.warn('could not delete the offline copy', err));
  if ('caches' in window) {
    await caches
      .open(PAGE_CACHE)
      .then((c) => c.delete(`/d/${docId}`))
      .catch((err: unknown) => console.warn('could not clear the cached page', err));
  }
}

/** Forget every document `userId` kept on this device and the whole offline page cache (sign-out). */
export async function purgeUserLocal(userId: string): Promise<void> {
  try {
    const dbs = 'databases' in indexedDB ? await indexedDB.databases() : [];
    await Promise.all(dbs.filter((d) => d.name?.startsWith(dbPrefix(userId))).map((d) => deleteDb(d.name!)));
  } catch (err) {
    console.warn('could not delete the offline copies', err);
  }
  forgetList(userId);
  // Pages cached for offline use carry this user's identity and content.
  if ('caches' in window) await caches.delete(PAGE_CACHE).catch((err: unknown) => console.warn('could not clear the offline cache', err));
}

const listKey = (userId: string) => `tandem:list:${userId}`;

/** Keep the last document list (titles, roles) for the offline list; dropped at sign-out. */
export function rememberList<T extends { id: string }>(userId: string, docs: T[]): void {
  try {
    localStorage.setItem(listKey(userId), JSON.stringify(docs));
  } catch (err) {
    console.warn('could not keep the document list for offline use', err);
  }
}

function forgetList(userId: string): void {
  try {
    localStorage.removeItem(listKey(userId));
  } catch (err) {
    console.warn('could not forget the offline document list', err);
  }
}

/** Offline: the documents from the last list that have a copy on this device (they open without a network). */
export async function offlineList<T extends { id: string }>(userId: string): Promise<T[] | null> {
  let docs: T[];
  try {
    docs = JSON.parse(localStorage.getItem(listKey(userId)) ?? 'null') as T[];
  } catch {
    return null;
  }
  if (!Array.isArray(docs)) return null;
  const names = new Set(('databases' in indexedDB ? await indexedDB.databases().catch(() => []) : []).map((d) => d.name));
  return docs.filter((d) => names.has(`${dbPrefix(userId)}${d.id}`));
}
