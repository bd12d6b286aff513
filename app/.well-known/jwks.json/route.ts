// GET /.well-known/jwks.json → every collab-token verification key by kid (the signing key, a
// rotation's next and retired keys; never a revoked one), for collab-servers on other machines (COLLAB_JWKS_URL).
import { getApp } from '@/app/_server/context';
import { json, route } from '@/app/_server/http';

export const GET = route(async () => {
  const keys = await getApp().keys();
  // Public by design; a short cache keeps verifiers from hammering us while picking up a rotation soon.
  return json(keys.jwks, 200, { 'cache-control': 'public, max-age=60' });
});
