(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  function call(method, path, body) {
    return fetch(path, {method: method, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined,
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}})
      .then(function (r) { return r.status === 204 ? [true, {}] : r.json().then(function (j) { return [r.ok, j]; }); });
  }
  var add = document.getElementById("rule-add");
  if (add) add.addEventListener("click", function () {
    var langs = document.getElementById("rule-langs").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    call("POST", "/api/v1/listening/rules", {name: document.getElementById("rule-name").value,
      kind: document.getElementById("rule-kind").value, query: document.getElementById("rule-query").value, languages: langs})
      .then(function (res) { if (res[0]) location.reload(); else document.getElementById("rule-error").textContent = res[1].error.message; });
  });
  document.querySelectorAll("[data-delete-rule]").forEach(function (b) {
    b.addEventListener("click", function () { call("DELETE", "/api/v1/listening/rules/" + b.dataset.deleteRule).then(function () { location.reload(); }); });
  });
  var feed = document.getElementById("feed-add");
  if (feed) feed.addEventListener("click", function () {
    call("POST", "/api/v1/listening/feeds", {url: document.getElementById("feed-url").value})
      .then(function (res) { if (res[0]) location.reload(); else document.getElementById("feed-error").textContent = res[1].error.message; });
  });
})();
