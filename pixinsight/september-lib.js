// september-lib.js -- the pure logic of the September PixInsight companion.
//
// Reading an export package manifest (september.json), grouping its lights by filter and
// calibration set, choosing a rejection algorithm by frame count, building the parameter sets
// of the PixInsight processes (names spelled exactly as the process modules define them), and
// assembling the result JSON. No PixInsight object is touched here, so the same file runs
// under PJSR (#include) and under Node.js (require) for the tests. ES5 only.

var SeptemberLib = (function () {
   "use strict";

   var VERSION = "1.0.0";
   var RESULT_SCHEMA = "september.pixinsight-result";
   var RESULT_SCHEMA_VERSION = "1.0";
   var JOB_SCHEMA = "september.pixinsight-job";
   var WEIGHT_KEYWORD = "SEPWGHT";
   var MIN_INTEGRATION = 3;  // ImageIntegration refuses fewer images
   var STEPS = ["masters", "calibrate", "cosmetic", "measure", "register", "integrate", "combine"];
   var CALIBRATION_KINDS = ["bias", "dark", "flat", "dark-flat"];

   // Enumerated parameters: the value is the name of a constant of Process.prototype.
   var ENUMERATIONS = {
      ImageCalibration: ["onError", "pedestalMode", "outputSampleFormat"],
      CosmeticCorrection: [],
      SubframeSelector: ["routine", "cameraResolution", "scaleUnit", "dataUnit", "onError"],
      StarAlignment: ["mode", "pixelInterpolation", "onError"],
      ImageIntegration: ["combination", "normalization", "rejection", "rejectionNormalization",
                         "weightMode", "weightScale"],
      LRGBCombination: [],
      ChannelCombination: ["colorSpace"]
   };

   // ---------------------------------------------------------------- paths

   function basename(path) {
      var s = String(path).replace(/\\/g, "/");
      return s.substring(s.lastIndexOf("/") + 1);
   }

   function stem(path) {
      var name = basename(path);
      var dot = name.lastIndexOf(".");
      return dot > 0 ? name.substring(0, dot) : name;
   }

   function joinPath(root, relative) {
      var r = String(root).replace(/\\/g, "/");
      while (r.length > 1 && r.charAt(r.length - 1) === "/")
         r = r.substring(0, r.length - 1);
      return r + "/" + String(relative).replace(/^\/+/, "");
   }

   function safeName(text) {
      return String(text === null || text === undefined ? "none" : text)
         .replace(/[^A-Za-z0-9._-]+/g, "_");
   }

   // --------------------------------------------------------------- manifest

   function parseManifest(text) {
      var data;
      try {
         data = JSON.parse(text);
      } catch (err) {
         throw new Error("september.json is not valid JSON: " + err.message);
      }
      if (data === null || typeof data !== "object" || data.schema !== "september.package")
         throw new Error("september.json is not a september package manifest (schema must be " +
                         "'september.package')");
      if (!/^1\.[0-9]+$/.test(String(data.schema_version)))
         throw new Error("september.json has schema_version " + data.schema_version +
                         "; this script reads version 1.x: update the September script");
      if (!data.cluster || typeof data.cluster.name !== "string")
         throw new Error("september.json has no cluster name");
      if (Object.prototype.toString.call(data.frames) !== "[object Array]")
         throw new Error("september.json has no frames list");
      var known = {};
      var i, frame;
      for (i = 0; i < data.frames.length; ++i) {
         frame = data.frames[i];
         if (typeof frame.path !== "string" || frame.path.charAt(0) === "/" ||
             /(^|\/)\.\.(\/|$)/.test(frame.path))
            throw new Error("frame " + i + " has an unsafe path: " + frame.path);
         known[frame.path] = frame;
      }
      for (i = 0; i < data.frames.length; ++i) {
         frame = data.frames[i];
         if (frame.frame_type !== "light")
            continue;
         if (!frame.calibration)
            throw new Error(frame.path + " has no calibration entry");
         for (var k = 0; k < CALIBRATION_KINDS.length; ++k) {
            var refs = frame.calibration[CALIBRATION_KINDS[k]] || [];
            for (var j = 0; j < refs.length; ++j)
               if (!known.hasOwnProperty(refs[j]))
                  throw new Error(frame.path + ": its " + CALIBRATION_KINDS[k] + " " + refs[j] +
                                  " is not in the package");
         }
      }
      return data;
   }

   function framesByPath(manifest) {
      var map = {};
      for (var i = 0; i < manifest.frames.length; ++i)
         map[manifest.frames[i].path] = manifest.frames[i];
      return map;
   }

   function lights(manifest) {
      var out = [];
      for (var i = 0; i < manifest.frames.length; ++i)
         if (manifest.frames[i].frame_type === "light")
            out.push(manifest.frames[i]);
      return out;
   }

   function sortedCopy(list) {
      var copy = (list || []).slice(0);
      copy.sort();
      return copy;
   }

   // ------------------------------------------------------------ grouping

   // A calibration set: the frames of one kind that a light needs. Lights that share a set share
   // its master. `id` is stable and readable; `master` is true when the set is one master frame.
   function calibrationSet(kind, paths, byPath) {
      var frames = sortedCopy(paths);
      if (frames.length === 0)
         return null;
      var first = byPath[frames[0]] || {};
      var parts = [kind];
      if (kind === "flat")
         parts.push(first.filter);
      if (kind === "dark" || kind === "dark-flat")
         parts.push(first.exposure === null || first.exposure === undefined ?
                    "unknown" : first.exposure + "s");
      return {
         kind: kind,
         frames: frames,
         master: frames.length === 1 && first.master === true,
         filter: first.filter === undefined ? null : first.filter,
         exposure: first.exposure === undefined ? null : first.exposure,
         key: kind + "|" + frames.join("|"),
         label: safeName(parts.join("-"))
      };
   }

   // The distinct calibration sets of the package, each with a unique id, in a build order where
   // the masters a flat needs come before the flat. A flat set records the dark-flat (else bias)
   // set of the first light that uses it: the flats are calibrated with that master.
   function calibrationSets(manifest) {
      var byPath = framesByPath(manifest);
      var all = lights(manifest);
      var sets = {};
      var order = [];
      var used = {};
      var buildOrder = ["bias", "dark", "dark-flat", "flat"];
      for (var k = 0; k < buildOrder.length; ++k) {
         var kind = buildOrder[k];
         for (var i = 0; i < all.length; ++i) {
            var set = calibrationSet(kind, all[i].calibration[kind], byPath);
            if (set === null || sets.hasOwnProperty(set.key))
               continue;
            if (kind === "flat") {
               set.darkFlat = setKey("dark-flat", all[i].calibration["dark-flat"]);
               set.bias = setKey("bias", all[i].calibration.bias);
            }
            var id = set.label;
            var n = 2;
            while (used.hasOwnProperty(id))
               id = set.label + "-" + n++;
            used[id] = true;
            set.id = id;
            sets[set.key] = set;
            order.push(set);
         }
      }
      return order;
   }

   function setKey(kind, paths) {
      var frames = sortedCopy(paths);
      return frames.length ? kind + "|" + frames.join("|") : null;
   }

   // Lights grouped by filter and calibration set: one ImageCalibration run per group.
   function groupLights(manifest) {
      var all = lights(manifest);
      var groups = [];
      var index = {};
      for (var i = 0; i < all.length; ++i) {
         var light = all[i];
         var cal = light.calibration;
         var keys = {};
         var signature = [String(light.filter)];
         for (var k = 0; k < CALIBRATION_KINDS.length; ++k) {
            var kind = CALIBRATION_KINDS[k];
            keys[kind] = setKey(kind, cal[kind]);
            signature.push(keys[kind] || "-");
         }
         var scaled = cal.dark_scaled === true;
         signature.push(scaled ? "scaled" : "unscaled");
         var sig = signature.join("#");
         if (!index.hasOwnProperty(sig)) {
            index[sig] = groups.length;
            groups.push({
               filter: light.filter,
               bias: keys.bias,
               dark: keys.dark,
               flat: keys.flat,
               darkFlat: keys["dark-flat"],
               darkScaled: scaled,
               lights: []
            });
         }
         groups[index[sig]].lights.push(light);
      }
      var perFilter = {};
      for (var g = 0; g < groups.length; ++g) {
         var f = safeName(groups[g].filter);
         perFilter[f] = (perFilter[f] || 0) + 1;
         groups[g].id = f + "-" + perFilter[f];
      }
      return groups;
   }

   // Filters of the lights, in first-seen order.
   function filters(manifest) {
      var seen = {};
      var out = [];
      var all = lights(manifest);
      for (var i = 0; i < all.length; ++i)
         if (!seen.hasOwnProperty(String(all[i].filter))) {
            seen[String(all[i].filter)] = true;
            out.push(all[i].filter);
         }
      return out;
   }

   // ------------------------------------------------------------ rejection

   // The rejection algorithm for n frames, following the usual PixInsight guidance: percentile
   // clipping for very small sets, sigma clipping below 10, Winsorized sigma clipping below 20,
   // linear fit clipping below 25 and the generalized ESD test from 25 frames on.
   function chooseRejection(n) {
      if (n < 3)
         return { rejection: "NoRejection" };
      if (n < 6)
         return { rejection: "PercentileClip", pcClipLow: 0.2, pcClipHigh: 0.1 };
      if (n < 10)
         return { rejection: "SigmaClip", sigmaLow: 4.0, sigmaHigh: 3.0 };
      if (n < 20)
         return { rejection: "WinsorizedSigmaClip", sigmaLow: 4.0, sigmaHigh: 3.0 };
      if (n < 25)
         return { rejection: "LinearFit", linearFitLow: 5.0, linearFitHigh: 4.0 };
      return { rejection: "Rejection_ESD", esdOutliersFraction: 0.3, esdAlpha: 0.05,
               esdLowRelaxation: 1.5 };
   }

   // ------------------------------------------------------- process parameters

   function rows(paths, width) {
      var out = [];
      for (var i = 0; i < paths.length; ++i) {
         if (width === 4)
            out.push([true, paths[i], "", ""]);
         else if (width === 3)
            out.push([true, true, paths[i]]);
         else
            out.push([true, paths[i]]);
      }
      return out;
   }

   function copyInto(target, source) {
      for (var key in source)
         if (source.hasOwnProperty(key))
            target[key] = source[key];
      return target;
   }

   // ImageIntegration of calibration frames into a master, or of registered lights.
   // kind: "bias", "dark", "dark-flat", "flat" or "light"; weights: use the weight keyword.
   function integrationParameters(kind, paths, weights) {
      var light = kind === "light";
      var p = {
         images: rows(paths, 4),
         inputHints: "",
         combination: "Average",
         normalization: kind === "flat" ? "Multiplicative" :
                        (light ? "AdditiveWithScaling" : "NoNormalization"),
         rejectionNormalization: kind === "flat" ? "EqualizeFluxes" : "Scale",
         weightMode: light ? (weights ? "KeywordWeight" : "PSFSignalWeight") : "DontCare",
         weightKeyword: light && weights ? WEIGHT_KEYWORD : "",
         weightScale: "WeightScale_BWMV",
         ignoreNoiseKeywords: false,
         clipLow: true,
         clipHigh: true,
         rangeClipLow: light,
         rangeLow: 0.0,
         rangeClipHigh: false,
         generate64BitResult: false,
         generateRejectionMaps: false,
         generateIntegratedImage: true,
         generateDrizzleData: false,
         closePreviousImages: false,
         evaluateNoise: light,
         noGUIMessages: true,
         useFileThreads: true
      };
      copyInto(p, chooseRejection(paths.length));
      return p;
   }

   // ImageCalibration of one group of lights (or of flats, kind "flat") with its masters.
   // masters: {bias, dark, flat} master file paths or null; darkScaled: optimize the dark.
   function calibrationParameters(paths, masters, darkScaled, outputDirectory) {
      var bias = masters.bias || "";
      var dark = masters.dark || "";
      var flat = masters.flat || "";
      // An unscaled dark already holds the bias: subtracting both would remove the bias twice.
      var useBias = bias !== "" && (dark === "" || darkScaled);
      return {
         targetFrames: rows(paths, 2),
         inputHints: "",
         outputHints: "",
         pedestal: 0,
         pedestalMode: "Keyword",
         masterBiasEnabled: useBias,
         masterBiasPath: useBias ? bias : "",
         masterDarkEnabled: dark !== "",
         masterDarkPath: dark,
         masterFlatEnabled: flat !== "",
         masterFlatPath: flat,
         calibrateBias: false,
         calibrateDark: useBias && dark !== "",
         calibrateFlat: false,
         optimizeDarks: dark !== "" && darkScaled,
         outputDirectory: outputDirectory,
         outputExtension: ".xisf",
         outputPrefix: "",
         outputPostfix: "_c",
         outputSampleFormat: "f32",
         outputPedestal: 0,
         overwriteExistingFiles: true,
         onError: "Continue",
         noGUIMessages: true
      };
   }

   function cosmeticParameters(paths, masterDark, outputDirectory) {
      var useDark = !!masterDark;
      return {
         targetFrames: rows(paths, 2),
         outputDir: outputDirectory,
         outputExtension: ".xisf",
         prefix: "",
         postfix: "_cc",
         overwrite: true,
         cfa: false,
         amount: 1.0,
         useMasterDark: useDark,
         masterDarkPath: useDark ? masterDark : "",
         hotDarkCheck: useDark,
         hotDarkLevel: 1.0,
         coldDarkCheck: false,
         coldDarkLevel: 0.0,
         useAutoDetect: true,
         hotAutoCheck: true,
         hotAutoValue: 3.0,
         coldAutoCheck: false,
         coldAutoValue: 3.0,
         useDefectList: false
      };
   }

   // CosmeticCorrection reports no outputs: its files are outputDir/<name><postfix>.xisf.
   function cosmeticOutputs(paths, outputDirectory) {
      var out = [];
      for (var i = 0; i < paths.length; ++i)
         out.push(joinPath(outputDirectory, stem(paths[i]) + "_cc.xisf"));
      return out;
   }

   function subframeSelectorParameters(paths, pixelScale) {
      return {
         routine: "MeasureSubframes",
         nonInteractive: true,
         subframes: rows(paths, 2),
         fileCache: true,
         subframeScale: pixelScale || 1.0,
         cameraGain: 1.0,
         cameraResolution: "Bits16",
         scaleUnit: "ArcSeconds",
         dataUnit: "DataNumber",
         structureLayers: 5,
         noiseLayers: 0,
         hotPixelFilterRadius: 1,
         sensitivity: 0.1,
         peakResponse: 0.8,
         maxDistortion: 0.5,
         upperLimit: 1.0
      };
   }

   // SubframeSelector measurement rows: [index, enabled, locked, path, weight, FWHM,
   // eccentricity, PSFSignalWeight (SNRWeight before PixInsight 1.8.9), ...].
   function readMeasurements(table) {
      var out = {};
      for (var i = 0; i < (table || []).length; ++i) {
         var row = table[i];
         out[String(row[3])] = {
            index: Number(row[0]),
            weight: Number(row[4]),
            fwhm: Number(row[5]),
            eccentricity: Number(row[6]),
            psf_signal_weight: row.length > 7 ? Number(row[7]) : null
         };
      }
      return out;
   }

   function starAlignmentParameters(reference, paths, outputDirectory) {
      return {
         referenceImage: reference,
         referenceIsFile: true,
         targets: rows(paths, 3),
         inputHints: "",
         outputHints: "",
         mode: "RegisterMatch",
         writeKeywords: true,
         generateMasks: false,
         generateDrizzleData: false,
         frameAdaptation: false,
         noGUIMessages: true,
         pixelInterpolation: "Auto",
         clampingThreshold: 0.3,
         outputDirectory: outputDirectory,
         outputExtension: ".xisf",
         outputPrefix: "",
         outputPostfix: "_r",
         overwriteExistingFiles: true,
         onError: "Continue"
      };
   }

   // ------------------------------------------------------ reference frame

   function numberOr(value, fallback) {
      return typeof value === "number" && isFinite(value) ? value : fallback;
   }

   // The best light to register on: the highest manifest weight, then the smallest FWHM (from
   // the manifest, else from SubframeSelector). candidates: [{light, path, measured}].
   function chooseReference(candidates) {
      var best = null;
      var bestScore = null;
      for (var i = 0; i < candidates.length; ++i) {
         var c = candidates[i];
         var quality = c.light.quality || {};
         var measured = c.measured || {};
         var score = [
            numberOr(c.light.weight, -1),
            -numberOr(quality.fwhm, numberOr(measured.fwhm, 1e9)),
            numberOr(measured.psf_signal_weight, 0)
         ];
         var better = bestScore === null;
         for (var s = 0; !better && s < score.length; ++s) {
            if (score[s] > bestScore[s]) {
               better = true;
            } else if (score[s] < bestScore[s]) {
               break;
            }
         }
         if (better) {
            best = c;
            bestScore = score;
         }
      }
      return best;
   }

   // --------------------------------------------------------- colour

   var CHANNEL_NAMES = {
      L: ["l", "lum", "luminance", "clear", "c"],
      R: ["r", "red"],
      G: ["g", "green"],
      B: ["b", "blue"]
   };

   function channelOf(filterName) {
      var f = String(filterName).toLowerCase();
      for (var channel in CHANNEL_NAMES)
         if (CHANNEL_NAMES.hasOwnProperty(channel) && CHANNEL_NAMES[channel].indexOf(f) >= 0)
            return channel;
      return null;
   }

   // What colour combination the integrated filters allow: "LRGB", "RGB" or null.
   // masters: {filterName: path}. Returns {kind, channels: {L, R, G, B -> path}}.
   function combinationPlan(masters) {
      var channels = {};
      for (var f in masters)
         if (masters.hasOwnProperty(f)) {
            var c = channelOf(f);
            if (c !== null && !channels.hasOwnProperty(c))
               channels[c] = masters[f];
         }
      if (!(channels.R && channels.G && channels.B))
         return { kind: null, channels: channels };
      return { kind: channels.L ? "LRGB" : "RGB", channels: channels };
   }

   // ChannelCombination rows are [enabled, viewId] for R, G, B.
   function channelCombinationParameters(ids) {
      return {
         colorSpace: "RGB",
         channels: [[true, ids.R], [true, ids.G], [true, ids.B]]
      };
   }

   // LRGBCombination rows are [enabled, viewId, weight] for R, G, B, then L. Applied to the RGB
   // image made by ChannelCombination, only the L row is enabled: it replaces the lightness.
   function lrgbCombinationParameters(ids) {
      return {
         channels: [[false, "", 1.0], [false, "", 1.0], [false, "", 1.0],
                    [true, ids.L, 1.0]],
         mL: 0.5,
         mc: 0.5,
         clipHighlights: true,
         noiseReduction: false
      };
   }

   // ------------------------------------------------------- applying

   // Set params on a process instance; enumerated values become Constructor.prototype constants.
   function applyParameters(process, constructor, name, params) {
      var enums = ENUMERATIONS[name] || [];
      for (var key in params) {
         if (!params.hasOwnProperty(key))
            continue;
         var value = params[key];
         if (enums.indexOf(key) >= 0) {
            var constant = constructor.prototype[value];
            if (constant === undefined)
               throw new Error(name + " has no " + key + " value named " + value +
                               " in this PixInsight version");
            process[key] = constant;
         } else {
            process[key] = value;
         }
      }
      return process;
   }

   // --------------------------------------------------------------- job

   function parseJob(text) {
      var job;
      try {
         job = JSON.parse(text);
      } catch (err) {
         throw new Error("the job file is not valid JSON: " + err.message);
      }
      if (!job || typeof job.package_dir !== "string" || job.package_dir === "")
         throw new Error("the job file names no package_dir");
      return normaliseJob(job);
   }

   function normaliseJob(job) {
      var out = copyInto({}, job);
      out.schema = JOB_SCHEMA;
      out.output_dir = job.output_dir || joinPath(job.package_dir, "pixinsight");
      out.result_path = job.result_path || joinPath(out.output_dir, "september-result.json");
      var steps = job.steps || STEPS;
      for (var i = 0; i < steps.length; ++i)
         if (STEPS.indexOf(steps[i]) < 0)
            throw new Error("unknown step '" + steps[i] + "'; steps are " + STEPS.join(", "));
      out.steps = [];
      for (var s = 0; s < STEPS.length; ++s)
         if (steps.indexOf(STEPS[s]) >= 0)
            out.steps.push(STEPS[s]);
      out.combine = job.combine !== false && out.steps.indexOf("combine") >= 0;
      return out;
   }

   function wants(job, step) {
      return job.steps.indexOf(step) >= 0;
   }

   // --------------------------------------------------------- result

   function newResult(job, started) {
      return {
         schema: RESULT_SCHEMA,
         schema_version: RESULT_SCHEMA_VERSION,
         script_version: VERSION,
         status: "running",
         error: null,
         started: started,
         finished: null,
         job: job,
         package_dir: job ? job.package_dir : null,
         output_dir: job ? job.output_dir : null,
         cluster: null,
         steps: job ? job.steps : [],
         masters: [],
         groups: [],
         lights: [],
         reference: null,
         integrations: [],
         combination: null,
         processes: [],
         warnings: []
      };
   }

   function recordProcess(result, name, params, extra) {
      var entry = { process: name, parameters: params };
      if (extra)
         copyInto(entry, extra);
      result.processes.push(entry);
      return entry;
   }

   function finishResult(result, error, finished) {
      result.finished = finished;
      if (error) {
         result.status = "failed";
         result.error = String(error && error.message ? error.message : error);
      } else {
         result.status = "success";
         result.error = null;
      }
      return result;
   }

   function resultText(result) {
      return JSON.stringify(result, null, 2) + "\n";
   }

   return {
      VERSION: VERSION,
      RESULT_SCHEMA: RESULT_SCHEMA,
      WEIGHT_KEYWORD: WEIGHT_KEYWORD,
      MIN_INTEGRATION: MIN_INTEGRATION,
      STEPS: STEPS,
      CALIBRATION_KINDS: CALIBRATION_KINDS,
      ENUMERATIONS: ENUMERATIONS,
      basename: basename,
      stem: stem,
      joinPath: joinPath,
      safeName: safeName,
      parseManifest: parseManifest,
      framesByPath: framesByPath,
      lights: lights,
      filters: filters,
      calibrationSets: calibrationSets,
      setKey: setKey,
      groupLights: groupLights,
      chooseRejection: chooseRejection,
      integrationParameters: integrationParameters,
      calibrationParameters: calibrationParameters,
      cosmeticParameters: cosmeticParameters,
      cosmeticOutputs: cosmeticOutputs,
      subframeSelectorParameters: subframeSelectorParameters,
      readMeasurements: readMeasurements,
      starAlignmentParameters: starAlignmentParameters,
      chooseReference: chooseReference,
      channelOf: channelOf,
      combinationPlan: combinationPlan,
      channelCombinationParameters: channelCombinationParameters,
      lrgbCombinationParameters: lrgbCombinationParameters,
      applyParameters: applyParameters,
      parseJob: parseJob,
      normaliseJob: normaliseJob,
      wants: wants,
      newResult: newResult,
      recordProcess: recordProcess,
      finishResult: finishResult,
      resultText: resultText
   };
})();

if (typeof module !== "undefined" && module.exports)
   module.exports = SeptemberLib;
