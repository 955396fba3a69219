// wellled review app: keyboard review, decisions saved with fetch (CSRF header), no libraries.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var body = document.body;
  var current = -1;
  var pending = 0;

  function articles() { return Array.prototype.slice.call(document.querySelectorAll("article.ex")); }
  function toast(msg, bad) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = msg;
    t.className = "show" + (bad ? " bad" : "");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.className = ""; }, 1600);
  }
  function setPending(delta) { pending += delta; body.setAttribute("data-pending", String(pending)); }

  function focusArticle(i) {
    var list = articles();
    if (!list.length) return;
    i = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (a) { a.classList.remove("focused"); });
    current = i;
    var a = list[i];
    a.classList.add("focused");
    a.focus({ preventScroll: true });
    a.scrollIntoView({ block: "nearest" });
    body.setAttribute("data-focused", a.getAttribute("data-pid"));
  }
  function focusedArticle() {
    var list = articles();
    if (current < 0 && list.length) focusArticle(0);
    return list[current] || null;
  }
  function chips(form) { return Array.prototype.slice.call(form.querySelectorAll(".chip")); }
  function focusedChip(form) { return form.querySelector(".chip.focus") || form.querySelector(".chip"); }
  function moveChip(form, step) {
    var cs = chips(form);
    if (!cs.length) return;
    var i = cs.indexOf(focusedChip(form));
    cs.forEach(function (c) { c.classList.remove("focus"); });
    var next = cs[(i + step + cs.length) % cs.length];
    next.classList.add("focus");
    form.setAttribute("data-focus", next.getAttribute("data-label"));
  }

  function send(form, doValue, addLabel) {
    var data = new FormData(form);
    data.set("do", doValue);
    if (addLabel !== undefined) data.set("add_label", addLabel);
    data.set("focus", form.getAttribute("data-focus") || "");
    setPending(1);
    return fetch(form.getAttribute("action"), {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
    }).then(function (r) {
      if (r.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("logged out"); }
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.detail || ("error " + r.status)); return j; });
    }).then(function (j) {
      var holder = document.createElement("div");
      holder.innerHTML = j.html.trim();
      var fresh = holder.firstElementChild;
      form.replaceWith(fresh);
      toast("saved: " + j.event.action.replace("_", " ") + (j.event.label !== "*" ? " " + j.event.label : ""));
    }).catch(function (err) { toast(String(err.message || err), true); })
      .then(function () { setPending(-1); });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("review")) return;
    e.preventDefault();
    var button = e.submitter;
    if (!button || !button.value) return;
    if (button.value === "add") {
      var choice = form.querySelector('select[name="add_label"]').value;
      if (!choice) { toast("choose an area to add", true); return; }
      send(form, "add:" + choice, choice);
    } else {
      send(form, button.value);
    }
  });
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("article.ex") : null;
    if (a) { var i = articles().indexOf(a); if (i >= 0 && i !== current) focusArticle(i); }
  });

  function toggleHelp(show) {
    var h = document.getElementById("help");
    if (!h) return;
    var hidden = show === undefined ? !h.classList.contains("hidden") : !show;
    h.classList.toggle("hidden", hidden);
  }
  var helpButton = document.getElementById("help-button");
  if (helpButton) helpButton.addEventListener("click", function () { toggleHelp(); });
  var help = document.getElementById("help");
  if (help) help.addEventListener("click", function (e) { if (e.target === help) toggleHelp(false); });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    var key = e.key;
    if (key === "?") { toggleHelp(); e.preventDefault(); return; }
    if (key === "Escape") { toggleHelp(false); return; }
    if (!articles().length) return;
    if (key === "j") { focusArticle(current + 1); e.preventDefault(); return; }
    if (key === "k") { focusArticle(current - 1); e.preventDefault(); return; }
    var a = focusedArticle();
    if (!a) return;
    var form = a.querySelector("form.review");
    if (!form) return;
    var chip = focusedChip(form);
    if (key === "h" || key === "ArrowLeft") { moveChip(form, -1); e.preventDefault(); return; }
    if (key === "l" || key === "ArrowRight") { moveChip(form, 1); e.preventDefault(); return; }
    if (key === "a" && chip) { send(form, "accept:" + chip.getAttribute("data-label")); e.preventDefault(); return; }
    if (key === "r" && chip) { send(form, "reject:" + chip.getAttribute("data-label")); e.preventDefault(); return; }
    if (key === "n") { send(form, form.getAttribute("data-ne") === "1" ? "clear:*" : "not_evidence"); e.preventDefault(); return; }
    if (key === "o") { var link = a.querySelector("a.ctx"); if (link) window.location = link.href; return; }
    if (/^[1-8]$/.test(key)) {
      var label = "W" + key;
      var c = form.querySelector('.chip[data-label="' + label + '"]');
      var model = c && c.getAttribute("data-model") === "1";
      var state = c ? c.getAttribute("data-state") : "none";
      var included = state === "accepted" || state === "model";
      var action = included ? (model ? "reject" : "clear") : (model ? "accept" : "add");
      form.setAttribute("data-focus", label);
      send(form, action + ":" + label, action === "add" ? label : undefined);
      e.preventDefault();
    }
  });

  // the retrain page follows a running job
  var running = document.querySelector('#retrain-status[data-status="running"]');
  if (running) {
    var poll = setInterval(function () {
      fetch("/retrain/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) { if (s.status !== "running") { clearInterval(poll); location.reload(); } })
        .catch(function () {});
    }, 1500);
  }

  // open on the excerpt named in the address (#p-<id>)
  if (location.hash.indexOf("#p-") === 0) {
    var target = document.getElementById(location.hash.slice(1));
    var idx = articles().indexOf(target);
    if (idx >= 0) focusArticle(idx);
  }
  body.setAttribute("data-pending", "0");
  body.setAttribute("data-ready", "1");
})();
