/* Every page: "Go back" links (no javascript: URL; CSP runs files only). */
document.addEventListener("click", function (ev) {
  var a = ev.target.closest && ev.target.closest("a[data-back]");
  if (a && history.length > 1) { ev.preventDefault(); history.back(); }
});

/* Wide tables scroll inside their own container, not the page (phones). A container that
   does scroll becomes a focusable, labelled region (the label: its card's heading, else
   <main data-region-label>); one that fits stays a plain box (no extra tab stop). */
(function () {
  var main = document.querySelector("main");
  if (!main) return;
  function label(table) {
    var cap = table.querySelector("caption");
    if (cap && cap.textContent.trim()) return cap.textContent.trim();
    var card = table.closest(".card, section");
    var h = card && card.querySelector("h1, h2, h3, h4, h5");
    return (h && h.textContent.trim()) || main.dataset.regionLabel || "";
  }
  function fit(box) {
    var table = box.querySelector("table");
    if (!table) return;
    if (box.scrollWidth > box.clientWidth + 1) {
      box.tabIndex = 0;
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", label(table));
    } else {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
  }
  function wrap(root) {
    root.querySelectorAll("table").forEach(function (table) {
      var parent = table.parentNode, box = parent;
      if (!(parent.classList && parent.classList.contains("wide"))) {
        box = document.createElement("div");
        box.className = "wide";
        parent.insertBefore(box, table);
        box.appendChild(table);
      }
      fit(box);
    });
  }
  wrap(main);
  new MutationObserver(function (changes) {
    changes.forEach(function (c) { c.addedNodes.forEach(function (n) { if (n.nodeType === 1) wrap(n.tagName === "TABLE" ? n.parentNode : n); }); });
  }).observe(main, {childList: true, subtree: true});
  var queued = false;
  window.addEventListener("resize", function () {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; main.querySelectorAll(".wide").forEach(fit); });
  });
})();

/* Every page: a POST form's submit buttons are disabled once it is sent, so a double click
   sends it once (a second copy would be a second sequence, a second broadcast). Done after
   the event, so the clicked button's name and value still go with the form, and not when a
   script took the submit over (defaultPrevented). Back on the page from the browser's
   cache (the Back button), they work again. */
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  if (!(form instanceof HTMLFormElement) || form.method !== "post") return;
  setTimeout(function () {
    if (ev.defaultPrevented) return;
    Array.prototype.forEach.call(form.elements, function (el) {
      if ((el.type === "submit" || el.type === "image") && !el.disabled) {
        el.disabled = true;
        el.dataset.sent = "1";
      }
    });
  }, 0);
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll("[data-sent]").forEach(function (el) {
    el.disabled = false;
    delete el.dataset.sent;
  });
});
