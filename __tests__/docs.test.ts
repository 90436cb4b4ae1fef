import { existsSync, readdirSync, readFileSync } from 'fs';
import { dirname, join, relative, resolve } from 'path';
import * as ts from 'typescript';
import { checkUnlessUnchanged } from './unchanged';

/*
 * The README and docs/ as a user meets them: every link to a file or heading of the repository
 * leads somewhere, every TypeScript snippet compiles against the project's sources as an app file
 * beside main.ts would, and the README stays short enough to be read first.
 */

const ROOT = join(__dirname, '..');

/** README.md and every page of docs/, relative to the project root. */
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** A fenced code block of a page: its info string and its text, and the line of its opening fence (1-based). */
interface Fence {
  readonly page: string;
  readonly line: number;
  readonly lang: string;
  readonly attributes: string;
  readonly text: string;
}

/** The page's lines outside fenced code blocks (those inside are blank, so line numbers stay), and its fenced blocks. */
function splitFences(page: string): { prose: string[]; fences: Fence[] } {
  const lines = readFileSync(join(ROOT, page), 'utf8').split('\n');
  const prose: string[] = [];
  const fences: Fence[] = [];
  let open: { line: number; indent: number; marker: string; lang: string; attributes: string; body: string[] } | undefined;
  lines.forEach((l, i) => {
    if (open) {
      const close = l.match(/^(\s*)(`{3,}|~{3,})\s*$/);
      if (close && close[2][0] === open.marker[0] && close[2].length >= open.marker.length) {
        fences.push({ page, line: open.line, lang: open.lang, attributes: open.attributes, text: `${open.body.join('\n')}\n` });
        open = undefined;
      } else {
        open.body.push(l.replace(new RegExp(`^ {0,${open.indent}}`), ''));
      }
      prose.push('');
      return;
    }
    const start = l.match(/^( *)(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/);
    if (start) {
      open = { line: i + 1, indent: start[1].length, marker: start[2], lang: start[3].toLowerCase(), attributes: start[4], body: [] };
      prose.push('');
      return;
    }
    prose.push(l);
  });
  if (open) throw new Error(`${page}:${open.line}: a code block that is never closed`);
  return { prose, fences };
}

/** A heading's anchor as GitHub makes it: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
    .replace(/<[^>]+>/g, '') // inline HTML
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors of a Markdown file's headings, numbered as GitHub numbers repeated ones (`-1`, `-2`, ...). */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of splitFences(file).prose) {
    const h = line.match(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!h) continue;
    const base = slug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every link of a page outside code (fenced blocks and inline code spans), with its line. */
function linksOf(page: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  splitFences(page).prose.forEach((l, i) => {
    const text = l.replace(/(`+)[^`]*?\1/g, '');
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ line: i + 1, target: m[1] });
    const ref = text.match(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/);
    if (ref) links.push({ line: i + 1, target: ref[1] });
  });
  return links;
}

/** What is wrong with a link of a page, or undefined when it leads to a file (and heading) of the repository or is not relative. */
function brokenLink(page: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return undefined; // https:, mailto:, ...
  const [path, anchor] = target.split('#', 2);
  const file = path === '' ? join(ROOT, page) : resolve(ROOT, dirname(page), decodeURIComponent(path));
  if (relative(ROOT, file).startsWith('..')) return `${target} leads out of the repository`;
  if (!existsSync(file)) return `${target}: no such file or folder ${relative(ROOT, file)}`;
  if (anchor === undefined) return undefined;
  if (!file.endsWith('.md')) return `${target}: an anchor into a file that is not Markdown cannot be checked`;
  if (!anchorsOf(relative(ROOT, file)).has(anchor)) return `${target}: ${relative(ROOT, file)} has no heading with the anchor #${anchor} (it has ${[...anchorsOf(relative(ROOT, file))].map((a) => `#${a}`).join(', ')})`;
  return undefined;
}

/** A snippet with one type error (a percentage where a ratio is asked for), compiled beside the real ones. */
const PLANTED: Fence = { page: 'docs/planted.md', line: 10, lang: 'ts', attributes: '', text: "import { GateSpec } from './lib';\n\nexport const gate = GateSpec.errorRatio({ max: '5%' });\n" };

/** The TypeScript snippets of the pages (```ts and ```typescript), and those marked `no-compile`. */
function snippets(): { compiled: Fence[]; skipped: Fence[] } {
  const all = PAGES.flatMap((p) => splitFences(p).fences).filter((f) => f.lang === 'ts' || f.lang === 'typescript');
  return { compiled: all.filter((f) => !/\bno-compile\b/.test(f.attributes)), skipped: all.filter((f) => /\bno-compile\b/.test(f.attributes)) };
}

/**
 * Type-checks each snippet as its own module in the project root, where main.ts is (so `./lib`
 * is the library, as an app file imports it), with the compiler options of tsconfig.json.
 * Returns the errors, each at its page and line.
 */
function compileErrors(fences: readonly Fence[]): string[] {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    incremental: false,
    tsBuildInfoFile: undefined,
    // a snippet without import or export is still a module of its own, not a script sharing globals with the others
    moduleDetection: ts.ModuleDetectionKind.Force,
  };
  const files = new Map(fences.map((f) => [join(ROOT, `${f.page.replace(/\//g, '_')}.L${f.line}.doc-snippet.ts`), f]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name);
  host.readFile = (name) => files.get(name)?.text ?? readFile.call(host, name);
  host.getSourceFile = (name, languageVersion, ...rest) => {
    const f = files.get(name);
    return f ? ts.createSourceFile(name, f.text, languageVersion, true) : getSourceFile.call(host, name, languageVersion, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const where = (d: ts.Diagnostic): string => {
    if (!d.file) return 'tsconfig.json';
    const f = files.get(d.file.fileName);
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    return f ? `${f.page}:${f.line + 1 + line}:${character + 1} (the snippet at line ${f.line})` : `${relative(ROOT, d.file.fileName)}:${line + 1}:${character + 1}`;
  };
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...[...files.keys()].flatMap((name) => {
      const sf = program.getSourceFile(name);
      if (!sf) throw new Error(`${name}: not in the program`);
      return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    }),
  ];
  return diagnostics.map((d) => `${where(d)}: error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('the README and docs/', () => {
  test('every link to a file or heading of the repository resolves', () => {
    const broken = PAGES.flatMap((page) => linksOf(page).flatMap(({ line, target }) => {
      const why = brokenLink(page, target);
      return why ? [`${page}:${line}: ${why}`] : [];
    }));
    expect(broken).toEqual([]);
  });

  test('every TypeScript snippet compiles against the project, as an app file beside main.ts', () => {
    const { compiled, skipped } = snippets();
    // the README shows at least one compiled snippet; a snippet may be marked `no-compile` only rarely
    expect(compiled.filter((f) => f.page === 'README.md').length).toBeGreaterThanOrEqual(1);
    expect(skipped.length).toBeLessThanOrEqual(2);
    // the same pages, sources and packages, the same answer: compiled again only when one of them changed
    checkUnlessUnchanged('doc snippets compile', [join(ROOT, 'README.md'), join(ROOT, 'docs'), __filename], () => {
      // beside them, in the same program, a snippet with a type error: the check must see it, at its page and line
      const errors = compileErrors([...compiled, PLANTED]);
      const planted = errors.filter((e) => e.startsWith(`${PLANTED.page}:`));
      expect(planted).toHaveLength(1);
      expect(planted[0]).toMatch(/^docs\/planted\.md:13:\d+ \(the snippet at line 10\): error TS2322: /);
      const real = errors.filter((e) => !planted.includes(e));
      if (real.length > 0) throw new Error(`${real.length} error(s) in the snippets of README.md and docs/ (mark one \`\`\`ts no-compile only when it cannot be a whole file, and say why):\n${real.join('\n')}`);
    });
  }, 120_000);

  test('the README stays the front door: under 250 lines, the reference is in docs/', () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
    if (lines >= 250) throw new Error(`README.md has ${lines} lines; move reference text to a page of docs/ and link it`);
  });
});

/** The helpers, on cases the pages may not hold today. */
describe('the doc checks themselves', () => {
  test('anchors are made as GitHub makes them', () => {
    expect(slug('How synth keeps `dist/` whole')).toBe('how-synth-keeps-dist-whole');
    expect(slug('What is in `dist/`')).toBe('what-is-in-dist');
    expect(slug('Argo CD: bootstrapping, and everyday changes')).toBe('argo-cd-bootstrapping-and-everyday-changes');
    expect(slug('The [cdk8s](https://cdk8s.io) path')).toBe('the-cdk8s-path');
  });

  test('a link to a missing file or heading is found, with what the page has instead', () => {
    expect(brokenLink('README.md', 'docs/gates.md#the-test')).toBeUndefined();
    expect(brokenLink('docs/gates.md', 'rehearsal.md')).toBeUndefined();
    expect(brokenLink('README.md', 'https://cdk8s.io')).toBeUndefined();
    expect(brokenLink('README.md', 'docs/nowhere.md')).toBe('docs/nowhere.md: no such file or folder docs/nowhere.md');
    expect(brokenLink('docs/gates.md', '#nowhere')).toMatch(/^#nowhere: docs\/gates\.md has no heading with the anchor #nowhere \(it has #how-the-gates-judge, #the-three-gates, /);
    expect(brokenLink('docs/gates.md', '../../elsewhere.md')).toBe('../../elsewhere.md leads out of the repository');
  });
});
