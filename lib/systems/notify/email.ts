/**
 * Email through nodemailer. A transport is built for every attempt, so a fixed smtp_cafile or a
 * mail server that came back is picked up by the next retry without restarting anything.
 */
import { readFile } from 'node:fs/promises';
import type { NodemailerError, SMTPTransportOptions, SendMailOptions } from 'nodemailer';
import { scrub } from '../../shared/secret.js';
import { SendError, type Channel } from './channel.js';
import type { ComposedMessage } from './message.js';
import type { Notification, NotificationSettings } from './notification.js';
import { oneLine } from './text.js';

export interface SmtpTimeouts {
  readonly connectMs: number;
  readonly greetingMs: number;
  /** Inactivity on an open connection. */
  readonly socketMs: number;
}

/** nodemailer waits minutes by default; a dead or wedged server must fail one attempt in seconds so the retries get their turn. */
export const DEFAULT_SMTP_TIMEOUTS: SmtpTimeouts = { connectMs: 10_000, greetingMs: 10_000, socketMs: 30_000 };

export interface EmailChannelOptions {
  readonly timeouts?: SmtpTimeouts;
}

export function createEmailChannel(settings: NotificationSettings, options: EmailChannelOptions = {}): Channel {
  const timeouts = options.timeouts ?? DEFAULT_SMTP_TIMEOUTS;
  const where = `SMTP server ${settings.smtp_host}:${settings.smtp_port} (smtp_tls = ${settings.smtp_tls})`;
  return {
    name: 'email',
    async send(notification, message, signal) {
      if (settings.to.length === 0) throw new SendError('email: [notifications] to is empty; set the operators\' addresses', true);
      const ca = settings.smtp_cafile ? await readCa(settings.smtp_cafile) : undefined;
      // Loaded on the first send only: most handler runs send nothing, and every run starts a process.
      const { default: nodemailer } = await import('nodemailer');
      const transporter = nodemailer.createTransport(smtpTransportOptions(settings, ca, timeouts));
      try {
        await transporter.sendMail({ ...mailOf(notification, message, settings), signal });
      } catch (error) {
        if (signal.aborted) throw error;
        throw describeSmtpError(error as NodemailerError, where);
      } finally {
        transporter.close();
      }
    },
  };
}

export function smtpTransportOptions(settings: NotificationSettings, ca: Buffer | undefined, timeouts: SmtpTimeouts = DEFAULT_SMTP_TIMEOUTS): SMTPTransportOptions {
  const mode = settings.smtp_tls;
  return {
    host: settings.smtp_host,
    port: settings.smtp_port,
    secure: mode === 'tls',
    requireTLS: mode === 'starttls',
    // "none" means plain: no opportunistic STARTTLS that would fail on a server with a certificate we cannot verify.
    ignoreTLS: mode === 'none',
    ...(settings.smtp_username ? { auth: { user: settings.smtp_username, pass: settings.smtp_password.reveal() } } : {}),
    tls: { minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) },
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    dnsTimeout: timeouts.connectMs,
    // A server that does not close after QUIT must not keep a short-lived handler process alive.
    socketCloseTimeout: 1000,
    // nodemailer's debug log would print the AUTH exchange, that is the password.
    logger: false,
    debug: false,
    transactionLog: false,
  };
}

function mailOf(n: Notification, message: ComposedMessage, settings: NotificationSettings): SendMailOptions {
  const incident = n.incidentId ? oneLine(n.incidentId) : undefined;
  return {
    from: settings.from,
    to: settings.to,
    subject: message.subject,
    text: message.body,
    headers: {
      // RFC 3834: vacation responders and ticket systems must not answer an automatic alert.
      'Auto-Submitted': 'auto-generated',
      'X-Nova-HA-Host': oneLine(n.host),
      'X-Nova-HA-Event': oneLine(n.event),
      ...(incident ? { 'X-Nova-HA-Incident': incident } : {}),
    },
    // Mail clients thread every message of one incident together.
    ...(incident ? { references: `<${incident.replace(/[^A-Za-z0-9._-]/g, '_')}@incident.nova-ha>` } : {}),
  };
}

async function readCa(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new SendError(`email: cannot read smtp_cafile ${file} (${code}); point [notifications] smtp_cafile at a readable PEM bundle, or leave it empty for the system CAs`);
  }
}

const CERTIFICATE_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|DEPTH_ZERO/;

/** One line naming the server and the fix; permanent when the server said no for good (5xx). */
export function describeSmtpError(error: NodemailerError, where: string): SendError {
  const code = error.code ?? '';
  const original = error.originalCode ?? '';
  let fix: string | undefined;
  if (CERTIFICATE_CODES.test(code) || CERTIFICATE_CODES.test(original) || /certificate/i.test(error.message)) {
    fix = 'the server\'s certificate is not trusted or does not match: set smtp_cafile to the CA that signed it and smtp_host to a name in it';
  } else if (code === 'EAUTH' || code === 'ENOAUTH') {
    fix = 'check smtp_username and smtp_password';
  } else if (code === 'EREQUIRETLS' || /STARTTLS/i.test(error.message)) {
    fix = 'the server does not offer STARTTLS: use smtp_tls = tls if it speaks TLS from the start (port 465), or ask for STARTTLS on the server';
  } else if (code === 'ETIMEDOUT' && error.timeoutType === 'GREETING_TIMEOUT') {
    fix = 'the server accepted the connection but never greeted: check smtp_port and smtp_tls (TLS against a plain port, or the reverse)';
  } else if (code === 'ETIMEDOUT' || code === 'ECONNECTION' || code === 'ESOCKET' || code === 'EDNS' || original) {
    fix = 'check smtp_host and smtp_port, and that the mail server is up and reachable from this node';
  } else if (code === 'EENVELOPE') {
    fix = 'check [notifications] from and to';
  }
  const text = `email: ${where}: ${oneLine(error.message || code || 'failed')}${fix ? `; ${fix}` : ''}`;
  return new SendError(scrub(text), error.permanent === true);
}
