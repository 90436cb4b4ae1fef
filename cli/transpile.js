'use strict';
/**
 * The one set of transpile options, shared by the commands' build (cli/run.js) and the tests'
 * jest transform (jest.transform.js): TypeScript to CommonJS for Node.js 20, types stripped,
 * no type check (that is `tsc`'s job, in `npm test`, `npm run typecheck` and `npm run synth`).
 * tsconfig.json has `isolatedModules`, so every file can be transpiled on its own.
 *
 * The commands run bundles: an entry point with everything it imports, our code and the
 * packages, in one file. Resolving and loading some 450 modules one by one took a quarter of a synth.
 */
const esbuild = require('esbuild');
const { readFileSync } = require('fs');
const { resolve, sep } = require('path');

const OPTIONS = {
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // tsconfig.json targets ES2022, where tsc defines class fields with [[Define]] semantics.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, esModuleInterop: true } },
};

const BUNDLE_OPTIONS = {
  ...OPTIONS,
  bundle: true,
  // Class names as written: constructs puts them in its validation messages.
  keepNames: true,
  // Whitespace and syntax only (names stay): a third less JavaScript to read and compile on every
  // start, 0.02 s of a synth. Bundle line numbers say nothing either way; the names in a stack do.
  minifyWhitespace: true,
  minifySyntax: true,
  // (The common core kinds are required by name in lib/schema/validate.ts, so they are bundled;
  // other kinds' `require(\`kubernetes-models/${apiVersion}/${kind}\`)` and the Argo validators
  // stay runtime requires: only the kinds met are loaded. cli/compile-cache.js makes those cheap.)
};

/** Changes to this or to esbuild's version change every output. */
const TRANSPILER_ID = `esbuild ${esbuild.version} ${JSON.stringify(OPTIONS)} ${JSON.stringify(BUNDLE_OPTIONS)}`;

/** Transpiles one file's source; `map` is its source map (JSON text). */
function transpile(source, file) {
  const { code, map } = esbuild.transformSync(source, { ...OPTIONS, loader: 'ts', sourcefile: file, sourcemap: 'external' });
  return { code, map };
}

/**
 * Our modules' `if (require.main === module)` blocks run only in the entry point, as unbundled:
 * in a bundle every module sees the bundle's `module`, so a command that imports main.ts would
 * otherwise also run the synth.
 */
function entryPointOnly(entryPath) {
  return {
    name: 'require-main-entry-point-only',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const source = readFileSync(args.path, 'utf8');
        if (args.path === entryPath || !source.includes('require.main')) return { contents: source, loader: 'ts' };
        return { contents: source.replace(/\brequire\.main\s*===\s*module\b/g, 'false'), loader: 'ts' };
      });
    },
  };
}

/** Bundles an entry point (a .ts file relative to root) with everything it imports into outfile. */
async function bundleEntry(root, entry, outfile) {
  const result = await esbuild.build({
    ...BUNDLE_OPTIONS,
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    plugins: [entryPointOnly(resolve(root, entry))],
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(result.errors.map((e) => e.text).join('\n'));
}

module.exports = { TRANSPILER_ID, transpile, bundleEntry };
