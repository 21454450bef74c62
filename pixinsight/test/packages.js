// Export packages for the tests: from $SEPTEMBER_TEST_PACKAGES (a folder with packages.json, as
// the pytest wrapper writes it), or made now by the Python helper from simulated frames.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

const REPO = path.resolve(__dirname, "..", "..");

function python() {
   if (process.env.SEPTEMBER_PYTHON)
      return process.env.SEPTEMBER_PYTHON;
   const venv = path.join(REPO, ".venv", "bin", "python");
   return fs.existsSync(venv) ? venv : "python3";
}

let cached = null;

function loadPackages() {
   if (cached !== null)
      return cached;
   let root = process.env.SEPTEMBER_TEST_PACKAGES;
   if (!root) {
      root = fs.mkdtempSync(path.join(os.tmpdir(), "september-pi-packages-"));
      const made = spawnSync(python(), ["-m", "tests.pixinsight.packages", root],
                             { cwd: REPO, encoding: "utf8", timeout: 600000 });
      if (made.status !== 0)
         throw new Error("the package helper failed:\n" + made.stdout + made.stderr);
      fs.writeFileSync(path.join(root, "packages.json"), made.stdout.trim().split("\n").pop());
   }
   const listed = JSON.parse(fs.readFileSync(path.join(root, "packages.json"), "utf8"));
   cached = listed.map(function (entry) {
      const text = fs.readFileSync(path.join(entry.path, "september.json"), "utf8");
      return Object.assign({}, entry, { text: text, manifest: JSON.parse(text) });
   });
   return cached;
}

module.exports = { loadPackages, REPO };
