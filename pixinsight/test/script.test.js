// September.js run headless under Node.js with recording stand-ins for PixInsight: the
// parameters each process receives, on packages exported from simulated frames.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const os = require("os");
const path = require("path");
const vm = require("vm");

const { makeEnvironment, preprocess } = require("./standins.js");
const { loadPackages } = require("./packages.js");

const SCRIPT = path.resolve(__dirname, "..", "September.js");
const SOURCE = preprocess(SCRIPT);
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "september-pi-run-"));
let jobs = 0;

function runScript(job, options) {
   jobs += 1;
   const jobPath = path.join(WORK, "job-" + jobs + ".json");
   fs.writeFileSync(jobPath, typeof job === "string" ? job : JSON.stringify(job));
   const env = makeEnvironment(Object.assign({ jsArguments: [jobPath] }, options || {}));
   vm.runInContext(SOURCE, vm.createContext(env.globals), { filename: "September.js" });
   const resultPath = typeof job === "string" || !job.result_path ?
                      jobPath.replace(/\.json$/, "-result.json") : job.result_path;
   const written = env.files.get(resultPath);
   assert.ok(written, "no result JSON at " + resultPath);
   return { env: env, result: JSON.parse(written.text), jobPath: jobPath };
}

function jobFor(pkg, extra) {
   const out = path.join(WORK, "out-" + pkg.scenario + "-" + (jobs + 1));
   return Object.assign({ package_dir: pkg.path, output_dir: out,
                          result_path: path.join(out, "result.json") }, extra || {});
}

// The package frames an output was made from, following the recorded image sources.
function rawSources(env, pkgDir, file) {
   const out = new Set();
   (function walk(p) {
      if (p.indexOf(pkgDir + "/") === 0) {
         out.add(p.substring(pkgDir.length + 1));
         return;
      }
      const entry = env.files.get(p);
      assert.ok(entry && entry.image, "no recorded image " + p);
      entry.image.sources.forEach(function (s) { if (typeof s === "string") walk(s); });
   })(file);
   return Array.from(out).sort();
}

function sorted(list) {
   return (list || []).slice().sort();
}

function expectedRejection(n) {
   return n < 3 ? "NoRejection" : n < 6 ? "PercentileClip" : n < 10 ? "SigmaClip" :
          n < 20 ? "WinsorizedSigmaClip" : n < 25 ? "LinearFit" : "Rejection_ESD";
}

function lightsOf(manifest) {
   return manifest.frames.filter(function (f) { return f.frame_type === "light"; });
}

for (const pkg of loadPackages()) {
   test("headless run on the " + pkg.scenario + " package (" + pkg.source + ")", function () {
      const { env, result } = runScript(jobFor(pkg));
      assert.equal(result.status, "success", result.error);
      assert.equal(result.schema, "september.pixinsight-result");
      const manifest = pkg.manifest;
      const lights = lightsOf(manifest);
      const byPath = {};
      lights.forEach(function (l) { byPath[l.path] = l; });
      const runs = function (name) { return env.runs.filter(function (r) { return r.name === name; }); };
      const IC = env.globals.ImageCalibration.prototype;
      const II = env.globals.ImageIntegration.prototype;

      // ImageCalibration: every light once, with the masters of exactly its manifest frames
      const calibrated = [];
      let lightRuns = 0;
      runs("ImageCalibration").forEach(function (run) {
         const targets = run.params.targetFrames.map(function (row) {
            assert.equal(row.length, 2);
            assert.equal(row[0], true);
            return row[1].substring(pkg.path.length + 1);
         });
         assert.equal(run.params.onError, IC.Continue);
         if (!byPath[targets[0]]) {
            // flats: calibrated with the dark-flat (or bias) master of a light that uses them
            const light = lights.filter(function (l) {
               return sorted(l.calibration.flat).join() === sorted(targets).join();
            })[0];
            assert.ok(light, "flats calibrated that no light uses: " + targets.join());
            const helper = (light.calibration["dark-flat"] || []).length ?
                           light.calibration["dark-flat"] : light.calibration.bias;
            const used = run.params.masterDarkEnabled ? run.params.masterDarkPath :
                         run.params.masterBiasPath;
            assert.equal(run.params.masterDarkEnabled && run.params.masterBiasEnabled, false);
            assert.deepEqual(rawSources(env, pkg.path, used), sorted(helper));
            return;
         }
         lightRuns += 1;
         targets.forEach(function (t) {
            const light = byPath[t];
            assert.ok(light, t + " is not a light");
            calibrated.push(t);
            const cal = light.calibration;
            assert.ok(run.params.masterDarkEnabled);
            assert.deepEqual(rawSources(env, pkg.path, run.params.masterDarkPath), sorted(cal.dark));
            assert.ok(run.params.masterFlatEnabled);
            assert.deepEqual(rawSources(env, pkg.path, run.params.masterFlatPath), sorted(cal.flat));
            assert.equal(run.params.calibrateFlat, false);
            if (cal.dark_scaled) {
               assert.ok(run.params.masterBiasEnabled && run.params.optimizeDarks);
               assert.deepEqual(rawSources(env, pkg.path, run.params.masterBiasPath),
                                sorted(cal.bias));
            } else {
               assert.equal(run.params.masterBiasEnabled, false, "bias subtracted twice");
               assert.equal(run.params.optimizeDarks, false);
            }
         });
      });
      assert.deepEqual(sorted(calibrated), sorted(lights.map(function (l) { return l.path; })));
      assert.equal(lightRuns, result.groups.length);

      // masters: integrated without normalisation, flats multiplicatively
      result.masters.forEach(function (master) {
         if (!master.integrated)
            return;
         const record = env.files.get(master.path).image;
         assert.deepEqual(rawSources(env, pkg.path, master.path), sorted(master.frames));
         assert.equal(record.integration.normalization,
                      master.kind === "flat" ? II.Multiplicative : II.NoNormalization);
         assert.equal(record.integration.weightMode, II.DontCare);
         assert.equal(record.integration.rejection, II[expectedRejection(master.frames.length)]);
      });

      // CosmeticCorrection: the calibrated frames, into its own folder, postfix _cc
      const ccTargets = [];
      runs("CosmeticCorrection").forEach(function (run) {
         assert.equal(run.params.postfix, "_cc");
         assert.equal(run.params.useAutoDetect, true);
         run.params.targetFrames.forEach(function (row) { ccTargets.push(row[1]); });
      });
      assert.equal(ccTargets.length, lights.length);
      ccTargets.forEach(function (p) { assert.match(p, /_c\.xisf$/); });

      // SubframeSelector measures every light; the manifest weight is written as SEPWGHT
      const ss = runs("SubframeSelector");
      assert.equal(ss.length, 1);
      assert.equal(ss[0].params.subframes.length, lights.length);
      assert.equal(ss[0].params.routine, env.globals.SubframeSelector.prototype.MeasureSubframes);
      assert.equal(ss[0].params.nonInteractive, true);

      // StarAlignment: per filter, everything on the best frame of the cluster
      const sa = runs("StarAlignment");
      const filterCount = new Set(lights.map(function (l) { return l.filter; })).size;
      assert.equal(sa.length, filterCount);
      const best = lights.slice().sort(function (a, b) {
         return (b.weight - a.weight) || (a.quality.fwhm - b.quality.fwhm);
      })[0];
      const registered = [];
      sa.forEach(function (run) {
         assert.deepEqual(rawSources(env, pkg.path, run.params.referenceImage), [best.path]);
         assert.equal(run.params.mode, env.globals.StarAlignment.prototype.RegisterMatch);
         run.params.targets.forEach(function (row) {
            assert.deepEqual(row.slice(0, 2), [true, true]);
            registered.push(rawSources(env, pkg.path, row[2])[0]);
         });
      });
      assert.deepEqual(sorted(registered), sorted(lights.map(function (l) { return l.path; })));
      assert.equal(result.reference.path, best.path);

      // ImageIntegration per filter: all its lights, weighted by SEPWGHT, rejection by count
      const filters = Array.from(new Set(lights.map(function (l) { return l.filter; })));
      filters.forEach(function (filter) {
         const expected = lights.filter(function (l) { return l.filter === filter; });
         const integration = result.integrations.filter(function (i) {
            return i.filter === filter;
         })[0];
         if (expected.length < 3) {
            assert.equal(integration, undefined);
            return;
         }
         assert.ok(integration, "filter " + filter + " not integrated");
         assert.deepEqual(sorted(integration.frames), sorted(expected.map(function (l) {
            return l.path;
         })));
         assert.deepEqual(rawSources(env, pkg.path, integration.path),
                          sorted(expected.map(function (l) { return l.path; })));
         const record = env.files.get(integration.path).image;
         assert.equal(record.integration.rejection, II[expectedRejection(expected.length)]);
         assert.equal(record.integration.weightMode, II.KeywordWeight);
         assert.equal(record.integration.weightKeyword, "SEPWGHT");
         const run = runs("ImageIntegration").filter(function (r) {
            return r.instance.integrationImageId && r.params.images.length === expected.length &&
                   r.params.normalization === II.AdditiveWithScaling;
         });
         assert.ok(run.length >= 1);
         // each integrated file carries its light's manifest weight
         run[0].params.images.forEach(function (row) {
            const rec = env.files.get(row[1]).image;
            const light = byPath[rawSources(env, pkg.path, row[1])[0]];
            const kw = rec.keywords.filter(function (k) { return k.name === "SEPWGHT"; });
            assert.equal(kw.length, 1, row[1]);
            assert.equal(Number(kw[0].value), light.weight);
         });
      });

      // combination, and every output path in the result exists
      const channels = filters.map(function (f) { return f.toUpperCase(); });
      const integratedFilters = result.integrations.map(function (i) { return i.filter; });
      const rgb = ["R", "G", "B"].every(function (c) { return integratedFilters.indexOf(c) >= 0; });
      if (rgb) {
         assert.equal(result.combination.kind, integratedFilters.indexOf("L") >= 0 ? "LRGB" : "RGB");
         const cc = runs("ChannelCombination");
         assert.equal(cc.length, 1);
         assert.equal(cc[0].params.channels.length, 3);
         assert.ok(env.files.has(result.combination.path));
         if (result.combination.kind === "LRGB") {
            const lrgb = runs("LRGBCombination")[0];
            assert.deepEqual(lrgb.params.channels.map(function (r) { return r[0]; }),
                             [false, false, false, true]);
         }
      } else {
         assert.equal(result.combination, null);
      }
      assert.ok(channels.length >= 1);
      result.masters.forEach(function (m) { assert.ok(env.files.has(m.path) || fs.existsSync(m.path)); });
      result.lights.forEach(function (l) {
         assert.equal(l.status, "ok");
         assert.ok(env.files.has(l.registered), l.registered);
         assert.equal(l.integrated, integratedFilters.indexOf(l.filter) >= 0);
      });
      // parameters recorded by name, as PixInsight spells the enumerations
      const recorded = result.processes.map(function (p) { return p.process; });
      assert.ok(recorded.indexOf("StarAlignment") >= 0);
      result.processes.filter(function (p) { return p.process === "ImageIntegration"; })
         .forEach(function (p) { assert.equal(typeof p.parameters.rejection, "string"); });
      // package files are never written to
      env.files.forEach(function (value, key) {
         assert.ok(key.indexOf(pkg.path + "/") !== 0 || key.indexOf(pkg.path + "/pixinsight") === 0
                   || key.indexOf(WORK) === 0, "wrote into the package: " + key);
      });
   });
}

test("a failing process still writes a result, marked failed, with what ran", function () {
   const pkg = loadPackages()[0];
   const { env, result } = runScript(jobFor(pkg), { failures: { StarAlignment: true } });
   assert.equal(result.status, "failed");
   assert.match(result.error, /StarAlignment of L failed/);
   assert.ok(result.masters.length > 0);
   assert.equal(result.lights.length, lightsOf(pkg.manifest).length);
   assert.equal(result.integrations.length, 0);
   assert.ok(env.log.some(function (l) { return l[0] === "critical"; }));
});

test("frames StarAlignment cannot register are left out of the integration", function () {
   const pkg = loadPackages()[0];
   const lights = lightsOf(pkg.manifest);
   const dropped = path.basename(lights[0].path).replace(/\.[^.]+$/, "");
   const { result } = runScript(jobFor(pkg), { alignmentFailures: [dropped] });
   assert.equal(result.status, "success", result.error);
   const entry = result.lights.filter(function (l) { return l.path === lights[0].path; })[0];
   assert.equal(entry.status, "registration-failed");
   assert.equal(entry.integrated, false);
   result.integrations.forEach(function (i) { assert.ok(i.frames.indexOf(lights[0].path) < 0); });
});

test("a missing manifest or job gives a failed result that says why", function () {
   const empty = fs.mkdtempSync(path.join(WORK, "empty-"));
   const missing = runScript({ package_dir: empty, result_path: path.join(empty, "r.json") });
   assert.equal(missing.result.status, "failed");
   assert.match(missing.result.error, /september\.json|ENOENT/);
   const bad = runScript("{not json");
   assert.equal(bad.result.status, "failed");
   assert.match(bad.result.error, /not valid JSON/);
});

test("only the chosen steps run", function () {
   const pkg = loadPackages()[0];
   const { env, result } = runScript(jobFor(pkg, { steps: ["masters", "calibrate"] }));
   assert.equal(result.status, "success", result.error);
   const names = new Set(env.runs.map(function (r) { return r.name; }));
   assert.deepEqual(Array.from(names).sort(), ["ImageCalibration", "ImageIntegration"]);
   assert.equal(result.integrations.length, 0);
   result.lights.forEach(function (l) {
      assert.match(l.calibrated, /_c\.xisf$/);
      assert.equal(l.registered, null);
   });
});

test("the stand-ins refuse parameter names PixInsight does not define", function () {
   const env = makeEnvironment({});
   const II = new env.globals.ImageIntegration;
   assert.throws(function () { II.rejectionAlgorithm = 1; }, /no parameter 'rejectionAlgorithm'/);
   const CC = new env.globals.CosmeticCorrection;
   assert.throws(function () { CC.outputDirectory = "/x"; }, /no parameter 'outputDirectory'/);
});

// A copy of a package whose manifest is changed: frames linked, september.json rewritten.
function variant(pkg, mutate) {
   const dir = fs.mkdtempSync(path.join(WORK, "variant-"));
   ["lights", "calibration"].forEach(function (name) {
      fs.symlinkSync(path.join(pkg.path, name), path.join(dir, name));
   });
   const manifest = JSON.parse(JSON.stringify(pkg.manifest));
   mutate(manifest);
   fs.writeFileSync(path.join(dir, "september.json"), JSON.stringify(manifest));
   return Object.assign({}, pkg, { path: dir, manifest: manifest, scenario: "variant" });
}

test("scaled darks use the bias; a package master is used as is; a missing flat is skipped",
     function () {
   const pkg = variant(loadPackages()[0], function (m) {
      const lights = lightsOf(m);
      const bias = m.frames.filter(function (f) { return f.frame_type === "bias"; })[0];
      bias.master = true;
      lights.forEach(function (l, i) {
         l.calibration.dark_scaled = true;
         l.calibration.bias = [bias.path];
         if (i === 0)
            delete l.calibration.flat;
      });
   });
   const { env, result } = runScript(jobFor(pkg));
   assert.equal(result.status, "success", result.error);
   const lights = lightsOf(pkg.manifest);
   const bias = result.masters.filter(function (m) { return m.kind === "bias"; });
   assert.equal(bias.length, 1);
   assert.equal(bias[0].integrated, false);
   assert.equal(bias[0].path, path.join(pkg.path, lights[0].calibration.bias[0]));
   let seen = 0;
   env.runs.filter(function (r) { return r.name === "ImageCalibration"; }).forEach(function (run) {
      const first = run.params.targetFrames[0][1].substring(pkg.path.length + 1);
      if (first.indexOf("lights/") !== 0)
         return;
      assert.equal(run.params.masterBiasEnabled, true);
      assert.equal(run.params.masterBiasPath, bias[0].path);
      assert.equal(run.params.optimizeDarks, true);
      assert.equal(run.params.calibrateDark, true);
      run.params.targetFrames.forEach(function (row) {
         seen += 1;
         const isFirst = row[1] === path.join(pkg.path, lights[0].path);
         assert.equal(run.params.masterFlatEnabled, !isFirst, row[1]);
      });
   });
   assert.equal(seen, lights.length);
   assert.ok(env.runs.every(function (r) {
      return r.name !== "ImageIntegration" ||
             r.params.images.every(function (row) { return row[1] !== bias[0].path; });
   }), "the package master was integrated again");
});

test("interactive: the dialog's folder and steps make the job", function () {
   const pkg = loadPackages()[0];
   const env = makeEnvironment({
      jsArguments: [],
      onDialog: function (dialog) {
         dialog.folderEdit.text = pkg.path;
         dialog.stepBoxes.forEach(function (box) {
            box.checked = ["masters", "calibrate", "cosmetic"].indexOf(box.text) >= 0;
         });
         return true;
      }
   });
   vm.runInContext(SOURCE, vm.createContext(env.globals), { filename: "September.js" });
   const resultPath = path.join(pkg.path, "pixinsight", "september-result.json");
   const result = JSON.parse(env.files.get(resultPath).text);
   assert.equal(result.status, "success", result.error);
   assert.deepEqual(Array.from(result.steps), ["masters", "calibrate", "cosmetic"]);
   assert.deepEqual(Array.from(new Set(env.runs.map(function (r) { return r.name; }))).sort(),
                    ["CosmeticCorrection", "ImageCalibration", "ImageIntegration"]);
   assert.match(env.messages[0], /September finished: success/);

   const cancelled = makeEnvironment({ jsArguments: [], onDialog: function () { return false; } });
   vm.runInContext(SOURCE, vm.createContext(cancelled.globals), { filename: "September.js" });
   assert.equal(cancelled.runs.length, 0);
   assert.equal(cancelled.files.size, 0);
});
