// Validates an AsyncAPI document with the official parser (schema and
// lint rules) and prints what it reports; exits 1 on any error or warning.
//
//   node validate-asyncapi.mjs ../asyncapi.yaml
import { Parser, fromFile } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "info", "hint"];
// The document states the version it was written for on purpose.
const ALLOWED = new Set(["asyncapi-latest-version"]);

const { document, diagnostics } = await fromFile(new Parser(), process.argv[2]).parse();
let failed = document === undefined;
for (const diagnostic of diagnostics) {
  const severity = SEVERITY[diagnostic.severity] ?? String(diagnostic.severity);
  console.log(`${severity} ${diagnostic.code}: ${diagnostic.message} at ${JSON.stringify(diagnostic.path)}`);
  if (diagnostic.severity <= 1 && !ALLOWED.has(diagnostic.code)) {
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
