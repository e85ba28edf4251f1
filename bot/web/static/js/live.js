/* Staff pages: the live dot, and the list and thread fragments refreshed when the staff
   socket says a conversation changed (the server renders the fragments). Also over that
   socket: "<name> is replying…" (this page's pings while its reply or note box is typed
   in, and the sign for what colleagues type), and the opt-in browser notifications with
   a sound for new conversations and hand-offs (the nav's button; kept per browser). */
(function () {
  var dot = document.getElementById("live"), retry = 500, ws = null;
  if (!dot) return;
  var thread = document.getElementById("thread");
  var here = thread ? thread.dataset.conversation : null;  // the conversation on this page

  function refresh(id, url) {
    var el = document.getElementById(id); if (!el) return;
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { el.innerHTML = html; el.dispatchEvent(new Event("refreshed")); } });
  }
  // A translated text's placeholder filled in as plain text (a function, so "$&" in a
  // name is not a replacement pattern).
  function fill(text, key, value) { return text.replace("%(" + key + ")s", function () { return value; }); }
  function store(key, value) {
    try { if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (e) { /* storage off */ }
  }
  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }

  /* Colleagues typing here: one entry per user, gone on their stop or 6 s after their
     last ping (a typing page pings every 2.5 s). Shown as text, never as markup. */
  var sign = document.getElementById("typing"), typers = {};
  function showTypers() {
    if (!sign) return;
    var names = Object.keys(typers).map(function (id) { return typers[id].name; });
    sign.textContent = names.length ? fill(sign.dataset.text, "name", names.join(", ")) : "";
  }
  function dropTyper(id) { if (typers[id]) { clearTimeout(typers[id].timer); delete typers[id]; showTypers(); } }
  function heardTyping(m) {
    if (!sign || String(m.conversation_id) !== here) return;
    dropTyper(m.user_id);
    if (m.stop) return;
    typers[m.user_id] = {name: String(m.name), timer: setTimeout(function () { dropTyper(m.user_id); }, 6000)};
    showTypers();
  }

  /* This page's own typing: a ping at most every 2.5 s while the reply or note box
     changes; a stop when it is sent or emptied (the server also stops it when the
     socket closes, e.g. the page is left). */
  var BOXES = "#reply-form textarea[name=text], #note-form textarea[name=text]", pinged = 0;
  function ping(stop) {  // whether it went (a closed socket: the next keystroke tries again)
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({type: "typing", conversation_id: +here, stop: stop}));
    return true;
  }
  if (here) {
    document.addEventListener("input", function (ev) {
      if (!ev.target.matches || !ev.target.matches(BOXES)) return;
      if (!ev.target.value) { if (pinged) ping(true); pinged = 0; return; }
      if (Date.now() - pinged >= 2500 && ping(false)) pinged = Date.now();
    });
    document.addEventListener("submit", function (ev) {
      if ((ev.target.id === "reply-form" || ev.target.id === "note-form") && pinged) { ping(true); pinged = 0; }
    });
  }

  /* Browser notifications: off until the button is clicked (the permission is asked
     then, never on page load); the choice is kept in this browser. */
  var bell = document.getElementById("notify"), KEY = "switchboard.notify";
  var canNotify = !!bell && "Notification" in window;
  function notifying() { return canNotify && stored(KEY) === "on" && Notification.permission === "granted"; }
  function showBell() {
    var state = Notification.permission === "denied" ? "denied" : (notifying() ? "on" : "off");
    bell.textContent = bell.dataset[state];
    bell.title = state === "denied" ? bell.dataset.blocked : bell.dataset.hint;
  }
  if (canNotify) {
    bell.hidden = false; showBell();
    bell.addEventListener("click", function () {
      if (notifying()) { store(KEY, null); showBell(); return; }
      Promise.resolve(Notification.requestPermission()).then(function (answer) {
        if (answer === "granted") store(KEY, "on");
        showBell();
      });
    });
  }
  function notify(kind, cid) {
    if (!notifying()) return;
    // Several staff tabs in this browser hear the same event: one of them tells it.
    var key = kind + ":" + cid, seen = {}, now = Date.now();
    try { seen = JSON.parse(stored(KEY + ".seen") || "{}") || {}; } catch (e) { seen = {}; }
    if (now - (seen[key] || 0) < 60000) return;
    Object.keys(seen).forEach(function (k) { if (now - seen[k] >= 60000) delete seen[k]; });
    seen[key] = now; store(KEY + ".seen", JSON.stringify(seen));
    var n = new Notification(bell.dataset[kind], {body: fill(bell.dataset.body, "id", String(cid)), tag: "switchboard-" + key});
    n.onclick = function () { window.focus(); location.href = "/inbox/" + encodeURIComponent(cid); n.close(); };
    var sound = new Audio(bell.dataset.sound);
    Promise.resolve(sound.play()).catch(function () { /* the browser wants a click first */ });
  }

  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/staff");
    function update(conversationId) {
      var sep = location.search ? "&" : "?";
      var list = document.getElementById("list");
      if (list) refresh("list", location.pathname + location.search + sep + "fragment=list");
      if (thread && (conversationId === null || String(conversationId) === here))
        refresh("thread", location.pathname + "?fragment=thread");
    }
    ws.onopen = function () {
      dot.style.color = "#22c55e"; retry = 500;
      // What changed between rendering this page and the socket opening (or while it was
      // reconnecting) sent no event we saw: fetch the fragments once to catch up.
      update(null);
    };
    ws.onmessage = function (ev) {
      var m = JSON.parse(ev.data);
      if (m.type === "typing") { heardTyping(m); return; }
      if (m.type === "handoff") { notify("handoff", m.conversation_id); return; }  // its change comes apart
      if (m.type === "message" && m.new) notify("new", m.conversation_id);
      update(m.conversation_id);
    };
    ws.onclose = function () { dot.style.color = "#ef4444"; setTimeout(connect, retry); retry = Math.min(retry * 2, 10000); };
  }
  connect();
})();
