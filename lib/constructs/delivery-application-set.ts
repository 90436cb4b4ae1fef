import { ApiObject, Chart, Names } from 'cdk8s';
import { Construct } from 'constructs';
import { AppProject } from '../../imports/argocd-app-project-argoproj.io';
import { ApplicationSet, ApplicationSetSpecSyncPolicyApplicationsSync } from '../../imports/argocd-application-set-argoproj.io';
import { PodSecurityLevel, podSecurityLabels } from '../platform/pod-security';
import { validateName } from '../util';

/** Properties of a {@link DeliveryApplicationSet}. */
export interface DeliveryApplicationSetProps {
  /** the charts to deploy, one Argo CD Application each; each chart's folder name is its namespace */
  readonly apps: Chart[];
  /** the git repository that holds the synthesized folders @default - a placeholder ({@link DEFAULT_REPO_URL}) to replace */
  readonly repoUrl?: string;
  /** the branch, tag or commit Argo CD follows @default 'HEAD' */
  readonly revision?: string;
  /** the folder of the repository the app folders are synthesized into @default 'dist' */
  readonly outputPath?: string;
  /** the ApplicationSet name @default 'delivery' */
  readonly name?: string;
  /**
   * An existing Argo CD project for the Applications, instead of the AppProject made beside the
   * ApplicationSet.
   * @default - an AppProject named like the ApplicationSet that admits exactly this repository, the
   * destination's namespaces of the app folders, the kinds the folders hold and the Namespace kind
   */
  readonly project?: string;
  /** the cluster the Applications deploy to, by API server URL @default 'https://kubernetes.default.svc' (the cluster Argo CD runs in) */
  readonly destinationServer?: string;
  /** the cluster the Applications deploy to, by the name it is registered under in Argo CD; give this or destinationServer @default - destinationServer */
  readonly destinationName?: string;
  /**
   * Put before every Application name (`<prefix><folder>`), so that the Applications of several
   * environments managed by one Argo CD do not overwrite each other.
   * @default '' (the folder name alone)
   */
  readonly applicationPrefix?: string;
  /**
   * Let the ApplicationSet delete an Application whose folder disappears (with everything it
   * deployed, through the resources finalizer). Off, a removed folder leaves its Application alone.
   * @default false
   */
  readonly allowApplicationDeletion?: boolean;
  /**
   * The Pod Security Standards level the Applications' namespaces enforce. Argo CD creates each
   * namespace (`CreateNamespace=true`) and labels it through `managedNamespaceMetadata`, also when
   * it exists already, so pods above the level are refused by the API server.
   * @default PodSecurityLevel.RESTRICTED
   */
  readonly podSecurity?: PodSecurityLevel;
}

/** The default repository, a placeholder to replace (`repoUrl`, or `delivery.config.json` for the default app). */
export const DEFAULT_REPO_URL = 'https://github.com/example/delivery.git';

const C = 'DeliveryApplicationSet';

/** The folder name cdk8s gives a chart in FOLDER_PER_CHART output. */
export function chartFolder(chart: Chart): string {
  return Names.toDnsLabel(chart);
}

/**
 * The Argo CD ApplicationSet of a delivery: it turns each synthesized app folder into an
 * Application named after the folder, deployed to the namespace of the same name.
 *
 * Its git directories generator lists exactly the folders of the charts it is given and
 * excludes its own, so it never manages itself.
 */
export class DeliveryApplicationSet extends Construct {
  /** the ApplicationSet */
  public readonly applicationSet: ApplicationSet;
  /** the repository paths of the app folders */
  public readonly appPaths: readonly string[];
  /** the repository URL */
  public readonly repoUrl: string;
  /** the revision */
  public readonly revision: string;
  /** the Pod Security Standards level the Applications' namespaces enforce */
  public readonly podSecurity: PodSecurityLevel;
  /** the AppProject the Applications belong to, unless `project` named an existing one */
  public readonly appProject?: AppProject;
  /** the name of the Argo CD project of the Applications */
  public readonly projectName: string;

  constructor(scope: Construct, id: string, props: DeliveryApplicationSetProps) {
    super(scope, id);
    const name = props.name ?? 'delivery';
    validateName(C, 'name', name);
    this.repoUrl = props.repoUrl ?? DEFAULT_REPO_URL;
    if (!/^(https?:\/\/\S+|ssh:\/\/\S+|git@[^\s:]+:\S+)$/.test(this.repoUrl)) {
      throw new Error(`${C}: repoUrl '${this.repoUrl}' is not a git URL; use https://host/org/repo.git, ssh://... or git@host:org/repo.git`);
    }
    this.revision = props.revision ?? 'HEAD';
    this.podSecurity = props.podSecurity ?? PodSecurityLevel.RESTRICTED;
    if (!(Object.values(PodSecurityLevel) as string[]).includes(this.podSecurity)) {
      throw new Error(`${C}: podSecurity '${this.podSecurity}' is not a Pod Security level; use ${Object.values(PodSecurityLevel).map((l) => `'${l}'`).join(', ')} (PodSecurityLevel)`);
    }
    if (!/^[^\s~^:?*[\\]+$/.test(this.revision)) {
      throw new Error(`${C}: revision '${this.revision}' is not a git ref; use a branch, tag or commit such as 'main'`);
    }
    const outputPath = (props.outputPath ?? 'dist').replace(/\/+$/, '');
    if (outputPath.length === 0 || outputPath.startsWith('/') || outputPath.split('/').includes('..')) {
      throw new Error(`${C}: outputPath '${props.outputPath}' must be a relative folder of the repository such as 'dist'`);
    }
    const prefix = props.applicationPrefix ?? '';
    if (prefix !== '' && !/^[a-z0-9]([-a-z0-9]*)?$/.test(prefix)) {
      throw new Error(`${C}: applicationPrefix '${prefix}' must be lowercase letters, digits and '-', starting with a letter or digit, e.g. 'staging-'`);
    }
    if (props.destinationServer !== undefined && props.destinationName !== undefined) {
      throw new Error(`${C}: give destinationServer or destinationName, not both (got '${props.destinationServer}' and '${props.destinationName}'); Argo CD rejects a destination with both`);
    }
    if (props.destinationName !== undefined) validateName(C, 'destinationName', props.destinationName);
    if (props.apps.length === 0) {
      throw new Error(`${C}: apps is empty; pass the charts to deploy, e.g. [otel, hotrod, trafficGenerator]`);
    }

    const own = Chart.of(this);
    const folders = props.apps.map((chart) => {
      const folder = chartFolder(chart);
      if (chart === own) {
        throw new Error(`${C}: the chart '${folder}' that holds the ApplicationSet is listed in apps; Argo CD would manage the ApplicationSet from itself`);
      }
      if (chart.namespace !== folder) {
        throw new Error(`${C}: chart '${folder}' has namespace '${chart.namespace ?? '(none)'}', but its Application deploys to the namespace named after its folder; `
          + `create it as new Chart(app, '${folder}', { namespace: '${folder}' })`);
      }
      validateName(C, `apps folder`, folder);
      validateName(C, 'applicationPrefix + folder', `${prefix}${folder}`);
      return folder;
    });
    const dup = folders.find((f, i) => folders.indexOf(f) !== i);
    if (dup) throw new Error(`${C}: chart '${dup}' is listed twice in apps`);

    this.appPaths = folders.map((f) => `${outputPath}/${f}`);
    const ownPath = `${outputPath}/${chartFolder(own)}`;
    const destination = props.destinationName !== undefined ? { name: props.destinationName } : { server: props.destinationServer ?? 'https://kubernetes.default.svc' };

    if (props.project !== undefined) validateName(C, 'project', props.project);
    this.projectName = props.project ?? name;
    this.appProject = props.project === undefined ? this.renderProject(name, destination, folders, props.apps) : undefined;

    this.applicationSet = new ApplicationSet(this, 'Resource', {
      metadata: { name },
      spec: {
        goTemplate: true,
        goTemplateOptions: ['missingkey=error'],
        generators: [{
          git: {
            repoUrl: this.repoUrl,
            revision: this.revision,
            directories: [
              ...this.appPaths.map((path) => ({ path })),
              { path: ownPath, exclude: true },
            ],
          },
        }],
        syncPolicy: {
          applicationsSync: props.allowApplicationDeletion
            ? ApplicationSetSpecSyncPolicyApplicationsSync.SYNC
            : ApplicationSetSpecSyncPolicyApplicationsSync.CREATE_HYPHEN_UPDATE,
          preserveResourcesOnDeletion: !props.allowApplicationDeletion,
        },
        template: {
          metadata: {
            name: `${prefix}{{.path.basename}}`,
            finalizers: ['resources-finalizer.argocd.argoproj.io'],
          },
          spec: {
            project: this.projectName,
            source: { repoUrl: this.repoUrl, targetRevision: this.revision, path: '{{.path.path}}' },
            destination: { ...destination, namespace: '{{.path.basename}}' },
            syncPolicy: {
              automated: { prune: true, selfHeal: true, allowEmpty: false },
              syncOptions: ['CreateNamespace=true'],
              // Labels on the namespace Argo CD creates, not a Namespace object in each folder: the
              // folder stays free of its namespace (the Application's destination names it), and
              // deleting an Application never deletes its namespace with whatever else is in it
              // (argo-cd controller/sync_namespace.go @ v3.2.0; needs CreateNamespace=true).
              managedNamespaceMetadata: { labels: podSecurityLabels(this.podSecurity) },
            },
          },
        },
      },
    });
  }

  /**
   * The AppProject of the Applications: this repository, the destination cluster's namespaces of
   * the app folders, and only the kinds the folders hold (read at synth, so objects added later
   * count) plus the Namespace that CreateNamespace makes. Argo CD refuses to sync anything else
   * (argo-cd pkg/apis/application/v1alpha1 types.go @ v3.2.0: a cluster-scoped kind must be in
   * clusterResourceWhitelist; a present namespaceResourceWhitelist admits only its kinds).
   */
  private renderProject(name: string, destination: { name?: string; server?: string }, folders: readonly string[], apps: readonly Chart[]): AppProject {
    return new AppProject(this, 'Project', {
      metadata: { name },
      spec: {
        description: `The Applications of ApplicationSet ${name}: the app folders of ${this.repoUrl}, each in its namespace`,
        sourceRepos: [this.repoUrl],
        destinations: folders.map((namespace) => ({ ...destination, namespace })),
        // CreateNamespace=true (and the pod-security labels) make Argo CD apply a Namespace:
        // a cluster-scoped kind, refused unless listed here (gitops-engine sync_context.go autoCreateNamespace).
        clusterResourceWhitelist: [{ group: '', kind: 'Namespace' }],
        get namespaceResourceWhitelist() {
          return kindsOf(apps);
        },
      },
    });
  }
}

/** The group and kind of every object the charts hold, each once, sorted. */
function kindsOf(charts: readonly Chart[]): { group: string; kind: string }[] {
  const kinds = new Map<string, { group: string; kind: string }>();
  for (const chart of charts) {
    for (const obj of chart.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject)) {
      const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
      kinds.set(`${group}/${obj.kind}`, { group, kind: obj.kind });
    }
  }
  return [...kinds.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, k]) => k);
}
