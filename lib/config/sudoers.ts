/**
 * The sudoers drop-in install.sh writes on a compute node: the Consul agents' user may run each
 * configured repair command as root with exactly its arguments, and nothing else.
 *
 * sudoers gives many characters a meaning inside a command (wildcards, separators, escapes,
 * regular expressions, comments). Escaping them correctly for every sudo version is easy to get
 * wrong, and a mistake widens the rule, so such characters are refused with a message instead:
 * a repair command never needs them (a script can take their place).
 */

/** What a character means to sudoers, for the refusal message. */
function meaningOf(char: string): string {
  if ('*?[]'.includes(char)) return 'a sudoers wildcard';
  if (char === '\\') return "sudoers' escape character";
  if (char === ',') return 'the separator between commands in sudoers';
  if (char === ':' || char === '=') return 'a separator between the parts of a sudoers rule';
  if (char === '!') return 'a negation in sudoers';
  if (char === '"' || char === "'") return 'a quote';
  if (char === '#') return 'the start of a sudoers comment';
  if (char === '^' || char === '$') return 'the mark of a regular expression in sudoers';
  if (/\s/.test(char)) return 'white space';
  return 'a character sudo might not match literally';
}

/** Letters, digits and . _ / @ + - only: what every sudo version matches literally. */
const LITERAL = /^[A-Za-z0-9_./@+-]+$/;

const show = (char: string): string => (char === '"' ? "'\"'" : `"${char}"`);

/** Why argv cannot be granted exactly as written in sudoers, or undefined when it can. */
export function commandProblem(argv: readonly string[]): string | undefined {
  const [path, ...args] = argv;
  if (path === undefined) return undefined;
  if (!path.startsWith('/') || path.endsWith('/') || path.split('/').slice(1).some((part) => part === '' || part === '.' || part === '..')) {
    return `a plain absolute path to the program (no "." or ".." parts, no "//", no trailing "/"), not "${path}"`;
  }
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base === 'sudo' || base === 'sudoedit') return `a repair command, not sudo itself ("${path}")`;
  for (const arg of [path, ...args]) {
    if (LITERAL.test(arg)) continue;
    const char = [...arg].find((c) => !LITERAL.test(c))!;
    return `a command sudo can match exactly: ${show(char)} in "${arg}" is ${meaningOf(char)}; nova-ha refuses such characters rather than escape them (put the command in a root-owned script if it needs them)`;
  }
  return undefined;
}

/** A user name sudoers takes literally (the same rule as [remediation] run_as). */
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * The drop-in's text: one rule per command, each with its exact arguments ("" when it has none,
 * which in sudoers means "no arguments": without it, any arguments would be allowed).
 */
export function sudoersDropIn(user: string, commands: readonly (readonly string[])[]): string {
  if (!USER.test(user)) throw new Error(`cannot grant sudo to "${user}": not a plain user name`);
  const lines = ['# nova-ha (install.sh): the Consul agents\' user may run exactly these repair commands as root,', '# each with exactly these arguments. Regenerated from nova-ha.conf by every install.sh run.'];
  for (const argv of commands) {
    const problem = commandProblem(argv);
    if (problem) throw new Error(`cannot grant "${argv.join(' ')}" through sudo: expected ${problem}`);
    const args = argv.length > 1 ? argv.slice(1).join(' ') : '""';
    lines.push(`${user} ALL=(root) NOPASSWD: ${argv[0]} ${args}`);
  }
  return `${lines.join('\n')}\n`;
}
