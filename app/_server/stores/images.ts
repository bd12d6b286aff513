/**
 * Images pasted or dropped into a document (doc_images), stored beside the document in the app's
 * database and deleted with it. Content-addressed per document: the same bytes twice are one row.
 */
import crypto from 'node:crypto';
import { newId } from '@/lib/ids';
import type { Db } from './sqlite';
import type { PgDb } from './pg';

export interface StoredImage {
  id: string;
  mime: string;
  bytes: number;
  data: Buffer;
}

export interface ImageStore {
  /** Store `data` for `docId` (or find the same bytes already stored); returns its id. */
  put(docId: string, image: { mime: string; data: Uint8Array; createdBy: string }): Promise<{ id: string; bytes: number }>;
  /** The image `id` of `docId`, or undefined (another document's image is not found here). */
  get(docId: string, id: string): Promise<StoredImage | undefined>;
}

const sha256 = (data: Uint8Array) => crypto.createHash('sha256').update(data).digest('hex');

export function createSqliteImageStore(db: Db): ImageStore {
  const insert = db.prepare<[string, string, string, string, number, Buffer, string, number]>(
    'INSERT INTO doc_images (id, doc_id, sha256, mime, bytes, data, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id, sha256) DO NOTHING',
  );
  const bySha = db.prepare<[string, string], { id: string; bytes: number }>('SELECT id, bytes FROM doc_images WHERE doc_id = ? AND sha256 = ?');
  const get = db.prepare<[string, string], StoredImage>('SELECT id, mime, bytes, data FROM doc_images WHERE doc_id = ? AND id = ?');
  return {
    async put(docId, img) {
      const hash = sha256(img.data);
      insert.run(newId(), docId, hash, img.mime, img.data.byteLength, Buffer.from(img.data), img.createdBy, Date.now());
      return bySha.get(docId, hash)!;
    },
    async get(docId, id) {
      return get.get(docId, id);
    },
  };
}

export function createPgImageStore(pg: PgDb): ImageStore {
  const t = `${pg.s}.doc_images`;
  return {
    async put(docId, img) {
      const hash = sha256(img.data);
      await pg.query(`INSERT INTO ${t} (id, doc_id, sha256, mime, bytes, data, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (doc_id, sha256) DO NOTHING`, [
        newId(),
        docId,
        hash,
        img.mime,
        img.data.byteLength,
        Buffer.from(img.data),
        img.createdBy,
        Date.now(),
      ]);
      const r = await pg.query<{ id: string; bytes: number }>(`SELECT id, bytes FROM ${t} WHERE doc_id = $1 AND sha256 = $2`, [docId, hash]);
      return r.rows[0]!;
    },
    async get(docId, id) {
      return (await pg.query<StoredImage>(`SELECT id, mime, bytes, data FROM ${t} WHERE doc_id = $1 AND id = $2`, [docId, id])).rows[0];
    },
  };
}
