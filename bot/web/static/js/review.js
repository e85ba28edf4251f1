(function () {
  var box = document.getElementById("review");
  if (!box) return;
  var id = +box.dataset.review;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  function call(path, body) {
    return fetch(path, {method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}})
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); });
  }
  var send = document.getElementById("send");
  if (send) send.addEventListener("click", function () {
    call("/api/v1/reviews/" + id + "/reply", {text: document.getElementById("reply").value})
      .then(function (res) { if (res[0]) location.reload(); else document.getElementById("reply-error").textContent = res[1].error.message; });
  });
  var priv = document.getElementById("private");
  if (priv) priv.addEventListener("click", function () {
    call("/api/v1/reviews/" + id + "/resolved-privately").then(function (res) {
      if (res[0]) document.getElementById("reply").value = res[1].suggestion; });
  });
  var corr = document.getElementById("correct");
  if (corr) corr.addEventListener("change", function () {
    if (!corr.value) return;
    call("/api/v1/sentiment/corrections", {item_kind: "review", item_id: id, label: corr.value})
      .then(function (res) { if (res[0]) document.getElementById("sentiment").textContent = res[1].label + " (corrected)"; });
  });
})();
