// Bundles the handlers and the CLI under dist/. Consul starts a process for every watch call and
// check run, so a handler's start-up is paid every few seconds on every node (bench/cold-start.ts):
// - every handler is one CommonJS file: Node 20 loads its ES module loader for an ES module entry,
//   about 10 % of a bare `node -e 0` on every run;
// - the large libraries (execa, nodemailer, prom-client) are files of their own under
//   dist/handlers/vendor/, loaded by the import() of the code path that needs them: parsing them
//   costs even where they never run;
// - import() becomes require(), because Node 20 loads the ES module loader for an import() too.
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

await build({
  ...common,
  entryPoints: readdirSync('handlers').filter((f) => f.endsWith('.ts')).map((f) => `handlers/${f}`),
  outdir: 'dist/handlers',
  format: 'cjs',
  supported: { 'dynamic-import': false },
  plugins: [vendored],
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
