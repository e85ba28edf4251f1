/* Every page: "Go back" links (no javascript: URL; CSP runs files only). */
document.addEventListener("click", function (ev) {
  var a = ev.target.closest && ev.target.closest("a[data-back]");
  if (a && history.length > 1) { ev.preventDefault(); history.back(); }
});
