// `npm pack` (and `npm publish`): the packed package.json carries no
// `prepare` script. The tarball holds dist/ prebuilt, so a project that
// installs it has nothing to build, and npm 11 would otherwise warn that
// tsgi has an install script awaiting approval (npm runs or asks about
// `prepare` for every package not from a registry, a tarball included).
//
// `prepare` stays in the repository's package.json: it is what builds tsgi
// when npm installs it from a git URL (npm prepares the checkout, then packs
// it without prepack/postpack).
//
//   node scripts/pack-manifest.mjs strip     prepack: take the line out
//   node scripts/pack-manifest.mjs restore   postpack: put it back
//
// The file is edited as text, one line, so that restoring gives back the
// same bytes; a strip left behind by an interrupted pack is undone by
// `restore` (and `git diff` shows it).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FILE = fileURLToPath(new URL('../package.json', import.meta.url));
const LINE = '    "prepare": "node scripts/build.mjs",\n';
const ANCHOR = '    "build": "node scripts/build.mjs",\n';

const text = readFileSync(FILE, 'utf8');
const command = process.argv[2];
if (command === 'strip') {
  if (text.includes(LINE)) writeFileSync(FILE, text.replace(LINE, ''));
  else if (!text.includes(ANCHOR)) throw new Error('package.json: the "build" script line moved; update scripts/pack-manifest.mjs');
} else if (command === 'restore') {
  if (!text.includes(LINE)) {
    if (!text.includes(ANCHOR)) throw new Error('package.json: the "build" script line moved; update scripts/pack-manifest.mjs');
    writeFileSync(FILE, text.replace(ANCHOR, ANCHOR + LINE));
  }
} else {
  throw new Error('usage: node scripts/pack-manifest.mjs strip|restore');
}
