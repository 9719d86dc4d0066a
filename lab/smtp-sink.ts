/**
 * A real SMTP server for the lab: one runs on 127.0.0.1 inside each controller's namespace (where
 * nova-ha's handlers run), storing every message as a JSON file in the lab's mailbox directory.
 * With --tls-dir it offers STARTTLS (cert.pem, key.pem there) and takes AUTH, after STARTTLS only,
 * for the user and password in its auth file: as a real relay would, so nova-ha's SMTP password
 * crosses the lab's wire the way it would cross a real one, and the secret scan has it to look for.
 *   node --import tsx lab/smtp-sink.ts --dir DIR --port PORT --name ctl1 [--tls-dir DIR]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SMTPServer } from 'smtp-server';

const { values } = parseArgs({ options: { dir: { type: 'string' }, port: { type: 'string' }, name: { type: 'string' }, 'tls-dir': { type: 'string' } } });
const dir = values.dir ?? '';
const port = Number(values.port ?? 2525);
if (!dir || !Number.isInteger(port)) throw new Error('usage: smtp-sink.ts --dir DIR --port PORT --name NODE');
mkdirSync(dir, { recursive: true });

const tlsDir = values['tls-dir'];
const tls = tlsDir ? { key: readFileSync(join(tlsDir, 'key.pem')), cert: readFileSync(join(tlsDir, 'cert.pem')) } : undefined;
const [user, password] = tlsDir ? readFileSync(join(tlsDir, 'auth'), 'utf8').trim().split(':') : [];

const server = new SMTPServer({
  authOptional: true,
  ...(tls ? { ...tls, authMethods: ['PLAIN', 'LOGIN'], allowInsecureAuth: false } : { disabledCommands: ['STARTTLS'] }),
  onAuth(auth, _session, callback) {
    if (auth.username === user && auth.password === password) callback(null, { user: auth.username });
    else callback(new Error('Invalid username or password'));
  },
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const name = `${Date.now()}-${randomBytes(4).toString('hex')}.json`;
      const mail = { at: Date.now(), by: values.name ?? '', tls: session.secure, user: typeof session.user === 'string' ? session.user : '', from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') };
      writeFileSync(join(dir, `.${name}`), JSON.stringify(mail));
      renameSync(join(dir, `.${name}`), join(dir, name));
      callback();
    });
  },
});
server.listen(port, '127.0.0.1');
const stop = (): void => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
