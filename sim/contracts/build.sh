#!/usr/bin/env bash
# Regenerates out/*.hex (runtime bytecode; Child.init.hex: the factory child's init code) from the
# sources with solc-js. The Rust build reads the
# committed hex and needs neither npm nor solc: run this only after changing a contract.
set -euo pipefail
cd "$(dirname "$0")"
SOLC_VERSION=0.8.28
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm install --silent --prefix "$work" "solc@$SOLC_VERSION" >/dev/null
mkdir -p out
node - "$work" <<'JS'
const path = require("path");
const fs = require("fs");
const solc = require(path.join(process.argv[2], "node_modules", "solc"));
const files = ["Token.sol", "Pool.sol", "Store.sol", "Factory.sol"];
const sources = Object.fromEntries(files.map((f) => [f, { content: fs.readFileSync(f, "utf8") }]));
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
for (const [file, name] of [["Token.sol", "Token"], ["Pool.sol", "Pool"], ["Store.sol", "Store"], ["Factory.sol", "Factory"]]) {
  fs.writeFileSync(path.join("out", `${name}.hex`), output.contracts[file][name].evm.deployedBytecode.object + "\n");
}
// The factory's child is created by the factory: its init code gives its CREATE2 address.
fs.writeFileSync(path.join("out", "Child.init.hex"), output.contracts["Factory.sol"]["Child"].evm.bytecode.object + "\n");
JS
