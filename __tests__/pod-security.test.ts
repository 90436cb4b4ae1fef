import { join } from 'path';
import { app as exampleApp } from '../examples/platform/main';
import { Finding, formatFinding, LoadedManifest, Manifest, Severity } from '../lib';
import { loadManifests } from '../lib/manifests';
import { modelOf } from '../lib/model/model';
import { ingressOf } from '../lib/model/network-policies';
import { NETWORK_RULES } from '../lib/rules/network';
import { POD_SECURITY_CONTROLS, POD_SECURITY_RULES } from '../lib/rules/pod-security';
import { SchemaSource, validateSchema } from '../lib/schema/validate';
import { synthesizeInMemory } from '../lib/app/in-memory';
import { CHECKOUT, fixtureDelivery, HOTROD } from './helpers';

type Any = any;

/*
 * The rules against the Pod Security Standards page (kubernetes/website
 * content/en/docs/concepts/security/pod-security-standards.md, v1.34 docs) and the checks of
 * policy v1.33 (kubernetes/pod-security-admission policy/check_*.go @ v0.33.0): for each control,
 * what it asks in our words, a pod spec it admits at its edge and one it refuses.
 */

const ROOT = join(__dirname, '..');

/** A pod that passes every control: the restricted profile, set once on the pod where it can be. */
function restrictedPod(): Any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: 'apps' },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0.0', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
      volumes: [{ name: 'config', configMap: { name: 'app' } }],
    },
  };
}

const container = (pod: Any) => pod.spec.containers[0];
const sc = (pod: Any) => container(pod).securityContext;

/** One control: its name on the page, what it asks (our words), a pod it admits at its edge, and one it refuses. */
interface ControlCase {
  readonly rule: string;
  readonly control: string;
  readonly level: 'baseline' | 'restricted';
  readonly asks: string;
  readonly admits: (pod: Any) => void;
  readonly refuses: (pod: Any) => void;
}

const CASES: readonly ControlCase[] = [
  {
    rule: 'pod-security/host-process', control: 'HostProcess', level: 'baseline',
    asks: 'Windows HostProcess containers, which run with privileged access to the node, are not allowed, at pod or container level',
    admits: (p) => { p.spec.securityContext.windowsOptions = { hostProcess: false }; },
    refuses: (p) => { sc(p).windowsOptions = { hostProcess: true }; },
  },
  {
    rule: 'pod-security/host-namespaces', control: 'Host Namespaces', level: 'baseline',
    asks: "the pod may not join the node's network, PID or IPC namespace",
    admits: (p) => { Object.assign(p.spec, { hostNetwork: false, hostPID: false, hostIPC: false }); },
    refuses: (p) => { p.spec.hostPID = true; },
  },
  {
    rule: 'pod-security/privileged', control: 'Privileged Containers', level: 'baseline',
    asks: 'no container may run privileged',
    admits: (p) => { sc(p).privileged = false; },
    refuses: (p) => { sc(p).privileged = true; },
  },
  {
    rule: 'pod-security/capabilities-baseline', control: 'Capabilities', level: 'baseline',
    asks: 'a container may add only capabilities of the runtime default set (CHOWN, KILL, NET_BIND_SERVICE, ...)',
    // NET_BIND_SERVICE is in the baseline set and the one capability restricted adds back
    admits: (p) => { sc(p).capabilities.add = ['NET_BIND_SERVICE']; },
    refuses: (p) => { sc(p).capabilities.add = ['NET_RAW']; },
  },
  {
    rule: 'pod-security/host-path-volumes', control: 'HostPath Volumes', level: 'baseline',
    asks: "no volume may mount a path of the node's file system",
    admits: (p) => { p.spec.volumes.push({ name: 'scratch', emptyDir: {} }); },
    refuses: (p) => { p.spec.volumes.push({ name: 'logs', hostPath: { path: '/var/log' } }); },
  },
  {
    rule: 'pod-security/host-ports', control: 'Host Ports', level: 'baseline',
    asks: "no container port may be bound on the node's address (the built-in admission allows no list of exceptions)",
    admits: (p) => { container(p).ports = [{ containerPort: 8080, hostPort: 0 }]; },
    refuses: (p) => { container(p).ports = [{ containerPort: 8080, hostPort: 8080 }]; },
  },
  {
    rule: 'pod-security/apparmor', control: 'AppArmor', level: 'baseline',
    asks: 'the AppArmor profile may be the runtime default or a profile on the node, never unconfined (fields and the old annotations alike)',
    admits: (p) => {
      sc(p).appArmorProfile = { type: 'Localhost', localhostProfile: 'k8s-app' };
      p.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/app': 'runtime/default' };
    },
    refuses: (p) => { p.spec.securityContext.appArmorProfile = { type: 'Unconfined' }; },
  },
  {
    rule: 'pod-security/selinux', control: 'SELinux', level: 'baseline',
    asks: 'SELinux options may choose only a container type, and no user or role',
    admits: (p) => { sc(p).seLinuxOptions = { type: 'container_init_t', level: 's0:c123,c456' }; },
    refuses: (p) => { p.spec.securityContext.seLinuxOptions = { role: 'sysadm_r' }; },
  },
  {
    rule: 'pod-security/proc-mount', control: '/proc Mount Type', level: 'baseline',
    asks: "the default masking of /proc may not be turned off",
    admits: (p) => { sc(p).procMount = 'Default'; },
    refuses: (p) => { sc(p).procMount = 'Unmasked'; },
  },
  {
    rule: 'pod-security/seccomp-baseline', control: 'Seccomp', level: 'baseline',
    asks: 'a seccomp profile, where one is set, may not be Unconfined',
    admits: (p) => { sc(p).seccompProfile = { type: 'Localhost', localhostProfile: 'profiles/app.json' }; },
    refuses: (p) => { sc(p).seccompProfile = { type: 'Unconfined' }; },
  },
  {
    rule: 'pod-security/sysctls', control: 'Sysctls', level: 'baseline',
    asks: 'the pod may set only sysctls that are namespaced and cannot reach other pods (a short allowed list)',
    admits: (p) => { p.spec.securityContext.sysctls = [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '80' }, { name: 'net.ipv4.tcp_rmem', value: '4096 87380 6291456' }]; },
    refuses: (p) => { p.spec.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '65536' }]; },
  },
  {
    rule: 'pod-security/volume-types', control: 'Volume Types', level: 'restricted',
    asks: 'volumes may only be configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret (and image in the v1.33 code)',
    admits: (p) => { p.spec.volumes.push({ name: 'data', persistentVolumeClaim: { claimName: 'data' } }, { name: 'csi', csi: { driver: 'secrets-store.csi.k8s.io' } }); },
    refuses: (p) => { p.spec.volumes.push({ name: 'share', nfs: { server: 'nfs.example.com', path: '/' } }); },
  },
  {
    rule: 'pod-security/privilege-escalation', control: 'Privilege Escalation (v1.8+)', level: 'restricted',
    asks: 'every container must say allowPrivilegeEscalation: false; leaving it out is not enough',
    admits: (p) => { p.spec.initContainers = [{ name: 'init', image: 'busybox:1.36', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }]; },
    refuses: (p) => { delete sc(p).allowPrivilegeEscalation; },
  },
  {
    rule: 'pod-security/run-as-non-root', control: 'Running as Non-root', level: 'restricted',
    asks: 'runAsNonRoot must be true: on the pod (and false on no container), or on every container',
    admits: (p) => { delete p.spec.securityContext.runAsNonRoot; sc(p).runAsNonRoot = true; },
    // neither the pod nor the container says it: the kubelet would start the image's user, root or not
    refuses: (p) => { delete p.spec.securityContext.runAsNonRoot; },
  },
  {
    rule: 'pod-security/run-as-user', control: 'Running as Non-root user (v1.23+)', level: 'restricted',
    asks: 'no pod or container may ask for uid 0; leaving runAsUser out is allowed',
    admits: (p) => { delete p.spec.securityContext.runAsUser; },
    refuses: (p) => { sc(p).runAsUser = 0; },
  },
  {
    rule: 'pod-security/seccomp-restricted', control: 'Seccomp (v1.19+)', level: 'restricted',
    asks: 'every container must run with the RuntimeDefault or a Localhost seccomp profile, set on the pod or on the container',
    admits: (p) => { delete p.spec.securityContext.seccompProfile; sc(p).seccompProfile = { type: 'RuntimeDefault' }; },
    refuses: (p) => { delete p.spec.securityContext.seccompProfile; },
  },
  {
    rule: 'pod-security/capabilities-restricted', control: 'Capabilities (v1.22+)', level: 'restricted',
    asks: 'every container must drop ALL capabilities, and may add back only NET_BIND_SERVICE',
    admits: (p) => { sc(p).capabilities = { drop: ['ALL', 'NET_RAW'], add: ['NET_BIND_SERVICE'] }; },
    refuses: (p) => { sc(p).capabilities.add = ['CHOWN']; },
  },
];

function judge(...objects: Any[]): Finding[] {
  const manifests: LoadedManifest[] = objects.map((object, i) => ({ object: object as Manifest, file: `f${i}.yaml` }));
  return [...POD_SECURITY_RULES, ...NETWORK_RULES].flatMap((r) => r.check(manifests));
}

const withPod = (edit: (pod: Any) => void) => {
  const pod = restrictedPod();
  edit(pod);
  return pod;
};

describe('the Pod Security Standards rules, control by control', () => {
  test('the table has one case per rule, under the control names and levels the rules cite', () => {
    expect(CASES.map((c) => c.rule).sort()).toEqual(Object.keys(POD_SECURITY_CONTROLS).sort());
    for (const c of CASES) expect(POD_SECURITY_CONTROLS[c.rule]).toEqual({ name: c.control, level: c.level });
  });

  test('a pod of the restricted profile passes every control', () => {
    expect(judge(restrictedPod()).map(formatFinding)).toEqual([]);
  });

  test.each(CASES)('$control ($level): $asks', (c) => {
    // GIVEN the restricted pod at the edge the control allows, THEN no control objects
    expect(judge(withPod(c.admits)).map(formatFinding)).toEqual([]);
    // GIVEN it broken the way the control forbids, THEN exactly its rule reports it, citing the control by its name and the policy version,
    // as an error for a baseline control and a warning for a restricted one (the namespace's level is not known here)
    const findings = judge(withPod(c.refuses));
    expect(findings.map((f) => f.ruleId)).toEqual([c.rule]);
    expect(findings[0].severity).toBe(c.level === 'baseline' ? Severity.ERROR : Severity.WARNING);
    expect(findings[0].message).toContain(`Pod Security Standards ${c.level} control "${c.control}" (policy v1.33) forbids it`);
    expect(findings[0].object).toMatchObject({ kind: 'Pod', namespace: 'apps', name: 'app' });
    expect(findings[0].fix.length).toBeGreaterThan(20);
  });
});

describe('which pods, and how severe', () => {
  const privileged = (pod: Any) => { sc(pod).privileged = true; };
  const noSeccomp = (pod: Any) => { delete pod.spec.securityContext.seccompProfile; };

  test('every kind with a pod template is judged, init and ephemeral containers too; a Rollout that refers to a Deployment has no template of its own', () => {
    const template = () => { const p = withPod(privileged); return { metadata: { labels: { app: 'x' } }, spec: p.spec }; };
    const spec = { selector: { matchLabels: { app: 'x' } }, template: template() };
    const objects = [
      ['apps/v1', 'Deployment', spec], ['apps/v1', 'DaemonSet', spec], ['apps/v1', 'StatefulSet', spec], ['apps/v1', 'ReplicaSet', spec],
      ['batch/v1', 'Job', { template: template() }], ['batch/v1', 'CronJob', { schedule: '* * * * *', jobTemplate: { spec: { template: template() } } }],
      ['argoproj.io/v1alpha1', 'Rollout', spec], ['v1', 'ReplicationController', spec],
    ].map(([apiVersion, kind, s]) => ({ apiVersion, kind, metadata: { name: String(kind).toLowerCase(), namespace: 'apps' }, spec: s }));
    const podTemplate = { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'podtemplate', namespace: 'apps' }, template: template() };
    const byRef = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'by-ref', namespace: 'apps' }, spec: { workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'deployment' } } };
    const findings = judge(...objects, podTemplate, byRef);
    expect(findings.filter((f) => f.ruleId === 'pod-security/privileged').map((f) => f.object.kind).sort())
      .toEqual(['CronJob', 'DaemonSet', 'Deployment', 'Job', 'PodTemplate', 'ReplicaSet', 'ReplicationController', 'Rollout', 'StatefulSet']);
    expect(findings.filter((f) => f.object.name === 'by-ref')).toEqual([]);

    const pod = restrictedPod();
    pod.spec.initContainers = [{ name: 'init', image: 'busybox:1.36', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: true } }];
    pod.spec.ephemeralContainers = [{ name: 'debug', image: 'busybox:1.36', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['SYS_PTRACE'] } } }];
    expect(judge(pod).map((f) => `${f.ruleId}: ${f.message.split(/[:;] /)[0]}`)).toEqual([
      "pod-security/privileged: init container 'init' sets securityContext.privileged",
      "pod-security/capabilities-baseline: ephemeral container 'debug' adds SYS_PTRACE",
    ]);
  });

  test('a Windows pod is not held to the Linux-only restricted controls (privilege escalation, seccomp, capabilities)', () => {
    const pod = withPod((p) => {
      noSeccomp(p);
      delete sc(p).allowPrivilegeEscalation;
      delete sc(p).capabilities;
    });
    expect(judge(pod).map((f) => f.ruleId)).toEqual(['pod-security/privilege-escalation', 'pod-security/seccomp-restricted', 'pod-security/capabilities-restricted']);
    pod.spec.os = { name: 'windows' };
    expect(judge(pod)).toEqual([]);
  });

  /** A Namespace `apps` labelled to enforce a level. */
  const namespace = (level: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps', labels: { 'pod-security.kubernetes.io/enforce': level } } });
  const severities = (...objects: Any[]) => judge(...objects).map((f) => `${f.ruleId} ${f.severity}`);

  test('where the manifests say what the namespace enforces, what it enforces is an error (the API server refuses the pods) and what it admits a warning', () => {
    const pod = withPod((p) => { privileged(p); noSeccomp(p); });
    // unknown: baseline errors, restricted warnings
    expect(severities(pod)).toEqual(['pod-security/privileged error', 'pod-security/seccomp-restricted warning']);
    expect(severities(pod, namespace('restricted'))).toEqual(['pod-security/privileged error', 'pod-security/seccomp-restricted error']);
    expect(severities(pod, namespace('baseline'))).toEqual(['pod-security/privileged error', 'pod-security/seccomp-restricted warning']);
    expect(severities(pod, namespace('privileged'))).toEqual(['pod-security/privileged warning', 'pod-security/seccomp-restricted warning']);
    // admission fails closed on a level it cannot read
    expect(severities(pod, namespace('restrcited'))).toEqual(['pod-security/privileged error', 'pod-security/seccomp-restricted error']);
    const [finding] = judge(pod, namespace('restricted')).filter((f) => f.ruleId === 'pod-security/seccomp-restricted');
    expect(finding.message).toContain('; namespace apps enforces restricted (Namespace apps label), so the API server refuses these pods');
  });

  test("Argo CD's managedNamespaceMetadata sets the level of the namespaces it creates, only with CreateNamespace=true", () => {
    const pod = withPod(noSeccomp);
    const appSet = (syncOptions: string[]) => ({
      apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet', metadata: { name: 'apps', namespace: 'argocd' },
      spec: {
        generators: [{ git: { repoURL: 'https://example.com/r.git', revision: 'HEAD', directories: [{ path: 'deploy/apps' }] } }],
        template: { metadata: { name: '{{.path.basename}}' }, spec: {
          project: 'default', source: { repoURL: 'https://example.com/r.git', path: '{{.path.path}}' }, destination: { server: 'https://kubernetes.default.svc', namespace: '{{.path.basename}}' },
          syncPolicy: { syncOptions, managedNamespaceMetadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
        } },
      },
    });
    expect(severities(pod, appSet(['CreateNamespace=true']))).toEqual(['pod-security/seccomp-restricted error']);
    expect(judge(pod, appSet(['CreateNamespace=true']))[0].message).toContain('namespace apps enforces restricted (ApplicationSet apps managedNamespaceMetadata)');
    expect(severities(pod, appSet([]))).toEqual(['pod-security/seccomp-restricted warning']);
  });
});

describe('network/otlp-open-to-all', () => {
  const collector = () => ({
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'otel' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: {
      ...restrictedPod().spec,
      containers: [{ ...restrictedPod().spec.containers[0], name: 'otelcol', image: 'otel/opentelemetry-collector-contrib:0.142.0', ports: [{ name: 'otlp', containerPort: 4317 }], volumeMounts: [{ name: 'config', mountPath: '/conf' }] }],
      volumes: [{ name: 'config', configMap: { name: 'agent' } }],
    } } },
  });
  const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'agent', namespace: 'otel' }, data: {
    'config.yaml': 'receivers: {otlp: {protocols: {grpc: {endpoint: 0.0.0.0:4317}}}}\nexporters: {debug: {}}\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n',
  } };
  const policy = (ingress: Any[]) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'agent', namespace: 'otel' },
    spec: { podSelector: { matchLabels: { app: 'agent' } }, policyTypes: ['Ingress'], ingress } });
  const open = (...objects: Any[]) => judge(collector(), config, ...objects).filter((f) => f.ruleId === 'network/otlp-open-to-all').map((f) => f.message);

  test('warns while no NetworkPolicy selects the collector, or one admits every pod; not once only some namespaces may send', () => {
    expect(open()).toEqual([expect.stringContaining('the OTLP receivers on 4317 accept spans from every pod of the cluster: no NetworkPolicy selects its pods (labels app=agent)')]);
    expect(open(policy([{ ports: [{ port: 'otlp' }] }]))).toEqual([expect.stringContaining('a rule of NetworkPolicy agent admits every pod to them')]);
    expect(open(policy([{ from: [{ namespaceSelector: {} }] }]))).toHaveLength(1);
    expect(open(policy([{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }], ports: [{ port: 4317 }] }]))).toEqual([]);
    // a policy of another namespace, or one that selects other pods, does not count
    expect(open({ ...policy([]), metadata: { name: 'agent', namespace: 'shop' } })).toHaveLength(1);
    expect(open({ ...policy([]), spec: { podSelector: { matchLabels: { app: 'other' } } } })).toHaveLength(1);
    // a policy for egress only does not isolate ingress
    expect(open({ ...policy([]), spec: { podSelector: {}, policyTypes: ['Egress'] } })).toHaveLength(1);
  });
});

describe('the generated platform (the fixtures and the example, read generically)', () => {
  /** The library's defaults (HotROD and checkout), the example's environments as synth writes them, and its committed folders. */
  const outputs: { name: string; manifests: LoadedManifest[] }[] = [
    { name: 'the fixture delivery', manifests: synthesizeInMemory(fixtureDelivery({ services: [HOTROD, CHECKOUT] }).app) },
    ...exampleApp.describe().map((a) => ({ name: `examples/platform ${a.folder}`, manifests: a.manifests })),
    { name: 'examples/platform/dist/', manifests: loadManifests(join(ROOT, 'examples/platform/dist')) },
  ];

  test.each(outputs)('$name: every pod passes the restricted profile, and every collector admits spans only from some namespaces', ({ manifests }) => {
    const model = modelOf(manifests);
    // the pods the rules judge are every workload the output holds
    const workloads = manifests.filter((m) => ['Pod', 'Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job', 'CronJob', 'Rollout'].includes(m.object.kind));
    expect(model.pods).toHaveLength(workloads.length);
    expect(workloads.length).toBeGreaterThanOrEqual(2);
    expect([...POD_SECURITY_RULES, ...NETWORK_RULES].flatMap((r) => r.check(manifests)).map(formatFinding)).toEqual([]);
  });

  test.each(outputs)('$name: every pod is selected by a NetworkPolicy, every ApplicationSet has its AppProject, and both validate against their schemas', ({ manifests }) => {
    const model = modelOf(manifests);
    for (const pod of model.pods) expect([pod.ref.name, ingressOf(model, pod).isolated]).toEqual([pod.ref.name, true]);
    const policies = manifests.filter((m) => m.object.kind === 'NetworkPolicy');
    const projects = manifests.filter((m) => m.object.kind === 'AppProject');
    expect(policies.length).toBeGreaterThanOrEqual(model.pods.length);
    for (const appSet of manifests.filter((m) => m.object.kind === 'ApplicationSet')) {
      const project = (appSet.object as Any).spec.template.spec.project;
      expect(projects.map((p) => p.object.metadata.name)).toContain(project);
    }
    for (const m of [...policies, ...projects]) {
      const result = validateSchema(m.object);
      expect([m.object.kind, result.source, result.violations]).toEqual([m.object.kind, m.object.kind === 'AppProject' ? SchemaSource.CRD : SchemaSource.KUBERNETES, []]);
    }
  });
});
