/**
 * Outgoing mail (verification links). With SMTP_URL, nodemailer sends it; without, the message is
 * written to the log, so a development instance (or an operator without mail) can still follow
 * the link. Built by a factory from the config; nothing is sent at import time.
 */
import nodemailer from 'nodemailer';
import type { Logger } from '@/observability/logger';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Send `mail`; throws when the SMTP server refuses it (the caller decides what the user sees). */
  send(mail: Mail): Promise<void>;
  /** 'smtp' or 'log'. */
  kind: 'smtp' | 'log';
  close(): void;
}

/** A mailer over SMTP_URL, or one that logs each message at warn level (visible at the default LOG_LEVEL). */
export function createMailer(opts: { smtpUrl?: string; from: string; log: Logger }): Mailer {
  if (!opts.smtpUrl) {
    return {
      kind: 'log',
      async send(mail) {
        opts.log.warn({ to: mail.to, subject: mail.subject }, `mail not sent (SMTP_URL is unset):\n${mail.text}`);
      },
      close() {},
    };
  }
  // A pool: one connection reused across sign-ups instead of a TLS handshake per message.
  const transport = nodemailer.createTransport(`${opts.smtpUrl}${opts.smtpUrl.includes('?') ? '&' : '?'}pool=true`);
  return {
    kind: 'smtp',
    async send(mail) {
      await transport.sendMail({ from: opts.from, to: mail.to, subject: mail.subject, text: mail.text });
    },
    close: () => transport.close(),
  };
}
