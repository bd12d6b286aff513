// POST /api/auth/verify/resend → 202 {verification: "sent", email}: mail the signed-in user a link that
// verifies their address (accounts from before verification existed); 409 if it is already verified.
import type { VerificationSentResponse } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { callerAddress, json, requireCaller, route, tooMany } from '@/app/_server/http';
import { sendVerification } from '@/app/_server/verification';

export const POST = route(async (req) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  if (me.user.email_verified === 1) throw new TandemError('conflict', 'your address is already verified');
  // Each request sends a mail: the same per-address limits as sign-up keep this from being a mail cannon.
  const slot = await app.authLimits.enter(callerAddress(req, app));
  if (!slot.ok) return tooMany(slot);
  slot.release();
  await sendVerification(req, app, { email: me.user.email, userId: me.user.id });
  const res: VerificationSentResponse = { verification: 'sent', email: me.user.email };
  return json(res, 202);
});
