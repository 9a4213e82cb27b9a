// salesboard: small behaviours htmx does not cover. No inline scripts (CSP).
(function () {
  "use strict";
  function dismiss(toast) {
    if (toast && toast.parentNode) toast.parentNode.removeChild(toast);
  }
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest(".toast-close");
    if (btn) dismiss(btn.closest(".toast"));
  });
  // Toasts fade away after a while; errors stay longer.
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("#toasts .toast:not([data-timed])").forEach(function (t) {
      t.setAttribute("data-timed", "1");
      setTimeout(function () { dismiss(t); }, 8000);
    });
  });
  // Network failures (server down) become a toast too.
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = document.createElement("div");
    t.className = "toast toast-error";
    t.setAttribute("role", "alert");
    t.textContent = "Could not reach the server. Check your connection and try again.";
    box.appendChild(t);
    setTimeout(function () { dismiss(t); }, 8000);
  });
  // Header search: "/" focuses the box; the suggestions htmx swaps in open under it; arrow
  // keys move the selection, Enter opens the selected record (or, with nothing shown yet, the
  // full results page), Esc closes.
  function searchParts() {
    return {
      input: document.getElementById("site-search"),
      box: document.getElementById("search-suggest")
    };
  }
  function searchOptions(box) {
    return Array.prototype.slice.call(box.querySelectorAll("[role=option]"));
  }
  function searchOpen(open) {
    var s = searchParts();
    if (!s.input || !s.box) return;
    s.box.classList.toggle("open", open);
    s.input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) s.input.removeAttribute("aria-activedescendant");
  }
  function searchSelect(opt) {
    var s = searchParts();
    searchOptions(s.box).forEach(function (o) { o.setAttribute("aria-selected", o === opt ? "true" : "false"); });
    if (opt) {
      s.input.setAttribute("aria-activedescendant", opt.id);
      opt.scrollIntoView({ block: "nearest" });
    } else {
      s.input.removeAttribute("aria-activedescendant");
    }
  }
  document.addEventListener("keydown", function (e) {
    var s = searchParts();
    if (!s.input) return;
    var t = e.target;
    var typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      s.input.focus();
      s.input.select();
      return;
    }
    if (t !== s.input || e.isComposing) return;
    var open = s.box.classList.contains("open");
    var opts = searchOptions(s.box);
    var cur = opts.findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
    if (e.key === "Escape") {
      if (open) { e.preventDefault(); searchOpen(false); }
    } else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && opts.length) {
      e.preventDefault();
      if (!open) { searchOpen(true); return; }
      var next = e.key === "ArrowDown" ? Math.min(cur + 1, opts.length - 1) : Math.max(cur - 1, 0);
      searchSelect(opts[next]);
    } else if (e.key === "Enter" && open && cur >= 0) {
      e.preventDefault();
      window.location.assign(opts[cur].getAttribute("href"));
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var s = searchParts();
    if (!s.box || e.detail.target !== s.box) return;
    var has = s.box.innerHTML.trim() !== "" && s.input.value.trim() !== "";
    searchOpen(has);
    if (has) searchSelect(searchOptions(s.box).filter(function (o) { return o.getAttribute("aria-selected") === "true"; })[0]);
  });
  document.addEventListener("input", function (e) {
    var s = searchParts();
    if (e.target !== s.input) return;
    // What is shown answers the text before this keystroke: Enter goes to the full results
    // until the new suggestions arrive.
    searchSelect(null);
    if (s.input.value.trim() === "") searchOpen(false);
  });
  document.addEventListener("click", function (e) {
    var form = document.getElementById("search-box");
    if (form && !form.contains(e.target)) searchOpen(false);
  });
  // The live indicator follows the dashboard's event stream (htmx SSE extension events).
  function liveState(state) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.setAttribute("data-state", state);
    var text = el.querySelector(".live-text");
    if (text) text.textContent = state === "on" ? "Live" : "Reconnecting…";
  }
  document.addEventListener("htmx:sseOpen", function () { liveState("on"); });
  document.addEventListener("htmx:sseError", function () { liveState("off"); });
  document.addEventListener("htmx:sseClose", function () { liveState("off"); });
  // Picking a date in the dashboard filters means custom dates.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.form && t.form.id === "dash-filters" && t.type === "date") {
      var range = t.form.querySelector("#range");
      if (range) range.value = "custom";
    }
  }, true);
  // Pipeline board: drag a card onto another column to move it. The drop posts the card's own
  // "Move to" form (same endpoint, CSRF token and version) with the target stage; keyboard
  // users use that form directly.
  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".deal[draggable=true]");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.getAttribute("data-id"));
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    document.querySelectorAll(".cards.drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });
  function dropZone(e) {
    var list = e.target.closest && e.target.closest(".column");
    return list ? list.querySelector(".cards[data-drop-stage]") : null;
  }
  document.addEventListener("dragover", function (e) {
    var zone = dragged && dropZone(e);
    if (!zone) return;
    e.preventDefault();
    document.querySelectorAll(".cards.drop-target").forEach(function (c) { if (c !== zone) c.classList.remove("drop-target"); });
    zone.classList.add("drop-target");
  });
  document.addEventListener("drop", function (e) {
    var zone = dragged && dropZone(e);
    if (!zone) return;
    e.preventDefault();
    var card = dragged;
    var stage = zone.getAttribute("data-drop-stage");
    var form = card.querySelector("form.move-form");
    if (!form || !window.htmx || card.closest(".cards") === zone) return;
    window.htmx.ajax("POST", form.getAttribute("action"), {
      source: form, target: "#board", swap: "outerHTML", select: "#board", values: { stage: stage }
    });
  });
  // The pipeline table redraws when anyone changes a deal, except while a row here has
  // unsaved edits (saving it redraws the table anyway).
  document.addEventListener("input", function (e) {
    if (e.target.closest && e.target.closest("#deals-table")) e.target.setAttribute("data-dirty", "1");
  }, true);
  document.addEventListener("change", function (e) {
    if (e.target.closest && e.target.closest("#deals-table")) e.target.setAttribute("data-dirty", "1");
  }, true);
  document.addEventListener("htmx:confirm", function (e) {
    var t = e.detail && e.detail.triggeringEvent;
    if (e.target.id === "board" && t && t.type === "sse:changed" && document.querySelector("#deals-table [data-dirty]")) {
      e.preventDefault();
    }
  });
  // A click on a chart day narrows the dashboard in place, like the other view links (htmx
  // does not boost links inside SVG).
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest(".chart .hits a");
    if (!a || !window.htmx || !document.getElementById("dash")) return;
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    window.htmx.ajax("GET", a.getAttribute("href"), { target: "#dash", swap: "outerHTML", select: "#dash" });
  });
})();
