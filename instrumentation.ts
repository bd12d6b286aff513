/**
 * Next.js instrumentation hook (a thin shim): tracing and metrics for the app's Node runtime live
 * in observability/next.ts. See README "See it in Grafana".
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  // Route handlers see the TCP peer's address only through this header (per-address sign-in limits).
  const { installPeerAddressHeader } = await import('./app/_server/client-address');
  installPeerAddressHeader();
  // Migrate, create keys and print the first-admin setup token at start, not on the first request.
  if (process.env.NEXT_PHASE !== 'phase-production-build') {
    void import('./app/_server/context').then((m) => m.bootstrapApp()).catch((err: unknown) => console.error('app start-up failed', err));
  }
  const { registerNodeTelemetry } = await import('./observability/next');
  await registerNodeTelemetry();
}

/** Called by Next.js for errors thrown while rendering or handling a request. */
export async function onRequestError(_err: unknown, _request: unknown, context: { routeType?: string }): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { recordRequestError } = await import('./observability/next');
  recordRequestError(context.routeType);
}
