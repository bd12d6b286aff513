import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { Suspense } from 'react';
import { AuthForm } from '../_components/AuthForm';
import { currentUser } from '../_components/server-session';
import { getApp } from '../_server/context';

export const metadata: Metadata = { title: 'Sign in' };

/** Already signed in: straight to the documents. */
export const dynamic = 'force-dynamic';

export default async function Page() {
  if (await currentUser()) redirect('/');
  const setupNeeded = !(await getApp().users.hasAdmin());
  return (
    <Suspense>
      <AuthForm mode="signin" setupNeeded={setupNeeded} />
    </Suspense>
  );
}
