/**
 * One table from Tandem's error codes to an HTTP status and a WebSocket close code, so the REST API
 * and collab-server answer the same failure the same way.
 */
import { CloseCode } from './close-codes';

export const errorTable = {
  bad_request: { status: 400, close: CloseCode.INVALID_PAYLOAD },
  unauthorized: { status: 401, close: CloseCode.UNAUTHORIZED },
  forbidden: { status: 403, close: CloseCode.FORBIDDEN },
  not_found: { status: 404, close: CloseCode.FORBIDDEN },
  conflict: { status: 409, close: CloseCode.POLICY_VIOLATION },
  payload_too_large: { status: 413, close: CloseCode.MESSAGE_TOO_LARGE },
  rate_limited: { status: 429, close: CloseCode.RATE_LIMITED },
  unavailable: { status: 503, close: CloseCode.TRY_AGAIN_LATER },
  internal: { status: 500, close: CloseCode.INTERNAL_ERROR },
} as const;

export type ErrorCode = keyof typeof errorTable;

/** Marks a TandemError across copies of this module (a Next.js build may bundle it more than once). */
const BRAND = Symbol.for('tandem.TandemError');

export class TandemError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** For 400s: the request field at fault. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'TandemError';
    (this as unknown as Record<symbol, boolean>)[BRAND] = true;
  }
  /**
   * `instanceof` by brand: a store's error thrown from one bundled copy of this class must still be
   * answered with its status by a route using another copy (it was a 500: sign-up with a taken email).
   */
  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
  }
  get status(): number {
    return errorTable[this.code].status;
  }
  get closeCode(): number {
    return errorTable[this.code].close;
  }
  toJSON(): { error: ErrorCode; message: string; field?: string } {
    return this.field ? { error: this.code, message: this.message, field: this.field } : { error: this.code, message: this.message };
  }
}
