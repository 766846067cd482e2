// Scorekeeper dashboard: small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Publish progress: poll the job's JSON and move the progress bar; when it ends, reload the page,
  // which the server renders with the publish summary (or the error).
  function pollJob(box) {
    var url = box.getAttribute("data-job-url");
    var every = parseInt(box.getAttribute("data-poll-ms"), 10) || 500;
    var bar = box.querySelector("progress");
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
          if (job.status === "finished" || job.status === "failed") {
            window.location.reload();
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

  // Unsaved changes: a form marked data-unsaved-warning becomes dirty when edited (or arrives dirty,
  // data-dirty, when the server shows posted values it did not save); leaving the page then asks first.
  // Submitting that form itself is not leaving it.
  function trackUnsaved() {
    var forms = document.querySelectorAll("form[data-unsaved-warning]");
    forms.forEach(function (form) {
      function dirty() { form.setAttribute("data-dirty", ""); }
      form.addEventListener("input", dirty);
      form.addEventListener("change", dirty);
      form.addEventListener("submit", function () { form.removeAttribute("data-dirty"); });
    });
    window.addEventListener("beforeunload", function (event) {
      if (document.querySelector("form[data-unsaved-warning][data-dirty]")) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  // Points stepper: − and + buttons beside the number field.
  function addStepper(box) {
    var input = box.querySelector("input");
    function button(text, label, delta) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "step";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", function () {
        var value = parseInt(String(input.value).replace("\u2212", "-"), 10) || 0;
        input.value = value + delta;
        input.dispatchEvent(new Event("input", {bubbles: true}));
      });
      return b;
    }
    box.insertBefore(button("\u2212", "One point less", -1), input);
    box.appendChild(button("+", "One point more", 1));
  }

  // Event picker: property suggestions follow the event; the custom name shows only when asked for.
  function followEvent(select) {
    var form = select.form;
    var custom = form.querySelector("[data-custom-name]");
    function update() {
      var list = document.getElementById("props-" + select.value) ? "props-" + select.value : "props-custom";
      form.querySelectorAll("[data-property-input]").forEach(function (input) {
        input.setAttribute("list", list);
      });
      if (custom) {
        custom.hidden = select.value !== "custom";
      }
    }
    select.addEventListener("change", update);
    update();
  }

  // ⋯ menus (details/summary, operable by keyboard already): one open at a time, Escape closes and
  // returns focus, arrow keys move between the items, a click elsewhere closes.
  function menus() {
    var all = document.querySelectorAll("details.menu");
    function items(menu) { return Array.prototype.slice.call(menu.querySelectorAll(".menu-items a, .menu-items button")); }
    all.forEach(function (menu) {
      var summary = menu.querySelector("summary");
      menu.addEventListener("toggle", function () {
        if (!menu.open) { return; }
        all.forEach(function (other) { if (other !== menu) { other.open = false; } });
      });
      summary.addEventListener("keydown", function (event) {
        if (event.key === "ArrowDown") {
          event.preventDefault();
          event.stopPropagation();  // the menu's own handler would move on to the second item
          menu.open = true;
          var first = items(menu)[0];
          if (first) { first.focus(); }
        }
      });
      menu.addEventListener("keydown", function (event) {
        var list = items(menu);
        var at = list.indexOf(document.activeElement);
        if (event.key === "Escape" && menu.open) {
          event.preventDefault();
          menu.open = false;
          summary.focus();
        } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && at >= 0) {
          event.preventDefault();
          var next = (at + (event.key === "ArrowDown" ? 1 : list.length - 1)) % list.length;
          list[next].focus();
        }
      });
    });
    document.addEventListener("click", function (event) {
      all.forEach(function (menu) {
        if (menu.open && !menu.contains(event.target)) { menu.open = false; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-url]").forEach(pollJob);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", confirmSubmit);
    });
    document.querySelectorAll("[data-stepper]").forEach(addStepper);
    document.querySelectorAll("select[data-event-picker]").forEach(followEvent);
    trackUnsaved();
    menus();
    focusErrors();
  });
})();
