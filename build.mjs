// Bundles the handlers and the CLI under dist/. Consul starts a process for every watch call and
// check run, so a handler's start-up is paid every few seconds on every node (bench/cold-start.ts):
// - every handler is one CommonJS file: Node 20 loads its ES module loader for an ES module entry,
//   about 10 % of a bare `node -e 0` on every run;
// - the large libraries (execa, nodemailer, prom-client) are files of their own under
//   dist/handlers/vendor/, loaded by the import() of the code path that needs them: parsing them
//   costs even where they never run;
// - import() becomes require(), because Node 20 loads the ES module loader for an import() too;
// - https (and tls under it, about 40 ms) loads on first use: the consul package takes it at load
//   time but needs it only for an https:// agent (nova-ha's own code asks for it where it needs it,
//   through process.getBuiltinModule).
// The CLI runs once per operator command: one ESM build with shared chunks.
import { build } from 'esbuild';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';

const VENDORED = ['execa', 'nodemailer', 'prom-client'];

// Chunk names carry content hashes: start clean so stale chunks never ship.
rmSync('dist', { recursive: true, force: true });

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: 'linked', legalComments: 'none', logLevel: 'warning' };

await build({
  ...common,
  entryPoints: ['cli/nova-ha.ts'],
  outdir: 'dist',
  outbase: '.',
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies (nodemailer, consul) call require() for Node built-ins.
  banner: { js: "import { createRequire as __nhRequire } from 'node:module'; const require = __nhRequire(import.meta.url);" },
});

const vendored = {
  name: 'vendored',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${VENDORED.join('|')})$`) }, (args) => ({ path: `./vendor/${args.path}.js`, external: true }));
  },
};

const lazyHttps = {
  name: 'lazy-https',
  setup(b) {
    b.onResolve({ filter: /^(node:)?https$/ }, (args) => (args.namespace === 'lazy-https' ? { path: 'node:https', external: true } : { path: 'https', namespace: 'lazy-https' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-https' }, () => ({
      loader: 'js',
      // A named import (esbuild copies the keys at load) still works: it just loads https at once.
      contents: "let https; const load = () => (https ??= require('node:https')); module.exports = new Proxy({}, { get: (_, key) => load()[key], has: (_, key) => key in load(), ownKeys: () => Reflect.ownKeys(load()), getOwnPropertyDescriptor: (_, key) => Reflect.getOwnPropertyDescriptor(load(), key) });",
    }));
  },
};

await build({
  ...common,
  entryPoints: readdirSync('handlers').filter((f) => f.endsWith('.ts')).map((f) => `handlers/${f}`),
  outdir: 'dist/handlers',
  format: 'cjs',
  supported: { 'dynamic-import': false },
  plugins: [vendored, lazyHttps],
});
await build({
  ...common,
  entryPoints: Object.fromEntries(VENDORED.map((name) => [name, name])),
  outdir: 'dist/handlers/vendor',
  format: 'cjs',
});
// The package is "type": "module"; this makes the handlers' .js files CommonJS, keeping the names
// the agents' config fragments run.
writeFileSync('dist/handlers/package.json', '{ "type": "commonjs" }\n');
