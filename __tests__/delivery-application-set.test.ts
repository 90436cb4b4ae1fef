import { ApiObject, Chart, Testing } from 'cdk8s';
import { DeliveryApplicationSet, PodSecurityLevel } from '../lib';
import { DEFAULT_REPO_URL } from '../lib/constructs/delivery-application-set';
import { find, fixtureDelivery, synth } from './helpers';

describe('DeliveryApplicationSet', () => {
  test('emits an ApplicationSet over exactly the synthesized app folders', () => {
    const { charts } = fixtureDelivery();
    const appSet = find(synth(charts.argocd), 'ApplicationSet', 'hotrod');
    expect(appSet).toMatchSnapshot();
    expect(appSet.metadata.namespace).toBe('argocd');
    const git = appSet.spec.generators[0].git;
    expect(git.directories).toEqual([
      { path: 'dist/otel' }, { path: 'dist/hotrod' }, { path: 'dist/traffic-generator' }, { path: 'dist/argocd', exclude: true },
    ]);
    expect(git.repoURL).toBe(DEFAULT_REPO_URL);
    expect(git.revision).toBe('HEAD');
    const spec = appSet.spec.template.spec;
    expect(appSet.spec.goTemplate).toBe(true);
    expect(appSet.spec.template.metadata.name).toBe('{{.path.basename}}');
    expect(spec.destination).toEqual({ server: 'https://kubernetes.default.svc', namespace: '{{.path.basename}}' });
    expect(spec.source).toEqual({ repoURL: DEFAULT_REPO_URL, targetRevision: 'HEAD', path: '{{.path.path}}' });
    expect(spec.project).toBe('hotrod');
    // Argo CD creates each namespace and labels it to enforce the restricted Pod Security level (pinned to the rules' version)
    expect(spec.syncPolicy).toEqual({
      automated: { prune: true, selfHeal: true, allowEmpty: false },
      syncOptions: ['CreateNamespace=true'],
      managedNamespaceMetadata: {
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'v1.33',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/warn-version': 'latest',
        },
      },
    });
    expect(appSet.spec.syncPolicy).toEqual({ applicationsSync: 'create-update', preserveResourcesOnDeletion: true });
  });

  test("its Applications belong to an AppProject that admits exactly this repository, the app folders' namespaces and the kinds they hold", () => {
    // GIVEN the fixture delivery (HotROD), synthesized
    const { app, charts } = fixtureDelivery();
    const project = find(synth(charts.argocd), 'AppProject', 'hotrod');
    expect(project).toMatchSnapshot();
    // THEN the project is in Argo CD's namespace, named after the ApplicationSet, and the Applications use it
    expect(project.metadata.namespace).toBe('argocd');
    expect(find(synth(charts.argocd), 'ApplicationSet').spec.template.spec.project).toBe(project.metadata.name);
    expect(project.spec.sourceRepos).toEqual([DEFAULT_REPO_URL]);
    expect(project.spec.destinations).toEqual(['otel', 'hotrod', 'traffic-generator'].map((namespace) => ({ server: 'https://kubernetes.default.svc', namespace })));
    // AND the kinds are the ones the app folders hold, read from the synthesized objects, not a list kept by hand
    const held = new Set(Testing.synth(charts.otel).concat(...app.charts.filter((c) => c !== charts.argocd && c !== charts.otel).map((c) => Testing.synth(c)))
      .map((o: any) => `${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}/${o.kind}`));
    expect(project.spec.namespaceResourceWhitelist.map((k: any) => `${k.group}/${k.kind}`).sort()).toEqual([...held].sort());
    expect(held).toContain('networking.k8s.io/NetworkPolicy');
    // AND the one cluster-scoped kind is the Namespace that CreateNamespace makes
    expect(project.spec.clusterResourceWhitelist).toEqual([{ group: '', kind: 'Namespace' }]);
  });

  test('an existing project can be named instead; a destination by name is the project\'s too', () => {
    const app = Testing.app();
    const web = new Chart(app, 'web', { namespace: 'web' });
    new ApiObject(web, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } });
    const argocd = new Chart(app, 'argocd', { namespace: 'argocd' });
    const named = new DeliveryApplicationSet(argocd, 'Named', { apps: [web], name: 'shop', destinationName: 'prod' });
    const existing = new DeliveryApplicationSet(argocd, 'Existing', { apps: [web], name: 'other', project: 'platform' });
    const objects = synth(argocd);
    expect(find(objects, 'AppProject', 'shop').spec.destinations).toEqual([{ name: 'prod', namespace: 'web' }]);
    expect(find(objects, 'AppProject', 'shop').spec.namespaceResourceWhitelist).toEqual([{ group: '', kind: 'ConfigMap' }]);
    expect(existing.appProject).toBeUndefined();
    expect(named.appProject).toBeDefined();
    expect(find(objects, 'ApplicationSet', 'other').spec.template.spec.project).toBe('platform');
    expect(objects.filter((o) => o.kind === 'AppProject')).toHaveLength(1);
    expect(() => new DeliveryApplicationSet(argocd, 'Bad', { apps: [web], name: 'bad', project: 'Platform!' })).toThrow("DeliveryApplicationSet: project 'Platform!' is not a valid Kubernetes name");
  });

  test('repo URL and revision are props', () => {
    const { charts } = fixtureDelivery({ repoUrl: 'git@github.com:acme/delivery.git', revision: 'main' });
    const appSet = find(synth(charts.argocd), 'ApplicationSet');
    expect(appSet.spec.generators[0].git).toMatchObject({ repoURL: 'git@github.com:acme/delivery.git', revision: 'main' });
    expect(appSet.spec.template.spec.source).toMatchObject({ repoURL: 'git@github.com:acme/delivery.git', targetRevision: 'main' });
  });

  describe('rejects', () => {
    function make(props: Partial<ConstructorParameters<typeof DeliveryApplicationSet>[2]>, appNamespace = 'web') {
      const app = Testing.app();
      const web = new Chart(app, 'web', { namespace: appNamespace });
      const argocd = new Chart(app, 'argocd', { namespace: 'argocd' });
      return () => new DeliveryApplicationSet(argocd, 'AppSet', { apps: [web], ...props });
    }
    test('a Pod Security level that is none', () => {
      expect(make({ podSecurity: 'restrcited' as PodSecurityLevel })).toThrow("DeliveryApplicationSet: podSecurity 'restrcited' is not a Pod Security level; use 'privileged', 'baseline', 'restricted'");
    });
    test('a repo URL that is not a git URL', () => {
      expect(make({ repoUrl: 'acme/delivery' })).toThrow("DeliveryApplicationSet: repoUrl 'acme/delivery' is not a git URL");
    });
    test('a chart whose namespace differs from its folder', () => {
      expect(make({}, 'frontend')).toThrow("DeliveryApplicationSet: chart 'web' has namespace 'frontend', but its Application deploys to the namespace named after its folder");
    });
    test('no apps', () => {
      expect(make({ apps: [] })).toThrow('DeliveryApplicationSet: apps is empty');
    });
    test('an absolute output path', () => {
      expect(make({ outputPath: '/dist' })).toThrow("DeliveryApplicationSet: outputPath '/dist' must be a relative folder of the repository");
    });
  });
});
