(function () {
  // Each chosen image goes to POST /media first (images are larger than a form may be);
  // its public URL joins the list above, which the form then sends.
  var input = document.getElementById("upload"), list = document.getElementById("images");
  var status = document.getElementById("upload-status");
  if (!input) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  // The texts come translated from the page (data-uploading, data-uploaded, and one per
  // error code /media answers with; another error shows the answer's own message).
  function count(text, n) { return text.split("%(num)s").join(String(n)); }
  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files), done = 0;
    status.textContent = count(status.dataset.uploading, files.length);
    files.forEach(function (f) {
      fetch("/media", {method: "POST", body: f, credentials: "same-origin",
                       headers: {"Content-Type": f.type, "X-CSRF-Token": csrf}})
        .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
        .then(function (res) {
          if (res[0]) { list.value = (list.value ? list.value.replace(/\s+$/, "") + "\n" : "") + res[1].url; done++; }
          else { status.textContent = f.name + ": " + (status.dataset[res[1].error.code] || res[1].error.message); return; }
          if (done === files.length) status.textContent = count(status.dataset.uploaded, done);
        })
        .catch(function (e) { status.textContent = f.name + ": " + e; });
    });
  });
})();
