/* Lửa Rồng CSKH: the staff UI's only script (the CSP allows script-src 'self' and no inline code).
 *
 * 1. Live countdowns: every element with data-deadline="2026-11-27T20:30:00Z" (ISO 8601, UTC)
 *    shows the time left in its data-lang (vi | en, else the page's <html lang>) and gets the class
 *    countdown plus ok / soon (less than the body's data-due-soon-ms left) / late (past the deadline); refreshed every 30 s.
 *    The wording matches the server's duration_left filter (admin/i18n.py), so nothing jumps on load.
 * 2. Confirmations: a button, link or form with data-confirm="text" asks before it acts.
 * 3. Filters: a <select> or checkbox with data-autosubmit submits its form when changed.
 * 4. Queue counts: the menu's [data-queue-counts] badges (rendered by the server) are refreshed from
 *    GET /api/v1/me/queues every 30 s and when the tab is shown again, so new work shows without a reload.
 * 5. Possible duplicates: in a form with data-duplicates="<id of a list section>", typing a phone or
 *    e-mail asks the section's data-lookup (GET, the same customer's complaints) after a pause, and
 *    lists what it finds (the section is hidden while there is nothing to show).
 * 6. Canned replies: a button with data-canned-insert="<id of a textarea>" and data-canned-from="<id
 *    of a select>" inserts the chosen option's data-text (filled in by the server for the complaint)
 *    at the textarea's cursor, replacing a selection; into a field not yet clicked, at its end after
 *    a blank line. Without script the button posts the form, and the server does the latter.
 */
(function () {
  "use strict";

  var REFRESH_MS = 30 * 1000;
  // The bound of "due soon" comes from the server (domain/access.py DUE_SOON), on <body>.
  var DUE_SOON_MS = Number(document.body.getAttribute("data-due-soon-ms"));

  var WORDS = {
    vi: {
      day: function () { return "ngày"; },
      hour: function () { return "giờ"; },
      minute: function () { return "phút"; },
      underMinute: "dưới 1 phút",
      left: function (amount) { return "còn " + amount; },
      overdue: function (amount) { return "quá hạn " + amount; }
    },
    en: {
      day: function (n) { return n === 1 ? "day" : "days"; },
      hour: function (n) { return n === 1 ? "hour" : "hours"; },
      minute: function (n) { return n === 1 ? "minute" : "minutes"; },
      underMinute: "less than a minute",
      left: function (amount) { return amount + " left"; },
      overdue: function (amount) { return amount + " overdue"; }
    }
  };

  function language(el) {
    var lang = (el.getAttribute("data-lang") || document.documentElement.lang || "vi").toLowerCase().slice(0, 2);
    return WORDS[lang] ? lang : "vi";
  }

  /* The size of a duration in its two largest units, as the server writes it. */
  function amount(ms, words) {
    var seconds = Math.floor(Math.abs(ms) / 1000);
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var parts = [];
    function part(n, unit) { parts.push(n + " " + words[unit](n)); }
    if (days) {
      part(days, "day");
      if (hours) { part(hours, "hour"); }
    } else if (hours) {
      part(hours, "hour");
      if (minutes) { part(minutes, "minute"); }
    } else if (minutes) {
      part(minutes, "minute");
    } else {
      return words.underMinute;
    }
    return parts.join(" ");
  }

  function updateCountdown(el, now) {
    var deadline = Date.parse(el.getAttribute("data-deadline"));
    if (isNaN(deadline)) { return; }
    var words = WORDS[language(el)];
    var left = deadline - now;
    var state = left < 0 ? "late" : left < DUE_SOON_MS ? "soon" : "ok";
    var text = left < 0 ? words.overdue(amount(left, words)) : words.left(amount(left, words));
    if (el.textContent !== text) { el.textContent = text; }
    el.classList.add("countdown");
    ["ok", "soon", "late"].forEach(function (name) { el.classList.toggle(name, name === state); });
  }

  function updateAll() {
    var now = Date.now();
    var els = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < els.length; i++) { updateCountdown(els[i], now); }
  }

  function startCountdowns() {
    updateAll();
    window.setInterval(updateAll, REFRESH_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { updateAll(); }
    });
  }

  /* Buttons and links: the click is cancelled unless confirmed. Pressing Enter in a field
     submits through a (synthetic) click on the default button, so it is asked too. */
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
    if (!target || target.tagName === "FORM") { return; }
    if (target.disabled) { return; }
    if (!window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  /* A whole form marked data-confirm (whatever submits it). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) { return; }
    if (event.submitter && event.submitter.hasAttribute("data-confirm")) { return; } // asked on click
    if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
  });

  function refreshQueueCounts() {
    var holder = document.querySelector("[data-queue-counts]");
    if (!holder || document.hidden) { return; }
    fetch("/api/v1/me/queues", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (queues) {
        if (!Array.isArray(queues)) { return; } // signed out or refused: keep what the page shows
        queues.forEach(function (q) {
          var badge = holder.querySelector('[data-queue="' + q.queue + '"]');
          if (!badge) { return; }
          var value = badge.querySelector(".queue-count-value");
          var text = String(q.count);
          if (value && value.textContent !== text) { value.textContent = text; }
          badge.classList.toggle("empty", q.count === 0);
        });
      })
      .catch(function () { /* offline for a moment: the next round tries again */ });
  }

  function startQueueCounts() {
    if (!document.querySelector("[data-queue-counts]")) { return; }
    window.setInterval(refreshQueueCounts, REFRESH_MS);
    document.addEventListener("visibilitychange", refreshQueueCounts);
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!(el instanceof Element) || !el.hasAttribute("data-autosubmit") || !el.form) { return; }
    if (typeof el.form.requestSubmit === "function") { el.form.requestSubmit(); } else { el.form.submit(); }
  });

  var LOOKUP_PAUSE_MS = 400;
  var VN_OFFSET_MS = 7 * 3600 * 1000; // Vietnam keeps UTC+7 all year, as the server's vndate

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function vndate(iso) {
    var t = new Date(Date.parse(iso) + VN_OFFSET_MS);
    return pad(t.getUTCDate()) + "/" + pad(t.getUTCMonth() + 1) + "/" + t.getUTCFullYear() + " " +
      pad(t.getUTCHours()) + ":" + pad(t.getUTCMinutes());
  }

  function showDuplicates(section, items) {
    var list = section.querySelector("ul");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (item) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/complaints/" + encodeURIComponent(item.id);
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = item.id;
      var stage = document.createElement("span");
      stage.className = "badge stage-" + item.stage;
      stage.textContent = item.stage_label;
      li.appendChild(link);
      li.appendChild(document.createTextNode(" · " + vndate(item.received_at) + " · "));
      li.appendChild(stage);
      li.appendChild(document.createTextNode(" · " + (item.subject || "—")));
      list.appendChild(li);
    });
    section.hidden = items.length === 0;
  }

  function watchDuplicates(form) {
    var section = document.getElementById(form.getAttribute("data-duplicates"));
    if (!section) { return; }
    var timer = null;
    var asked = 0;
    function lookup() {
      var phone = (form.elements.namedItem("phone") || {}).value || "";
      var email = (form.elements.namedItem("email") || {}).value || "";
      if (!phone.trim() && !email.trim()) { showDuplicates(section, []); return; }
      var ask = ++asked;
      var url = section.getAttribute("data-lookup") + "?phone=" + encodeURIComponent(phone.trim()) +
        "&email=" + encodeURIComponent(email.trim());
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (body) { if (ask === asked) { showDuplicates(section, body.items || []); } })
        .catch(function () { /* a lookup that fails leaves the list as it was */ });
    }
    form.addEventListener("input", function (event) {
      var name = event.target instanceof Element ? event.target.getAttribute("name") : null;
      if (name !== "phone" && name !== "email") { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(lookup, LOOKUP_PAUSE_MS);
    });
  }

  var touched = typeof WeakSet === "function" ? new WeakSet() : null;
  document.addEventListener("focusin", function (event) {
    if (touched && event.target instanceof HTMLTextAreaElement) { touched.add(event.target); }
  });

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-canned-insert]") : null;
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-canned-insert"));
    var select = document.getElementById(button.getAttribute("data-canned-from"));
    var option = select && select.selectedOptions ? select.selectedOptions[0] : null;
    if (!touched || !(field instanceof HTMLTextAreaElement) || !option || !option.hasAttribute("data-text")) {
      return; // the form posts, and the page comes back with the reply added
    }
    event.preventDefault();
    var text = option.getAttribute("data-text");
    if (touched.has(field)) {
      field.setRangeText(text, field.selectionStart, field.selectionEnd, "end");
    } else {
      var current = field.value.replace(/\s+$/, "");
      field.value = current ? current + "\n\n" + text : text;
      field.setSelectionRange(field.value.length, field.value.length);
    }
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  function start() {
    startCountdowns();
    startQueueCounts();
    document.querySelectorAll("form[data-duplicates]").forEach(watchDuplicates);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
