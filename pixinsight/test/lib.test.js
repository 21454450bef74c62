// september-lib.js on manifests exported from simulated frames, and the script files' syntax.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");

const Lib = require("../september-lib.js");
const { stripDirectives, KNOWN } = require("./standins.js");
const { loadPackages } = require("./packages.js");

const SCRIPT_DIR = path.resolve(__dirname, "..");

function sameSet(a, b) {
   return JSON.stringify((a || []).slice().sort()) === JSON.stringify((b || []).slice().sort());
}

test("every script file parses once the # directives are stripped", function () {
   const scripts = fs.readdirSync(SCRIPT_DIR).filter(function (n) { return /\.js$/.test(n); });
   assert.ok(scripts.indexOf("September.js") >= 0 && scripts.indexOf("september-lib.js") >= 0);
   scripts.forEach(function (name) {
      const source = fs.readFileSync(path.join(SCRIPT_DIR, name), "utf8");
      assert.doesNotThrow(function () { new Function(stripDirectives(source)); }, name);
   });
});

test("September.js declares its menu entry and includes the library", function () {
   const source = fs.readFileSync(path.join(SCRIPT_DIR, "September.js"), "utf8");
   assert.match(source, /^#feature-id\s+Batch Processing > September\s*$/m);
   assert.match(source, /^#include "september-lib\.js"\s*$/m);
});

test("the rejection follows the frame count", function () {
   const expected = [[2, "NoRejection"], [3, "PercentileClip"], [5, "PercentileClip"],
                     [6, "SigmaClip"], [9, "SigmaClip"], [10, "WinsorizedSigmaClip"],
                     [19, "WinsorizedSigmaClip"], [20, "LinearFit"], [24, "LinearFit"],
                     [25, "Rejection_ESD"], [400, "Rejection_ESD"]];
   expected.forEach(function (pair) {
      const chosen = Lib.chooseRejection(pair[0]);
      assert.equal(chosen.rejection, pair[1], pair[0] + " frames");
      const enums = KNOWN.ImageIntegration.enumerations;
      assert.ok(enums.indexOf(chosen.rejection) >= 0);
      Object.keys(chosen).forEach(function (key) {
         assert.ok(KNOWN.ImageIntegration.parameters.indexOf(key) >= 0, key);
      });
   });
});

test("manifests from simulated frames parse and group completely", function () {
   const packages = loadPackages();
   assert.ok(packages.length >= 2);
   packages.forEach(function (pkg) {
      const manifest = Lib.parseManifest(pkg.text);
      const lights = Lib.lights(manifest);
      assert.ok(lights.length >= 8, pkg.scenario + " has " + lights.length + " lights");
      const groups = Lib.groupLights(manifest);
      const grouped = [];
      groups.forEach(function (group) {
         group.lights.forEach(function (light) {
            grouped.push(light.path);
            assert.equal(light.filter, group.filter);
            // every light of a group needs exactly the group's calibration frames
            assert.equal(Lib.setKey("bias", light.calibration.bias), group.bias);
            assert.equal(Lib.setKey("dark", light.calibration.dark), group.dark);
            assert.equal(Lib.setKey("flat", light.calibration.flat), group.flat);
            assert.equal(Lib.setKey("dark-flat", light.calibration["dark-flat"]), group.darkFlat);
         });
      });
      assert.ok(sameSet(grouped, lights.map(function (l) { return l.path; })));
      assert.equal(new Set(grouped).size, grouped.length, "a light is in two groups");

      const sets = Lib.calibrationSets(manifest);
      const ids = sets.map(function (s) { return s.id; });
      assert.equal(new Set(ids).size, ids.length, "calibration set ids are unique");
      const position = {};
      sets.forEach(function (s, i) { position[s.key] = i; });
      sets.forEach(function (s, i) {
         if (s.kind === "flat" && s.darkFlat)
            assert.ok(position[s.darkFlat] < i, "dark-flat master before the flat it calibrates");
      });
      // every calibration frame the lights reference is in exactly one set of its kind
      lights.forEach(function (light) {
         Lib.CALIBRATION_KINDS.forEach(function (kind) {
            const key = Lib.setKey(kind, light.calibration[kind]);
            if (key)
               assert.ok(position.hasOwnProperty(key), light.path + " " + kind);
         });
      });
   });
});

test("the calibration library package has several flat sets", function () {
   const pkg = loadPackages().filter(function (p) {
      return p.scenario === "calibration-library";
   })[0];
   if (!pkg)
      return;
   const flats = Lib.calibrationSets(Lib.parseManifest(pkg.text)).filter(function (s) {
      return s.kind === "flat";
   });
   assert.ok(flats.length >= 2, "flat sets: " + flats.length);
});

test("broken manifests are refused with the reason", function () {
   const base = loadPackages()[0].manifest;
   function broken(mutate) {
      const copy = JSON.parse(JSON.stringify(base));
      mutate(copy);
      return JSON.stringify(copy);
   }
   assert.throws(function () { Lib.parseManifest("{nope"); }, /not valid JSON/);
   assert.throws(function () {
      Lib.parseManifest(broken(function (m) { m.schema = "other"; }));
   }, /not a september package/);
   assert.throws(function () {
      Lib.parseManifest(broken(function (m) { m.schema_version = "2.0"; }));
   }, /version 1\.x/);
   assert.throws(function () {
      Lib.parseManifest(broken(function (m) { m.frames[0].path = "../escape.fits"; }));
   }, /unsafe path/);
   assert.throws(function () {
      Lib.parseManifest(broken(function (m) {
         m.frames[0].calibration.bias = ["calibration/bias/missing.fits"];
      }));
   }, /is not in the package/);
   // a newer minor version with extra keys is read
   assert.doesNotThrow(function () {
      Lib.parseManifest(broken(function (m) { m.schema_version = "1.7"; m.extra = {}; }));
   });
});

test("parameter sets use only names the process modules define", function () {
   const paths = ["/p/a.fits", "/p/b.fits", "/p/c.fits"];
   const sets = {
      ImageCalibration: Lib.calibrationParameters(paths, { bias: "/m/b.xisf", dark: "/m/d.xisf",
                                                           flat: "/m/f.xisf" }, true, "/o"),
      CosmeticCorrection: Lib.cosmeticParameters(paths, "/m/d.xisf", "/o"),
      SubframeSelector: Lib.subframeSelectorParameters(paths, 11.8),
      StarAlignment: Lib.starAlignmentParameters(paths[0], paths, "/o"),
      ImageIntegration: Lib.integrationParameters("light", paths, true),
      ChannelCombination: Lib.channelCombinationParameters({ R: "r", G: "g", B: "b" }),
      LRGBCombination: Lib.lrgbCombinationParameters({ L: "l" })
   };
   Object.keys(sets).forEach(function (name) {
      Object.keys(sets[name]).forEach(function (key) {
         assert.ok(KNOWN[name].parameters.indexOf(key) >= 0, name + "." + key);
      });
      (Lib.ENUMERATIONS[name] || []).forEach(function (key) {
         if (sets[name].hasOwnProperty(key))
            assert.ok(KNOWN[name].enumerations.indexOf(sets[name][key]) >= 0,
                      name + "." + key + " = " + sets[name][key]);
      });
   });
   assert.deepEqual(sets.StarAlignment.targets[1], [true, true, "/p/b.fits"]);
   assert.deepEqual(sets.ImageIntegration.images[2], [true, "/p/c.fits", "", ""]);
   assert.equal(sets.ImageIntegration.weightKeyword, "SEPWGHT");
   // an unscaled dark holds the bias: the bias is not subtracted twice
   const unscaled = Lib.calibrationParameters(paths, { bias: "/b", dark: "/d", flat: null },
                                              false, "/o");
   assert.equal(unscaled.masterBiasEnabled, false);
   assert.equal(unscaled.optimizeDarks, false);
   assert.equal(unscaled.masterFlatEnabled, false);
});

test("colour combination needs R, G and B; L makes it LRGB", function () {
   assert.equal(Lib.combinationPlan({ L: "l", R: "r", G: "g", B: "b" }).kind, "LRGB");
   assert.equal(Lib.combinationPlan({ Red: "r", Green: "g", Blue: "b" }).kind, "RGB");
   assert.equal(Lib.combinationPlan({ L: "l", R: "r", G: "g" }).kind, null);
   assert.equal(Lib.combinationPlan({ Ha: "h", OIII: "o" }).kind, null);
});

test("the reference frame has the best weight, then the smallest FWHM", function () {
   const best = Lib.chooseReference([
      { light: { path: "a", weight: 0.8, quality: { fwhm: 1.5 } } },
      { light: { path: "b", weight: 0.9, quality: { fwhm: 2.5 } } },
      { light: { path: "c", weight: 0.9, quality: { fwhm: 2.0 } } },
      { light: { path: "d", weight: null, quality: { fwhm: 1.0 } } }
   ]);
   assert.equal(best.light.path, "c");
});

test("jobs are checked and completed with defaults", function () {
   const job = Lib.parseJob(JSON.stringify({ package_dir: "/pkg", steps: ["integrate",
                                                                            "calibrate"] }));
   assert.deepEqual(job.steps, ["calibrate", "integrate"]);
   assert.equal(job.output_dir, "/pkg/pixinsight");
   assert.equal(job.result_path, "/pkg/pixinsight/september-result.json");
   assert.throws(function () { Lib.parseJob("{}"); }, /package_dir/);
   assert.throws(function () {
      Lib.parseJob(JSON.stringify({ package_dir: "/p", steps: ["stack"] }));
   }, /unknown step/);
});
