import { join } from 'path';
import { app as exampleApp } from '../examples/platform/main';
import { app as mainApp } from '../main';
import { AppUnderTest, rehearsalEngine, rehearsalMisses, rehearsalTargets, staleOutput, staleReadme, validateErrors } from './app-checks';

/*
 * The checks of the repository's own apps, kept with them: the committed output is what the app
 * synthesizes, validate finds no error in it, the rehearsal reaches its targets for every service
 * and environment, and README.md's explain copy is fresh. They read whatever the app files define
 * (services, environments, Prometheus setups), so an edit of main.ts fails at most the first of
 * them, until `npm run synth` (__tests__/app-edits.test.ts shows it on five such edits). Add your
 * own app files to APPS.
 */
const ROOT = join(__dirname, '..');

const APPS: AppUnderTest[] = [
  { app: mainApp, root: ROOT, file: 'main.ts', readme: 'README.md' },
  // six services (three in each of two environments): one trial each keeps the rehearsal to seconds
  { app: exampleApp, root: ROOT, file: 'examples/platform/main.ts', rehearsalTrials: 1 },
];

/** Fails with what is wrong, one problem a line. */
function expectNone(problems: readonly string[]): void {
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

const binaries = rehearsalEngine('the rehearsal of the apps');

describe.each(APPS)('the app in $file', (subject) => {
  test('its committed output is what it synthesizes', () => expectNone(staleOutput(subject)));

  test('validate finds no error in its committed output', () => expectNone(validateErrors(subject)));

  test('the explain copy in its README shows its committed output', () => expectNone(staleReadme(subject)));

  (binaries ? test : test.skip)('the rehearsal reaches its targets: every scenario of every service and environment as expected', async () => {
    const targets = rehearsalTargets(subject);
    expect(targets.length).toBeGreaterThan(0);
    expectNone(await rehearsalMisses(targets, binaries!, subject.rehearsalTrials));
  }, 60_000);
});
