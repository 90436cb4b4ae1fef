'use strict';
/**
 * The one set of transpile options, shared by the commands' build (cli/run.js) and the tests'
 * jest transform (jest.transform.js): TypeScript to CommonJS for Node.js 20, types stripped,
 * no type check (that is `tsc`'s job, in `npm test`, `npm run typecheck` and `npm run synth`).
 * tsconfig.json has `isolatedModules`, so every file can be transpiled on its own.
 */
const esbuild = require('esbuild');

const OPTIONS = {
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // tsconfig.json targets ES2022, where tsc defines class fields with [[Define]] semantics.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, esModuleInterop: true } },
};

/** Changes to this or to esbuild's version change every output. */
const TRANSPILER_ID = `esbuild ${esbuild.version} ${JSON.stringify(OPTIONS)}`;

/** Transpiles one file's source; `map` is its source map (JSON text). */
function transpile(source, file) {
  const { code, map } = esbuild.transformSync(source, { ...OPTIONS, loader: 'ts', sourcefile: file, sourcemap: 'external' });
  return { code, map };
}

/** Transpiles the project's files (relative to root) into outdir, keeping their layout. */
function transpileProject(root, files, outdir) {
  const result = esbuild.buildSync({
    ...OPTIONS,
    absWorkingDir: root,
    entryPoints: files,
    outbase: root,
    outdir,
    bundle: false,
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(result.errors.map((e) => e.text).join('\n'));
}

module.exports = { TRANSPILER_ID, transpile, transpileProject };
