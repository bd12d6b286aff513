/**
 * `npm run keys -- <command>`: the collab-token key ring (lib/key-ring.ts) in DATA_DIR/keys (or
 * COLLAB_TOKEN_KEYS_DIR). Running processes re-read the directory within a fraction of a second.
 *
 *   list                 kids and their state (active, next, retired, revoked)
 *   add                  rotation step 1: a new key, published for verification, not signing yet
 *   activate <kid>       rotation step 2: sign with it; the old key verifies until its tokens expire
 *   retire <kid>         rotation step 3 (after COLLAB_TOKEN_TTL_SECONDS): forget the old key
 *   rotate               steps 1 and 2 at once (safe on one machine: every process reads this directory)
 *   revoke <kid>         emergency: refuse its tokens now, close its sockets (a new key signs if it was active)
 */
import { join, resolve } from 'node:path';
import { activateKey, addKey, listKeys, retireKey, revokeKey } from '../../lib/key-ring';

async function main(argv: string[]): Promise<void> {
  const dir = resolve(process.env.COLLAB_TOKEN_KEYS_DIR || join(process.env.DATA_DIR || './data', 'keys'));
  const [cmd, kid] = argv;
  const needKid = () => {
    if (!kid || !/^[\w-]{20,64}$/.test(kid)) throw new Error(`${cmd} needs a kid (see: npm run keys -- list)`);
    return kid;
  };
  switch (cmd) {
    case 'list':
      for (const k of await listKeys(dir)) console.log(`${k.kid}  ${k.state}`);
      return;
    case 'add':
      console.log(`added ${await addKey(dir)} (verifies now; activate it once every verifier has it)`);
      return;
    case 'activate': {
      const { previous } = await activateKey(dir, needKid());
      console.log(`signing with ${kid}${previous ? `; ${previous} retired: it verifies its tokens until they expire, then run: npm run keys -- retire ${previous}` : ''}`);
      return;
    }
    case 'rotate': {
      const next = await addKey(dir);
      const { previous } = await activateKey(dir, next);
      console.log(`signing with ${next}${previous ? `; retire ${previous} after the token lifetime: npm run keys -- retire ${previous}` : ''}`);
      return;
    }
    case 'retire':
      retireKey(dir, needKid());
      console.log(`retired ${kid}`);
      return;
    case 'revoke': {
      const { activated } = await revokeKey(dir, needKid());
      console.log(`revoked ${kid}: its tokens are refused and its sockets closed${activated ? `; now signing with ${activated}` : ''}`);
      return;
    }
    default:
      throw new Error('usage: npm run keys -- list | add | activate <kid> | retire <kid> | rotate | revoke <kid>');
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
