// September.js -- PixInsight companion of september: processes an export package.
//
// Reads the package's september.json and runs, per filter and calibration set: master bias,
// dark, dark-flat and flat integration (or uses the package's masters), ImageCalibration with
// the matched masters, CosmeticCorrection, SubframeSelector measurement with the manifest's
// weights written as the SEPWGHT keyword, StarAlignment to the best frame, ImageIntegration
// with a rejection chosen by frame count, and an RGB/LRGB combination when the filters allow.
// Every output path and the parameters used go into a result JSON, on success and on failure.
//
// Interactive: Script > Batch Processing > September (a dialog asks for the package folder and
// the steps). Headless:
//    PixInsight.sh -n --automation-mode --run="/abs/September.js,/abs/job.json" --force-exit
// The pure logic lives in september-lib.js (tested under Node.js). ES5 only.

#feature-id    Batch Processing > September

#feature-info  Processes a september export package: calibration masters, calibration, \
   cosmetic correction, subframe weighting, registration, integration and colour \
   combination, with every output and parameter written to a result JSON file.

#include "september-lib.js"

#define SEPTEMBER_TITLE "September"

var Lib = SeptemberLib;

// ------------------------------------------------------------------ runtime helpers

function nowIso() {
   return (new Date()).toISOString();
}

function ensureDirectory(path) {
   if (!File.directoryExists(path))
      File.createDirectory(path, true);
}

function note(text) {
   console.writeln("<end><cbr>September: " + text);
}

function warn(result, text) {
   result.warnings.push(text);
   console.warningln("September: " + text);
}

function processConstructor(name) {
   switch (name) {
   case "ImageCalibration": return ImageCalibration;
   case "CosmeticCorrection": return CosmeticCorrection;
   case "SubframeSelector": return SubframeSelector;
   case "StarAlignment": return StarAlignment;
   case "ImageIntegration": return ImageIntegration;
   case "ChannelCombination": return ChannelCombination;
   case "LRGBCombination": return LRGBCombination;
   }
   throw new Error("unknown process " + name);
}

// Instantiate a process, set its parameters and record them in the result.
function makeProcess(result, name, params) {
   var constructor = processConstructor(name);
   var process = new constructor;
   Lib.applyParameters(process, constructor, name, params);
   return { process: process, entry: Lib.recordProcess(result, name, params) };
}

function runGlobal(made, name) {
   if (!made.process.executeGlobal())
      throw new Error(name + " failed; see the PixInsight console for the reason");
}

// Save the integration window of an ImageIntegration run to path and close it.
function saveIntegration(process, path) {
   var window = ImageWindow.windowById(process.integrationImageId);
   if (window === null || window === undefined || window.isNull)
      throw new Error("ImageIntegration produced no image (" + path + ")");
   if (!window.saveAs(path, false, false, false, false))
      throw new Error("cannot write " + path);
   window.forceClose();
   return path;
}

function outputColumn(process, index, fallback) {
   var data = process.outputData;
   if (data && data.length > index && data[index] && data[index][0])
      return String(data[index][0]);
   return fallback;
}

// ------------------------------------------------------------------------ masters

function integrateMaster(context, set, paths) {
   var path = Lib.joinPath(context.dirs.masters, "master-" + set.id + ".xisf");
   var kind = set.kind === "flat" ? "flat" : set.kind;
   var params = Lib.integrationParameters(kind, paths, false);
   var made = makeProcess(context.result, "ImageIntegration", params);
   made.entry.output = path;
   runGlobal(made, "ImageIntegration of " + set.id);
   return saveIntegration(made.process, path);
}

function calibrateFlats(context, set, absolute) {
   // flats lose their offset with the dark-flat master, else with the bias master
   var darkFlat = masterPath(context, set.darkFlat);
   var bias = darkFlat === null ? masterPath(context, set.bias) : null;
   if (darkFlat === null && bias === null)
      return absolute;
   var outDir = Lib.joinPath(context.dirs.masters, "flats-" + set.id);
   ensureDirectory(outDir);
   var masters = { bias: bias, dark: darkFlat, flat: null };
   var params = Lib.calibrationParameters(absolute, masters, false, outDir);
   var made = makeProcess(context.result, "ImageCalibration", params);
   runGlobal(made, "ImageCalibration of the flats " + set.id);
   var out = [];
   for (var i = 0; i < absolute.length; ++i)
      out.push(outputColumn(made.process, i,
                            Lib.joinPath(outDir, Lib.stem(absolute[i]) + "_c.xisf")));
   made.entry.outputs = out;
   return out;
}

function buildMasters(context) {
   var sets = Lib.calibrationSets(context.manifest);
   for (var i = 0; i < sets.length; ++i) {
      var set = sets[i];
      var absolute = [];
      for (var j = 0; j < set.frames.length; ++j)
         absolute.push(Lib.joinPath(context.job.package_dir, set.frames[j]));
      var entry = {
         id: set.id, kind: set.kind, filter: set.filter, exposure: set.exposure,
         frames: set.frames, path: null, integrated: false
      };
      if (set.master || absolute.length === 1) {
         entry.path = absolute[0];
      } else if (absolute.length < Lib.MIN_INTEGRATION && Lib.wants(context.job, "masters")) {
         entry.path = absolute[0];
         warn(context.result, set.id + " has " + absolute.length + " frames, too few to " +
              "integrate: its first frame is used as the master");
      } else if (Lib.wants(context.job, "masters")) {
         note("integrating master " + set.id + " from " + absolute.length + " frames");
         var inputs = set.kind === "flat" ? calibrateFlats(context, set, absolute) : absolute;
         entry.path = integrateMaster(context, set, inputs);
         entry.integrated = true;
      } else {
         warn(context.result, "no master for " + set.id + ": the masters step is off and the " +
              "package has single frames only; its lights are calibrated without it");
      }
      context.masters[set.key] = entry;
      context.result.masters.push(entry);
   }
}

function masterPath(context, key) {
   if (key === null || !context.masters.hasOwnProperty(key))
      return null;
   return context.masters[key].path;
}

// ------------------------------------------------------------------------ lights

function calibrateGroup(context, group, states) {
   var masters = {
      bias: masterPath(context, group.bias),
      dark: masterPath(context, group.dark),
      flat: masterPath(context, group.flat)
   };
   var summary = {
      id: group.id, filter: group.filter, dark_scaled: group.darkScaled,
      lights: [], master_bias: masters.bias, master_dark: masters.dark,
      master_flat: masters.flat, calibrated: false, cosmetic: false
   };
   for (var i = 0; i < states.length; ++i)
      summary.lights.push(states[i].path);
   context.result.groups.push(summary);

   if (Lib.wants(context.job, "calibrate")) {
      var outDir = Lib.joinPath(context.dirs.calibrated, Lib.safeName(group.filter));
      ensureDirectory(outDir);
      var inputs = currentPaths(states);
      var params = Lib.calibrationParameters(inputs, masters, group.darkScaled, outDir);
      var made = makeProcess(context.result, "ImageCalibration", params);
      made.entry.group = group.id;
      note("calibrating " + inputs.length + " " + group.filter + " lights (" + group.id + ")");
      runGlobal(made, "ImageCalibration of " + group.id);
      for (var k = 0; k < states.length; ++k) {
         states[k].calibrated = outputColumn(made.process, k, "");
         if (states[k].calibrated === "") {
            states[k].status = "calibration-failed";
         } else {
            states[k].current = states[k].calibrated;
         }
      }
      summary.calibrated = true;
   }

   if (Lib.wants(context.job, "cosmetic")) {
      var live = liveStates(states);
      if (live.length > 0) {
         var ccDir = Lib.joinPath(context.dirs.cosmetic, Lib.safeName(group.filter));
         ensureDirectory(ccDir);
         var ccInputs = currentPaths(live);
         var ccParams = Lib.cosmeticParameters(ccInputs, masters.dark, ccDir);
         var cc = makeProcess(context.result, "CosmeticCorrection", ccParams);
         cc.entry.group = group.id;
         runGlobal(cc, "CosmeticCorrection of " + group.id);
         var outputs = Lib.cosmeticOutputs(ccInputs, ccDir);
         cc.entry.outputs = outputs;
         for (var c = 0; c < live.length; ++c) {
            if (File.exists(outputs[c])) {
               live[c].cosmetic = outputs[c];
               live[c].current = outputs[c];
            } else {
               warn(context.result, "CosmeticCorrection wrote no " + outputs[c]);
            }
         }
         summary.cosmetic = true;
      }
   }
}

function liveStates(states) {
   var out = [];
   for (var i = 0; i < states.length; ++i)
      if (states[i].status === "ok")
         out.push(states[i]);
   return out;
}

function currentPaths(states) {
   var out = [];
   for (var i = 0; i < states.length; ++i)
      out.push(states[i].current);
   return out;
}

function isInside(path, directory) {
   return String(path).indexOf(String(directory).replace(/\/+$/, "") + "/") === 0;
}

// Write the manifest weight as the SEPWGHT keyword. Files of the package itself are never
// modified: a weighted copy is written to the output folder instead.
function writeWeight(context, state) {
   var target = state.current;
   if (!isInside(target, context.job.output_dir)) {
      var dir = Lib.joinPath(context.dirs.weighted, Lib.safeName(state.filter));
      ensureDirectory(dir);
      target = Lib.joinPath(dir, Lib.stem(state.current) + "_w.xisf");
   }
   var windows = ImageWindow.open(state.current);
   if (!windows || windows.length === 0)
      throw new Error("cannot open " + state.current + " to write its weight");
   var window = windows[0];
   var keywords = [];
   var old = window.keywords;
   for (var i = 0; i < old.length; ++i)
      if (String(old[i].name) !== Lib.WEIGHT_KEYWORD)
         keywords.push(old[i]);
   keywords.push(new FITSKeyword(Lib.WEIGHT_KEYWORD, String(state.weight),
                                 "september integration weight"));
   window.keywords = keywords;
   if (!window.saveAs(target, false, false, false, false))
      throw new Error("cannot write " + target);
   window.forceClose();
   state.current = target;
   state.weighted = target;
}

function measure(context, states) {
   var live = liveStates(states);
   if (live.length === 0)
      return;
   var scale = null;
   for (var i = 0; i < live.length && scale === null; ++i)
      if (live[i].light.wcs && typeof live[i].light.wcs.pixel_scale === "number")
         scale = live[i].light.wcs.pixel_scale;
   var params = Lib.subframeSelectorParameters(currentPaths(live), scale);
   var made = makeProcess(context.result, "SubframeSelector", params);
   note("measuring " + live.length + " frames with SubframeSelector");
   runGlobal(made, "SubframeSelector");
   var measured = Lib.readMeasurements(made.process.measurements);
   for (var k = 0; k < live.length; ++k) {
      live[k].measured = measured[live[k].current] || null;
      if (typeof live[k].weight === "number")
         writeWeight(context, live[k]);
   }
}

// StarAlignment per filter, every filter onto the same reference: the best frame of the cluster,
// so the per-filter integrations line up for the colour combination.
function register(context, states) {
   var live = liveStates(states);
   if (live.length === 0)
      return;
   var candidates = [];
   for (var i = 0; i < live.length; ++i)
      candidates.push({ light: live[i].light, path: live[i].current,
                        measured: live[i].measured, state: live[i] });
   var best = Lib.chooseReference(candidates);
   context.result.reference = {
      path: best.light.path, file: best.path, weight: best.light.weight,
      fwhm: (best.light.quality || {}).fwhm === undefined ? null : best.light.quality.fwhm
   };
   var names = Lib.filters(context.manifest);
   for (var f = 0; f < names.length; ++f) {
      var chosen = [];
      for (var j = 0; j < live.length; ++j)
         if (live[j].filter === names[f])
            chosen.push(live[j]);
      if (chosen.length === 0)
         continue;
      note("registering " + chosen.length + " " + names[f] + " frames on " + best.light.path);
      var outDir = Lib.joinPath(context.dirs.registered, Lib.safeName(names[f]));
      ensureDirectory(outDir);
      var params = Lib.starAlignmentParameters(best.path, currentPaths(chosen), outDir);
      var made = makeProcess(context.result, "StarAlignment", params);
      made.entry.filter = names[f];
      runGlobal(made, "StarAlignment of " + names[f]);
      for (var k = 0; k < chosen.length; ++k) {
         var out = outputColumn(made.process, k, "");
         if (out === "") {
            chosen[k].status = "registration-failed";
         } else {
            chosen[k].registered = out;
            chosen[k].current = out;
         }
      }
   }
}

function integrateFilters(context, states) {
   var names = Lib.filters(context.manifest);
   var outputs = {};
   ensureDirectory(context.dirs.integrated);
   for (var f = 0; f < names.length; ++f) {
      var chosen = [];
      var weights = true;
      for (var i = 0; i < states.length; ++i)
         if (states[i].filter === names[f] && states[i].status === "ok") {
            chosen.push(states[i]);
            if (typeof states[i].weight !== "number" || !states[i].weighted)
               weights = false;
         }
      if (chosen.length < Lib.MIN_INTEGRATION) {
         warn(context.result, "filter " + names[f] + " has " + chosen.length +
              " usable frame(s): not integrated");
         continue;
      }
      var path = Lib.joinPath(context.dirs.integrated,
                              Lib.safeName(context.manifest.cluster.name) + "_" +
                              Lib.safeName(names[f]) + ".xisf");
      var params = Lib.integrationParameters("light", currentPaths(chosen), weights);
      var made = makeProcess(context.result, "ImageIntegration", params);
      made.entry.output = path;
      note("integrating " + chosen.length + " " + names[f] + " frames (" + params.rejection + ")");
      runGlobal(made, "ImageIntegration of " + names[f]);
      saveIntegration(made.process, path);
      var frames = [];
      for (var k = 0; k < chosen.length; ++k) {
         chosen[k].integrated = true;
         frames.push(chosen[k].path);
      }
      context.result.integrations.push({
         filter: names[f], path: path, frames: frames, frame_count: frames.length,
         rejection: params.rejection, weight_mode: params.weightMode
      });
      outputs[names[f]] = path;
   }
   return outputs;
}

function combine(context, integrated) {
   var plan = Lib.combinationPlan(integrated);
   if (plan.kind === null)
      return;
   var windows = {};
   var ids = {};
   var channel;
   for (channel in plan.channels)
      if (plan.channels.hasOwnProperty(channel)) {
         windows[channel] = ImageWindow.open(plan.channels[channel])[0];
         ids[channel] = windows[channel].mainView.id;
      }
   var image = windows.R.mainView.image;
   var rgb = new ImageWindow(image.width, image.height, 3, 32, true, true, "september_rgb");
   var cc = makeProcess(context.result, "ChannelCombination",
                        Lib.channelCombinationParameters(ids));
   if (!cc.process.executeOn(rgb.mainView))
      throw new Error("ChannelCombination failed");
   if (plan.kind === "LRGB") {
      var lrgb = makeProcess(context.result, "LRGBCombination",
                             Lib.lrgbCombinationParameters(ids));
      if (!lrgb.process.executeOn(rgb.mainView))
         throw new Error("LRGBCombination failed");
   }
   var path = Lib.joinPath(context.dirs.integrated,
                           Lib.safeName(context.manifest.cluster.name) + "_" + plan.kind + ".xisf");
   if (!rgb.saveAs(path, false, false, false, false))
      throw new Error("cannot write " + path);
   rgb.forceClose();
   for (channel in windows)
      if (windows.hasOwnProperty(channel))
         windows[channel].forceClose();
   context.result.combination = { kind: plan.kind, path: path, channels: plan.channels };
}

// ---------------------------------------------------------------------------- run

function runJob(job) {
   var result = Lib.newResult(job, nowIso());
   var error = null;
   var states = [];
   try {
      var text = File.readTextFile(Lib.joinPath(job.package_dir, "september.json"));
      var manifest = Lib.parseManifest(String(text));
      result.cluster = manifest.cluster;
      var out = job.output_dir;
      var context = {
         job: job, manifest: manifest, result: result, masters: {},
         dirs: {
            masters: Lib.joinPath(out, "masters"),
            calibrated: Lib.joinPath(out, "calibrated"),
            cosmetic: Lib.joinPath(out, "cosmetic"),
            weighted: Lib.joinPath(out, "weighted"),
            registered: Lib.joinPath(out, "registered"),
            integrated: Lib.joinPath(out, "integrated")
         }
      };
      ensureDirectory(out);
      ensureDirectory(context.dirs.masters);
      buildMasters(context);
      var groups = Lib.groupLights(manifest);
      for (var g = 0; g < groups.length; ++g) {
         var groupStates = [];
         for (var i = 0; i < groups[g].lights.length; ++i) {
            var light = groups[g].lights[i];
            var state = {
               path: light.path, filter: light.filter, group: groups[g].id, light: light,
               weight: typeof light.weight === "number" ? light.weight : null,
               current: Lib.joinPath(job.package_dir, light.path), status: "ok",
               calibrated: null, cosmetic: null, weighted: null, registered: null,
               measured: null, integrated: false
            };
            groupStates.push(state);
            states.push(state);
         }
         calibrateGroup(context, groups[g], groupStates);
      }
      if (Lib.wants(job, "measure"))
         measure(context, states);
      if (Lib.wants(job, "register"))
         register(context, states);
      if (Lib.wants(job, "integrate")) {
         var integrated = integrateFilters(context, states);
         if (job.combine)
            combine(context, integrated);
      }
   } catch (err) {
      error = err;
      console.criticalln("September: " + (err && err.message ? err.message : err));
   }
   for (var s = 0; s < states.length; ++s) {
      var st = states[s];
      result.lights.push({
         path: st.path, filter: st.filter, group: st.group, status: st.status,
         weight: st.weight, calibrated: st.calibrated, cosmetic: st.cosmetic,
         weighted: st.weighted, registered: st.registered, measured: st.measured,
         integrated: st.integrated
      });
   }
   Lib.finishResult(result, error, nowIso());
   writeResult(job.result_path, result);
   return result;
}

function writeResult(path, result) {
   var slash = String(path).lastIndexOf("/");
   if (slash > 0)
      ensureDirectory(String(path).substring(0, slash));
   File.writeTextFile(path, Lib.resultText(result));
   note("result written to " + path + " (" + result.status + ")");
}

// The job file given on the command line: the first argument ending in .json.
function jobArgument(args) {
   for (var i = 0; i < args.length; ++i)
      if (/\.json$/i.test(String(args[i])))
         return String(args[i]);
   return null;
}

function runJobFile(jobPath) {
   var job = null;
   try {
      job = Lib.parseJob(String(File.readTextFile(jobPath)));
   } catch (err) {
      var fallback = Lib.newResult(null, nowIso());
      Lib.finishResult(fallback, err, nowIso());
      writeResult(jobPath.replace(/\.json$/i, "") + "-result.json", fallback);
      return fallback;
   }
   return runJob(job);
}

// --------------------------------------------------------------------- interactive

function runInteractive() {
   function SeptemberDialog() {
      this.__base__ = Dialog;
      this.__base__();
      var self = this;
      this.windowTitle = SEPTEMBER_TITLE;

      this.folderLabel = new Label(this);
      this.folderLabel.text = "Package folder (holds september.json):";
      this.folderEdit = new Edit(this);
      this.folderEdit.minWidth = 420;
      this.browseButton = new PushButton(this);
      this.browseButton.text = "Browse...";
      this.browseButton.onClick = function () {
         var d = new GetDirectoryDialog;
         d.caption = "Select a september export package";
         if (d.execute())
            self.folderEdit.text = d.directory;
      };
      this.folderSizer = new HorizontalSizer;
      this.folderSizer.spacing = 6;
      this.folderSizer.add(this.folderEdit, 100);
      this.folderSizer.add(this.browseButton);

      this.stepBoxes = [];
      this.stepsSizer = new HorizontalSizer;
      this.stepsSizer.spacing = 8;
      for (var i = 0; i < Lib.STEPS.length; ++i) {
         var box = new CheckBox(this);
         box.text = Lib.STEPS[i];
         box.checked = true;
         this.stepBoxes.push(box);
         this.stepsSizer.add(box);
      }

      this.okButton = new PushButton(this);
      this.okButton.text = "Run";
      this.okButton.onClick = function () { self.ok(); };
      this.cancelButton = new PushButton(this);
      this.cancelButton.text = "Cancel";
      this.cancelButton.onClick = function () { self.cancel(); };
      this.buttonsSizer = new HorizontalSizer;
      this.buttonsSizer.spacing = 6;
      this.buttonsSizer.addStretch();
      this.buttonsSizer.add(this.okButton);
      this.buttonsSizer.add(this.cancelButton);

      this.sizer = new VerticalSizer;
      this.sizer.margin = 8;
      this.sizer.spacing = 8;
      this.sizer.add(this.folderLabel);
      this.sizer.add(this.folderSizer);
      this.sizer.add(this.stepsSizer);
      this.sizer.add(this.buttonsSizer);
      this.adjustToContents();
   }
   SeptemberDialog.prototype = new Dialog;

   var dialog = new SeptemberDialog;
   if (!dialog.execute())
      return null;
   var steps = [];
   for (var i = 0; i < dialog.stepBoxes.length; ++i)
      if (dialog.stepBoxes[i].checked)
         steps.push(Lib.STEPS[i]);
   var folder = String(dialog.folderEdit.text).replace(/\\/g, "/");
   if (folder === "" || !File.exists(Lib.joinPath(folder, "september.json"))) {
      (new MessageBox("No september.json in '" + folder + "'.", SEPTEMBER_TITLE)).execute();
      return null;
   }
   var result = runJob(Lib.normaliseJob({ package_dir: folder, steps: steps }));
   (new MessageBox("September finished: " + result.status +
                   (result.error ? "\n" + result.error : "") + "\nResult: " +
                   result.job.result_path, SEPTEMBER_TITLE)).execute();
   return result;
}

function main() {
   var args = typeof jsArguments !== "undefined" && jsArguments ? jsArguments : [];
   var jobPath = jobArgument(args);
   if (jobPath !== null)
      return runJobFile(jobPath);
   return runInteractive();
}

main();
