/* Staff pages: the live dot, and the list and thread fragments refreshed when the staff
   socket says a conversation changed (the server renders the fragments). */
(function () {
  var dot = document.getElementById("live"), retry = 500;
  if (!dot) return;
  function refresh(id, url) {
    var el = document.getElementById(id); if (!el) return;
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { el.innerHTML = html; el.dispatchEvent(new Event("refreshed")); } });
  }
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/staff");
    function update(conversationId) {
      var sep = location.search ? "&" : "?";
      var list = document.getElementById("list");
      if (list) refresh("list", location.pathname + location.search + sep + "fragment=list");
      var thread = document.getElementById("thread");
      if (thread && (conversationId === null || String(conversationId) === thread.dataset.conversation))
        refresh("thread", location.pathname + "?fragment=thread");
    }
    ws.onopen = function () {
      dot.style.color = "#22c55e"; retry = 500;
      // What changed between rendering this page and the socket opening (or while it was
      // reconnecting) sent no event we saw: fetch the fragments once to catch up.
      update(null);
    };
    ws.onmessage = function (ev) { update(JSON.parse(ev.data).conversation_id); };
    ws.onclose = function () { dot.style.color = "#ef4444"; setTimeout(connect, retry); retry = Math.min(retry * 2, 10000); };
  }
  connect();
})();
