// Recording stand-ins for the PixInsight JavaScript Runtime, to run September.js under Node.js.
//
// Each process stand-in knows the parameter names and enumeration constants its PixInsight
// module defines (from the process modules' *Parameters.cpp in PCL, and from scripts written for
// PixInsight 1.8.9 for the parameters added since: nonInteractive, PSFSignalWeight,
// Rejection_ESD, esd*). Setting any other property throws, so a misspelt parameter -- which
// PixInsight itself would silently ignore -- fails the tests. Files written by the "processes"
// live in an in-memory file system; reads fall through to the real disk (the package).
"use strict";

const fs = require("fs");
const path = require("path");

const KNOWN = {
   ImageCalibration: {
      parameters: ["targetFrames", "enableCFA", "cfaPattern", "inputHints", "outputHints",
         "pedestal", "pedestalMode", "pedestalKeyword", "overscanEnabled", "overscanImageX0",
         "overscanImageY0", "overscanImageX1", "overscanImageY1", "overscanRegions",
         "masterBiasEnabled", "masterBiasPath", "masterDarkEnabled", "masterDarkPath",
         "masterFlatEnabled", "masterFlatPath", "calibrateBias", "calibrateDark",
         "calibrateFlat", "optimizeDarks", "darkOptimizationThreshold", "darkOptimizationLow",
         "darkOptimizationWindow", "darkCFADetectionMode", "separateCFAFlatScalingFactors",
         "flatScaleClippingFactor", "evaluateNoise", "noiseEvaluationAlgorithm",
         "outputDirectory", "outputExtension", "outputPrefix", "outputPostfix",
         "outputSampleFormat", "outputPedestal", "overwriteExistingFiles", "onError",
         "noGUIMessages", "outputData"],
      enumerations: ["Literal", "Keyword", "CustomKeyword", "DetectCFA", "ForceCFA", "IgnoreCFA",
         "NoiseEvaluation_KSigma", "NoiseEvaluation_MRS", "i16", "i32", "f32", "f64",
         "Continue", "Abort", "AskUser", "Auto"]
   },
   CosmeticCorrection: {
      parameters: ["targetFrames", "masterDarkPath", "outputDir", "outputExtension", "prefix",
         "postfix", "overwrite", "cfa", "useMasterDark", "hotDarkCheck", "hotDarkLevel",
         "coldDarkCheck", "coldDarkLevel", "useAutoDetect", "hotAutoCheck", "hotAutoValue",
         "coldAutoCheck", "coldAutoValue", "amount", "transferFn", "useDefectList", "defects"],
      enumerations: []
   },
   SubframeSelector: {
      parameters: ["routine", "nonInteractive", "subframes", "fileCache", "subframeScale",
         "cameraGain", "cameraResolution", "siteLocalMidnight", "scaleUnit", "dataUnit",
         "trimmingFactor", "structureLayers", "noiseLayers", "hotPixelFilterRadius",
         "hotPixelFilter", "applyHotPixelFilter", "noiseReductionFilterRadius", "sensitivity",
         "peakResponse", "maxDistortion", "upperLimit", "backgroundExpansion", "xyStretch",
         "psfFit", "psfFitCircular", "pedestal", "roiX0", "roiY0", "roiX1", "roiY1",
         "inputHints", "outputHints", "outputDirectory", "outputExtension", "outputPrefix",
         "outputPostfix", "outputKeyword", "overwriteExistingFiles", "onError",
         "approvalExpression", "weightingExpression", "sortProperty", "graphProperty",
         "measurements"],
      enumerations: ["MeasureSubframes", "OutputSubframes", "StarDetectionPreview", "Bits8",
         "Bits10", "Bits12", "Bits14", "Bits16", "ArcSeconds", "Pixel", "Electron",
         "DataNumber", "Gaussian", "Moffat10", "Moffat8", "Moffat6", "Moffat4", "Moffat25",
         "Moffat15", "Lorentzian", "Continue", "Abort", "AskUser"]
   },
   StarAlignment: {
      parameters: ["structureLayers", "noiseLayers", "hotPixelFilterRadius",
         "noiseReductionFilterRadius", "sensitivity", "peakResponse", "maxStarDistortion",
         "upperLimit", "invert", "distortionModel", "undistortedReference",
         "distortionCorrection", "distortionMaxIterations", "distortionTolerance",
         "distortionAmplitude", "localDistortion", "matcherTolerance", "ransacTolerance",
         "ransacMaxIterations", "ransacMaximizeInliers", "ransacMaximizeOverlapping",
         "ransacMaximizeRegularity", "ransacMinimizeError", "maxStars", "fitPSF",
         "psfTolerance", "useTriangles", "polygonSides", "descriptorsPerStar",
         "restrictToPreviews", "intersection", "useBrightnessRelations", "useScaleDifferences",
         "scaleTolerance", "referenceImage", "referenceIsFile", "targets", "inputHints",
         "outputHints", "mode", "writeKeywords", "generateMasks", "generateDrizzleData",
         "generateDistortionMaps", "inheritAstrometricSolution", "frameAdaptation",
         "randomizeMosaic", "noGUIMessages", "useSurfaceSplines", "extrapolateLocalDistortion",
         "splineSmoothness", "pixelInterpolation", "clampingThreshold", "outputDirectory",
         "outputExtension", "outputPrefix", "outputPostfix", "maskPostfix",
         "distortionMapPostfix", "outputSampleFormat", "overwriteExistingFiles", "onError",
         "useFileThreads", "fileThreadOverload", "maxFileReadThreads", "maxFileWriteThreads",
         "outputData"],
      enumerations: ["RegisterMatch", "RegisterOnly", "StructureMap", "TransformationMap",
         "Auto", "Bicubic", "Bilinear", "NearestNeighbor", "Lanczos3", "CubicBSplineFilter",
         "MosaicOnly", "NoMosaic", "FitPSF_DistortionOnly", "Continue", "Abort", "AskUser",
         "SameAsTarget"]
   },
   ImageIntegration: {
      parameters: ["images", "inputHints", "combination", "weightMode", "weightKeyword",
         "weightScale", "minWeight", "ignoreNoiseKeywords", "normalization", "rejection",
         "rejectionNormalization", "minMaxLow", "minMaxHigh", "pcClipLow", "pcClipHigh",
         "sigmaLow", "sigmaHigh", "winsorizationCutoff", "linearFitLow", "linearFitHigh",
         "esdOutliersFraction", "esdAlpha", "esdLowRelaxation", "ccdGain", "ccdReadNoise",
         "ccdScaleNoise", "clipLow", "clipHigh", "rangeClipLow", "rangeLow", "rangeClipHigh",
         "rangeHigh", "mapRangeRejection", "reportRangeRejection", "largeScaleClipLow",
         "largeScaleClipHigh", "generate64BitResult", "generateRejectionMaps",
         "generateIntegratedImage", "generateDrizzleData", "closePreviousImages",
         "bufferSizeMB", "stackSizeMB", "autoMemorySize", "useROI", "roiX0", "roiY0", "roiX1",
         "roiY1", "useCache", "evaluateNoise", "mrsMinDataFraction", "noGUIMessages",
         "useFileThreads", "fileThreadOverload", "integrationImageId",
         "lowRejectionMapImageId", "highRejectionMapImageId", "slopeMapImageId"],
      enumerations: ["Average", "Median", "Minimum", "Maximum", "DontCare", "ExposureTime",
         "NoiseEvaluation", "SignalWeight", "MedianWeight", "AverageWeight", "KeywordWeight",
         "PSFSignalWeight", "PSFSNR", "WeightScale_AvgDev", "WeightScale_MAD",
         "WeightScale_BWMV", "WeightScale_PBMV", "WeightScale_Sn", "WeightScale_Qn",
         "WeightScale_IKSS", "NoNormalization", "Additive", "Multiplicative",
         "AdditiveWithScaling", "MultiplicativeWithScaling", "LocalNormalization",
         "NoRejection", "MinMax", "PercentileClip", "SigmaClip", "WinsorizedSigmaClip",
         "AveragedSigmaClip", "LinearFit", "CCDClip", "Rejection_ESD",
         "NoRejectionNormalization", "Scale", "EqualizeFluxes", "LocalRejectionNormalization"]
   },
   ChannelCombination: {
      parameters: ["colorSpace", "channels", "inheritAstrometricSolution"],
      enumerations: ["RGB", "CIEXYZ", "CIELab", "CIELch", "HSV", "HSI"]
   },
   LRGBCombination: {
      parameters: ["channels", "mL", "mc", "clipHighlights", "noiseReduction", "layersRemoved",
         "layersProtected", "inheritAstrometricSolution"],
      enumerations: []
   }
};

function stem(p) {
   const base = String(p).split("/").pop();
   const dot = base.lastIndexOf(".");
   return dot > 0 ? base.substring(0, dot) : base;
}

// The environment a script runs in: globals for a vm context, plus what was recorded.
function makeEnvironment(options) {
   options = options || {};
   const files = new Map();       // path -> {text} or {image: {...}}
   const dirs = new Set();
   const log = [];
   const runs = [];               // every process executed: {name, params, instance}
   const windows = new Map();
   const failures = options.failures || {};  // process name -> true: executeGlobal fails
   let windowCount = 0;

   // With options.persist, written files also go to disk (images as a one-line placeholder).
   function persist(p, text) {
      if (!options.persist)
         return;
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, text);
   }

   const File = {
      readTextFile(p) {
         if (files.has(p) && files.get(p).text !== undefined)
            return files.get(p).text;
         return fs.readFileSync(p, "utf8");
      },
      writeTextFile(p, text) {
         files.set(p, { text: String(text) });
         persist(p, String(text));
      },
      exists(p) {
         return files.has(p) || fs.existsSync(p);
      },
      directoryExists(p) {
         return dirs.has(p) || (fs.existsSync(p) && fs.statSync(p).isDirectory());
      },
      createDirectory(p) {
         dirs.add(p);
         if (options.persist)
            fs.mkdirSync(p, { recursive: true });
         return true;
      }
   };

   const console = {
      writeln(t) { log.push(["info", String(t)]); },
      noteln(t) { log.push(["note", String(t)]); },
      warningln(t) { log.push(["warning", String(t)]); },
      criticalln(t) { log.push(["critical", String(t)]); }
   };

   function FITSKeyword(name, value, comment) {
      this.name = name;
      this.value = value;
      this.comment = comment;
   }

   function imageRecord(p) {
      if (files.has(p) && files.get(p).image)
         return files.get(p).image;
      if (!File.exists(p))
         throw new Error("stand-in: no such image " + p);
      return { keywords: [], sources: [p], width: 580, height: 440 };
   }

   function ImageWindow(width, height, channels, bits, isFloat, isColor, id) {
      windowCount += 1;
      const wid = id || "window" + windowCount;
      this.mainView = { id: wid, image: { width: width || 580, height: height || 440 } };
      this.record = { keywords: [], sources: [], width: width, height: height, channels: channels };
      this.isNull = false;
      this.keywords = [];
      windows.set(wid, this);
   }
   ImageWindow.prototype.saveAs = function (p) {
      const rec = Object.assign({}, this.record, { keywords: this.keywords.slice(0) });
      files.set(p, { image: rec });
      persist(p, "stand-in image\n");
      return true;
   };
   ImageWindow.prototype.forceClose = function () {
      windows.delete(this.mainView.id);
      this.closed = true;
   };
   ImageWindow.windowById = function (id) {
      return windows.get(id) || null;
   };
   ImageWindow.open = function (p) {
      const rec = imageRecord(p);
      const w = new ImageWindow(rec.width, rec.height, 1, 32, true, false, "open_" + stem(p));
      w.record = Object.assign({}, rec, { opened: p });
      w.keywords = rec.keywords.slice(0);
      return [w];
   };

   function processClass(name, execute) {
      const spec = KNOWN[name];
      function Process() {
         const target = { __name: name };
         return new Proxy(target, {
            set(obj, key, value) {
               if (spec.parameters.indexOf(key) < 0 && key !== "__name")
                  throw new Error(name + " has no parameter '" + String(key) + "'");
               obj[key] = value;
               return true;
            },
            get(obj, key) {
               if (key === "executeGlobal")
                  return function () {
                     runs.push({ name: name, params: JSON.parse(JSON.stringify(obj)), instance: obj });
                     if (failures[name])
                        return false;
                     return execute(obj);
                  };
               if (key === "executeOn")
                  return function (view) {
                     runs.push({ name: name, params: JSON.parse(JSON.stringify(obj)), instance: obj,
                                 view: view.id });
                     if (failures[name])
                        return false;
                     const w = windows.get(view.id);
                     if (w)
                        w.record.sources.push({ process: name, channels: obj.channels });
                     return true;
                  };
               return obj[key];
            }
         });
      }
      spec.enumerations.forEach(function (e, i) { Process.prototype[e] = i; });
      Process.enumerationName = function (value) { return spec.enumerations[value]; };
      return Process;
   }

   function writeImage(p, record) {
      files.set(p, { image: Object.assign({ keywords: [], width: 580, height: 440 }, record) });
      persist(p, "stand-in image\n");
   }

   const ImageCalibration = processClass("ImageCalibration", function (p) {
      p.outputData = p.targetFrames.map(function (row) {
         const out = p.outputDirectory + "/" + p.outputPrefix + stem(row[1]) + p.outputPostfix +
                     p.outputExtension;
         writeImage(out, { sources: [row[1]], calibratedWith: {
            bias: p.masterBiasEnabled ? p.masterBiasPath : null,
            dark: p.masterDarkEnabled ? p.masterDarkPath : null,
            flat: p.masterFlatEnabled ? p.masterFlatPath : null } });
         return [out, 1, 1, 1, 0, 0, 0];
      });
      return true;
   });
   const CosmeticCorrection = processClass("CosmeticCorrection", function (p) {
      p.targetFrames.forEach(function (row) {
         writeImage(p.outputDir + "/" + p.prefix + stem(row[1]) + p.postfix + p.outputExtension,
                    Object.assign({}, imageRecord(row[1]), { sources: [row[1]] }));
      });
      return true;
   });
   const SubframeSelector = processClass("SubframeSelector", function (p) {
      p.measurements = p.subframes.map(function (row, i) {
         return [i, true, false, row[1], 1.0, 2.0 + (i % 5) * 0.1, 0.4, 10.0 - i * 0.01];
      });
      return true;
   });
   const StarAlignment = processClass("StarAlignment", function (p) {
      const failing = options.alignmentFailures || [];
      p.outputData = p.targets.map(function (row) {
         if (failing.some(function (f) { return row[2].indexOf(f) >= 0; }))
            return ["", "", 0, 0, 0, 0, 0, 0];
         const out = p.outputDirectory + "/" + p.outputPrefix + stem(row[2]) + p.outputPostfix +
                     p.outputExtension;
         writeImage(out, Object.assign({}, imageRecord(row[2]), { sources: [row[2]],
                                                                  reference: p.referenceImage }));
         return [out, "", 100, 90, 1, 1, 1, 0.1];
      });
      return true;
   });
   const ImageIntegration = processClass("ImageIntegration", function (p) {
      const w = new ImageWindow(580, 440, 1, 32, true, false, "integration" + (windowCount + 1));
      w.record = { keywords: [], sources: p.images.map(function (r) { return r[1]; }),
                   integration: { rejection: p.rejection, weightMode: p.weightMode,
                                  weightKeyword: p.weightKeyword,
                                  normalization: p.normalization } };
      p.integrationImageId = w.mainView.id;
      return true;
   });
   const ChannelCombination = processClass("ChannelCombination", function () { return true; });
   const LRGBCombination = processClass("LRGBCombination", function () { return true; });

   // Just enough of the PJSR user interface for the script's dialog: options.onDialog(dialog)
   // plays the user (fills in the fields) and its return value is what execute() returns.
   const messages = [];
   function Control() {}
   Control.prototype.adjustToContents = function () {};
   function Dialog() {}
   Dialog.prototype = new Control();
   Dialog.prototype.execute = function () {
      return options.onDialog ? options.onDialog(this) : false;
   };
   Dialog.prototype.ok = function () {};
   Dialog.prototype.cancel = function () {};
   function Widget(parent) { this.parent = parent; this.text = ""; this.checked = false; }
   function Sizer() { this.items = []; }
   Sizer.prototype.add = function (item) { this.items.push(item); };
   Sizer.prototype.addStretch = function () {};
   function GetDirectoryDialog() {}
   GetDirectoryDialog.prototype.execute = function () { return false; };
   function MessageBox(text, caption) { this.text = text; this.caption = caption; }
   MessageBox.prototype.execute = function () { messages.push(this.text); return 1; };

   const globals = {
      Dialog: Dialog, Label: Widget, Edit: Widget, PushButton: Widget, CheckBox: Widget,
      HorizontalSizer: Sizer, VerticalSizer: Sizer, GetDirectoryDialog: GetDirectoryDialog,
      MessageBox: MessageBox,
      File: File, console: console, FITSKeyword: FITSKeyword, ImageWindow: ImageWindow,
      ImageCalibration: ImageCalibration, CosmeticCorrection: CosmeticCorrection,
      SubframeSelector: SubframeSelector, StarAlignment: StarAlignment,
      ImageIntegration: ImageIntegration, ChannelCombination: ChannelCombination,
      LRGBCombination: LRGBCombination, jsArguments: options.jsArguments || []
   };
   return { globals: globals, files: files, dirs: dirs, log: log, runs: runs, windows: windows,
            messages: messages, known: KNOWN };
}

// PJSR source -> plain JavaScript: #include inlined, #define as var, other directives dropped
// (with their backslash-continued lines).
function preprocess(file, seen) {
   seen = seen || new Set();
   const lines = fs.readFileSync(file, "utf8").split("\n");
   const out = [];
   let continued = false;
   for (const line of lines) {
      if (continued) {
         continued = /\\\s*$/.test(line);
         out.push("");
         continue;
      }
      const m = /^\s*#(\w+)\s*(.*)$/.exec(line);
      if (!m) {
         out.push(line);
         continue;
      }
      continued = /\\\s*$/.test(line);
      if (m[1] === "include") {
         const inc = /^"(.+)"\s*$/.exec(m[2]);
         if (inc) {
            const target = path.resolve(path.dirname(file), inc[1]);
            if (!seen.has(target)) {
               seen.add(target);
               out.push(preprocess(target, seen));
            }
            continue;
         }
         out.push("");
      } else if (m[1] === "define") {
         const d = /^(\w+)\s+(.*)$/.exec(m[2]);
         out.push(d ? "var " + d[1] + " = " + d[2] + ";" : "");
      } else {
         out.push("");
      }
   }
   return out.join("\n");
}

// Every line starting with # removed (what the parse check feeds to new Function).
function stripDirectives(source) {
   const out = [];
   let continued = false;
   for (const line of source.split("\n")) {
      if (continued || /^\s*#/.test(line)) {
         continued = /\\\s*$/.test(line);
         out.push("");
      } else {
         out.push(line);
      }
   }
   return out.join("\n");
}

module.exports = { KNOWN, makeEnvironment, preprocess, stripDirectives, stem };
