import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';

/**
 * Inputs people have that once crashed, hung or slowed `validate`, made on the fly in a temporary
 * folder (none is committed). Also a script, for measuring by hand:
 *
 *   npx ts-node --transpile-only __tests__/hostile-inputs.ts big-folder DIR   # ~50 MB, 12,812 documents
 *   npx ts-node --transpile-only __tests__/hostile-inputs.ts many-keys DIR    # one ConfigMap of 40,000 keys
 */

/** A ConfigMap whose `data` has `keys` keys (the yaml library's duplicate-key check was quadratic in them). */
export function configMapWithKeys(keys: number, name = 'many-keys'): string {
  const lines = ['apiVersion: v1', 'kind: ConfigMap', `metadata:\n  name: ${name}\n  namespace: default`, 'data:'];
  for (let i = 0; i < keys; i++) lines.push(`  key-${i}: "value ${i}"`);
  return `${lines.join('\n')}\n`;
}

/** The "billion laughs" of YAML: ten aliases of ten aliases of ... a string. */
export function aliasBomb(levels = 9): string {
  const lines = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: bomb}', 'x0: &a0 "lol"'];
  for (let i = 1; i <= levels; i++) lines.push(`x${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** One app of the big folder: a Deployment, its Service and ServiceAccount, and a ConfigMap of `configBytes` of settings. */
function app(team: number, i: number, configBytes: number): string {
  const name = `app-${i}`;
  const ns = `team-${team}`;
  const settings: string[] = [];
  for (let k = 0, size = 0; size < configBytes; k++) {
    const line = `    setting_${k}: "${'v'.repeat(40)}${k}"`;
    settings.push(line);
    size += line.length + 1;
  }
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: ${name}, team: ${ns}}
spec:
  replicas: 2
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}, team: ${ns}}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080"}
    spec:
      serviceAccountName: ${name}
      containers:
        - name: ${name}
          image: ghcr.io/example/${name}:1.${i % 10}.0
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: CONFIG_PATH, value: /etc/${name}/settings.yaml}
            - {name: LOG_LEVEL, value: info}
          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
          readinessProbe: {httpGet: {path: /ready, port: http}}
          volumeMounts: [{name: config, mountPath: /etc/${name}}]
      volumes: [{name: config, configMap: {name: ${name}-config}}]
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${name}, namespace: ${ns}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}-config, namespace: ${ns}}
data:
  settings.yaml: |
${settings.join('\n')}
`;
}

/** The documents of `apps` apps in one file (about 15 KB and 4 documents an app). */
export function bigFile(apps: number): string {
  return Array.from({ length: apps }, (_, i) => app(0, i, 14_100)).join('---\n');
}

/**
 * A platform repository of `apps` apps in folders of 40 (4 documents each) and a Namespace per
 * folder: with the defaults about 50 MB in 12,812 documents, the size of the folder in the issue.
 */
export function writeBigFolder(dir: string, apps = 3183, configBytes = 14_100): { files: number; documents: number } {
  let files = 0;
  let documents = 0;
  for (let team = 0; team * 40 < apps; team++) {
    const folder = join(dir, `team-${team}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'namespace.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata: {name: team-${team}}\n`);
    files++;
    documents++;
    for (let i = team * 40; i < Math.min(apps, (team + 1) * 40); i++) {
      writeFileSync(join(folder, `app-${i}.yaml`), app(team, i, configBytes));
      files++;
      documents += 4;
    }
  }
  return { files, documents };
}

if (require.main === module) {
  const [what, dir] = process.argv.slice(2);
  mkdirSync(dir, { recursive: true });
  if (what === 'big-folder') console.log(writeBigFolder(dir));
  else if (what === 'many-keys') writeFileSync(join(dir, 'many-keys.yaml'), configMapWithKeys(40_000));
  else throw new Error('usage: hostile-inputs.ts big-folder|many-keys DIR');
}
