/**
 * Email verification (issue 11, item 7): with EMAIL_VERIFICATION=required a sign-up creates no
 * account, only a pending verification mailed to the address; the account exists (verified) when
 * the link is followed, and the shares waiting for that address as invitations become grants.
 * Accounts from before verification existed verify through a link sent on request.
 */
import type { AppContext } from './context';
import type { UserRow } from './stores';

/** A verification link lives this long: long enough for a mail to arrive and be read the next day. */
export const VERIFICATION_TTL_MS = 48 * 3600 * 1000;

/** The app's base URL for mailed links: APP_PUBLIC_URL, else the origin this request came to. */
export function publicBase(req: Request, app: AppContext): string {
  if (app.config.APP_PUBLIC_URL) return app.config.APP_PUBLIC_URL.replace(/\/+$/, '');
  const u = new URL(req.url);
  const proto = req.headers.get('x-forwarded-proto')?.split(',')[0]?.trim() ?? u.protocol.replace(':', '');
  const host = req.headers.get('x-forwarded-host') ?? req.headers.get('host') ?? u.host;
  return `${proto}://${host}`;
}

/** True when shares to this account apply at once (its address is verified, or verification is off). */
export function canReceiveGrants(app: AppContext, u: UserRow): boolean {
  return app.config.EMAIL_VERIFICATION === 'off' || u.email_verified === 1;
}

/** Store a pending sign-up (or an address check for `userId`) and mail its link. */
export async function sendVerification(
  req: Request,
  app: AppContext,
  v: { email: string; name?: string; passwordHash?: string; userId?: string },
): Promise<void> {
  const token = await app.verifications.create(v, VERIFICATION_TTL_MS);
  const link = `${publicBase(req, app)}/verify?token=${token}`;
  await app.mailer.send({
    to: v.email,
    subject: 'Confirm your email address for Tandem',
    text: [
      v.userId ? 'Confirm that this address is yours, so documents shared with it reach you:' : 'Finish creating your Tandem account by opening this link:',
      '',
      link,
      '',
      `The link works once, for ${VERIFICATION_TTL_MS / 3600_000} hours. If you did not ask for this, ignore this mail: nothing happens without the link.`,
    ].join('\n'),
  });
}

/** Tell the owner of an existing account that someone signed up with their address (sign-up answers the same either way). */
export async function sendAlreadyRegistered(req: Request, app: AppContext, email: string): Promise<void> {
  await app.mailer.send({
    to: email,
    subject: 'You already have a Tandem account',
    text: [
      'Someone (perhaps you) tried to create a Tandem account with this address, which already has one.',
      '',
      `Sign in at ${publicBase(req, app)}/signin`,
      '',
      'If it was not you, you can ignore this mail: nothing was changed.',
    ].join('\n'),
  });
}
