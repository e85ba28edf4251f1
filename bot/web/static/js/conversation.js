/* Correct a message's sentiment: kept for the eval and as training rows. */
document.addEventListener("change", function (ev) {
  var sel = ev.target;
  if (!sel.classList || !sel.classList.contains("sent-correct") || !sel.value) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  fetch("/api/v1/sentiment/corrections", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify({item_kind: "message", item_id: +sel.dataset.messageId, label: sel.value})})
    .then(function (r) { return r.json(); }).then(function (j) {
      var box = sel.parentNode, badge = box.querySelector("[data-sentiment]");
      if (!badge) { badge = document.createElement("span"); badge.dataset.sentiment = sel.dataset.messageId; box.insertBefore(badge, sel); }
      badge.className = "badge sent-" + j.label; badge.textContent = j.label + " (corrected)";
    });
});

/* Phones: the side panel (status, assignee, labels, contact) folds away behind a button. */
(function () {
  var btn = document.querySelector(".side-toggle"), side = document.getElementById("side");
  if (!btn || !side) return;
  side.classList.add("folds");
  btn.hidden = false;
  btn.addEventListener("click", function () {
    var open = side.classList.toggle("open");
    btn.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
