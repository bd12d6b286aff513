/**
 * Token signing keys. Generated on first start into `<dataDir>/keys/` (private key 0600) unless
 * given as PEM by env; collab-server needs only the public half. Single-machine mode reads the
 * file; separate machines fetch the app's /.well-known/jwks.json instead.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, calculateJwkThumbprint, type CryptoKey, type JWK } from 'jose';
import { TOKEN_ALG } from './token';

export interface KeyFiles {
  privatePem: string;
  publicPem: string;
}

/** Read the key pair from `dir`, creating it atomically when absent. */
export async function ensureKeyFiles(dir: string): Promise<KeyFiles> {
  const priv = join(dir, 'collab-token.key');
  const pub = join(dir, 'collab-token.pub');
  if (!existsSync(priv) || !existsSync(pub)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
    // Write to temp names then rename, so two processes starting at once never see half a key.
    const tag = `${process.pid}.${Date.now()}`;
    writeFileSync(`${priv}.${tag}`, await exportPKCS8(privateKey), { mode: 0o600 });
    writeFileSync(`${pub}.${tag}`, await exportSPKI(publicKey), { mode: 0o644 });
    if (!existsSync(priv)) {
      renameSync(`${priv}.${tag}`, priv);
      renameSync(`${pub}.${tag}`, pub);
    }
  }
  return { privatePem: readFileSync(priv, 'utf8'), publicPem: readFileSync(pub, 'utf8') };
}

export function readPublicKeyFile(dir: string): string {
  return readFileSync(join(dir, 'collab-token.pub'), 'utf8');
}

export const importPrivateKey = (pem: string): Promise<CryptoKey> => importPKCS8(pem, TOKEN_ALG, { extractable: true });
export const importPublicKey = (pem: string): Promise<CryptoKey> => importSPKI(pem, TOKEN_ALG, { extractable: true });

/** The public key as a JWKS document, with a thumbprint kid. */
export async function publicJwks(publicPem: string): Promise<{ keys: JWK[] }> {
  const jwk = await exportJWK(await importPublicKey(publicPem));
  const kid = await calculateJwkThumbprint(jwk);
  return { keys: [{ ...jwk, kid, alg: TOKEN_ALG, use: 'sig' }] };
}
