// GET /.well-known/jwks.json → the collab-token public key, for collab-servers on other machines (COLLAB_JWKS_URL).
import { publicJwks } from '@/lib/keys';
import { getApp } from '@/app/_server/context';
import { json, route } from '@/app/_server/http';

export const GET = route(async () => {
  const keys = await getApp().keys();
  // Public by design; a short cache keeps verifiers from hammering us while still picking up a rotation.
  return json(await publicJwks(keys.publicPem), 200, { 'cache-control': 'public, max-age=300' });
});
