/* The inbox list's bulk actions: "Select all" checks every row of the page, and the checked
   rows stay checked when the live update re-renders the list. */
(function () {
  var all = document.getElementById("select-all"), list = document.getElementById("list");
  if (!all || !list) return;
  var checked = new Set();
  function boxes() { return list.querySelectorAll('input[name=id][form=bulk-form]'); }
  function sync() {
    var n = 0, on = 0;
    boxes().forEach(function (b) { n++; if (checked.has(b.value)) { b.checked = true; on++; } });
    all.checked = n > 0 && on === n;
    all.indeterminate = on > 0 && on < n;
  }
  all.addEventListener("change", function () {
    boxes().forEach(function (b) {
      b.checked = all.checked;
      if (all.checked) checked.add(b.value); else checked.delete(b.value);
    });
    sync();
  });
  list.addEventListener("change", function (ev) {
    var b = ev.target;
    if (b.name !== "id") return;
    if (b.checked) checked.add(b.value); else checked.delete(b.value);
    sync();
  });
  new MutationObserver(sync).observe(list, {childList: true});
})();
