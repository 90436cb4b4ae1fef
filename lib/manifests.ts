import { execFileSync } from 'child_process';
import { closeSync, constants, Dirent, fstatSync, openSync, readdirSync, readlinkSync, readSync, Stats, statSync } from 'fs';
import { isUtf8 } from 'buffer';
import { join, posix } from 'path';
import { Composer, CST, DocumentOptions, isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, parse as parseYaml, parseDocument, ParseOptions, Parser, ScalarTag, SchemaOptions } from 'yaml';

/** A Kubernetes object as plain data, with where it was read from. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** A manifest and its origin. */
export interface LoadedManifest {
  /** the object */
  readonly object: Manifest;
  /** the file it came from, relative to the folder loaded, if it came from a file */
  readonly file?: string;
  /** the namespace the loader gives it when it writes none (a `--namespace` flag, its kustomization's `namespace`) */
  readonly defaultNamespace?: { readonly namespace: string; readonly from: string };
}

/** Input that cannot be read: a missing folder, or a YAML syntax error (with file, line and column). */
export class ManifestReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestReadError';
  }
}

const MiB = 1024 * 1024;

/** How much a folder's files may hold, so that memory and time stay bounded whatever the input. */
export const INPUT_LIMITS = {
  /** bytes of one file: far above any manifest file (a bundle of CRDs is a few MiB), and parsed in seconds */
  fileBytes: 16 * MiB,
  /** bytes of every file of a folder together: about a GB of memory at the most (50 MB of YAML take 300 MB) */
  folderBytes: 256 * MiB,
  /** how deep collections may nest (see shallowTokens) */
  depth: 500,
  /** nodes the aliases of a document may add to it, when it holds fewer itself (see inspectDocument) */
  aliasedNodes: 10_000,
};

/** What keeps a file, or a document of it, from being checked as it is: a FileNote before it knows its file. */
interface Problem {
  readonly id: string;
  readonly severity: FileNote['severity'];
  /** line and column in the file, when the problem has a place */
  readonly at?: { readonly line: number; readonly col: number };
  readonly message: string;
  readonly fix: string;
  /** the whole file was left out */
  readonly wholeFile?: boolean;
  readonly unreadable?: boolean;
}

function noteOf(file: string, p: Problem): FileNote {
  const message = `${p.at ? `line:col ${p.at.line}:${p.at.col}: ` : ''}${p.message}${p.wholeFile ? '; the file was not checked (the rest of the folder was)' : ''}`;
  return { id: p.id, severity: p.severity, file, message, fix: p.fix, ...(p.unreadable ? { unreadable: true } : {}) };
}

/** `EACCES` as words, for a message. */
function reasonOf(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EACCES: 'permission denied', EPERM: 'operation not permitted', EIO: 'input/output error', ENOENT: 'no such file',
    ELOOP: 'too many levels of symbolic links', ENOTDIR: 'not a folder', EISDIR: 'a folder', EMFILE: 'too many open files',
  };
  return code ? `${words[code] ?? 'error'}: ${code}` : String((e as Error).message ?? e).split('\n')[0];
}

/** A Helm values file by name: its top level is no object of Kubernetes. */
export const HELM_VALUES_FILE = /(^|\/)[^/]*\.values\.ya?ml$/;

const isYamlName = (name: string) => /\.ya?ml$/.test(name) || name === 'Kustomization';

/** The kind of a file that is neither a regular file nor a folder. */
function typeOf(st: Stats | Dirent): string {
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** A link that cannot be followed: a dangling one, a loop, one that cannot be read. A YAML name makes it a file that is missing from the check. */
function brokenLink(path: string, e: unknown, yamlName: boolean): Problem {
  let target = '?';
  try { target = readlinkSync(path); } catch { /* not a link after all: the reason says what */ }
  const code = (e as NodeJS.ErrnoException).code;
  const severity = yamlName ? 'error' : 'warning';
  const what = yamlName ? 'its objects are not checked' : 'skipped; if it was a folder of manifests, they are not checked';
  if (code === 'ELOOP') {
    return { id: 'input/symlink-loop', severity, unreadable: yamlName, message: `a link to '${target}' that leads back to itself through other links (ELOOP): ${what}`, fix: 'point the link at a file or folder, or remove it' };
  }
  const why = code === 'ENOENT' ? `which does not exist (a dangling link, ENOENT)` : `which cannot be read (${reasonOf(e)})`;
  return { id: 'input/unreadable', severity, unreadable: yamlName, message: `a link to '${target}', ${why}: ${what}`, fix: 'point the link at an existing file, or remove it' };
}

/** What a folder holds to be read: its YAML files, and notes about what it holds that cannot be read. */
export interface FolderScan {
  /** every `*.yaml`/`*.yml` (and `Kustomization`) regular file, relative to the folder, in path order */
  readonly files: string[];
  readonly notes: FileNote[];
}

/**
 * Every YAML file under `dir`, without opening a file. Links are followed, to files and folders,
 * wherever they lead: kubectl reads a linked file it is given, and the folder may be part of a
 * repository whose bounds (Argo CD refuses links out of the repository) cannot be seen from here.
 * Each folder is read once, by device and inode: the real folders first, then the linked ones, so
 * a link into the folder itself is noted rather than read twice, and a link back to a folder it is
 * in is a loop, noted and not followed. Files that are not regular (a FIFO would block the read
 * forever, a device never ends) are noted and never opened.
 */
export function scanFolder(dir: string): FolderScan {
  let top: Stats;
  try {
    top = statSync(dir);
  } catch (e) {
    throw new ManifestReadError((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${dir}: no such folder` : `${dir}: cannot be read (${reasonOf(e)})`);
  }
  if (!top.isDirectory()) throw new ManifestReadError(`${dir}: neither a folder nor a regular file`);
  const files: string[] = [];
  const notes: FileNote[] = [];
  /** the folder read for each device:inode */
  const read = new Map<string, string>();
  const links: { path: string; rel: string; st: Stats; ancestors: readonly string[] }[] = [];
  const keyOf = (st: Stats) => `${st.dev}:${st.ino}`;

  const walk = (path: string, rel: string, ancestors: readonly string[]) => {
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch (e) {
      if (rel === '') throw new ManifestReadError(`${dir}: cannot be read (${reasonOf(e)})`);
      notes.push({ id: 'input/unreadable', severity: 'error', file: rel, unreadable: true, message: `a folder that cannot be listed (${reasonOf(e)}): the files in it are not checked`, fix: 'make it readable (chmod a+rx), or move it out of the folder' });
      return;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name === 'node_modules' || entry.name === '.git') continue;
      const full = join(path, entry.name);
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const yamlName = isYamlName(entry.name);
      let st: Stats | undefined;
      if (entry.isSymbolicLink()) {
        try {
          st = statSync(full);
        } catch (e) {
          notes.push(noteOf(relPath, brokenLink(full, e, yamlName)));
          continue;
        }
        if (st.isDirectory()) {
          links.push({ path: full, rel: relPath, st, ancestors });
          continue;
        }
      } else if (entry.isDirectory()) {
        try {
          st = statSync(full);
        } catch (e) {
          notes.push({ id: 'input/unreadable', severity: 'error', file: relPath, unreadable: true, message: `a folder that cannot be read (${reasonOf(e)}): the files in it are not checked`, fix: 'make it readable (chmod a+rx)' });
          continue;
        }
        enter(full, relPath, st, ancestors);
        continue;
      }
      if (!yamlName) continue;
      if (st ? st.isFile() : entry.isFile()) files.push(relPath);
      else notes.push(notAFile(relPath, st ?? entry));
    }
  };
  const enter = (path: string, rel: string, st: Stats, ancestors: readonly string[]) => {
    const key = keyOf(st);
    if (ancestors.includes(key)) {
      notes.push({ id: 'input/symlink-loop', severity: 'warning', file: rel, message: `leads back to '${read.get(key) || '.'}', a folder it is in: not followed (that folder is read once)`, fix: 'none needed; remove the link if it was not meant to loop' });
    } else if (read.has(key)) {
      notes.push({ id: 'input/already-read', severity: 'info', file: rel, message: `the same folder as '${read.get(key) || '.'}', read already: its files are checked once, under that name`, fix: 'none needed' });
    } else {
      read.set(key, rel);
      walk(path, rel, [...ancestors, key]);
    }
  };
  read.set(keyOf(top), '');
  walk(dir, '', [keyOf(top)]);
  // Linked folders after every real one, so a folder's files keep their real names; a linked folder's own links queue behind.
  for (let i = 0; i < links.length; i++) enter(links[i].path, links[i].rel, links[i].st, links[i].ancestors);
  return { files: files.sort(byPath), notes };
}

/** Folder by folder, as a sorted walk lists them. */
function byPath(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = x[i].localeCompare(y[i]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

function notAFile(file: string, st: Stats | Dirent): FileNote {
  return {
    id: 'input/not-a-file', severity: 'warning', file,
    message: `${typeOf(st)}, not a file: skipped without opening it (git cannot hold one, so nothing deploys it)`,
    fix: 'remove it from the folder, or give it a name that does not end in .yaml/.yml',
  };
}

/** Every `*.yaml`/`*.yml` file under `dir`, sorted, relative to `dir` (see {@link scanFolder} for links and what is left out). */
export function yamlFilesUnder(dir: string): string[] {
  return scanFolder(dir).files;
}

/** How many bytes of a folder's files have been read, against {@link INPUT_LIMITS}.folderBytes. */
interface ReadBudget {
  used: number;
  readonly limit: number;
  /** a file was refused for the budget: this and every later file is not read */
  full?: boolean;
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * The text of a file: its bytes read, but only from a regular file of at most
 * {@link INPUT_LIMITS}.fileBytes (and within the folder's budget), that holds UTF-8 text without
 * control characters. Anything else is a problem with the file, never an exception.
 */
function readManifestText(path: string, budget?: ReadBudget): { text: string; key: string } | { problem: Problem } {
  let fd: number | undefined;
  try {
    const st = statSync(path);
    if (!st.isFile()) return { problem: { id: 'input/not-a-file', severity: 'warning', message: `${typeOf(st)}, not a file: skipped without opening it`, fix: 'remove it from the folder' } };
    const limit = INPUT_LIMITS.fileBytes;
    if (st.size > limit) return { problem: tooLarge(`${mib(st.size)} (${st.size} bytes), over the ${mib(limit)} a file may hold`) };
    if (budget && budget.used + st.size > budget.limit) {
      budget.full = true;
      return { problem: tooLarge(`the folder's files passed the ${mib(budget.limit)} a folder may hold`) };
    }
    // O_NONBLOCK: a file swapped for a FIFO after the stat must not block the open either.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const fst = fstatSync(fd);
    if (!fst.isFile()) return { problem: { id: 'input/not-a-file', severity: 'warning', message: `${typeOf(fst)}, not a file: skipped`, fix: 'remove it from the folder' } };
    const bytes = readAtMost(fd, fst.size, limit + 1);
    if (bytes.length > limit) return { problem: tooLarge(`over the ${mib(limit)} a file may hold (it grew while read)`) };
    if (budget) budget.used += bytes.length;
    const problem = textProblem(bytes);
    if (problem) return { problem };
    const text = bytes.toString('utf8');
    const control = controlCharacter(text, bytes);
    if (control) return { problem: control };
    return { text, key: `${fst.dev}:${fst.ino}` };
  } catch (e) {
    return { problem: { id: 'input/unreadable', severity: 'error', unreadable: true, wholeFile: true, message: `cannot be read (${reasonOf(e)})`, fix: 'make it readable (chmod a+r), or move it out of the folder' } };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tooLarge(why: string): Problem {
  return { id: 'input/too-large', severity: 'error', unreadable: true, wholeFile: true, message: `not read: ${why}`, fix: 'split it into smaller files, or validate a smaller folder; no manifest comes near these sizes' };
}

/** Up to `max` bytes of an open file, to its end: the size stat gives is only a first guess (files in /proc say 0). */
function readAtMost(fd: number, size: number, max: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (let want = Math.min(size + 1, max); total < max; want = Math.min(64 * 1024, max - total)) {
    const chunk = Buffer.allocUnsafe(want);
    let filled = 0;
    while (filled < want) {
      const n = readSync(fd, chunk, filled, want - filled, null);
      if (n === 0) break;
      filled += n;
    }
    chunks.push(chunk.subarray(0, filled));
    total += filled;
    if (filled < want) break;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/** Characters YAML does not allow in a stream (YAML 1.2 c-printable), as go-yaml rejects them: "control characters are not allowed". */
// eslint-disable-next-line no-control-regex
const NOT_PRINTABLE = /[\x01-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]/;

/** Why some bytes are not YAML text: binary, not UTF-8; with the byte offset, the line and a short escaped excerpt. */
function textProblem(bytes: Buffer): Problem | undefined {
  const fix = 'save it as UTF-8 text, or move it out of the folder (or give it a name that does not end in .yaml/.yml)';
  const utf16 = bytes[0] === 0xff && bytes[1] === 0xfe ? 'UTF-16LE' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'UTF-16BE' : undefined;
  if (utf16) {
    return { id: 'input/not-utf8', severity: 'error', wholeFile: true, at: { line: 1, col: 1 }, message: `${utf16} text (byte order mark ${excerpt(bytes, 0, 2)}), not UTF-8`, fix: `convert it: iconv -f ${utf16} -t UTF-8` };
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    return { id: 'input/binary', severity: 'error', wholeFile: true, at: lineColOf(bytes, nul), message: `a binary file, not YAML text: a NUL byte at offset ${nul}: ${excerpt(bytes, nul)}`, fix };
  }
  if (!isUtf8(bytes)) {
    const bad = firstInvalidUtf8(bytes);
    return { id: 'input/not-utf8', severity: 'error', wholeFile: true, at: lineColOf(bytes, bad), message: `not UTF-8: byte 0x${bytes[bad].toString(16)} at offset ${bad} starts no UTF-8 character: ${excerpt(bytes, bad)}; kubectl and Argo CD read YAML as UTF-8`, fix: 'convert it to UTF-8 (iconv -f LATIN1 -t UTF-8, if it was Latin-1)' };
  }
  return undefined;
}

/** The first character YAML does not allow in a text that is otherwise good UTF-8. */
function controlCharacter(text: string, bytes: Buffer): Problem | undefined {
  const control = NOT_PRINTABLE.exec(text);
  if (!control) return undefined;
  const at = Buffer.byteLength(text.slice(0, control.index));
  const code = control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase();
  return { id: 'input/binary', severity: 'error', wholeFile: true, at: lineColOf(bytes, at), message: `a control character (U+${code}) at offset ${at}: ${excerpt(bytes, at)}; YAML allows none but tab and line breaks, and kubectl refuses it ('control characters are not allowed')`, fix: 'remove the character (or write it as an escape in a double-quoted string)' };
}

/** The offset of the first byte that does not start (or continue) a well-formed UTF-8 character (RFC 3629). */
function firstInvalidUtf8(b: Buffer): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > b.length) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k < n; k++) {
      if (b[i + k] < (k === 1 ? lo : 0x80) || b[i + k] > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n;
  }
  return b.length;
}

/** Line and column (1-based, in bytes) of an offset. */
function lineColOf(bytes: Buffer, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let nl = bytes.indexOf(10); nl >= 0 && nl < offset; nl = bytes.indexOf(10, nl + 1)) {
    line++;
    start = nl + 1;
  }
  return { line, col: offset - start + 1 };
}

/** At most about 60 characters of the bytes around `offset`, from its line's start or 20 bytes before it, printable ASCII as it is and the rest escaped. */
function excerpt(bytes: Buffer, offset: number, length = 60): string {
  const lineStart = bytes.lastIndexOf(10, offset - 1) + 1;
  let out = '';
  let i = Math.max(lineStart, offset - 20);
  for (; i < bytes.length && out.length < length; i++) {
    const c = bytes[i];
    if (c === 0x5c || c === 0x22) out += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else if (c === 10) out += '\\n';
    else if (c === 9) out += '\\t';
    else if (c === 13) out += '\\r';
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${out}"${i < bytes.length ? '...' : ''}`;
}

/** The objects of one YAML text, and the problems of its documents. */
interface ParsedText {
  readonly manifests: LoadedManifest[];
  /** problems that leave a document (a syntax error: the whole file) out of the check, or that kubectl would refuse */
  readonly problems: Problem[];
  /** documents that are no Kubernetes object: a mapping without kind or apiVersion, a scalar, a sequence (an error for a folder's files, except kustomize's and a chart's) */
  readonly strays: Problem[];
}

const YAML_OPTIONS = {
  // The library's own duplicate-key check compares each key with every key before it (40,000 keys: 27 s); inspectDocument does it in one pass.
  uniqueKeys: false,
  // Its warnings (a collection as a key) would go to stderr through process.emitWarning.
  logLevel: 'error',
} as const;

/**
 * Plain scalars as kubectl reads them. kubectl (sigs.k8s.io/yaml v1.6.0) turns YAML into JSON with
 * go-yaml v2 (go.yaml.in/yaml/v2 v2.4.2), whose resolver is YAML 1.1's where the two differ
 * (resolve.go @ v2.4.0): `y`, `yes`, `on`, `n`, `no`, `off` in any of their spellings are booleans,
 * and an integer with a leading 0 is octal (strconv.ParseInt base 0). Timestamps stay strings when
 * decoded into interface{}, as YAML 1.2's core schema keeps them. So `enabled: yes` is a boolean, and
 * a string field given one is refused, here as by kubectl.
 */
const GO_YAML_BOOL: ScalarTag = {
  identify: (v: unknown) => typeof v === 'boolean',
  default: true,
  tag: 'tag:yaml.org,2002:bool',
  test: /^(?:[yY]|yes|Yes|YES|[nN]|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  resolve: (s: string) => /^(?:[yY]|yes|Yes|YES|true|True|TRUE|on|On|ON)$/.test(s),
};
const GO_YAML_OCTAL: ScalarTag = {
  identify: (v: unknown) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^[-+]?0[0-7_]+$/,
  resolve: (s: string) => parseInt(s.replace(/_/g, ''), 8),
};

/** How the folder's manifests are parsed: as kubectl parses them (see GO_YAML_BOOL). Collector configurations keep YAML_OPTIONS: the collector reads them with yaml.v3. */
const KUBECTL_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  ...YAML_OPTIONS,
  customTags: (tags) => [GO_YAML_BOOL, GO_YAML_OCTAL, ...tags],
};

/**
 * The text with the continuation lines of multi-line quoted scalars indented past their key, or
 * undefined when none needed it. YAML 1.2 wants them indented more than the key, and the yaml
 * library refuses the file otherwise ("Missing closing 'quote"); go-yaml v2, which kubectl reads
 * with, never checks their indentation (scannerc.go yaml_parser_scan_flow_scalar @ v2.4.0 only
 * refuses a document marker at column 0), so CRDs generated with such descriptions (flagger's) apply.
 * Line folding drops a continuation line's leading spaces: the value is the same.
 */
export function indentQuotedContinuations(text: string): string | undefined {
  const lines = text.split('\n');
  let changed = false;
  let block: number | undefined; // the indentation of the key of a block scalar being skipped
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const indent = /^ */.exec(line)![0].length;
    if (block !== undefined) {
      if (line.trim() === '' || indent > block) continue;
      block = undefined;
    }
    const start = /^( *)(- +)?([^\s#'"{[][^#]*?:[ \t]+)?(['"])/.exec(line);
    if (!start) {
      if (/:[ \t]+[|>][-+0-9]*[ \t]*(?:#.*)?$/.test(line)) block = indent;
      continue;
    }
    const quote = start[4];
    // the value belongs to the key (in a compact `- key:` mapping, at the key's column), or to the `-` of a sequence
    const parent = start[1].length + (start[3] !== undefined ? (start[2] ?? '').length : 0);
    let closed = closesAt(line, start[0].length, quote);
    for (let j = i + 1; closed < 0 && j < lines.length; j++) {
      const next = lines[j];
      const own = /^ */.exec(next)![0].length;
      if (next.trim() !== '' && own <= parent) {
        lines[j] = ' '.repeat(parent + 1 - own) + next;
        changed = true;
      }
      closed = closesAt(lines[j], 0, quote);
      i = j;
    }
  }
  return changed ? lines.join('\n') : undefined;
}

/** Where a quoted scalar opened before `from` closes on a line, or -1 when it goes on ('' and \" are escapes). */
function closesAt(line: string, from: number, quote: string): number {
  for (let k = from; k < line.length; k++) {
    const c = line[k];
    if (quote === '"' && c === '\\') { k++; continue; }
    if (c !== quote) continue;
    if (quote === "'" && line[k + 1] === "'") { k++; continue; }
    return k;
  }
  return -1;
}

/**
 * Parses a multi-document YAML text one document at a time (the syntax tree of one document is
 * in memory at once, not that of a whole file), in time linear in its length.
 */
function parseText(text: string, file: string | undefined, retried = false): ParsedText {
  const lineCounter = new LineCounter();
  const composer = new Composer(KUBECTL_YAML_OPTIONS);
  const manifests: LoadedManifest[] = [];
  const problems: Problem[] = [];
  const strays: Problem[] = [];
  let index = 0;
  const depth: { tooDeep?: number } = {};
  for (const doc of composer.compose(shallowTokens(text, lineCounter, depth))) {
    index++;
    const error = doc.errors[0];
    if (error) {
      const indented = retried ? undefined : indentQuotedContinuations(text);
      if (indented !== undefined) {
        const again = parseText(indented, file, true);
        if (!again.problems.some((p) => p.id === 'input/not-yaml' && p.wholeFile)) return again;
      }
      const at = lineCounter.linePos(error.pos[0]);
      return { manifests: [], strays: [], problems: [{ id: 'input/not-yaml', severity: 'error', wholeFile: true, at, message: `YAML syntax error: ${error.message.split('\n')[0]}`, fix: 'fix the YAML; a template (Helm, envsubst) must be rendered before it can be validated' }] };
    }
    const at = lineCounter.linePos(doc.range[0]);
    const where = `document ${index}`;
    const shape = inspectDocument(doc);
    if (shape.collectionKey) {
      // go-yaml v2 decodes into map[interface{}]interface{}, where a mapping or a sequence cannot be a key (decode.go d.mapping @ v2.4.0)
      return { manifests: [], strays: [], problems: [{
        id: 'input/not-yaml', severity: 'error', wholeFile: true, at: lineCounter.linePos(shape.collectionKey.offset),
        message: `${where}: a collection used as a mapping key${shape.collectionKey.flow ? " (an unquoted '{{args.x}}' is one)" : ''}; kubectl refuses the file ('yaml: invalid map key')`,
        fix: "quote the value: key: '{{args.x}}'",
      }] };
    }
    if (shape.duplicate) {
      problems.push({
        id: 'input/duplicate-key', severity: 'error', at: lineCounter.linePos(shape.duplicate.offset),
        message: `${where}: the key '${shape.duplicate.key}' appears twice in one mapping; kustomize, Flux and kubectl's strict decoding refuse the file ('mapping key already defined'), others keep the last value (which is what is checked here)`,
        fix: 'remove one of the two keys',
      });
    }
    if (shape.aliases) {
      problems.push(aliasLimit(where, at, shape.aliases));
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // An alias of no anchor ("Unresolved alias"), or a merge key (YAML 1.1) of no mapping.
      problems.push({ id: 'input/not-yaml', severity: 'error', at, message: `${where} was not checked: ${String((e as Error).message).split('\n')[0]}`, fix: 'fix the YAML' });
      continue;
    }
    if (value === null || value === undefined) continue; // empty, or only comments
    const items = isList(value) ? value.items.map((item, i) => ({ item, where: `${where}, List item ${i + 1}` })) : [{ item: value, where }];
    for (const { item, where: place } of items) {
      const object = item as Record<string, unknown>;
      const mapping = typeof item === 'object' && item !== null && !Array.isArray(item);
      if (!mapping || typeof object.kind !== 'string') {
        const what = !mapping ? `${Array.isArray(item) ? 'a sequence' : `a ${typeof item}`}, not a mapping` : 'a mapping without kind';
        strays.push({ id: 'input/no-kind', severity: 'error', at, message: `${place} is ${what}: not a Kubernetes object, so nothing was checked in it; kubectl and Argo CD refuse the file ("Object 'Kind' is missing")`, fix: 'add apiVersion and kind, or move the file out of the folder (values files, CI configurations)' });
        continue;
      }
      if (typeof object.apiVersion !== 'string') {
        strays.push({ id: 'input/no-api-version', severity: 'error', at, message: `${place} is a ${object.kind} ${object.apiVersion === undefined ? 'without apiVersion' : 'whose apiVersion is not a string'}: kubectl and Argo CD refuse it, and it was not checked`, fix: `add the apiVersion of ${object.kind} (kubectl api-resources lists them)` });
      }
      manifests.push({ object: { metadata: {}, ...object } as Manifest, file });
    }
  }
  if (depth.tooDeep !== undefined) {
    return { manifests: [], strays: [], problems: [{ id: 'input/too-deep', severity: 'error', wholeFile: true, at: lineCounter.linePos(depth.tooDeep), message: `collections nested more than ${INPUT_LIMITS.depth} deep (manifests nest some 20 deep; the YAML parser here fails at about 800, kubectl's at 10,000)`, fix: 'flatten the data, or fix the brackets' }] };
  }
  return { manifests, problems, strays };
}

/**
 * The syntax tree of a text, as `new Parser().parse(text)` yields it, but stopped (with the offset in
 * `depth.tooDeep`) at a collection nested deeper than {@link INPUT_LIMITS}.depth: the parser
 * spends some 10 µs on each level of `[[[[...`, and its composer overflows the stack at about 800,
 * so a 16 MiB file of brackets took minutes to fail. Counted from the lexer's tokens: flow
 * brackets, and the block indicators `- ` and `? ` that open a collection on the line of another.
 */
function* shallowTokens(text: string, lineCounter: LineCounter, depth: { tooDeep?: number }): Generator<CST.Token> {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  let flow = 0;
  let onLine = 0;
  let scalar = false;
  for (const lexeme of new Lexer().lex(text)) {
    if (scalar) {
      scalar = false; // the source of a plain or block scalar: its brackets are text
    } else if (lexeme === CST.SCALAR) {
      scalar = true;
    } else if (lexeme === '[' || lexeme === '{') {
      flow++;
    } else if (lexeme === ']' || lexeme === '}') {
      flow = Math.max(0, flow - 1);
    } else if (lexeme === '\n') {
      onLine = 0;
    } else if ((lexeme === '-' || lexeme === '?') && flow === 0) {
      onLine++;
    } else if (lexeme === CST.DOCUMENT || lexeme === CST.FLOW_END || lexeme === '---') {
      flow = 0;
    }
    if (flow + onLine > INPUT_LIMITS.depth) {
      depth.tooDeep = parser.offset;
      return;
    }
    yield* parser.next(lexeme);
  }
  yield* parser.end();
}

function aliasLimit(where: string, at: { line: number; col: number }, why: string): Problem {
  return { id: 'input/alias-limit', severity: 'error', at, message: `${where} was not checked: ${why} (the expansion of YAML aliases is limited, as kubectl limits it)`, fix: 'write the repeated parts out, or use fewer aliases' };
}

/** A place that holds a node: a pair's key or value, a sequence's item, a document's contents. */
type Frame = { node: unknown; holder: Record<string | number, unknown>; slot: string | number } | { closes: object; start: number };

/**
 * One pass over a document's syntax tree, with a stack rather than recursion (a document nested
 * 100,000 deep is no stack overflow): the first key that appears twice in one mapping (compared
 * as the yaml library compares scalar keys), and its aliases replaced by the nodes they name.
 * The library resolves each alias with a pass over the document, and each alias inside an
 * aliased anchor with another: a 3 MB document took minutes. Replaced, the aliases cost what
 * they expand to, which is limited here: they may add as many nodes as the document holds
 * ({@link INPUT_LIMITS}.aliasedNodes when that is more), so a "billion laughs" is refused before
 * it is expanded. Returns why the aliases were refused, if they were.
 */
function inspectDocument(doc: { contents: unknown }): { duplicate?: { key: string; offset: number }; aliases?: string; collectionKey?: { offset: number; flow: boolean } } {
  let duplicate: { key: string; offset: number } | undefined;
  let collectionKey: { offset: number; flow: boolean } | undefined;
  const anchors = new Map<string, object>();
  /** the nodes each anchored node expands to, once its subtree is walked */
  const sizes = new Map<object, number>();
  let nodes = 0;
  let added = 0;
  const stack: Frame[] = [{ node: doc.contents, holder: doc as unknown as Record<string, unknown>, slot: 'contents' }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if ('closes' in frame) {
      sizes.set(frame.closes, nodes + added - frame.start);
      continue;
    }
    const node = frame.node;
    if (typeof node !== 'object' || node === null) continue;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) continue; // the library reports it
      const size = sizes.get(target);
      if (size === undefined) return { duplicate, collectionKey, aliases: `the alias *${node.source} is inside the node it names, which would never end` };
      added += size;
      frame.holder[frame.slot] = target;
      continue;
    }
    nodes++;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) {
      anchors.set(anchor, node);
      sizes.delete(node);
      stack.push({ closes: node, start: nodes + added - 1 });
    }
    if (isMap(node)) {
      const keys = new Set<unknown>();
      for (const pair of node.items) {
        const key = pair.key;
        if ((isMap(key) || isSeq(key)) && collectionKey === undefined) collectionKey = { offset: key.range?.[0] ?? 0, flow: key.flow === true };
        if (isScalar(key) && !Number.isNaN(key.value)) {
          if (keys.has(key.value)) duplicate ??= { key: String(key.value), offset: key.range?.[0] ?? 0 };
          keys.add(key.value);
        }
      }
      for (let i = node.items.length - 1; i >= 0; i--) pushPair(stack, node.items[i]);
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) stack.push({ node: node.items[i], holder: node.items as unknown as Record<number, unknown>, slot: i });
    } else if (isPair(node)) {
      pushPair(stack, node);
    }
  }
  const allowed = Math.max(nodes, INPUT_LIMITS.aliasedNodes);
  if (added > allowed) return { duplicate, collectionKey, aliases: `its aliases would add ${added > 1e12 ? 'more than 10^12' : added} nodes to its ${nodes}, over the ${allowed} they may add` };
  return { duplicate, collectionKey };
}

/** The key, then the value of a pair, in document order (the stack pops the last first). */
function pushPair(stack: Frame[], pair: unknown): void {
  const holder = pair as Record<string, unknown>;
  stack.push({ node: holder.value, holder, slot: 'value' }, { node: holder.key, holder, slot: 'key' });
}

/** Parses a multi-document YAML text into the Kubernetes objects it holds (documents without `kind` are skipped); a ManifestReadError for a text that is not YAML. */
export function parseManifests(text: string, file?: string): LoadedManifest[] {
  const parsed = parseText(text, file);
  const problem = parsed.problems[0];
  if (problem) throw new ManifestReadError(`${file ?? '<input>'}:${problem.at ? `${problem.at.line}:${problem.at.col}:` : ''} ${problem.message}`);
  return parsed.manifests;
}

/** Loads every Kubernetes object from the YAML files under `dir`; a ManifestReadError for the first file that cannot be read or parsed. */
export function loadManifests(dir: string): LoadedManifest[] {
  const { files, notes } = scanFolder(dir);
  const error = notes.find((n) => n.severity === 'error');
  if (error) throw new ManifestReadError(`${join(dir, error.file)}: ${error.message}`);
  return files.flatMap((file) => {
    const read = readManifestText(join(dir, file));
    if ('problem' in read) throw new ManifestReadError(`${join(dir, file)}: ${noteOf(file, read.problem).message}`);
    return parseManifests(read.text, file);
  });
}

function isList(value: unknown): value is { items: unknown[] } {
  const v = value as { kind?: unknown; items?: unknown };
  return typeof v === 'object' && v !== null && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items);
}

/** A collector configuration found inside a ConfigMap. */
export interface FoundCollectorConfig {
  /** the ConfigMap that holds it */
  readonly configMap: LoadedManifest;
  /** the data key it is under */
  readonly key: string;
  /** the parsed configuration */
  readonly config: Record<string, unknown>;
}

const COLLECTOR_SECTIONS = ['receivers', 'processors', 'exporters', 'connectors', 'extensions', 'service'];

/**
 * Every OpenTelemetry Collector configuration held in a ConfigMap, under any key: a YAML
 * mapping whose top level has `service` or at least two of the collector's sections.
 */
export function findCollectorConfigs(manifests: readonly LoadedManifest[]): FoundCollectorConfig[] {
  const out: FoundCollectorConfig[] = [];
  for (const m of manifests) {
    if (m.object.kind !== 'ConfigMap') continue;
    const data = (m.object.data ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(data).sort()) {
      const text = data[key];
      if (typeof text !== 'string' || !mayBeCollectorConfig(text)) continue;
      const parsed = parseMapping(text);
      if (parsed === undefined) continue;
      const keys = Object.keys(parsed);
      const sections = keys.filter((k) => COLLECTOR_SECTIONS.includes(k));
      if (keys.includes('service') || sections.length >= 2) {
        out.push({ configMap: m, key, config: parsed as Record<string, unknown> });
      }
    }
  }
  return out;
}

/**
 * A collector section as a key: opening a line (`service:`, `{receivers: ...`), or quoted anywhere
 * (`,"service":`). Blanks only within the line, so it reads each character once, whatever the text.
 */
const SECTION_KEY = new RegExp(`(?:^[ \\t{]*(${COLLECTOR_SECTIONS.join('|')})|["'](${COLLECTOR_SECTIONS.join('|')})["'])[ \\t]*:`, 'gm');

/**
 * Whether a text can be a collector configuration: it has `service` or two other sections as
 * keys. Most ConfigMap values (settings, dashboards, scripts) have none, and are not parsed at
 * all: parsing every value of a 50 MB folder took twice as long as reading its files, and the
 * canary dashboard's JSON, which names `service` in its queries, took 50 ms of a validate.
 */
function mayBeCollectorConfig(text: string): boolean {
  const keys = new Set([...text.matchAll(SECTION_KEY)].map((m) => m[1] ?? m[2]));
  return keys.has('service') || keys.size >= 2;
}

/** A YAML text that is one mapping without a syntax error or a duplicate key, as plain data; else undefined. */
function parseMapping(text: string): Record<string, unknown> | undefined {
  try {
    const doc = parseDocument(text, YAML_OPTIONS);
    if (doc.errors.length > 0) return undefined;
    const shape = inspectDocument(doc);
    if (shape.duplicate || shape.aliases) return undefined;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** A finding about a file of the folder rather than an object: a file that cannot be read or is not YAML, a skipped chart template, a kustomize build. */
export interface FileNote {
  /** `input/not-yaml`, `input/unreadable`, `input/chart-template`, `input/kustomize`, ... (docs/validate.md) */
  readonly id: string;
  readonly severity: 'error' | 'warning' | 'info';
  readonly file: string;
  readonly message: string;
  readonly fix: string;
  /** the file (or folder) could not be read at all, so its objects are missing from the check: `validate` exits 2 */
  readonly unreadable?: boolean;
}

/** How {@link loadFolder} reads a folder. */
export interface LoadFolderOptions {
  /** the namespace of objects that write none (`--namespace`); wins over every other evidence */
  readonly namespace?: string;
  /**
   * finds how to run `kubectl kustomize DIR` (asked only when the folder has a kustomization);
   * undefined, or a result of undefined: kustomizations are not built (their kinds are skipped)
   */
  readonly kustomize?: () => ((dir: string) => string) | undefined;
}

/** What a folder holds: its objects, and notes about files that are not plain manifests. */
export interface LoadedFolder {
  readonly manifests: LoadedManifest[];
  readonly notes: FileNote[];
}

/** The file names kustomize reads as a kustomization (sigs.k8s.io/kustomize api/konfig/general.go `RecognizedKustomizationFileNames` @ kustomize/v5.5.0). */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** The API group of kustomize's own kinds (Kustomization, Component): build input, never cluster objects. */
const KUSTOMIZE_GROUP = 'kustomize.config.k8s.io/';

/** `kubectl kustomize DIR` with the kubectl on PATH, or undefined when there is none. */
export function kubectlKustomize(): ((dir: string) => string) | undefined {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return undefined;
  }
  return (dir) => execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
}

/** Whether a file sits in a Helm chart's `templates/` folder (a `Chart.yaml` beside that folder). */
function isChartTemplate(dir: string, file: string): boolean {
  const parts = file.split('/');
  const at = parts.lastIndexOf('templates');
  return at >= 0 && at < parts.length - 1 && statSafe(join(dir, ...parts.slice(0, at), 'Chart.yaml'));
}

function statSafe(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

interface Kustomization {
  /** its folder, relative to the folder loaded ('' for the root) */
  readonly dir: string;
  readonly file: string;
  readonly namespace?: string;
  /** folders it builds from (resources, bases, components that are folders), relative to the folder loaded */
  readonly dirs: readonly string[];
  /** files it lists, relative to the folder loaded */
  readonly files: readonly string[];
}

function readKustomizations(dir: string, files: readonly string[]): Kustomization[] {
  return files.filter((f) => KUSTOMIZATION_FILES.includes(posix.basename(f))).flatMap((file) => {
    const read = readManifestText(join(dir, file));
    let body: Record<string, unknown>;
    try {
      if ('problem' in read) return []; // reported when its turn comes
      body = (parseYaml(read.text, KUBECTL_YAML_OPTIONS) ?? {}) as Record<string, unknown>;
    } catch {
      return []; // reported as not YAML when its turn comes
    }
    const here = dirOf(file);
    const entries = ['resources', 'bases', 'components'].flatMap((k) => (Array.isArray(body[k]) ? body[k] as unknown[] : []))
      .filter((e): e is string => typeof e === 'string' && !/^[a-z]+:\/\//.test(e) && !e.startsWith('github.com/'))
      .map((e) => posix.normalize(posix.join(here, e)));
    const isDir = (p: string) => { try { return statSync(join(dir, p)).isDirectory(); } catch { return false; } };
    return [{
      dir: here, file,
      namespace: typeof body.namespace === 'string' ? body.namespace : undefined,
      dirs: entries.filter(isDir), files: entries.filter((e) => !isDir(e)),
    }];
  });
}

const dirOf = (file: string) => (posix.dirname(file) === '.' ? '' : posix.dirname(file));
const under = (file: string, folder: string) => folder === '' || file === folder || file.startsWith(`${folder}/`);

/**
 * What kubectl said when kustomize failed, without its log prefix: `error: ...`, or a klog line
 * `E1207 12:53:31.623276  1972 run.go:72] "command failed" err="..."` (newer kubectl).
 */
export function kustomizeFailure(stderr: string): string {
  const line = stderr.trim().split('\n').find((l) => l.trim() !== '') ?? 'no message';
  const klog = /^[EWIF]\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] "command failed" err="(.*)"$/.exec(line);
  return klog ? klog[1].replace(/\\(.)/g, '$1') : line.replace(/^error: /, '');
}

/** Whether a path is a regular file (a link to one too); what cannot be read is left to {@link scanFolder} to report. */
function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Loads a folder the way a platform engineer's repository holds it: every YAML file, a file
 * that is not YAML reported on its own (the rest still loaded), Helm chart templates skipped
 * with a note, and folders with a kustomization built with kustomize when it is available
 * (else their kustomize kinds are skipped and their `namespace` applied to the files they list).
 * Given a file, loads that file alone, with the same checks.
 */
export function loadFolder(path: string, options: LoadFolderOptions = {}): LoadedFolder {
  const single = isRegularFile(path);
  const dir = single ? posix.dirname(path) : path;
  const { files, notes } = single ? { files: [posix.basename(path)], notes: [] } : scanFolder(dir);
  const manifests: LoadedManifest[] = [];
  const kustomizations = readKustomizations(dir, files);
  const consumed = new Set(kustomizations.flatMap((k) => k.dirs));
  const roots = kustomizations.filter((k) => !consumed.has(k.dir));
  const built = new Set<string>();
  const flag = options.namespace ? { namespace: options.namespace, from: '--namespace' } : undefined;
  const withNamespace = (m: LoadedManifest, fallback?: LoadedManifest['defaultNamespace']): LoadedManifest => {
    const ns = flag ?? fallback;
    return ns && !m.object.metadata?.namespace ? { ...m, defaultNamespace: ns } : m;
  };

  const kustomize = roots.length > 0 ? options.kustomize?.() : undefined;
  if (kustomize) {
    for (const k of roots) {
      try {
        const out = kustomize(join(dir, k.dir || '.'));
        manifests.push(...parseManifests(out, k.file).filter((m) => typeof m.object.apiVersion === 'string').map((m) => withNamespace(m)));
        built.add(k.dir);
        notes.push({ id: 'input/kustomize', severity: 'info', file: k.file, message: `built with kustomize (kubectl kustomize ${k.dir || '.'}): its objects are checked as kustomize renders them, overlays and patches applied`, fix: 'none needed' });
      } catch (e) {
        const reason = kustomizeFailure(String((e as { stderr?: unknown }).stderr ?? (e as Error).message));
        notes.push({ id: 'input/kustomize', severity: 'error', file: k.file, message: `kubectl kustomize ${k.dir || '.'} failed, so its files were read one by one instead; ${reason}`, fix: 'fix the kustomization so that kubectl kustomize builds it' });
      }
    }
  } else if (kustomizations.length > 0) {
    notes.push({ id: 'input/kustomize', severity: 'info', file: kustomizations[0].file, message: `kustomize was not run (--no-kustomize, or no kubectl on PATH): ${list(kustomizations.map((k) => k.file))} were not built; their files were read one by one, kustomize.config.k8s.io kinds skipped, patches not applied`, fix: 'install kubectl to check what kustomize renders' });
  }
  const builtDirs = [...built].flatMap((d) => [d, ...closure(d, kustomizations)]);

  const budget: ReadBudget = { used: 0, limit: INPUT_LIMITS.folderBytes };
  const notRead: string[] = [];
  const readAs = new Map<string, string>();
  const charts = files.filter((f) => posix.basename(f) === 'Chart.yaml').map((f) => dirOf(f));
  // Files a kustomization reads may be patches (a JSON patch is a sequence) and a chart's values are no objects either.
  // A `*.values.yaml` file holds a chart's values (lib/app/output-file.ts writes them beside the app folders).
  const mayHoldStrays = (file: string) => HELM_VALUES_FILE.test(file) || charts.some((d) => under(file, d))
    || kustomizations.some((k) => k.file === file || k.files.includes(file) || under(file, k.dir) || k.dirs.some((d) => under(file, d)));
  for (const file of files) {
    if (builtDirs.some((d) => under(file, d))) continue;
    if (isChartTemplate(dir, file)) {
      notes.push({ id: 'input/chart-template', severity: 'info', file, message: 'a Helm chart template (templates/ beside Chart.yaml): skipped, it is not a manifest until helm renders it', fix: 'to check it, render the chart (helm template) into a folder and validate that' });
      continue;
    }
    const read = budget.full ? undefined : readManifestText(join(dir, file), budget);
    if (read === undefined || budget.full) {
      notRead.push(file);
      continue;
    }
    if ('problem' in read) {
      notes.push(noteOf(file, read.problem));
      continue;
    }
    if (readAs.has(read.key)) {
      notes.push({ id: 'input/already-read', severity: 'info', file, message: `the same file as '${readAs.get(read.key)}' (a link, or a hard link): its objects are checked once, under that name`, fix: 'none needed' });
      continue;
    }
    readAs.set(read.key, file);
    let parsed: ParsedText;
    try {
      parsed = parseText(read.text, file);
    } catch (e) {
      // A failure of the yaml library itself is this file's finding, not the end of the check.
      notes.push(noteOf(file, { id: 'input/not-yaml', severity: 'error', wholeFile: true, message: `the YAML parser failed: ${String((e as Error).message).split('\n')[0]}`, fix: 'fix the YAML' }));
      continue;
    }
    notes.push(...parsed.problems.map((p) => noteOf(file, p)));
    if (!mayHoldStrays(file)) notes.push(...parsed.strays.map((p) => noteOf(file, p)));
    const owner = kustomizations.filter((k) => k.namespace && (k.files.includes(file) || k.dirs.some((d) => under(file, d)) || under(file, k.dir)))
      .sort((a, b) => (consumed.has(a.dir) ? 1 : 0) - (consumed.has(b.dir) ? 1 : 0))[0];
    const fromKustomization = owner?.namespace ? { namespace: owner.namespace, from: `${owner.file} namespace` } : undefined;
    for (const m of parsed.manifests) {
      // An object without apiVersion is a finding of its own (parseManifests keeps it, for code that builds odd objects on purpose).
      if (typeof m.object.apiVersion !== 'string' || m.object.apiVersion.startsWith(KUSTOMIZE_GROUP)) continue;
      manifests.push(withNamespace(m, fromKustomization));
    }
  }
  if (notRead.length > 0) {
    notes.push({
      id: 'input/too-large', severity: 'error', file: notRead[0], unreadable: true,
      message: `not read: the folder's files passed the ${mib(budget.limit)} a folder may hold here (${mib(budget.used)} read before this file): it and ${notRead.length - 1} more file(s) after it were not checked`,
      fix: 'validate the folder in parts (each subfolder on its own)',
    });
  }
  return { manifests, notes };
}

/** The folders a kustomization builds from, transitively. */
function closure(dir: string, all: readonly Kustomization[], seen = new Set<string>()): string[] {
  const k = all.find((x) => x.dir === dir);
  if (!k || seen.has(dir)) return [];
  seen.add(dir);
  return k.dirs.flatMap((d) => [d, ...closure(d, all, seen)]);
}

function list(items: readonly string[]): string {
  return items.join(', ');
}
