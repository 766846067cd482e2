// Scorekeeper dashboard: small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Publish progress: poll the job's JSON and move the progress bar until it finishes.
  function pollJob(box) {
    var url = box.getAttribute("data-job-url");
    var every = parseInt(box.getAttribute("data-poll-ms"), 10) || 500;
    var bar = box.querySelector("progress");
    var done = box.querySelector(".job-finished");
    function field(name, value) {
      var el = box.querySelector('[data-field="' + name + '"]');
      if (el) { el.textContent = value; }
    }
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (job) {
          bar.value = job.progress;
          bar.textContent = Math.round(job.progress * 100) + "%";
          field("status", job.status);
          field("done", job.done);
          field("total", job.total);
          if (job.status === "finished") {
            done.hidden = false;
          } else if (job.status === "failed") {
            field("status", "failed: " + (job.error || "see the worker log"));
          } else {
            setTimeout(tick, every);
          }
        })
        .catch(function () { setTimeout(tick, every * 4); });
    }
    tick();
  }

  // Forms that destroy something ask first.
  function confirmSubmit(event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }

  // After a refused form, move focus to the summary of what to fix.
  function focusErrors() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-url]").forEach(pollJob);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", confirmSubmit);
    });
    focusErrors();
  });
})();
