// The SDK's size as a page downloads it: `sdk/index.js` and everything it
// imports, bundled and minified by esbuild, then gzipped. Prints the bytes
// (`npm run size`); the figure is recorded in BENCHMARKS.md.

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
const result = await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  write: false,
  logLevel: 'silent',
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`sdk/index.js: ${code.length} bytes minified, ${gzipped} bytes minified and gzipped`);
