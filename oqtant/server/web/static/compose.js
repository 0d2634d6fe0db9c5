// The job composer: an editable RF ramp, barriers, a painted landscape and the terminator,
// checked by the server as you type.
"use strict";
(function () {
  var root = document.getElementById("compose");
  if (!root) { return; }
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var kind = root.dataset.kind;
  var initial = JSON.parse(root.dataset.initial);
  var values = initial.values;
  var form = document.getElementById("job-form");
  var rfBody = document.querySelector("#rf-table tbody");
  var barrierList = document.getElementById("barrier-list");
  var snapshotList = document.getElementById("snapshot-list");
  var terminator = document.getElementById("f-term");
  // a copied terminator keeps what the composer does not show (detuning, interpolation)
  var laserTemplate = (values.lasers && values.lasers[0]) || {
    type: "TERMINATOR",
    pulses: [{ intensities_mw_per_cm2: [1.0, 1.0], detuning_mhz: 0.0, interpolation: "OFF" }]
  };
  var problems = document.getElementById("problems");
  var submitState = document.getElementById("submit-state");
  var submitProblems = document.getElementById("submit-problems");
  var sweepField = document.getElementById("f-sweep-field");
  var sweepRange = document.getElementById("sweep-range");
  var sweepStart = document.getElementById("f-sweep-start");
  var sweepStop = document.getElementById("f-sweep-stop");
  var sweepRuns = document.getElementById("f-sweep-runs");
  var BARRIER_SWEEPS = [["positions_um", 1, "final position (µm)"], ["heights_khz", 2, "final height (kHz)"],
                        ["widths_um", 3, "final width (µm)"]];
  var state = document.getElementById("preview-state");
  var figures = document.getElementById("preview-figures");
  var CAPTIONS = {
    potential: "Potential energy the atoms feel along x (magnetic trap plus projected light)",
    rf: "RF knife: frequency and power against time",
    barriers: "Optical potential against position and time",
    lasers: "Terminator pulse timing"
  };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function numberInput(value, label) {
    var input = el("input", { type: "number", step: "any", "aria-label": label });
    input.value = value === null || value === undefined ? "" : String(value);
    return input;
  }
  function removeButton(label) {
    return el("button", { type: "button", class: "small link remove", "aria-label": label }, "remove");
  }
  function readNumber(input) {
    var text = input.value.trim();
    if (text === "") { return null; }
    var n = Number(text);
    return Number.isFinite(n) ? n : text;  // the server names the field of a non-number
  }

  // a table row of number inputs, cells [[value, label], ...], and its remove button
  function addRow(body, cells, removeLabel) {
    var tr = el("tr");
    cells.forEach(function (c) {
      var td = el("td"); td.appendChild(numberInput(c[0], c[1])); tr.appendChild(td);
    });
    var td = el("td"); var rm = removeButton(removeLabel);
    rm.addEventListener("click", function () { tr.remove(); changed(); });
    td.appendChild(rm); tr.appendChild(td);
    body.appendChild(tr);
  }

  // ---- RF ramp
  function addRfRow(t, f, p) {
    addRow(rfBody, [[t, "time (ms)"], [f, "frequency (MHz)"], [p, "power (mW)"]],
           "remove this RF point");
  }

  // ---- barriers
  function select(options, value, label) {
    var s = el("select", { "aria-label": label });
    options.forEach(function (o) { var opt = el("option", {}, o); if (o === value) { opt.selected = true; } s.appendChild(opt); });
    return s;
  }
  function addBarrierRow(body, t, x, h, w) {
    addRow(body, [[t, "time (ms)"], [x, "position (µm)"], [h, "height (kHz)"], [w, "width (µm)"]],
           "remove this time point");
  }
  function addBarrier(b) {
    var box = el("div", { class: "barrier" });
    var head = el("div", { class: "barrier-head" });
    head.appendChild(el("strong", { class: "barrier-title" }, "Barrier"));
    var shape = select(JSON.parse(root.dataset.shapes), b.shape || "GAUSSIAN", "shape");
    shape.className = "b-shape";
    var interp = select(JSON.parse(root.dataset.interpolations), b.interpolation || "LINEAR", "interpolation in time");
    interp.className = "b-interp";
    var l1 = el("label", {}, "shape "); l1.appendChild(shape);
    var l2 = el("label", {}, "interpolation "); l2.appendChild(interp);
    head.appendChild(l1); head.appendChild(l2);
    var rm = removeButton("remove this barrier");
    rm.addEventListener("click", function () { box.remove(); changed(); });
    head.appendChild(rm);
    box.appendChild(head);
    var table = el("table", { class: "grid edit" });
    var thead = el("thead"); var hr = el("tr");
    ["time (ms)", "position (µm)", "height (kHz)", "width (µm)", ""].forEach(function (h) { hr.appendChild(el("th", {}, h)); });
    thead.appendChild(hr); table.appendChild(thead);
    var body = el("tbody"); table.appendChild(body);
    for (var i = 0; i < b.times_ms.length; i++) {
      addBarrierRow(body, b.times_ms[i], b.positions_um[i], b.heights_khz[i], b.widths_um[i]);
    }
    box.appendChild(table);
    var add = el("button", { type: "button", class: "small" }, "Add time point");
    add.addEventListener("click", function () {
      var last = body.lastElementChild; var t = 0;
      if (last) { t = (Number(last.querySelector("input").value) || 0) + 1; }
      addBarrierRow(body, t, 0, 0, 1); changed();
    });
    box.appendChild(add);
    barrierList.appendChild(box);
  }

  // ---- painted landscape: snapshots of (position, potential) points
  function addPointRow(body, x, u) {
    addRow(body, [[x, "position (µm)"], [u, "potential (kHz)"]], "remove this point");
  }
  function addSnapshot(snap) {
    var box = el("div", { class: "barrier snapshot" });
    var head = el("div", { class: "barrier-head" });
    head.appendChild(el("strong", { class: "snapshot-title" }, "Snapshot"));
    var time = numberInput(snap.time_ms, "snapshot time (ms)");
    time.className = "s-time";
    var interp = select(JSON.parse(root.dataset.interpolations), snap.spatial_interpolation || "LINEAR",
                        "interpolation along x");
    interp.className = "s-interp";
    var l1 = el("label", {}, "time (ms) "); l1.appendChild(time);
    var l2 = el("label", {}, "interpolation along x "); l2.appendChild(interp);
    head.appendChild(l1); head.appendChild(l2);
    var rm = removeButton("remove this snapshot");
    rm.addEventListener("click", function () { box.remove(); changed(); });
    head.appendChild(rm);
    box.appendChild(head);
    var table = el("table", { class: "grid edit" });
    var thead = el("thead"); var hr = el("tr");
    ["position (µm)", "potential (kHz)", ""].forEach(function (h) { hr.appendChild(el("th", {}, h)); });
    thead.appendChild(hr); table.appendChild(thead);
    var body = el("tbody"); table.appendChild(body);
    for (var i = 0; i < snap.positions_um.length; i++) {
      addPointRow(body, snap.positions_um[i], snap.potentials_khz[i]);
    }
    box.appendChild(table);
    var add = el("button", { type: "button", class: "small" }, "Add point");
    add.addEventListener("click", function () {
      var last = body.lastElementChild; var x = 0;
      if (last) { x = (Number(last.querySelector("input").value) || 0) + 5; }
      addPointRow(body, x, 0); changed();
    });
    box.appendChild(add);
    snapshotList.appendChild(box);
  }

  // ---- fields and their names in the wire format (used to mark the invalid ones)
  function label() {
    if (sweepField) { sweepOptions(); markSwept(); }
    rfBody.querySelectorAll("tr").forEach(function (tr, i) {
      var inputs = tr.querySelectorAll("input");
      inputs[0].dataset.field = "rf_evaporation.times_ms." + i;
      inputs[1].dataset.field = "rf_evaporation.frequencies_mhz." + i;
      inputs[2].dataset.field = "rf_evaporation.powers_mw." + i;
    });
    if (!barrierList) { return; }
    barrierList.querySelectorAll(".barrier").forEach(function (box, b) {
      var base = "optical_barriers." + b + ".";
      box.querySelector(".barrier-title").textContent = "Barrier " + (b + 1);
      box.querySelector(".b-shape").dataset.field = base + "shape";
      box.querySelector(".b-interp").dataset.field = base + "interpolation";
      box.querySelectorAll("tbody tr").forEach(function (tr, i) {
        var inputs = tr.querySelectorAll("input");
        ["times_ms", "positions_um", "heights_khz", "widths_um"].forEach(function (name, k) {
          inputs[k].dataset.field = base + name + "." + i;
        });
      });
    });
    snapshotList.querySelectorAll(".snapshot").forEach(function (box, k) {
      var base = "optical_landscape.landscapes." + k + ".";
      box.querySelector(".snapshot-title").textContent = "Snapshot " + (k + 1);
      box.querySelector(".s-time").dataset.field = base + "time_ms";
      box.querySelector(".s-interp").dataset.field = base + "spatial_interpolation";
      box.querySelectorAll("tbody tr").forEach(function (tr, i) {
        var inputs = tr.querySelectorAll("input");
        inputs[0].dataset.field = base + "positions_um." + i;
        inputs[1].dataset.field = base + "potentials_khz." + i;
      });
    });
  }

  // ---- sweep: one field varied linearly over the runs of one job
  function lastRow(body) { var rows = body.querySelectorAll("tr"); return rows[rows.length - 1]; }
  // the input of the run that the sweep varies (its first run's value is shown there)
  function sweptInput(path) {
    if (path === "time_of_flight_ms") { return document.getElementById("f-tof"); }
    if (path === "end_time_ms") { return document.getElementById("f-end"); }
    var row, parts = path.split(".");
    if (parts[0] === "rf_evaporation") {
      row = lastRow(rfBody);
      return row ? row.querySelectorAll("input")[parts[1] === "frequencies_mhz" ? 1 : 2] : null;
    }
    if (parts[0] === "optical_barriers" && barrierList) {
      var box = barrierList.querySelectorAll(".barrier")[Number(parts[1])];
      row = box ? lastRow(box.querySelector("tbody")) : null;
      var column = BARRIER_SWEEPS.filter(function (b) { return b[0] === parts[2]; })[0];
      return row && column ? row.querySelectorAll("input")[column[1]] : null;
    }
    return null;
  }
  function sweepOptions() {  // one option per barrier field, for the barriers there are now
    var chosen = sweepField.value;
    sweepField.querySelectorAll("option[data-barrier]").forEach(function (o) { o.remove(); });
    var count = barrierList ? barrierList.querySelectorAll(".barrier").length : 0;
    for (var b = 0; b < count; b++) {
      BARRIER_SWEEPS.forEach(function (f) {
        var o = el("option", { value: "optical_barriers." + b + "." + f[0] + ".last", "data-barrier": "1" },
                   "barrier " + (b + 1) + ": " + f[2]);
        sweepField.appendChild(o);
      });
    }
    sweepField.value = chosen;
    if (sweepField.value !== chosen) { sweepField.value = ""; }  // its barrier was removed
  }
  var sweptPath = "";
  // the varied field's own box shows the first run's value and is read-only; a field
  // just chosen starts the sweep from its value
  function markSwept() {
    form.querySelectorAll("input.swept").forEach(function (i) {
      i.classList.remove("swept"); i.readOnly = false; i.removeAttribute("title");
    });
    sweepRange.hidden = !sweepField.value;
    var input = sweepField.value ? sweptInput(sweepField.value) : null;
    if (sweepField.value !== sweptPath) {
      sweptPath = sweepField.value;
      if (input) {
        sweepStart.value = input.value;
        if (sweepStop.value === "") { sweepStop.value = input.value; }
      }
    }
    if (!input) { return; }
    input.value = sweepStart.value;
    input.classList.add("swept"); input.readOnly = true;
    input.title = "varied by the sweep: its first run's value";
  }
  function sweep() {
    if (!sweepField.value) { return null; }
    return { field: sweepField.value, start: readNumber(sweepStart), stop: readNumber(sweepStop),
             runs: readNumber(sweepRuns) };
  }

  function collect() {
    var rf = { times_ms: [], frequencies_mhz: [], powers_mw: [],
               interpolation: document.getElementById("f-rf-interp").value };
    rfBody.querySelectorAll("tr").forEach(function (tr) {
      var inputs = tr.querySelectorAll("input");
      rf.times_ms.push(readNumber(inputs[0]));
      rf.frequencies_mhz.push(readNumber(inputs[1]));
      rf.powers_mw.push(readNumber(inputs[2]));
    });
    var barriers = null;
    if (barrierList) {
      barriers = [];
      barrierList.querySelectorAll(".barrier").forEach(function (box) {
        var b = { times_ms: [], positions_um: [], heights_khz: [], widths_um: [],
                  shape: box.querySelector(".b-shape").value,
                  interpolation: box.querySelector(".b-interp").value };
        box.querySelectorAll("tbody tr").forEach(function (tr) {
          var inputs = tr.querySelectorAll("input");
          b.times_ms.push(readNumber(inputs[0]));
          b.positions_um.push(readNumber(inputs[1]));
          b.heights_khz.push(readNumber(inputs[2]));
          b.widths_um.push(readNumber(inputs[3]));
        });
        barriers.push(b);
      });
      if (!barriers.length) { barriers = null; }
    }
    var landscape = null, lasers = null;
    if (snapshotList) {
      var snaps = [];
      snapshotList.querySelectorAll(".snapshot").forEach(function (box) {
        var snap = { time_ms: readNumber(box.querySelector(".s-time")),
                     spatial_interpolation: box.querySelector(".s-interp").value,
                     positions_um: [], potentials_khz: [] };
        box.querySelectorAll("tbody tr").forEach(function (tr) {
          var inputs = tr.querySelectorAll("input");
          snap.positions_um.push(readNumber(inputs[0]));
          snap.potentials_khz.push(readNumber(inputs[1]));
        });
        snaps.push(snap);
      });
      if (snaps.length) {
        landscape = { interpolation: document.getElementById("f-ls-interp").value, landscapes: snaps };
      }
    }
    if (terminator && terminator.checked) {
      var laser = JSON.parse(JSON.stringify(laserTemplate));
      laser.position_um = readNumber(document.getElementById("f-term-pos"));
      laser.pulses[0].times_ms = [readNumber(document.getElementById("f-term-on")),
                                  readNumber(document.getElementById("f-term-off"))];
      lasers = [laser];
    }
    var notes = document.getElementById("f-notes").value;
    return {
      name: document.getElementById("f-name").value,
      sweep: sweep(),
      inputs: [{
        values: {
          image_type: document.getElementById("f-image").value,
          time_of_flight_ms: readNumber(document.getElementById("f-tof")),
          end_time_ms: readNumber(document.getElementById("f-end")),
          rf_evaporation: rf,
          optical_barriers: barriers,
          optical_landscape: landscape,
          lasers: lasers
        },
        notes: notes ? notes : null
      }]
    };
  }

  function matches(field, wanted) {
    return field === wanted || field.indexOf(wanted + ".") === 0 || wanted.indexOf(field + ".") === 0;
  }
  function mark(input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); }
  // the problems into ``list`` (the preview's, or the one next to the Submit button),
  // each as "run 5: field: rule" when it is one run's of a sweep
  function showProblems(errors, list) {
    list.textContent = "";
    form.querySelectorAll(".invalid").forEach(function (n) { n.classList.remove("invalid"); n.removeAttribute("aria-invalid"); });
    errors.forEach(function (e) {
      var li = el("li");
      if (e.run) { li.appendChild(document.createTextNode("run " + e.run + ": ")); }
      li.appendChild(el("code", {}, e.field));
      li.appendChild(document.createTextNode(": " + e.rule));
      list.appendChild(li);
      if (e.run) { mark(e.run === 1 ? sweepStart : sweepStop); return; }
      form.querySelectorAll("[data-field]").forEach(function (input) {
        if (matches(input.dataset.field, e.field)) { mark(input); }
      });
    });
  }
  function clearSubmitResult() {
    submitState.textContent = ""; submitState.className = ""; submitProblems.textContent = "";
  }
  // the figures of each run shown (one, or the first and the last of a sweep, side by side)
  function showFigures(answer) {
    figures.textContent = "";
    var runs = answer.runs || [{ run: 1, label: "", figures: answer.figures || {} }];
    var figs = runs[0].figures;
    figures.classList.toggle("sweep", runs.length > 1);
    if (runs.length > 1) {
      figures.appendChild(el("p", { class: "hint runs-note" },
        answer.run_count + " runs; the first and the last are shown."));
    }
    // a BEC job is its RF ramp; a barrier job is what the barriers do to the atoms
    var order = figs.barriers ? ["potential", "barriers", "rf", "lasers"] : ["rf", "potential", "lasers"];
    order.forEach(function (k) {
      if (!figs[k]) { return; }
      var fig = el("figure");
      var row = el("div", { class: runs.length > 1 ? "pair" : "one" });
      runs.forEach(function (r) {
        var cell = el("div", { class: "run-figure" });
        if (runs.length > 1) { cell.appendChild(el("p", { class: "run-label" }, r.label)); }
        cell.appendChild(el("img", { src: r.figures[k], alt: CAPTIONS[k] + (r.label ? " (" + r.label + ")" : ""),
                                     "data-kind": k, "data-run": String(r.run) }));
        row.appendChild(cell);
      });
      fig.appendChild(row);
      fig.appendChild(el("figcaption", {}, CAPTIONS[k]));
      figures.appendChild(fig);
    });
  }

  var seq = 0, timer = null;
  function post(url, job) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(job)
    });
  }
  function check() {
    var mine = ++seq;
    label();
    post("/new/check", collect())
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (mine !== seq) { return; }
        showProblems(answer.errors || [], problems);
        if (answer.ok) {
          state.textContent = answer.run_count > 1
            ? "The job is valid (" + answer.run_count + " runs). This is what the atoms will feel:"
            : "The job is valid. This is what the atoms will feel:";
          state.className = "ok";
          showFigures(answer);
        } else {
          state.textContent = "Fix these before submitting:";
          state.className = "error";
          figures.textContent = "";
        }
      })
      .catch(function () { if (mine === seq) { state.textContent = "Could not reach the server."; } });
  }
  function changed() {
    clearSubmitResult();  // a new job: what the last submission answered no longer holds
    label();
    seq++;  // an answer to an earlier check no longer counts
    state.textContent = "Checking…";
    state.className = "hint";
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 350);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  document.getElementById("rf-add").addEventListener("click", function () {
    var rows = rfBody.querySelectorAll("tr");
    var last = rows[rows.length - 1];
    var t = last ? Number(last.querySelector("input").value) || 0 : 0;
    addRfRow(t, 0.1, 200); changed();
  });
  var addS = document.getElementById("snapshot-add");
  if (addS) {
    addS.addEventListener("click", function () {
      var times = Array.from(snapshotList.querySelectorAll(".s-time")).map(function (i) { return Number(i.value) || 0; });
      var t = times.length ? Math.max.apply(null, times) + 5 : 0;
      addSnapshot({ time_ms: t, positions_um: [-20, 0, 20], potentials_khz: [0, 5, 0] });
      changed();
    });
  }
  var addB = document.getElementById("barrier-add");
  if (addB) {
    addB.addEventListener("click", function () {
      addBarrier({ times_ms: [0, 10], positions_um: [0, 0], heights_khz: [10, 10], widths_um: [1, 1] });
      changed();
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    label();
    var button = document.getElementById("submit");
    button.disabled = true;
    clearSubmitResult();
    submitState.textContent = "Submitting…";
    // the answer stays next to the button until the job changes or is submitted again:
    // the live check writes only into the preview
    post("/new/submit", collect())
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (a) { return [r.status, a]; });
      })
      .then(function (pair) {
        var answer = pair[1];
        if (pair[0] === 201 && answer.url) { window.location.assign(answer.url); return; }
        var detail = typeof answer.detail === "string" ? answer.detail : "not accepted (HTTP " + pair[0] + ")";
        showProblems(answer.errors || [{ field: "(job)", rule: detail }], submitProblems);
        submitState.textContent = pair[0] === 429 ? "Not submitted: a quota would be exceeded." : "Not submitted:";
        submitState.className = "error";
        button.disabled = false;
      })
      .catch(function () {
        submitState.textContent = "Not submitted: could not reach the server.";
        submitState.className = "error";
        button.disabled = false;
      });
  });

  // ---- fill in the starting job
  document.getElementById("f-name").value = initial.name;
  document.getElementById("f-image").value = values.image_type;
  document.getElementById("f-tof").value = values.time_of_flight_ms;
  document.getElementById("f-end").value = values.end_time_ms;
  document.getElementById("f-rf-interp").value = values.rf_evaporation.interpolation;
  var rfv = values.rf_evaporation;
  for (var i = 0; i < rfv.times_ms.length; i++) { addRfRow(rfv.times_ms[i], rfv.frequencies_mhz[i], rfv.powers_mw[i]); }
  if (barrierList) { (values.optical_barriers || []).forEach(addBarrier); }
  if (snapshotList && values.optical_landscape) {
    document.getElementById("f-ls-interp").value = values.optical_landscape.interpolation;
    values.optical_landscape.landscapes.forEach(addSnapshot);
  }
  if (terminator && values.lasers && values.lasers.length) {
    var l0 = values.lasers[0];
    terminator.checked = true;
    document.getElementById("f-term-pos").value = l0.position_um;
    document.getElementById("f-term-on").value = l0.pulses[0].times_ms[0];
    document.getElementById("f-term-off").value = l0.pulses[0].times_ms[1];
  }
  check();
})();
