import { readFileSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { buildCrdSchemaFile, CRD_SCHEMA_FILE, projectRoot, renderCrdSchemaFile } from '../lib/schema/crd-schema-file';

/**
 * `npm run crd-schemas -- [CRD_DIR]`: regenerates imports/argo-crd-schemas.json from the CRDs
 * cdk8s.yaml pins, read from CRD_DIR (default: ../shared/crds beside the project), checked
 * against its SHA256SUMS. Run it whenever the tags in cdk8s.yaml change.
 */
function main(argv: string[]): number {
  const root = projectRoot();
  const crdDir = resolve(argv[0] ?? join(root, '..', 'shared', 'crds'));
  try {
    const file = buildCrdSchemaFile(crdDir, readFileSync(join(root, 'cdk8s.yaml'), 'utf8'));
    writeFileSync(join(root, CRD_SCHEMA_FILE), renderCrdSchemaFile(file));
    console.log(`wrote ${CRD_SCHEMA_FILE}: ${file.crds.map((c) => `${c.kind} (${c.release})`).join(', ')}`);
    return 0;
  } catch (e) {
    console.error(`crd-schemas failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
