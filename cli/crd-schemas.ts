import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { buildCrdSchemaFile, CRD_SCHEMA_FILE, CRD_VALIDATOR_DIR, CrdSchemaFile, projectRoot, renderCrdSchemaFile } from '../lib/schema/crd-schema-file';
import { crdValidatorFiles } from '../lib/schema/standalone';

/**
 * `npm run crd-schemas -- [CRD_DIR...]`: regenerates imports/argo-crd-schemas.json from the CRDs
 * cdk8s.yaml (and SCHEMA_ONLY_CRDS) pin, read from the CRD_DIRs (default: ../shared/crds beside
 * the project, which holds Argo's), each checked against its folder's SHA256SUMS; a pinned CRD in
 * no folder keeps its committed entry. Compiles every kind's schema into a standalone validator
 * in imports/argo-crd-validators/. Run it whenever the pins change.
 */
function main(argv: string[]): number {
  const root = projectRoot();
  const crdDirs = argv.length > 0 ? argv.map((d) => resolve(d)) : [join(root, '..', 'shared', 'crds')];
  try {
    const previous = existsSync(join(root, CRD_SCHEMA_FILE)) ? JSON.parse(readFileSync(join(root, CRD_SCHEMA_FILE), 'utf8')) as CrdSchemaFile : undefined;
    const file = buildCrdSchemaFile(crdDirs, readFileSync(join(root, 'cdk8s.yaml'), 'utf8'), previous);
    writeFileSync(join(root, CRD_SCHEMA_FILE), renderCrdSchemaFile(file));
    console.log(`wrote ${CRD_SCHEMA_FILE}: ${file.crds.map((c) => `${c.kind} (${c.release})`).join(', ')}`);
    const validators = crdValidatorFiles(file);
    const dir = join(root, CRD_VALIDATOR_DIR);
    mkdirSync(dir, { recursive: true });
    for (const old of readdirSync(dir)) if (!validators.has(old)) rmSync(join(dir, old));
    for (const [name, text] of validators) writeFileSync(join(dir, name), text);
    console.log(`wrote ${CRD_VALIDATOR_DIR}/: ${[...validators.keys()].join(', ')}`);
    return 0;
  } catch (e) {
    console.error(`crd-schemas failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
