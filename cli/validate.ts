import { loadManifests, ManifestReadError } from '../lib/manifests';
import { errorsOf, formatFindingWithOrigin, runRules } from '../lib/rules/engine';

/** Where `main` writes. */
export interface ValidateOutput {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Exit codes of `validate`. */
export enum ValidateExit {
  /** no error (warnings may have been printed) */
  OK = 0,
  /** at least one rule found an error */
  ERRORS = 1,
  /** the input could not be read: no such folder, a YAML syntax error, or bad arguments */
  UNREADABLE = 2,
}

const USAGE = 'usage: npm run validate -- DIR   (checks every *.yaml/*.yml under DIR)';

/** `validate DIR`: loads every manifest under DIR, runs every rule, prints the findings; returns the exit code. */
export function main(argv: readonly string[], output: ValidateOutput = { out: (l) => console.log(l), err: (l) => console.error(l) }): ValidateExit {
  if (argv.length !== 1 || argv[0].startsWith('-')) {
    output.err(USAGE);
    return ValidateExit.UNREADABLE;
  }
  const dir = argv[0];
  let manifests;
  try {
    manifests = loadManifests(dir);
  } catch (e) {
    if (!(e instanceof ManifestReadError)) throw e;
    output.err(`validate: ${e.message}`);
    return ValidateExit.UNREADABLE;
  }
  if (manifests.length === 0) {
    output.err(`validate: ${dir} holds no Kubernetes object (no *.yaml/*.yml document with a kind)`);
    return ValidateExit.UNREADABLE;
  }
  const findings = runRules(manifests);
  for (const f of findings) output.out(formatFindingWithOrigin(f));
  const errors = errorsOf(findings).length;
  const warnings = findings.length - errors;
  output.out(`${dir}: ${manifests.length} objects, ${errors} error(s), ${warnings} warning(s)`);
  return errors > 0 ? ValidateExit.ERRORS : ValidateExit.OK;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
