import type { Metadata } from 'next';
import { Suspense } from 'react';
import { VerifyEmail } from '../_components/VerifyEmail';

export const metadata: Metadata = { title: 'Confirm your email' };

/** The page a verification link opens: it posts the token (a GET alone changes nothing, so link scanners cannot use it up). */
export default function Page() {
  return (
    <Suspense>
      <VerifyEmail />
    </Suspense>
  );
}
