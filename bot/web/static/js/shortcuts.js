/* Keyboard shortcuts of the inbox list and a conversation (the help dialog, opened with
   "?", lists them): j / k next / previous conversation, Enter opens the chosen one in the
   list, r the reply box, n the note box, e resolve, a assign to me (in the list: the
   chosen conversation, through the bulk action's form, so the same checks apply). Never
   while typing in a field, nor with Ctrl, Alt or Meta held (the browser's own shortcuts).

   The list remembers its order (this tab's sessionStorage), so j / k on a conversation
   page go to its neighbours in the list the staff member came from. */
(function () {
  var KEY = "switchboard.inbox.order";
  var help = document.getElementById("shortcut-help");
  var list = document.getElementById("list");
  var thread = document.getElementById("thread");

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#conversations tr[data-id]")); }
  function remember() {
    var ids = rows().map(function (r) { return r.dataset.id; });
    if (ids.length) { try { sessionStorage.setItem(KEY, JSON.stringify(ids)); } catch (e) { /* private mode */ } }
  }
  function order() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  if (list) {
    remember();
    new MutationObserver(remember).observe(list, {childList: true, subtree: true});  // live refresh
  }

  var chosen = null;  // the list's chosen conversation id
  function choose(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.findIndex(function (r) { return r.dataset.id === chosen; });
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    all.forEach(function (r) { r.classList.remove("chosen"); r.removeAttribute("aria-current"); });
    var row = all[next];
    chosen = row.dataset.id;
    row.classList.add("chosen");
    row.setAttribute("aria-current", "true");
    var link = row.querySelector("a");
    if (link) link.focus();
  }
  function neighbour(step) {
    var ids = order(), at = ids.indexOf(thread.dataset.conversation);
    var to = ids[at + step];
    if (at >= 0 && to) location.href = "/inbox/" + to;
  }
  function focus(selector) {
    var box = document.querySelector(selector);
    if (box) { box.focus(); return true; }
    return false;
  }
  function submit(button) {
    if (!button) return false;
    button.form.requestSubmit(button);
    return true;
  }
  function onChosen(action) {  // the list: the bulk action on the chosen row only
    var bulk = document.getElementById("bulk-form");
    if (!bulk || !chosen) return false;
    var form = document.createElement("form");
    form.method = "post";
    form.action = bulk.getAttribute("action");  // bulk.action is its "action" button
    var fields = {csrf_token: bulk.elements.csrf_token.value, back: bulk.elements.back.value,
                  action: action, assignee: "me", id: chosen};
    Object.keys(fields).forEach(function (name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = fields[name];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
    return true;
  }
  function assignMe() {
    if (list) return onChosen("assign");
    var form = document.getElementById("assign-form");
    if (!form) return false;
    form.elements.assignee.value = "me";
    form.requestSubmit();
    return true;
  }

  var actions = {
    "j": function () { if (thread) neighbour(1); else choose(1); return true; },
    "k": function () { if (thread) neighbour(-1); else choose(-1); return true; },
    "r": function () { return focus("#reply-form textarea[name=text]"); },
    "n": function () { return focus("#note-form textarea[name=text]"); },
    "e": function () {
      if (list) return onChosen("resolve");
      return submit(document.querySelector("#status-form button[value=resolved]"));
    },
    "a": assignMe,
    "?": function () { if (help && !help.open) help.showModal(); return !!help; }
  };

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (help && help.open) return;  // the dialog keeps its own keys (Esc closes it)
    if (ev.key === "Enter" && list && chosen && !(t && t.closest && t.closest("a, button"))) {
      location.href = "/inbox/" + chosen;
      return;
    }
    var act = actions[ev.key];
    if (act && act()) ev.preventDefault();
  });
  if (help) {
    help.querySelector("[data-close]").addEventListener("click", function () { help.close(); });
  }
})();
