import { existsSync, readFileSync } from 'fs';
import { join } from 'path';

/** Where Argo CD reads the synthesized folders: settings of a checkout, not of a release. */
export interface RepositorySettings {
  /** the git repository Argo CD reads the folders from @default - the ApplicationSet's placeholder */
  readonly repoUrl?: string;
  /** the revision Argo CD follows @default 'HEAD' */
  readonly revision?: string;
}

/** The file that holds the repository settings of a checkout, committed beside dist/. */
export const CONFIG_FILE = 'delivery.config.json';

/** The environment variables that override the file for one run. */
export const REPOSITORY_ENV = { repoUrl: 'HOTROD_REPO_URL', revision: 'HOTROD_REPO_REVISION' } as const;

/**
 * The settings `npm run synth` uses, and so the committed-dist/ check too: `delivery.config.json`
 * in `root` (the project root; `{ "repoUrl": ..., "revision": ... }`, both optional), then the
 * environment variables `HOTROD_REPO_URL` and `HOTROD_REPO_REVISION` over it. Every error names the file.
 */
export function repositorySettings(root: string, env: NodeJS.ProcessEnv = process.env): RepositorySettings {
  const file = join(root, CONFIG_FILE);
  let fromFile: RepositorySettings = {};
  if (existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}; write a JSON object such as { "repoUrl": "https://github.com/acme/delivery.git", "revision": "main" }`);
    }
    const keys = Object.keys(REPOSITORY_ENV);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`${file}: must be a JSON object such as { "repoUrl": "https://github.com/acme/delivery.git", "revision": "main" }`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      if (!keys.includes(k)) throw new Error(`${file}: unknown key '${k}'; the keys are ${keys.join(', ')}`);
      if (typeof v !== 'string') throw new Error(`${file}: '${k}' must be a string, got ${JSON.stringify(v)}`);
    }
    fromFile = parsed as RepositorySettings;
  }
  return {
    repoUrl: env[REPOSITORY_ENV.repoUrl] || fromFile.repoUrl,
    revision: env[REPOSITORY_ENV.revision] || fromFile.revision,
  };
}
