// With COLLAB_TOKEN_PRIVATE_KEY (PEM) set, the app signs with that key, publishes its public half
// in the JWKS and creates no key files; COLLAB_PUBLIC_URL is the URL handed to clients.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exportPKCS8, generateKeyPair, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as token from '../../app/api/docs/[id]/token/route';
import * as jwks from '../../app/.well-known/jwks.json/route';
import { getApp } from '../../app/_server/context';
import { verifyCollabToken } from '../../lib/token';
import { call, signUp, useTempDataDir } from '../helpers/app';

let env: ReturnType<typeof useTempDataDir>;
let publicKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  publicKey = pair.publicKey;
  // As an env file would carry it: one line, newlines escaped.
  const pem = (await exportPKCS8(pair.privateKey)).replace(/\n/g, '\\n');
  env = useTempDataDir({ COLLAB_TOKEN_PRIVATE_KEY: pem, COLLAB_PUBLIC_URL: 'wss://collab.example.test' });
});
afterAll(async () => {
  await getApp().close();
  env.cleanup();
});

it('tokens are signed with the env key, the JWKS carries its public half, and no key files are written', async () => {
  const o = await signUp();
  const id = (await call(docs.POST, { method: 'POST', token: o.token, body: { title: 'k' } })).body.doc.id;
  const t = await call(token.POST, { method: 'POST', token: o.token, params: { id } });
  expect(t.status).toBe(200);
  expect(t.body.url).toBe('wss://collab.example.test');
  // Default lifetime: 5 minutes.
  expect(t.body.expiresAt - Date.now()).toBeGreaterThan(290_000);
  expect(t.body.expiresAt - Date.now()).toBeLessThanOrEqual(300_000);
  expect((await verifyCollabToken(t.body.token, publicKey)).sub).toBe(o.user.id);
  const set = (await call(jwks.GET)).body;
  expect((await verifyCollabToken(t.body.token, createLocalJWKSet(set))).doc).toBe(id);
  expect(existsSync(join(env.dir, 'keys'))).toBe(false);
});
