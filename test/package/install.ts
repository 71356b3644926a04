// Packs tsgi as a user would, `npm pack` with its lifecycle scripts (prepack
// builds dist/ and takes `prepare` out of the packed package.json, postpack
// puts it back), and installs the tarball into a fresh project. The pack runs
// in a copy of the checkout, so that its build never rewrites the dist/ that
// other tests are running meanwhile. The project is readable by the web
// server's user.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runDir } from '../integration/servers.js';

export interface Installed {
  /** Temp dir holding the tarball and the project. */
  work: string;
  /** The copy of the checkout that was packed. */
  source: string;
  tarball: string;
  /** The fresh project. */
  app: string;
  /** The installed package: APP/node_modules/tsgi. */
  pkg: string;
  /** What `npm install` printed on standard error (warnings included). */
  installLog: string;
  /** The copy's package.json before and after `npm pack` (postpack restores it). */
  manifestBefore: string;
  manifestAfter: string;
}

const npmEnv = { ...process.env, npm_config_update_notifier: 'false' };
const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: npmEnv });

/** What `npm pack` needs to build tsgi: the sources, the build, and the files the package ships. */
const CHECKOUT = ['package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'scripts', 'src', 'bin', 'lib', 'examples', 'nginx', 'apache', 'systemd', 'docs'];

/** A fresh project at WORK/`at` (default `app`) with tsgi installed from its packed tarball. */
export function packAndInstall(prefix: string, at = 'app', manifest: Record<string, unknown> = { type: 'module' }): Installed {
  const work = runDir(prefix);
  const source = join(work, 'checkout');
  mkdirSync(source);
  for (const entry of CHECKOUT) cpSync(join(ROOT, entry), join(source, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  const manifestBefore = readFileSync(join(source, 'package.json'), 'utf8');
  const tarball = join(work, npm(['pack', '--silent', '--pack-destination', work], source).trim().split('\n').pop()!);
  const manifestAfter = readFileSync(join(source, 'package.json'), 'utf8');
  const app = join(work, at);
  mkdirSync(app, { recursive: true });
  for (let d = app; d !== work; d = join(d, '..')) chmodSync(d, 0o755);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, ...manifest }));
  // Warnings kept (not --silent): the install must print none about tsgi.
  const r = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', tarball], { cwd: app, encoding: 'utf8', env: npmEnv });
  if (r.status !== 0) throw new Error(`npm install ${tarball} failed:\n${r.stdout}${r.stderr}`);
  return { work, source, tarball, app, pkg: join(app, 'node_modules', 'tsgi'), installLog: r.stderr, manifestBefore, manifestAfter };
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
