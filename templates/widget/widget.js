/* Switchboard web chat widget for account {{ account.id }}: a button that opens the chat in a frame.
   Its words are in the visitor's language (their browser's Accept-Language, as the chat page). */
(function () {
  if (window.__switchboardWidget) return;
  window.__switchboardWidget = true;
  var src = (document.currentScript && document.currentScript.src) || "";
  var origin = src ? new URL(src).origin : "";
  var button = document.createElement("button");
  button.type = "button";
  button.lang = {{ current_locale()|tojson }};
  button.setAttribute("aria-label", {{ _("Chat with us")|tojson }});
  button.textContent = {{ pgettext("web chat button", "Chat")|tojson }};
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;" +
    "border-radius:24px;padding:12px 20px;background:#2563eb;color:#fff;font:600 15px system-ui;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.2);cursor:pointer";
  var frame = document.createElement("iframe");
  frame.title = {{ pgettext("web chat button", "Chat")|tojson }};
  frame.src = origin + "/chat?account={{ account.id }}&embed=1";
  frame.style.cssText = "position:fixed;right:20px;bottom:76px;width:360px;height:520px;" +
    "max-height:80vh;border:0;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);" +
    "z-index:2147483000;display:none;background:#fff";
  button.addEventListener("click", function () {
    frame.style.display = frame.style.display === "none" ? "block" : "none";
  });
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
