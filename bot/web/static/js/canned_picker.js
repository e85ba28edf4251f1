/* The reply box's /shortcut picker: typing "/" then letters lists the matching canned
   replies (rendered for this conversation's contact by /inbox/{id}/canned); arrows move,
   Enter or a click inserts the text in place of "/word", Esc closes. The box stays a plain
   textbox (aria-autocomplete, aria-controls, aria-activedescendant): a <textarea> may not
   take role=combobox, nor so aria-expanded (axe aria-allowed-role, aria-allowed-attr). */
(function () {
  var box = document.querySelector("#reply-form textarea[name=text]");
  var list = document.getElementById("canned-picker");
  if (!box || !list) return;
  var items = null, shown = [], active = 0, token = null;

  function load() {
    if (items) return Promise.resolve(items);
    return fetch(list.dataset.source, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (j) { items = j; return j; });
  }
  function close() {
    list.hidden = true; token = null; shown = [];
    box.removeAttribute("aria-activedescendant");
  }
  function current() {  /* the "/word" just before the caret, or null */
    var before = box.value.slice(0, box.selectionStart);
    var m = /(^|\s)\/([\w-]*)$/.exec(before);
    return m ? {start: before.length - m[2].length - 1, query: m[2].toLowerCase()} : null;
  }
  function draw() {
    list.textContent = "";
    if (!shown.length) {
      var none = document.createElement("li");
      none.className = "muted"; none.textContent = list.dataset.empty;
      list.appendChild(none);
    }
    shown.forEach(function (c, i) {
      var li = document.createElement("li");
      li.id = "canned-opt-" + c.id; li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.dataset.index = i; li.style.padding = "2px 6px"; li.style.cursor = "pointer";
      if (i === active) li.style.background = "#e2e8f0";
      var code = document.createElement("code"); code.textContent = "/" + c.shortcut;
      li.appendChild(code); li.appendChild(document.createTextNode(" " + (c.title || "")));
      list.appendChild(li);
    });
    list.hidden = false;
    if (shown[active]) box.setAttribute("aria-activedescendant", "canned-opt-" + shown[active].id);
  }
  function insert(c) {
    var end = box.selectionStart;
    box.value = box.value.slice(0, token.start) + c.text + box.value.slice(end);
    var caret = token.start + c.text.length;
    box.setSelectionRange(caret, caret); close(); box.focus();
  }
  box.addEventListener("input", function () {
    var t = current();
    if (!t) { close(); return; }
    load().then(function (all) {
      token = current();
      if (!token) { close(); return; }
      shown = all.filter(function (c) {
        return c.shortcut.toLowerCase().indexOf(token.query) === 0 ||
          (c.title || "").toLowerCase().indexOf(token.query) !== -1;
      });
      active = 0; draw();
    });
  });
  box.addEventListener("keydown", function (ev) {
    if (list.hidden || !token) return;
    if (ev.key === "Escape") { ev.preventDefault(); close(); }
    else if (ev.key === "ArrowDown" && shown.length) { ev.preventDefault(); active = (active + 1) % shown.length; draw(); }
    else if (ev.key === "ArrowUp" && shown.length) { ev.preventDefault(); active = (active + shown.length - 1) % shown.length; draw(); }
    else if (ev.key === "Enter" && shown.length) { ev.preventDefault(); insert(shown[active]); }
  });
  list.addEventListener("mousedown", function (ev) {
    var li = ev.target.closest("li[role=option]");
    if (li) { ev.preventDefault(); insert(shown[+li.dataset.index]); }
  });
  box.addEventListener("blur", close);
})();
