'use strict';
/**
 * A V8 code cache for the CommonJS modules a command loads (node 20 has no module.enableCompileCache).
 *
 * Most of a command's start was V8 compiling the same 4 to 8 MB of JavaScript every time (cdk8s-plus,
 * the Argo classes and validators, kubernetes-models). Here every module is compiled through
 * `vm.Script` with the code V8 produced for it the last time, and when any module had none (or V8
 * rejected it), the code of every module, including the functions compiled while the command ran,
 * is written to one file when the process exits.
 *
 * A module's cache is used only for the same path, size and mtime; V8 checks on top that the cache
 * was made by the same V8 with the same flags. A module that uses `import()` is compiled as usual
 * (vm.Script would need a loader for it).
 */
const Module = require('module');
const { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('fs');
const { dirname } = require('path');
const vm = require('vm');

const MAGIC = 'hotrod-v8-cache-1';

/** The cache file: `entries` (path -> { key, data }) and `resolved` (`dir\0request` -> path). */
function readBlob(file) {
  const entries = new Map();
  const resolved = new Map();
  let blob;
  try {
    blob = readFileSync(file);
  } catch {
    return { entries, resolved };
  }
  try {
    const headerLength = blob.readUInt32LE(0);
    const header = JSON.parse(blob.subarray(4, 4 + headerLength).toString('utf8'));
    if (header.magic !== MAGIC || header.v8 !== process.versions.v8) return { entries, resolved };
    let offset = 4 + headerLength;
    for (const e of header.entries) {
      entries.set(e.file, { key: e.key, data: blob.subarray(offset, offset + e.length) });
      offset += e.length;
    }
    for (const [k, v] of header.resolved) resolved.set(k, v);
  } catch {
    entries.clear();
    resolved.clear();
  }
  return { entries, resolved };
}

function writeBlob(file, { entries, resolved }) {
  const list = [...entries].map(([f, e]) => ({ file: f, key: e.key, data: e.data }));
  const header = Buffer.from(JSON.stringify({
    magic: MAGIC,
    v8: process.versions.v8,
    entries: list.map((e) => ({ file: e.file, key: e.key, length: e.data.length })),
    resolved: [...resolved],
  }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat([length, header, ...list.map((e) => e.data)]));
  renameSync(tmp, file); // atomic: a command started meanwhile reads the old cache or the new one
}

/** What a module's cache is valid for. */
function keyOf(filename) {
  const s = statSync(filename);
  return `${s.size}:${s.mtimeMs}`;
}

/** The `require` a module gets, as node's own makeRequireFunction builds it. */
function makeRequire(mod) {
  const require = (id) => mod.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
  require.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

/** Compiles every CommonJS module loaded from now on with the code cache in `file`. */
function installCompileCache(file) {
  const blob = readBlob(file);
  const cached = blob.entries;
  const compiled = new Map(); // path -> { key, script }
  let stale = false;

  // Resolving a module (stat calls, package.json exports, realpath) cost as much as compiling it.
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function resolveWithCache(request, parent, isMain, options) {
    if (options || !parent || !parent.path || request.startsWith('node:') || Module.isBuiltin(request)) return resolve.call(this, request, parent, isMain, options);
    const id = `${parent.path}\0${request}`;
    const hit = blob.resolved.get(id);
    if (hit !== undefined && existsSync(hit)) return hit;
    const filename = resolve.call(this, request, parent, isMain, options);
    blob.resolved.set(id, filename);
    stale = true;
    return filename;
  };
  const compile = Module.prototype._compile;
  Module.prototype._compile = function compileWithCache(content, filename) {
    if (content.includes('import(')) return compile.call(this, content, filename);
    let key;
    try {
      key = keyOf(filename);
    } catch {
      return compile.call(this, content, filename);
    }
    const hit = cached.get(filename);
    const cachedData = hit && hit.key === key ? hit.data : undefined;
    let script;
    try {
      script = new vm.Script(Module.wrap(content), { filename, cachedData });
    } catch (e) {
      // an ES module that node 20.19+ loads through require (e.g. @swc/helpers' esm/ files): node's own path
      if (e instanceof SyntaxError) return compile.call(this, content, filename);
      throw e;
    }
    if (!cachedData || script.cachedDataRejected) stale = true;
    compiled.set(filename, { key, script });
    const wrapper = script.runInThisContext({ displayErrors: true });
    return wrapper.call(this.exports, this.exports, makeRequire(this), this, filename, dirname(filename));
  };
  process.once('exit', () => {
    if (!stale) return;
    try {
      for (const [f, { key, script }] of compiled) cached.set(f, { key, data: script.createCachedData() });
      writeBlob(file, blob);
    } catch {
      // a cache that cannot be written only costs the next run its speed
    }
  });
}

module.exports = { installCompileCache };
