'use client';
/** Sign-in and sign-up form: posts to the auth API, shows field errors inline, then goes to `next`. */
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { LoginBodySchema, SignupBodySchema } from '@/lib/api-schemas';
import { api, ApiError } from './api';

/** Only same-site paths, so `?next=` cannot send a user to another origin. */
function safeNext(n: string | null): string {
  return n && n.startsWith('/') && !n.startsWith('//') ? n : '/';
}

export function AuthForm({ mode }: { mode: 'signin' | 'signup' }) {
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get('next'));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = {
      email: String(f.get('email') ?? ''),
      password: String(f.get('password') ?? ''),
      ...(mode === 'signup' ? { name: String(f.get('name') ?? '') } : {}),
    };
    // The API's own schema, checked here first so a typo never costs a round trip (or a 400).
    const check = (mode === 'signup' ? SignupBodySchema : LoginBodySchema).safeParse(body);
    if (!check.success) {
      const issue = check.error.issues[0]!;
      const field = issue.path.join('.') || undefined;
      setError({ field, message: field ? `${field[0]!.toUpperCase()}${field.slice(1)} ${issue.message}` : issue.message });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api(mode === 'signup' ? '/api/auth/signup' : '/api/auth/login', { method: 'POST', body });
      router.replace(next);
      router.refresh();
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError) setError({ message: err.message, field: err.field });
      else setError({ message: 'Something went wrong. Please try again.' });
    }
  }

  const fieldError = (name: string) =>
    error?.field === name ? (
      <span className="field-error" id={`${name}-error`} role="alert">
        {error.message}
      </span>
    ) : null;

  return (
    <main className="auth-wrap">
      <div className="card auth-card">
        <Link href="/" className="brand" aria-label="Tandem home">
          <img src="/icon.svg" alt="" /> Tandem
        </Link>
        <h1>{mode === 'signup' ? 'Create your account' : 'Welcome back'}</h1>
        <p className="muted small" style={{ margin: 0 }}>
          {mode === 'signup' ? 'Write together, in real time.' : 'Sign in to your documents.'}
        </p>
        <form onSubmit={onSubmit} noValidate>
          {mode === 'signup' && (
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
              autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
              required
              minLength={mode === 'signup' ? 8 : 1}
              aria-invalid={error?.field === 'password'}
            />
            {mode === 'signup' && !fieldError('password') && <span className="muted small" style={{ fontWeight: 400 }}>At least 8 characters.</span>}
            {fieldError('password')}
          </label>
          {error && !error.field && (
            <div className="banner banner-error" role="alert">
              {error.message}
            </div>
          )}
          <button className="btn btn-primary" type="submit" disabled={busy}>
            {busy ? 'Please wait…' : mode === 'signup' ? 'Create account' : 'Sign in'}
          </button>
        </form>
        <p className="small muted" style={{ marginTop: 18, marginBottom: 0 }}>
          {mode === 'signup' ? (
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
