(function () {
  var form = document.getElementById("segment-form");
  if (!form) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  function rules() {
    var out = {match: document.getElementById("seg-match").value, conditions: []};
    form.querySelectorAll(".seg-row").forEach(function (row) {
      var kind = row.querySelector(".seg-kind").value, value = row.querySelector(".seg-value").value.trim();
      if (!kind) return;
      var c = {};
      if (kind === "attribute") { var kv = value.split("="); c.attribute = kv[0]; if (kv.length > 1) c.equals = kv.slice(1).join("="); }
      else if (kind === "replied") { c.replied = true; c.days = +row.querySelector(".seg-days").value || 30; }
      else if (kind === "event") { c.event = value; c.days = +row.querySelector(".seg-days").value || 30; }
      else { c[kind] = value; }
      if (row.querySelector(".seg-not").checked) c.not = true;
      out.conditions.push(c);
    });
    return out;
  }
  function call(path, body) {
    return fetch(path, {method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}})
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); });
  }
  var pending = 0;
  function recount() {
    var mine = ++pending;
    call("/api/v1/segments/count", rules()).then(function (res) {
      if (mine !== pending) return;  // an older answer: a newer one is coming
      document.getElementById("seg-error").textContent = res[0] ? "" : res[1].error.message;
      if (res[0]) document.getElementById("seg-count").textContent = res[1].count;
    });
  }
  form.addEventListener("input", recount);
  form.addEventListener("change", recount);
  document.getElementById("seg-save").addEventListener("click", function () {
    call("/api/v1/segments", {name: document.getElementById("seg-name").value, rules: rules()})
      .then(function (res) { if (res[0]) location.reload(); else document.getElementById("seg-error").textContent = res[1].error.message; });
  });
})();
