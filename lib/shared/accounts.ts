/**
 * Local users and groups from /etc/passwd and /etc/group: names for messages ("owned by consul")
 * and the Consul agents' user's groups, to tell whether it can read a file. Accounts that only a
 * directory service knows show as numbers and have no groups here.
 */
import { readFileSync } from 'node:fs';

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Every group the user is in: its own and those that list it. */
  readonly groups: readonly number[];
}

export interface Accounts {
  userName(uid: number): string;
  groupName(gid: number): string;
  user(name: string): Account | undefined;
}

function table(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split(':'));
  } catch {
    return [];
  }
}

export function parseAccounts(passwd: string[][], group: string[][]): Accounts {
  const users = passwd.filter((f) => f.length >= 4).map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
  const groups = group.filter((f) => f.length >= 3).map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
  return {
    userName: (uid) => users.find((u) => u.uid === uid)?.name ?? String(uid),
    groupName: (gid) => groups.find((g) => g.gid === gid)?.name ?? String(gid),
    user(name) {
      const found = users.find((u) => u.name === name);
      if (!found) return undefined;
      return { ...found, groups: [found.gid, ...groups.filter((g) => g.members.includes(name) && g.gid !== found.gid).map((g) => g.gid)] };
    },
  };
}

export function localAccounts(): Accounts {
  return parseAccounts(table('/etc/passwd'), table('/etc/group'));
}
