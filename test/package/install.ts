// Packs this checkout (npm pack, without running the build again: `npm test`
// has just built it) and installs the tarball into a fresh project, as a user
// would. The project is readable by the web server's user.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runDir } from '../integration/servers.js';

export interface Installed {
  /** Temp dir holding the tarball and the project. */
  work: string;
  tarball: string;
  /** The fresh project. */
  app: string;
  /** The installed package: APP/node_modules/tsgi. */
  pkg: string;
}

const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

/** A fresh project at WORK/`at` (default `app`) with tsgi installed from its packed tarball. */
export function packAndInstall(prefix: string, at = 'app', manifest: Record<string, unknown> = { type: 'module' }): Installed {
  const work = runDir(prefix);
  const tarball = join(work, npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', work], ROOT).trim().split('\n').pop()!);
  const app = join(work, at);
  mkdirSync(app, { recursive: true });
  for (let d = app; d !== work; d = join(d, '..')) chmodSync(d, 0o755);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, ...manifest }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', tarball], app);
  return { work, tarball, app, pkg: join(app, 'node_modules', 'tsgi') };
}

/** Every file under `dir` with its size and mtime: compared before and after, it shows whether anything was written. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = statSync(p);
      out.set(p, `${st.size}:${st.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}
