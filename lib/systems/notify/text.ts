/** Plain-text layout for messages that must read well in any mail client, terminal or chat. */

/** Control characters (newlines included) would break a subject line or a table row. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
}

/** UTC, so that mails from controllers in different time zones line up. */
export function formatUtc(ms: number): string {
  if (!Number.isFinite(ms)) return '(unknown time)';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}`;
}

/** Word-wraps text to width, continuation lines indented by indent. */
export function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of oneLine(text).split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : `${indent}${l}`));
}

/**
 * Word-wraps text that has lines of its own (a list of hosts, say): each line is wrapped by
 * itself, keeps its leading spaces, and the continuation lines of an indented one are indented
 * two more, so a list stays a list. Lines after the first are indented by indent.
 */
export function wrapLines(text: string, width: number, indent: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '').flatMap((line, index) => {
    const lead = ' '.repeat(Math.min(/^ */.exec(line)![0].length, 8));
    const wrapped = wrap(line, Math.max(20, width - lead.length), `${indent}${lead}${lead ? '  ' : ''}`);
    return wrapped.map((l, i) => (i === 0 ? `${index === 0 ? '' : indent}${lead}${l}` : l));
  });
}

/** Columns padded to their widest cell; the last column is left ragged so long details do not pad every row. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], indent = '  '): string[] {
  const cells = [header, ...rows].map((row) => row.map(oneLine));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) => `${indent}${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}`.trimEnd());
}
