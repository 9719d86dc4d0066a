/** Real servers on 127.0.0.1 for the notification tests, and the small parsers to read what arrived. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createLogger, type Logger } from '../../lib/shared/log.js';
import type { NotificationSettings } from '../../lib/systems/notify/index.js';
import { Secret } from '../../lib/shared/secret.js';
import { parseMail } from '../../lab/mail.js';

/** Everything a test created, undone in reverse order by cleanup(). */
export class Resources {
  readonly #undo: (() => unknown)[] = [];

  add(undo: () => unknown): void {
    this.#undo.push(undo);
  }

  async cleanup(): Promise<void> {
    for (const undo of this.#undo.splice(0).reverse()) await undo();
  }
}

export function notificationSettings(overrides: Partial<NotificationSettings> = {}): NotificationSettings {
  return {
    smtp_host: '',
    smtp_port: 25,
    smtp_tls: 'none',
    smtp_username: '',
    smtp_password: new Secret(''),
    smtp_cafile: '',
    from: 'nova-ha@ctl1.example.com',
    to: ['ops@example.com', 'oncall@example.com'],
    subject_prefix: '[nova-ha]',
    webhook_url: undefined,
    webhook_token: new Secret(''),
    dedupe_window: 0,
    retry_for: 2000,
    ...overrides,
  };
}

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: string[];
  records(event?: string): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  const logger = createLogger({ component: 'test', level: 'debug', stream: { write: (line: string) => lines.push(line) } });
  return {
    logger,
    lines,
    records: (event) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => event === undefined || r['event'] === event),
  };
}

export function tempDir(resources: Resources, prefix = 'nova-ha-notify-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  resources.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestCertificate {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** The self-signed certificate, as smtp_cafile. */
  readonly caFile: string;
}

/** A throwaway self-signed certificate for 127.0.0.1, made with the openssl CLI. */
export function selfSignedCertificate(resources: Resources): TestCertificate {
  const dir = tempDir(resources, 'nova-ha-cert-');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), caFile: certFile };
}

export interface ReceivedMail {
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly secure: boolean;
  readonly user: unknown;
  readonly raw: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly subject: string;
  readonly text: string;
}

export interface TestSmtpServer {
  readonly port: number;
  readonly received: ReceivedMail[];
  readonly authAttempts: { username: string; password: string }[];
}

/** A real SMTP server (smtp-server) on an ephemeral port of 127.0.0.1. */
export async function startSmtpServer(resources: Resources, options: SMTPServerOptions & { dataDelayMs?: number; credentials?: { username: string; password: string } } = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const authAttempts: { username: string; password: string }[] = [];
  const { dataDelayMs, credentials, ...serverOptions } = options;
  const server = new SMTPServer({
    logger: false,
    authOptional: credentials === undefined,
    ...(credentials ? {} : { disabledCommands: ['AUTH'] }),
    onAuth(auth, _session, callback) {
      authAttempts.push({ username: auth.username ?? '', password: auth.password ?? '' });
      if (credentials && auth.username === credentials.username && auth.password === credentials.password) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const envelope = session.envelope;
        const mailFrom = envelope.mailFrom === false ? '' : envelope.mailFrom.address;
        received.push({ mailFrom, rcptTo: envelope.rcptTo.map((r) => r.address), secure: session.secure, user: session.user, raw, ...parseMail(raw) });
        setTimeout(() => callback(), dataDelayMs ?? 0);
      });
    },
    ...serverOptions,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  resources.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, received, authAttempts };
}

/** A port on 127.0.0.1 with nothing listening: connecting is refused. */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SilentServer {
  readonly port: number;
  readonly connections: Set<Socket>;
  accepted: number;
}

/** Accepts TCP connections and never says a word: a wedged mail server. */
export async function startSilentServer(resources: Resources): Promise<SilentServer> {
  const connections = new Set<Socket>();
  const state = { accepted: 0 };
  const server = createTcpServer((socket) => {
    state.accepted++;
    connections.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  resources.add(async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    get accepted() {
      return state.accepted;
    },
  };
}

export interface WebhookRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface TestWebhookServer {
  readonly url: URL;
  readonly requests: WebhookRequest[];
}

/** A node:http receiver on 127.0.0.1 answering every request with the given status. */
export async function startWebhookServer(resources: Resources, status: () => number = () => 204): Promise<TestWebhookServer> {
  const requests: WebhookRequest[] = [];
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.statusCode = status();
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  resources.add(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`http://127.0.0.1:${port}/hooks/nova-ha`), requests };
}


export { parseMail };
