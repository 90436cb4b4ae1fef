import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { explainMarkdown, withReadmeSection } from '../lib/explain/markdown';
import { projectRoot } from '../lib/schema/crd-schema-file';
import { exampleApps } from '../examples/platform/main';
import { defineApp, stackOptions } from '../main';

const USAGE = 'usage: npm run explain [-- --out FILE | --update-readme | --example]';

/**
 * `npm run explain`: prints the wiring diagram and rollout timeline of the app as Markdown;
 * `--out FILE` writes it to FILE, `--update-readme` refreshes the copy in README.md.
 */
function main(argv: string[]): number {
  if (argv[0] === '--example') {
    if (argv.length !== 1) {
      console.error(USAGE);
      return 2;
    }
    process.stdout.write(exampleMarkdown());
    return 0;
  }
  const out = argv[0] === '--out' ? argv[1] : undefined;
  const updateReadme = argv[0] === '--update-readme';
  if ((argv[0] === '--out' && (!out || argv.length !== 2)) || (updateReadme && argv.length !== 1) || (argv.length > 0 && !out && !updateReadme)) {
    console.error(USAGE);
    return 2;
  }
  const stack = defineApp(Testing.app(), stackOptions(projectRoot()));
  const markdown = explainMarkdown(stack);
  if (updateReadme) {
    const readme = join(projectRoot(), 'README.md');
    writeFileSync(readme, withReadmeSection(readFileSync(readme, 'utf8'), markdown));
    console.log(`updated ${readme}`);
  } else if (out) {
    writeFileSync(out, markdown);
    console.log(`wrote ${out}`);
  } else {
    process.stdout.write(markdown);
  }
  return 0;
}

/** The diagram and timeline of every service of the example platform, environment by environment. */
function exampleMarkdown(): string {
  const parts: string[] = [];
  for (const { folder, define } of exampleApps(stackOptions(projectRoot()))) {
    const delivery = define(Testing.app());
    for (const service of delivery.services) {
      parts.push(`## ${folder}: ${service.rollout.rollout.name}\n`);
      parts.push(explainMarkdown({ ...delivery, rollout: service.rollout, gates: service.gates, generator: service.generator }));
    }
  }
  return parts.join('\n');
}

process.exitCode = main(process.argv.slice(2));
