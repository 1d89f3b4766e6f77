/**
 * Where `kofn login` keeps the session: `$KOFN_CONFIG_DIR`, else `$XDG_CONFIG_HOME/kofn`, else
 * `~/.config/kofn`, file `session.json`. The session cookie (or API token) is a bearer credential, so the folder is made
 * 0700 and the file written 0600 through a temporary file renamed into place (never readable by others,
 * not even for a moment), and a file found readable by group or others is refused (as ssh does its keys).
 */
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KofnError } from '../errors.js';

export interface Session {
  /** The coordinator's origin, e.g. https://kofn.example.org. */
  url: string;
  email: string;
  /** Value of the kofn_session cookie (password sign-in). */
  cookie?: string;
  csrfToken?: string;
  /** A personal API token (`kofn login --token-stdin`): sent as a bearer header instead of the cookie. */
  token?: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KOFN_CONFIG_DIR) return env.KOFN_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'kofn');
  return join(homedir(), '.config', 'kofn');
}

const sessionPath = (env?: NodeJS.ProcessEnv) => join(configDir(env), 'session.json');

export async function saveSession(s: Session, env?: NodeJS.ProcessEnv): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = sessionPath(env);
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(s));
    await fh.sync();
  } finally {
    await fh.close();
  }
  // open()'s mode is masked by the umask; the file must be 0600 whatever the umask.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return path;
}

export async function loadSession(env?: NodeJS.ProcessEnv): Promise<Session> {
  const path = sessionPath(env);
  let text: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw new KofnError('NOT_SIGNED_IN', `${path} is readable by other users; refusing to use it. Run \`chmod 600 ${path}\` or \`kofn login\` again.`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KofnError('NOT_SIGNED_IN', 'Not signed in: run `kofn login <url>` first.');
    throw err;
  }
  const s = JSON.parse(text) as Partial<Session>;
  if (typeof s.url === 'string' && typeof s.token === 'string') return { url: s.url, email: s.email ?? '', token: s.token };
  if (typeof s.url === 'string' && typeof s.cookie === 'string' && typeof s.csrfToken === 'string') {
    return { url: s.url, email: s.email ?? '', cookie: s.cookie, csrfToken: s.csrfToken };
  }
  throw new KofnError('NOT_SIGNED_IN', `${path} is not a kofn session; run \`kofn login <url>\` again.`);
}

export async function forgetSession(env?: NodeJS.ProcessEnv): Promise<void> {
  await rm(sessionPath(env), { force: true });
}
