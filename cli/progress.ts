/** Progress for long operator commands: one rewritten line on a terminal, a line per change otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): { say(line: string): void; progress(done: number, total: number, what: string): void; end(): void } {
  let last = '';
  let open = false;
  const end = (): void => {
    if (open) stream.write('\n');
    open = false;
  };
  return {
    say: (line) => {
      end();
      stream.write(`${line}\n`);
    },
    progress: (done, total, what) => {
      const line = `  ${done}/${total} ${what}`;
      if (line === last) return;
      last = line;
      if (stream.isTTY) {
        stream.write(`\r${line}\x1b[K`);
        open = true;
      } else stream.write(`${line}\n`);
    },
    end,
  };
}
