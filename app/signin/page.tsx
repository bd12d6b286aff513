import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { Suspense } from 'react';
import { AuthForm } from '../_components/AuthForm';
import { currentUser } from '../_components/server-session';

export const metadata: Metadata = { title: 'Sign in' };

/** Already signed in: straight to the documents. */
export default async function Page() {
  if (await currentUser()) redirect('/');
  return (
    <Suspense>
      <AuthForm mode="signin" />
    </Suspense>
  );
}
