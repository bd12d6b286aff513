/**
 * A minimal SMTP server on port 0 that keeps every message it is given (EHLO/HELO, MAIL, RCPT, DATA,
 * RSET, NOOP, QUIT), so tests can read verification mail that nodemailer really sent over TCP.
 */
import net from 'node:net';

export interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
}

export interface SmtpSink {
  url: string;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** Start the sink; `url` is an smtp:// URL for SMTP_URL. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    let cur: ReceivedMail = { from: '', to: [], data: '' };
    let inData = false;
    const say = (line: string) => sock.write(`${line}\r\n`);
    say('220 sink ESMTP');
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(cur);
            cur = { from: '', to: [], data: '' };
            say('250 queued');
          } else cur.data += `${line.startsWith('..') ? line.slice(1) : line}\n`;
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO') sock.write('250-sink\r\n250 8BITMIME\r\n');
        else if (cmd === 'HELO') say('250 sink');
        else if (cmd === 'MAIL') (cur.from = line.slice(10).replace(/[<>]/g, '').split(' ')[0]!), say('250 ok');
        else if (cmd === 'RCPT') cur.to.push(line.slice(8).replace(/[<>]/g, '').split(' ')[0]!), say('250 ok');
        else if (cmd === 'DATA') (inData = true), say('354 go ahead');
        else if (cmd === 'RSET') (cur = { from: '', to: [], data: '' }), say('250 ok');
        else if (cmd === 'QUIT') say('221 bye'), sock.end();
        else say('250 ok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The verification link's token in a mail body (quoted-printable soft breaks joined). */
export function linkToken(mail: ReceivedMail): string | null {
  const body = mail.data.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
  return /\/verify\?token=([A-Za-z0-9_-]{43})/.exec(body)?.[1] ?? null;
}
