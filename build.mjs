// Bundle every handler and the CLI into single ESM files under dist/: Consul starts a process for
// every watch call and check run, and one bundled file starts several times faster than resolving
// hundreds of modules from node_modules (see bench/cold-start.ts).
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';

// Chunk names carry content hashes: start clean so stale chunks never ship.
rmSync('dist', { recursive: true, force: true });

const handlers = readdirSync('handlers').filter((f) => f.endsWith('.ts')).map((f) => `handlers/${f}`);
await build({
  entryPoints: [...handlers, 'cli/nova-ha.ts'],
  outdir: 'dist',
  outbase: '.',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS dependencies (nodemailer, consul) call require() for Node built-ins.
  banner: { js: "import { createRequire as __nhRequire } from 'node:module'; const require = __nhRequire(import.meta.url);" },
});
