/** Reading what nodemailer sent, for tests: the lab's SMTP sinks store raw messages as files. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ParsedMail {
  readonly headers: ReadonlyMap<string, string>;
  readonly subject: string;
  readonly text: string;
}

/** Just enough of RFC 5322/2047/2045 to read what nodemailer sent: unfolded headers, decoded subject and text. */
export function parseMail(raw: string): ParsedMail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const body = raw.slice(split + 4);
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const text = encoding === 'quoted-printable' ? decodeQuotedPrintable(body) : encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body;
  return { headers, subject: decodeEncodedWords(headers.get('subject') ?? ''), text: text.replace(/\r\n/g, '\n') };
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/%/g, '%25').replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => `%${hex}`);
  return decodeURIComponent(bytes);
}

function decodeEncodedWords(text: string): string {
  return text
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}

export interface StoredMail extends ParsedMail {
  readonly at: number;
  /** The controller whose sink received it. */
  readonly by: string;
  /** Whether it came over TLS (STARTTLS), and the user that authenticated, if any. */
  readonly tls?: boolean;
  readonly user?: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: string;
}

/** Every message the lab's sinks received, oldest first. */
export function readMailbox(dir: string): StoredMail[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files
    .map((f) => {
      const stored = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<StoredMail, keyof ParsedMail>;
      return { ...stored, ...parseMail(stored.raw) };
    })
    .sort((a, b) => a.at - b.at);
}
