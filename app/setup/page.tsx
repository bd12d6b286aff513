import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { Suspense } from 'react';
import { AuthForm } from '../_components/AuthForm';
import { getApp } from '../_server/context';

export const metadata: Metadata = { title: 'Set up Tandem' };
export const dynamic = 'force-dynamic';

/** The first instance admin, with the one-time setup token; gone once an admin exists. */
export default async function Page() {
  const app = getApp();
  if (await app.users.hasAdmin()) redirect('/signin');
  // Prints the token to the log if this process has not yet (e.g. started before the database was up).
  await app.announceSetup();
  return (
    <Suspense>
      <AuthForm mode="setup" />
    </Suspense>
  );
}
