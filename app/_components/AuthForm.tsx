'use client';
/**
 * Sign-in, sign-up and first-admin setup form: posts to the auth API, shows field errors inline, then
 * goes to `next`. A sign-up that needs email verification ends on "check your email" instead.
 */
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { LoginBodySchema, safeNextPath, SetupBodySchema, SignupBodySchema } from '@/lib/api-schemas';
import { api, ApiError } from './api';

type Mode = 'signin' | 'signup' | 'setup';

const endpoint: Record<Mode, string> = { signin: '/api/auth/login', signup: '/api/auth/signup', setup: '/api/auth/setup' };
const schema = { signin: LoginBodySchema, signup: SignupBodySchema, setup: SetupBodySchema };

/** `setupNeeded`: the instance has no admin yet, so sign-in and sign-up point to /setup. */
export function AuthForm({ mode, setupNeeded = false }: { mode: Mode; setupNeeded?: boolean }) {
  const router = useRouter();
  const params = useSearchParams();
  // Only same-site paths, so `?next=` cannot send a user to another origin (`/\evil` included).
  const next = safeNextPath(params.get('next'));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string; code?: string } | null>(null);
  const [sentTo, setSentTo] = useState<string | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = {
      email: String(f.get('email') ?? ''),
      password: String(f.get('password') ?? ''),
      ...(mode !== 'signin' ? { name: String(f.get('name') ?? '') } : {}),
      ...(mode === 'setup' ? { setupToken: String(f.get('setupToken') ?? '') } : {}),
    };
    // The API's own schema, checked here first so a typo never costs a round trip (or a 400).
    const check = schema[mode].safeParse(body);
    if (!check.success) {
      const issue = check.error.issues[0]!;
      const field = issue.path.join('.') || undefined;
      setError({ field, message: field ? `${field[0]!.toUpperCase()}${field.slice(1)} ${issue.message}` : issue.message });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ verification?: string; email?: string }>(endpoint[mode], { method: 'POST', body });
      if (res?.verification === 'sent') {
        setBusy(false);
        setSentTo(res.email ?? body.email);
        return;
      }
      router.replace(next);
      router.refresh();
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError) setError({ message: sentence(err.message), field: err.field, code: err.code });
      else setError({ message: 'Something went wrong. Please try again.' });
    }
  }

  const fieldError = (name: string) =>
    error?.field === name ? (
      <span className="field-error" id={`${name}-error`} role="alert">
        {error.message}
        {/* The address has an account already: the next step is signing in, with what they typed. */}
        {name === 'email' && error.code === 'conflict' && mode !== 'signin' && (
          <>
            {' '}
            <Link href={`/signin${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`} data-testid="signin-instead">
              Sign in instead?
            </Link>
          </>
        )}
      </span>
    ) : null;

  if (sentTo) {
    return (
      <main className="auth-wrap">
        <div className="card auth-card" data-testid="check-email">
          <h1>Check your email</h1>
          <p>
            We sent a link to <strong>{sentTo}</strong>. Open it to finish creating your account; documents shared with this address reach you once it is
            confirmed.
          </p>
          <p className="small muted">The link works once, for 48 hours. Nothing arrived? Check your spam folder, or sign up again for a new link.</p>
        </div>
      </main>
    );
  }

  return (
    <main className="auth-wrap">
      <div className="card auth-card">
        <Link href="/" className="brand" aria-label="Tandem home">
          <img src="/icon.svg" alt="" /> Tandem
        </Link>
        <h1>{mode === 'signup' ? 'Create your account' : mode === 'setup' ? 'Set up this instance' : 'Welcome back'}</h1>
        <p className="muted small" style={{ margin: 0 }}>
          {mode === 'signup'
            ? 'Write together, in real time.'
            : mode === 'setup'
              ? 'Create the first admin with the one-time setup token printed in the app’s log at start (or SETUP_TOKEN).'
              : 'Sign in to your documents.'}
        </p>
        {setupNeeded && mode !== 'setup' && (
          <div className="banner banner-info" role="status">
            This instance has no admin yet. <Link href="/setup">Set up this instance</Link>
          </div>
        )}
        <form onSubmit={onSubmit} noValidate>
          {mode === 'setup' && (
            <label className="field">
              Setup token
              <input className="input" name="setupToken" autoComplete="off" required aria-invalid={error?.field === 'setupToken'} />
              {fieldError('setupToken')}
            </label>
          )}
          {mode !== 'signin' && (
            <label className="field">
              Name
              <input className="input" name="name" autoComplete="name" required maxLength={100} aria-invalid={error?.field === 'name'} />
              {fieldError('name')}
            </label>
          )}
          <label className="field">
            Email
            <input className="input" name="email" type="email" autoComplete="email" required aria-invalid={error?.field === 'email'} />
            {fieldError('email')}
          </label>
          <label className="field">
            Password
            <input
              className="input"
              name="password"
              type="password"
              autoComplete={mode !== 'signin' ? 'new-password' : 'current-password'}
              required
              minLength={mode !== 'signin' ? 8 : 1}
              aria-invalid={error?.field === 'password'}
            />
            {mode !== 'signin' && !fieldError('password') && <span className="muted small" style={{ fontWeight: 400 }}>At least 8 characters.</span>}
            {fieldError('password')}
          </label>
          {error && !error.field && (
            <div className="banner banner-error" role="alert">
              {error.message}
            </div>
          )}
          <button className="btn btn-primary" type="submit" disabled={busy}>
            {busy ? 'Please wait…' : mode !== 'signin' ? 'Create account' : 'Sign in'}
          </button>
        </form>
        <p className="small muted" style={{ marginTop: 18, marginBottom: 0 }}>
          {mode !== 'signin' ? (
            <>
              Already have an account? <Link href={`/signin${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`}>Sign in</Link>
            </>
          ) : (
            <>
              New to Tandem? <Link href={`/signup${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`}>Create an account</Link>
            </>
          )}
        </p>
      </div>
    </main>
  );
}

/** The API's messages are lower-case fragments ("an account with this email already exists"): show them as sentences. */
function sentence(message: string): string {
  const m = message.trim();
  if (!m) return 'Something went wrong. Please try again.';
  const s = `${m[0]!.toUpperCase()}${m.slice(1)}`;
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
