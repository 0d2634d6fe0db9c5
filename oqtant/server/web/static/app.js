// The console's small behaviours: confirm before deleting, live job list, live job page.
"use strict";
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  function visible() { return document.visibilityState !== "hidden"; }

  // figure boxes (.figbox): the stylesheet shows "drawing…" until the image covers it; a
  // figure that fails to load shows the box's short message instead of a broken image
  function figureBox(img) {
    var box = img && img.tagName === "IMG" ? img.parentElement : null;
    return box && box.classList.contains("figbox") ? box : null;
  }
  document.addEventListener("load", function (event) {
    var box = figureBox(event.target);
    if (box) { box.classList.add("loaded"); }
  }, true);
  document.addEventListener("error", function (event) {
    var box = figureBox(event.target);
    if (box) { box.classList.add("failed"); }
  }, true);
  function markFigures(root) {  // images that loaded or failed before this script ran
    root.querySelectorAll(".figbox img").forEach(function (img) {
      if (!img.complete) { return; }
      img.parentElement.classList.add(img.naturalWidth > 0 ? "loaded" : "failed");
    });
  }
  markFigures(document);

  // the job list: re-fetch its rows, often while jobs wait or run, rarely otherwise
  var rows = document.getElementById("job-rows");
  if (rows) {
    var pollRows = function () {
      var active = rows.dataset.active === "1";
      window.setTimeout(function () {
        if (!visible()) { pollRows(); return; }
        fetch(rows.dataset.poll, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) {
            if (!r.ok) { throw new Error(String(r.status)); }
            rows.dataset.active = r.headers.get("X-Active-Jobs") || "0";
            return r.text();
          })
          .then(function (html) { rows.innerHTML = html; markFigures(rows); })
          .catch(function () { /* keep the last rows; try again later */ })
          .finally(pollRows);
      }, active ? 1500 : 5000);
    };
    pollRows();
  }

  // one job: reload the page when the job or the shown run changes state, or, with a
  // sweep section, when one more run is done (its figures then show that run too)
  var badge = document.getElementById("job-status");
  var sweep = document.getElementById("sweep");
  var finished = function (runs) {
    var n = 0;
    Object.keys(runs).forEach(function (k) {
      if (runs[k] === "COMPLETE" || runs[k] === "FAILED" || runs[k] === "CANCELLED") { n += 1; }
    });
    return sweep ? "/" + n : "";
  };
  if (badge && badge.dataset.active === "1") {
    var first = null;
    var pollJob = function () {
      window.setTimeout(function () {
        if (!visible()) { pollJob(); return; }
        fetch(badge.dataset.state, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (state) {
            if (!state) { return; }
            var key = state.status + "/" + (state.runs[badge.dataset.run] || "") + finished(state.runs);
            if (first === null) {
              first = badge.dataset.runStatus
                ? badge.textContent.trim() + "/" + badge.dataset.runStatus + (sweep ? "/" + sweep.dataset.finished : "")
                : key;
            }
            if (key !== first) { window.location.reload(); }
          })
          .catch(function () {})
          .finally(pollJob);
      }, 1000);
    };
    pollJob();
  }
})();
