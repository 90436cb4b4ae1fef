import { spawnSync } from 'child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { HELM_VALUES_FILE } from '../lib/manifests';

// cli/bench.js is the command's own JavaScript: its kustomize column renders the synthesized YAML.
const { kustomizeFolder, VALUES_FILE } = require('../cli/bench') as { kustomizeFolder(work: string, synthesized: string): string; VALUES_FILE: RegExp };

const kubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

describe('npm run bench: the YAML kustomize renders beside synth and validate', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'hotrod-bench-test-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test('lists every manifest of the output, and not the chart values file the synth writes beside the app folders', () => {
    // GIVEN an output folder as synth writes it for the community chart
    const out = join(work, 'dist');
    mkdirSync(join(out, 'hotrod'), { recursive: true });
    writeFileSync(join(out, 'hotrod', 'ConfigMap.a.k8s.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: hotrod}\n');
    writeFileSync(join(out, 'hotrod', 'Service.b.k8s.yml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: hotrod}\nspec: {ports: [{port: 80}]}\n');
    writeFileSync(join(out, 'prometheus.values.yaml'), 'serverFiles:\n  alerting_rules.yml: {groups: []}\n');

    // WHEN
    const dir = kustomizeFolder(work, out);

    // THEN (before this, kubectl kustomize failed the whole bench on the values file: "missing Resource metadata")
    expect(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')).toBe('resources:\n  - hotrod/ConfigMap.a.k8s.yaml\n  - hotrod/Service.b.k8s.yml\n');
    if (kubectl) {
      const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(r.stdout.match(/^kind: /gm)).toHaveLength(2);
    }
  });

  test('takes for a values file what validate does (the bench is JavaScript of its own and keeps a copy of the pattern)', () => {
    for (const name of ['prometheus.values.yaml', 'staging/prometheus.values.yml', 'values.yaml', 'my-values.yaml', 'Service.values-proxy.k8s.yaml']) {
      expect([name, VALUES_FILE.test(name)]).toEqual([name, HELM_VALUES_FILE.test(name)]);
    }
  });
});
