// The SDK's size as a page downloads it: `sdk/index.js` and everything it
// imports, bundled and minified by esbuild, then gzipped. Prints the bytes
// (`npm run size`), and those of each part loaded only when a page asks
// for it (a dynamic import: the network lab); the figure is recorded in
// BENCHMARKS.md.

import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error("the size needs esbuild: run 'npm ci' in client-web");
  process.exit(1);
}

const entry = fileURLToPath(new URL('../sdk/index.js', import.meta.url));
// Split at dynamic imports, as the browser loads them: the network lab
// (`sdk/lab.js`) is imported only when a page asks for a lab, so it is a
// chunk of its own, not part of what every page downloads.
const result = await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  splitting: true,
  outdir: 'size-out',
  minify: true,
  format: 'esm',
  target: 'es2022',
  write: false,
  logLevel: 'silent',
});
const name = (file) => file.path.split('/').pop();
const [main, ...chunks] = result.outputFiles.sort((a, b) => Number(name(b) === 'index.js') - Number(name(a) === 'index.js'));
const text = new TextDecoder().decode(main.contents);
// Chunks the entry imports statically (code shared with a dynamic part)
// load with every page; the rest only when asked for.
const always = chunks.filter((c) => new RegExp(`(?:import|from)\\s*"\\./${name(c)}"`).test(text));
const later = chunks.filter((c) => !always.includes(c));
const bytes = (files) => {
  const minified = files.reduce((n, f) => n + f.contents.length, 0);
  const gzipped = files.reduce((n, f) => n + gzipSync(f.contents, { level: 9 }).length, 0);
  return `${minified} bytes minified, ${gzipped} bytes minified and gzipped`;
};
console.log(`sdk/index.js: ${bytes([main, ...always])}`);
for (const chunk of later) console.log(`  loaded only when asked for (${name(chunk)}): ${bytes([chunk])}`);
