/**
 * A synchronous OpenTelemetry context manager for collab-server. The default Node one
 * (AsyncLocalStorage) turns on async_hooks for the whole process the first time a span is made
 * active, which cost collab-server ~20–50% more CPU per delivered update in `npm run bench` even
 * at 1% sampling. collab-server's spans get explicit parents (trace context is carried on the
 * connection and the queued update), so it only needs "the active span" during synchronous
 * handling — for log lines and direct children — which a stack gives for free.
 */
import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';

export class SyncContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const previous = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const manager = this;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => (target as (...a: unknown[]) => unknown).apply(this, args));
    } as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}
