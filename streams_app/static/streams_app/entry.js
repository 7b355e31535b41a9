// The entry page's "Copy command" button: copies the text of the element it names
// (data-copy="<id>"). Without this script the command is plain text to select by hand, so the
// button stays hidden until it can work.
(function () {
  "use strict";

  function selectText(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyBySelection(node) {
    // For pages served over plain HTTP (not localhost), where navigator.clipboard is missing.
    selectText(node);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  function say(status, text, kind) {
    if (!status) return;
    status.textContent = text;
    status.dataset.kind = kind;
  }

  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) continue;
    const status = button.parentElement.querySelector("[data-copy-status]");
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = source.textContent;
      let copied = false;
      if (navigator.clipboard && window.isSecureContext) {
        try {
          await navigator.clipboard.writeText(text);
          copied = true;
        } catch (e) {
          copied = false;
        }
      }
      if (!copied) copied = copyBySelection(source);
      if (copied) say(status, "Copied.", "ok");
      else {
        selectText(source);
        say(status, "Selected: press Ctrl+C (⌘C) to copy.", "warn");
      }
    });
  }
})();
