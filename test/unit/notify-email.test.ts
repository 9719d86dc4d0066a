import { afterEach, describe, expect, it } from 'vitest';
import { composeMessage, createEmailChannel, SendError, type Notification, type NotificationSettings } from '../../lib/systems/notify/index.js';
import { Secret } from '../../lib/shared/secret.js';
import { notificationSettings, Resources, selfSignedCertificate, startSmtpServer } from './notify-helpers.js';

const resources = new Resources();
afterEach(() => resources.cleanup());

const PASSWORD = 'smtp-S3cret-never-shown';

const notification: Notification = {
  host: 'compute-07',
  event: 'mgmt-network-down',
  summary: 'management network down',
  action: 'operators alerted, not evacuated',
  reason: 'its management network is down: its instances still run and write, so it is never evacuated; operators alerted',
  incidentId: 'inc-42',
  at: Date.UTC(2026, 4, 1, 9, 30, 0),
  timeline: [{ at: Date.UTC(2026, 4, 1, 9, 29, 50), step: 'detected', outcome: 'mgmt failed', by: 'ctl1' }],
};

async function send(settings: NotificationSettings, n: Notification = notification): Promise<void> {
  const channel = createEmailChannel(settings, { timeouts: { connectMs: 2000, greetingMs: 2000, socketMs: 5000 } });
  await channel.send(n, composeMessage(n, { subjectPrefix: settings.subject_prefix, node: 'ctl1' }), new AbortController().signal);
}

async function failure(settings: NotificationSettings): Promise<SendError> {
  const error = await send(settings).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SendError);
  return error as SendError;
}

describe('email channel against a real SMTP server on 127.0.0.1', () => {
  it('delivers plain SMTP to every recipient with the composed subject and body, and does not upgrade when smtp_tls = none', async () => {
    // smtp-server offers STARTTLS with its built-in certificate: a client that tried it would fail verification.
    const server = await startSmtpServer(resources);
    await send(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port, smtp_tls: 'none' }));

    expect(server.received).toHaveLength(1);
    const mail = server.received[0]!;
    expect(mail.secure).toBe(false);
    expect(mail.mailFrom).toBe('nova-ha@ctl1.example.com');
    expect(mail.rcptTo).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(mail.headers.get('from')).toBe('nova-ha@ctl1.example.com');
    expect(mail.headers.get('to')).toBe('ops@example.com, oncall@example.com');
    expect(mail.subject).toBe('[nova-ha] compute-07: management network down — operators alerted, not evacuated');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.headers.get('x-nova-ha-host')).toBe('compute-07');
    expect(mail.headers.get('x-nova-ha-event')).toBe('mgmt-network-down');
    expect(mail.headers.get('x-nova-ha-incident')).toBe('inc-42');
    expect(mail.headers.get('references')).toBe('<inc-42@incident.nova-ha>');
    expect(mail.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(mail.text).toContain('What happened: management network down');
    expect(mail.text).toMatch(/2026-05-01 09:29:50 +\+0s +- +detected +mgmt failed +ctl1/);
    expect(mail.text).toContain('nova-ha incident inc-42');
    expect(server.authAttempts).toEqual([]);
  });

  it('upgrades with STARTTLS, verifies the server against smtp_cafile and logs in', async () => {
    const cert = selfSignedCertificate(resources);
    const server = await startSmtpServer(resources, { key: cert.key, cert: cert.cert, credentials: { username: 'nova-ha', password: PASSWORD } });
    const leaked = { ...notification, reason: `the relay said: bad password ${PASSWORD}` };
    await send(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port, smtp_tls: 'starttls', smtp_cafile: cert.caFile, smtp_username: 'nova-ha', smtp_password: new Secret(PASSWORD) }), leaked);

    expect(server.authAttempts).toEqual([{ username: 'nova-ha', password: PASSWORD }]);
    expect(server.received).toHaveLength(1);
    const mail = server.received[0]!;
    expect(mail.secure).toBe(true);
    expect(mail.user).toBe('nova-ha');
    expect(mail.subject).toContain('compute-07: management network down');
    expect(mail.raw).not.toContain(PASSWORD);
    expect(mail.text).toContain('bad password ***');
  });

  it('speaks TLS from the first byte when smtp_tls = tls', async () => {
    const cert = selfSignedCertificate(resources);
    const server = await startSmtpServer(resources, { secure: true, key: cert.key, cert: cert.cert, credentials: { username: 'nova-ha', password: PASSWORD } });
    await send(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port, smtp_tls: 'tls', smtp_cafile: cert.caFile, smtp_username: 'nova-ha', smtp_password: new Secret(PASSWORD) }));

    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.secure).toBe(true);
    expect(server.received[0]!.user).toBe('nova-ha');
  });

  it('refuses to send in clear when STARTTLS is required and the server does not offer it', async () => {
    const server = await startSmtpServer(resources, { disabledCommands: ['STARTTLS', 'AUTH'] });
    const error = await failure(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port, smtp_tls: 'starttls' }));
    expect(error.message).toMatch(/^email: SMTP server 127\.0\.0\.1:\d+ \(smtp_tls = starttls\): .*STARTTLS/);
    expect(error.message).not.toContain('\n');
    expect(server.received).toHaveLength(0);
  });

  it('does not trust a certificate that smtp_cafile does not vouch for, and says how to fix it', async () => {
    const cert = selfSignedCertificate(resources);
    const server = await startSmtpServer(resources, { secure: true, key: cert.key, cert: cert.cert });
    const error = await failure(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port, smtp_tls: 'tls' }));
    expect(error.message).toContain('smtp_cafile');
    expect(server.received).toHaveLength(0);
  });

  it('reports a rejected password as permanent, without the password', async () => {
    const cert = selfSignedCertificate(resources);
    const server = await startSmtpServer(resources, { key: cert.key, cert: cert.cert, credentials: { username: 'nova-ha', password: 'the-right-one' } });
    const error = await failure(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port, smtp_tls: 'starttls', smtp_cafile: cert.caFile, smtp_username: 'nova-ha', smtp_password: new Secret(PASSWORD) }));
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('check smtp_username and smtp_password');
    expect(error.message).not.toContain(PASSWORD);
    expect(server.received).toHaveLength(0);
  });

  it('names an unreadable smtp_cafile', async () => {
    const error = await failure(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: 1, smtp_tls: 'tls', smtp_cafile: '/nonexistent/nova-ha-ca.pem' }));
    expect(error.message).toBe('email: cannot read smtp_cafile /nonexistent/nova-ha-ca.pem (ENOENT); point [notifications] smtp_cafile at a readable PEM bundle, or leave it empty for the system CAs');
  });
});
