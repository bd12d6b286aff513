/**
 * One-shot setup for compose.yaml, run before the long-lived services: creates the cluster's token
 * key pair once (KEYS_DIR; kept on a volume, so restarts keep signing with the same key) and
 * renders nginx.conf.template for the containers (NGINX_CONF), so compose uses the same routing as
 * `npm run cluster`.
 *
 * Env: KEYS_DIR, NGINX_CONF, NGINX_LISTEN (default 0.0.0.0:80), NGINX_APP_SERVERS and
 * NGINX_COLLAB_SERVERS (comma-separated host:port), NGINX_PREFIX (temp files; default /var/cache/nginx/tandem).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ensureKeyFiles } from '../../lib/keys';
import { renderNginxConfig } from './nginx';

const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const Env = z.object({
  KEYS_DIR: z.string().min(1),
  NGINX_CONF: z.string().min(1),
  NGINX_LISTEN: z.string().default('0.0.0.0:80'),
  NGINX_APP_SERVERS: list,
  NGINX_COLLAB_SERVERS: list,
  NGINX_PREFIX: z.string().default('/var/cache/nginx/tandem'),
});

async function main(): Promise<void> {
  const env = Env.parse(process.env);
  await ensureKeyFiles(env.KEYS_DIR);
  const conf = renderNginxConfig({
    prefix: env.NGINX_PREFIX,
    listen: env.NGINX_LISTEN,
    appServers: env.NGINX_APP_SERVERS,
    collabServers: env.NGINX_COLLAB_SERVERS,
    workers: 'auto',
    // Container logs go to the container's output.
    errorLog: '/dev/stderr',
    accessLog: '/dev/stdout',
  });
  mkdirSync(dirname(env.NGINX_CONF), { recursive: true });
  writeFileSync(env.NGINX_CONF, conf);
  console.log(`keys in ${env.KEYS_DIR}; nginx config written to ${env.NGINX_CONF}`);
}

main().catch((err: Error) => {
  console.error(`compose-init: ${err.message}`);
  process.exit(1);
});
