/* Every page: "Go back" links (no javascript: URL; CSP runs files only). */
document.addEventListener("click", function (ev) {
  var a = ev.target.closest && ev.target.closest("a[data-back]");
  if (a && history.length > 1) { ev.preventDefault(); history.back(); }
});

/* Wide tables scroll inside their own container, not the page (phones): each table gets a
   focusable, labelled region (the label: its card's heading, else <main data-region-label>). */
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
  function region(box, table) {
    if (!box.hasAttribute("tabindex")) box.tabIndex = 0;
    if (!box.hasAttribute("role")) box.setAttribute("role", "region");
    if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) box.setAttribute("aria-label", label(table));
  }
  function wrap(root) {
    root.querySelectorAll("table").forEach(function (table) {
      var parent = table.parentNode;
      if (parent.classList && parent.classList.contains("wide")) { region(parent, table); return; }
      var box = document.createElement("div");
      box.className = "wide";
      parent.insertBefore(box, table);
      box.appendChild(table);
      region(box, table);
    });
  }
  wrap(main);
  new MutationObserver(function (changes) {
    changes.forEach(function (c) { c.addedNodes.forEach(function (n) { if (n.nodeType === 1) wrap(n.tagName === "TABLE" ? n.parentNode : n); }); });
  }).observe(main, {childList: true, subtree: true});
})();
