/* The web chat page's script (/chat.js): a file, not inline, so the page runs under a
   Content-Security-Policy without 'unsafe-inline'. The account is the body's data-account. */
(function () {
  var account = document.body.dataset.account;
  var log = document.getElementById("log"), statusEl = document.getElementById("status");
  var pending = {};   // client_id -> {text, el}: sent but not yet acknowledged
  var uploads = {};   // client_id -> {file, el, tries}: a file being sent
  var shown = {};     // message ids already on screen
  var emailKnown = false, ws = null, retry = 500;
  function newId() {
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function bubble(text, cls) {
    var div = document.createElement("div");
    div.className = "msg " + cls;
    div.textContent = text;           // text, never HTML
    log.appendChild(div); log.scrollTop = log.scrollHeight;
    return div;
  }
  function addFiles(div, files) {     // pictures inline, anything else a download link
    (files || []).forEach(function (f) {
      var a = document.createElement("a");
      a.href = f.url;
      if (f.image) {
        a.target = "_blank"; a.rel = "noopener";
        var img = document.createElement("img");
        img.src = f.url; img.alt = f.file_name;
        a.appendChild(img);
      } else {
        a.setAttribute("download", f.file_name); a.textContent = "📎 " + f.file_name;
      }
      var row = document.createElement("div");
      row.className = "file"; row.appendChild(a); div.appendChild(row);
    });
    log.scrollTop = log.scrollHeight;
  }
  function clearQuick() {            // only the latest message's buttons can be pressed
    Array.prototype.forEach.call(log.querySelectorAll(".quick"), function (q) { q.remove(); });
  }
  function showMessage(m, last) {
    if (m.id && shown[m.id]) return;
    if (m.id) shown[m.id] = true;
    clearQuick();
    var div = bubble(m.text, m.direction === "in" ? "in" : "out");
    div.dataset.id = m.id || "";
    addFiles(div, m.files);
    if (m.direction !== "in" && m.buttons && m.buttons.length && last !== false) {
      var row = document.createElement("div");
      row.className = "quick";
      m.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button"; btn.textContent = b.label;
        btn.addEventListener("click", function () { press(b); });
        row.appendChild(btn);
      });
      log.appendChild(row); log.scrollTop = log.scrollHeight;
    }
  }
  function press(b) {               // a quick reply: sent like a message, with its payload
    clearQuick();
    var cid = newId();
    pending[cid] = {text: b.label, payload: b.payload, el: bubble(b.label, "in pending")};
    sendPending(cid);
  }
  function sendPending(cid) {
    if (!ws || ws.readyState !== 1) return;
    var p = pending[cid];
    var frame = {type: p.payload ? "button" : "message", client_id: cid, text: p.text, locale: navigator.language};
    if (p.payload) frame.payload = p.payload;
    ws.send(JSON.stringify(frame));
  }
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/chat/ws?account=" + encodeURIComponent(account));
    ws.onopen = function () {
      statusEl.textContent = ""; retry = 500;
      Object.keys(pending).forEach(sendPending);   // resend: the server stores each once
    };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      if (f.type === "hello") {
        emailKnown = f.email_known;
        f.history.forEach(function (m, i) {
          if (!pending[m.client_id] && !uploads[m.client_id]) showMessage(m, i === f.history.length - 1);
        });
      } else if (f.type === "ack") {
        var p = pending[f.client_id];
        if (p) { p.el.classList.remove("pending"); p.el.dataset.id = f.id; shown[f.id] = true; delete pending[f.client_id]; }
        if (!emailKnown) document.getElementById("email-box").style.display = "block";
      } else if (f.type === "message") {
        showMessage(f);
      } else if (f.type === "email_saved") {
        emailKnown = true; document.getElementById("email-box").style.display = "none";
        bubble(document.body.dataset.thanks, "sys");   // the page's words, in its language
      } else if (f.type === "email_error") {
        document.getElementById("email-msg").textContent = f.message;
      } else if (f.type === "error") {
        statusEl.textContent = f.message;
        if (f.retry_after && f.client_id && pending[f.client_id]) {   // over the limit: later
          setTimeout(function () { sendPending(f.client_id); }, f.retry_after * 1000);
        }
      }
    };
    ws.onclose = function () {
      statusEl.textContent = document.body.dataset.reconnecting;
      setTimeout(connect, retry); retry = Math.min(retry * 2, 10000);
    };
  }
  document.getElementById("send").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("text"), text = input.value;
    if (!text.trim()) return;
    var cid = newId();
    clearQuick();
    pending[cid] = {text: text, el: bubble(text, "in pending")};
    input.value = "";
    sendPending(cid);
  });
  // A file: posted with its client id, so a retry after a network failure is stored once.
  function upload(cid) {
    var u = uploads[cid], body = new FormData();
    body.append("client_id", cid); body.append("locale", navigator.language);
    body.append("file", u.file, u.file.name);
    fetch("/chat/upload?account=" + encodeURIComponent(account),
          {method: "POST", body: body, credentials: "same-origin"})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.ok) {
            delete uploads[cid];
            u.el.classList.remove("pending"); u.el.textContent = "";
            u.el.dataset.id = j.id; shown[j.id] = true;
            addFiles(u.el, j.files);
            if (!emailKnown) document.getElementById("email-box").style.display = "block";
          } else if (r.status === 429 || r.status >= 500) {
            retryUpload(cid, (parseInt(r.headers.get("Retry-After"), 10) || 2) * 1000);
          } else {
            fail(cid, (j.error && j.error.message) || document.body.dataset.uploadFailed);
          }
        });
      }, function () { retryUpload(cid, 2000); });   // the network: try again, same id
  }
  function retryUpload(cid, wait) {
    var u = uploads[cid];
    if (++u.tries > 5) { fail(cid, document.body.dataset.uploadFailed); return; }
    setTimeout(function () { upload(cid); }, wait);
  }
  function fail(cid, message) {
    var u = uploads[cid];
    delete uploads[cid];
    u.el.classList.remove("pending"); u.el.classList.add("failed");
    statusEl.textContent = message;
  }
  var fileInput = document.getElementById("file");
  document.getElementById("attach").addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    var cid = newId();
    clearQuick();
    uploads[cid] = {file: file, tries: 0, el: bubble("📎 " + file.name, "in pending")};
    if (file.size > parseInt(document.body.dataset.maxBytes, 10)) {
      fail(cid, document.body.dataset.tooLarge);   // the server would refuse it too
      return;
    }
    statusEl.textContent = "";
    upload(cid);
  });
  document.getElementById("email-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({type: "email", email: document.getElementById("email").value}));
  });
  connect();
})();
