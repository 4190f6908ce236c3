#!/usr/bin/env node
// A `solc`-compatible command line over solc-js (npm `solc`, wasm), so py-solc-x and ape-solidity
// compile offline. Supports what they call: --version and --standard-json with
// --base-path / --include-path / --allow-paths import resolution. Anything else is refused loudly.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

function parseArgs(argv) {
  const opts = { basePath: null, includePaths: [], allowPaths: [], standardJson: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case "--version": opts.version = true; break;
      case "--standard-json": opts.standardJson = true; break;
      case "--base-path": opts.basePath = path.resolve(value()); break;
      case "--include-path": opts.includePaths.push(path.resolve(value())); break;
      case "--allow-paths": opts.allowPaths.push(...value().split(",").filter(Boolean).map((p) => path.resolve(p))); break;
      default:
        process.stderr.write(`solc-shim: unsupported argument ${arg} (only --version and --standard-json are provided)\n`);
        process.exit(2);
    }
  }
  return opts;
}

function isAllowed(file, roots) {
  return roots.some((root) => file === root || file.startsWith(root + path.sep));
}

function makeImportResolver(opts) {
  // node_modules is always an include path, as `solc --include-path node_modules` in npm projects:
  // imports such as @openzeppelin/contracts/... resolve to the pinned npm package.
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths, path.join(__dirname, "..", "node_modules")];
  const allowed = [...roots, ...opts.allowPaths];
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      const resolved = path.resolve(candidate);
      if (!isAllowed(resolved, allowed)) continue;
      if (fs.existsSync(resolved) && fs.statSync(resolved).isFile()) {
        return { contents: fs.readFileSync(resolved, "utf8") };
      }
    }
    return { error: `File not found inside the base, include or allowed paths: ${importPath}` };
  };
}

const opts = parseArgs(process.argv.slice(2));
if (opts.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (opts.standardJson) {
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: makeImportResolver(opts) }));
} else {
  process.stderr.write("solc-shim: nothing to do (use --version or --standard-json)\n");
  process.exit(2);
}
