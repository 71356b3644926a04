/**
 * `--reload` (development): tells when a file under the app's directory
 * changes, including a file replaced by an atomic save (an editor or `sed -i`
 * writes a new file and renames it over the old one: a new inode).
 *
 * Each directory is watched, not each file: a directory keeps its inode
 * when a file in it is replaced, and the rename into it is an event of the
 * directory itself, so the watch sees every save, however many. Node's own
 * `recursive: true` on Linux (Node 22) watches files and loses one once its
 * inode is replaced. New directories are watched as they appear; a directory
 * that goes away (or is replaced) is dropped and, if it comes back, watched
 * again.
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** A running watch; close() stops it. */
export interface TreeWatch {
  close(): void;
  /** The directories watched (for tests and logs). */
  readonly dirs: number;
}

/**
 * Watches `root` and every directory under it, except those `skip` rejects
 * (given the path relative to `root`). `onChange` gets the changed path
 * relative to `root`.
 */
export function watchTree(root: string, onChange: (file: string) => void, skip: (rel: string) => boolean): TreeWatch {
  const watchers = new Map<string, FSWatcher>();

  const drop = (dir: string): void => {
    for (const [d, w] of watchers) {
      if (d === dir || d.startsWith(dir + sep)) {
        w.close();
        watchers.delete(d);
      }
    }
  };

  const add = (dir: string): void => {
    if (watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (event, name) => {
        const full = name === null ? dir : join(dir, name.toString());
        const rel = relative(root, full);
        if (rel !== '' && skip(rel)) return;
        if (event === 'rename' && full !== dir) {
          // Something appeared or went away here: a directory is (re)watched, a gone one dropped.
          let isDir = false;
          try { isDir = statSync(full).isDirectory(); } catch { /* gone */ }
          drop(full);
          if (isDir) add(full);
        }
        onChange(rel === '' ? '.' : rel);
      });
    } catch {
      return; // gone already, or not readable: nothing to watch
    }
    // The directory itself was removed: its watch ends (the parent's sees the removal).
    w.on('error', () => { w.close(); watchers.delete(dir); });
    watchers.set(dir, w);
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = join(dir, e.name);
      if (!skip(relative(root, sub))) add(sub);
    }
  };

  add(root);
  return {
    close: () => drop(root),
    get dirs() { return watchers.size; },
  };
}
