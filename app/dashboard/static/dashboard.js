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

  // A "Copy" button copies the text of the element its data-copy names, and says so.
  function copyButton(button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
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

  // Search as you type: matching contacts under the search box, as links.
  function suggest(form) {
    var input = form.querySelector("input[type=search]");
    var list = form.querySelector(".suggestions");
    var url = form.getAttribute("data-suggest-url");
    var timer = null;
    var asked = "";
    function show(items) {
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = item.url;
        a.textContent = item.label;
        if (item.external_id && item.external_id !== item.label) {
          var muted = document.createElement("span");
          muted.className = "muted";
          muted.textContent = " " + item.external_id;
          a.appendChild(muted);
        }
        li.setAttribute("role", "option");
        li.appendChild(a);
        list.appendChild(li);
      });
      list.hidden = items.length === 0;
    }
    function ask() {
      var q = input.value.trim();
      if (q === asked) { return; }
      asked = q;
      if (!q) { show([]); return; }
      fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {items: []}; })
        .then(function (data) { if (q === input.value.trim()) { show(data.items); } })
        .catch(function () { show([]); });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 120);
    });
    form.addEventListener("keydown", function (event) {
      var links = Array.prototype.slice.call(list.querySelectorAll("a"));
      var at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && links.length) {
        event.preventDefault();
        links[Math.min(at + 1, links.length - 1)].focus();
      } else if (event.key === "ArrowUp" && at >= 0) {
        event.preventDefault();
        (at === 0 ? input : links[at - 1]).focus();
      } else if (event.key === "Escape") {
        list.hidden = true;
        input.focus();
      }
    });
  }

  // Filter conditions: show only the controls the chosen kind of condition uses.
  var VALUE_HINTS = {
    score: ["number", "", "points"], band: ["text", "bands-list", "band name"],
    tag_has: ["text", "", "tag"], tag_has_not: ["text", "", "tag"],
    activity_within: ["number", "", "days"], activity_before: ["number", "", "days"],
    dnd_on: ["text", "channels-list", "channel"], dnd_off: ["text", "channels-list", "channel"],
    company_eq: ["text", "", "acme.com"], company_ne: ["text", "", "acme.com"],
    company_score: ["number", "", "points"]
  };
  function shapeCondition(row) {
    var kind = row.querySelector("[data-kind]").value;
    var op = row.querySelector("select[name$='-op']");
    row.querySelectorAll("[data-for]").forEach(function (field) {
      var used = kind && field.getAttribute("data-for").split(" ").indexOf(kind) >= 0;
      if (field.querySelector("[data-value]") && (kind === "score" || kind === "company_score") &&
          /empty/.test(op.value)) { used = false; }
      field.hidden = !used;
    });
    var value = row.querySelector("[data-value]");
    var hint = VALUE_HINTS[kind];
    if (hint) {
      value.setAttribute("inputmode", hint[0] === "number" ? "decimal" : "text");
      if (hint[1]) { value.setAttribute("list", hint[1]); } else { value.removeAttribute("list"); }
      value.setAttribute("placeholder", hint[2]);
    }
  }

  // Rule builder, "Over time": points expire or shrink, never both; while one is filled in, the other's
  // first field is disabled (the hint above says why; the server refuses both with the same words).
  function exclusiveFade(box) {
    var inputs = Array.prototype.slice.call(box.querySelectorAll("[data-fade-choice]"));
    function update() {
      inputs.forEach(function (input) {
        var otherFilled = inputs.some(function (other) { return other !== input && other.value.trim() !== ""; });
        input.disabled = input.value.trim() === "" && otherFilled;
      });
    }
    box.addEventListener("input", update);
    update();
  }

  // Workflow builder: show the controls of the chosen kind of trigger only.
  function shapeTrigger(form) {
    function update() {
      var chosen = form.querySelector("input[name=trigger_type]:checked");
      form.querySelectorAll("[data-trigger]").forEach(function (group) {
        group.hidden = chosen && group.getAttribute("data-trigger").split(" ").indexOf(chosen.value) < 0;
      });
    }
    form.querySelectorAll("input[name=trigger_type]").forEach(function (radio) {
      radio.addEventListener("change", update);
    });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-url]").forEach(pollJob);
    document.querySelectorAll("form[data-suggest-url]").forEach(suggest);
    document.querySelectorAll("form.workflow-builder").forEach(shapeTrigger);
    document.querySelectorAll("[data-condition]").forEach(function (row) {
      shapeCondition(row);
      row.addEventListener("change", function () { shapeCondition(row); });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", confirmSubmit);
    });
    document.querySelectorAll("[data-stepper]").forEach(addStepper);
    document.querySelectorAll("button[data-copy]").forEach(copyButton);
    document.querySelectorAll("[data-fade]").forEach(exclusiveFade);
    document.querySelectorAll("select[data-event-picker]").forEach(followEvent);
    trackUnsaved();
    menus();
    focusErrors();
  });
})();
