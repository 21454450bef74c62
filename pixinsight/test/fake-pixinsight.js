// A stand-in for PixInsight's command line, for september's Python tests: given
//    -n --automation-mode --run="/abs/September.js,/abs/job.json" --force-exit
// it runs the script under Node.js with the recording stand-ins, writing its files to disk
// (images as placeholders).
// Without a --run argument (as when `node --test` loads it) it does nothing.
"use strict";

const vm = require("vm");
const { makeEnvironment, preprocess } = require("./standins.js");

function main(argv) {
   const run = argv.filter(function (a) { return a.indexOf("--run=") === 0; })[0];
   if (!run)
      return 0;
   ["-n", "--automation-mode", "--force-exit"].forEach(function (flag) {
      if (argv.indexOf(flag) < 0)
         throw new Error("fake PixInsight: missing " + flag);
   });
   const m = /^--run=(.*?\.js),(.*)$/.exec(run);
   if (!m)
      throw new Error("fake PixInsight: cannot read " + run);
   // FAKE_PIXINSIGHT_FAIL=StarAlignment,... makes those processes fail
   const failures = {};
   (process.env.FAKE_PIXINSIGHT_FAIL || "").split(",").forEach(function (name) {
      if (name)
         failures[name] = true;
   });
   const env = makeEnvironment({ jsArguments: m[2].split(","), persist: true,
                                 failures: failures });
   vm.runInContext(preprocess(m[1]), vm.createContext(env.globals), { filename: m[1] });
   env.log.forEach(function (line) { process.stdout.write(line[0] + ": " + line[1] + "\n"); });
   return 0;
}

process.exitCode = main(process.argv.slice(2));
