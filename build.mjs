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
// - dist/handlers/NAME.js, the file the agents run, is a launcher: it compiles NAME.bundle.js with
//   the V8 code cache NAME.bundle.cache made here (Node 20 has no module.enableCompileCache), which
//   spares V8 most of parsing and compiling the bundle on every run. The cache is made at build
//   time and installed with dist by root, never where the agents' user can write (a forged cache
//   is code). V8 rejects a cache made by another Node (version, flags) and the bundle then compiles
//   as it would without one; V8 compares only the source's length, so the cache starts with the
//   bundle's hash, which the bundle ends with: a cache of another build is not even offered to V8.
// The CLI runs once per operator command: one ESM build with shared chunks.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

// Built-ins only some paths of a run use, which nova-ha's own code takes by named import: crypto,
// child_process and fs/promises (with the streams and readline it loads) cost about 4 ms per run,
// a sixth of `node -e 0`. Each becomes a module of functions that load it on their first call.
// Only its functions are there: importing anything else fails the build, not a run.
const LAZY_BUILTINS = ['crypto', 'child_process', 'fs/promises'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`) }, (args) => ({ path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtins' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtins' }, async (args) => {
      const functions = Object.entries(await import(`node:${args.path}`)).filter(([name, value]) => name !== 'default' && typeof value === 'function').map(([name]) => name);
      return {
        loader: 'js',
        contents: [
          `let loaded; const load = () => (loaded ??= process.getBuiltinModule('node:${args.path}'));`,
          ...functions.map((name) => `export function ${name}(...args) { return new.target ? Reflect.construct(load().${name}, args, new.target) : load().${name}(...args); }`),
        ].join('\n'),
      };
    });
  },
};

// p-retry times its retries with performance.now(), and the first read of the global performance
// loads perf_hooks (about 1 ms, a twentieth of node -e 0). The handlers read no other member of
// it: they get a clock with the same monotonic milliseconds from process.uptime().
const monotonicClock = {
  name: 'monotonic-clock',
  setup(b) {
    b.onResolve({ filter: /^monotonic-clock$/ }, () => ({ path: 'monotonic-clock', namespace: 'monotonic-clock' }));
    b.onLoad({ filter: /.*/, namespace: 'monotonic-clock' }, () => ({ loader: 'js', contents: 'export const performance = { now: () => process.uptime() * 1000 };' }));
  },
};

const handlers = readdirSync('handlers').filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -'.ts'.length));
await build({
  ...common,
  entryPoints: handlers.map((name) => `handlers/${name}.ts`),
  outdir: 'dist/handlers',
  entryNames: '[name].bundle',
  format: 'cjs',
  supported: { 'dynamic-import': false },
  inject: ['monotonic-clock'],
  plugins: [vendored, lazyHttps, lazyBuiltins, monotonicClock],
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

// Runs the bundle as Node runs a CommonJS module (same wrapper, require relative to the bundle,
// process.argv unchanged), compiled with the code cache when V8 accepts it.
const BUILD_MARK = '// nova-ha build ';
const HASH_LENGTH = 64;
const launcher = (name) => `'use strict';
// Made by build.mjs: runs ${name}.bundle.js with the V8 code cache made at build time.
const { readFileSync } = require('node:fs');
// The CommonJS loader's own class: require('node:module') would load the public module API and
// the ES module loader under it, about a millisecond of every run.
const Module = module.constructor;
const { Script } = require('node:vm');
const file = \`\${__dirname}/${name}.bundle.js\`;
const source = readFileSync(file, 'utf8');
const build = source.slice(source.lastIndexOf('${BUILD_MARK}') + ${BUILD_MARK.length}).trimEnd();
let cachedData;
try {
  const cache = readFileSync(\`\${__dirname}/${name}.bundle.cache\`);
  if (cache.toString('latin1', 0, ${HASH_LENGTH}) === build) cachedData = cache.subarray(${HASH_LENGTH});
} catch {
  // No cache (a build that could not make one): V8 compiles the bundle as it would anyway.
}
const script = new Script(Module.wrap(source), { filename: file, cachedData });
const bundle = new Module(file, module);
bundle.filename = file;
bundle.paths = Module._nodeModulePaths(__dirname);
script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, __dirname);
`;
for (const name of handlers) {
  const file = `dist/handlers/${name}.bundle.js`;
  const bundle = readFileSync(file);
  // The hash's 64 bytes keep the V8 data after it as aligned as V8 wants it.
  appendFileSync(file, `${BUILD_MARK}${createHash('sha256').update(bundle).digest('hex')}\n`);
  writeFileSync(`dist/handlers/${name}.js`, launcher(name));
}

// V8 accepts a cache only from a process with the same V8 flags: those the agents start the
// handlers with (HANDLER_NODE_OPTIONS in lib/systems/consul/fragments.ts; build-launcher.test.ts
// checks that the caches are accepted under those).
const HANDLER_NODE_OPTIONS = ['--max-semi-space-size=2'];

// The cache holds what V8 compiled in a run, so each bundle runs once here, as far as its config:
// a config that names no role stops every handler there (exit code and message ignored), before
// any effect. What a real run compiles beyond that V8 compiles lazily, as without a cache.
const scratch = mkdtempSync(join(tmpdir(), 'nova-ha-build-'));
try {
  const config = join(scratch, 'nova-ha.conf');
  writeFileSync(config, '[DEFAULT]\n');
  const produce = `const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { Script } = require('node:vm');
const [file, cache] = process.argv.splice(1, 2);
const source = readFileSync(file, 'utf8');
const script = new Script(Module.wrap(source), { filename: file });
const build = Buffer.from(source.slice(source.lastIndexOf('${BUILD_MARK}') + ${BUILD_MARK.length}).trimEnd(), 'latin1');
process.on('exit', () => writeFileSync(cache, Buffer.concat([build, script.createCachedData()])));
const bundle = new Module(file, module);
bundle.filename = file;
script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, require('node:path').dirname(file));`;
  for (const name of handlers) {
    const file = join(process.cwd(), 'dist', 'handlers', `${name}.bundle.js`);
    const cache = file.replace(/\.js$/, '.cache');
    spawnSync(process.execPath, [...HANDLER_NODE_OPTIONS, '-e', produce, file, cache, '--config', config], { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } });
    if (!existsSync(cache)) console.warn(`build.mjs: no code cache for ${name}: it runs, a little slower to start`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
