import { existsSync } from 'fs';
import { join, relative, resolve } from 'path';
import type { DeliveryApp } from '../lib/app/delivery-app';
import { projectRoot } from '../lib/schema/crd-schema-file';

/** An app file that cannot be loaded; the message says why and how to fix it. */
export class AppLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppLoadError';
  }
}

/** The app file the commands read when given none: the project's main.ts. */
export const DEFAULT_APP_FILE = 'main.ts';

/**
 * Loads the `app` an app file exports (a DeliveryApp, see lib/app/delivery-app.ts). A command runs
 * from a bundle, so the file is bundled as `npm run synth` bundles main.ts (cli/run.js) and loaded
 * from there; under the tests' TypeScript transform it is loaded directly. Nothing of the app is
 * built into the commands' own bundles: they read whatever app the user points them at.
 */
export async function loadApp(file: string = DEFAULT_APP_FILE): Promise<DeliveryApp> {
  const root = projectRoot();
  const path = resolve(file);
  if (!existsSync(path)) throw new AppLoadError(`${file}: no such app file; give a .ts file that exports an app (export const app = deliveryApp({ ... }))`);
  let mod: { app?: unknown };
  if (__filename.endsWith('.ts')) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(path);
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const run = require(join(root, 'cli', 'run.js')) as { ensureBuild(): unknown; ensureEntry(build: unknown, entry: string): Promise<string | undefined> };
    const script = await run.ensureEntry(run.ensureBuild(), relative(root, path));
    if (!script) throw new AppLoadError(`${file}: not a source file of the project (${root}); put the app file in the project`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(script);
  }
  const app = mod.app as Partial<DeliveryApp> | undefined;
  if (!app || typeof app.describe !== 'function' || typeof app.synth !== 'function') {
    throw new AppLoadError(`${file} exports no app; end it with: export const app = deliveryApp({ define: (scope) => new Delivery(scope, 'Delivery', { ... }) })`);
  }
  return app as DeliveryApp;
}
