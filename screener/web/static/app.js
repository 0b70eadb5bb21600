// Screener console: live board updates (server-sent events) and small helpers.
// Rows arrive as HTML rendered and escaped by the server; they are parsed into
// inert <template> content and never evaluated as script.
(function () {
  "use strict";

  function startBoard() {
    var table = document.getElementById("board");
    if (!table || !window.EventSource) return;
    var body = document.getElementById("board-rows");
    var status = document.getElementById("live-status");
    var source = new EventSource(table.getAttribute("data-events"));
    source.addEventListener("open", function () {
      status.textContent = "Live.";
      table.setAttribute("data-live", "1");
    });
    source.addEventListener("error", function () {
      status.textContent = "Reconnecting…";
    });
    source.addEventListener("call", function (event) {
      var template = document.createElement("template");
      template.innerHTML = event.data;
      var row = template.content.querySelector("tr");
      if (!row || !/^call-[A-Za-z0-9]+$/.test(row.id)) return;
      var existing = document.getElementById(row.id);
      if (existing) {
        existing.replaceWith(row);
      } else {
        body.insertBefore(row, body.firstChild);
        row.classList.add("new");
        var empty = document.getElementById("board-empty");
        if (empty) empty.remove();
      }
      while (body.rows.length > 100) body.deleteRow(body.rows.length - 1);
    });
  }

  function confirmButtons() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-confirm]");
      if (button && !window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  function uploadProgress() {
    document.addEventListener("htmx:xhr:progress", function (event) {
      var bar = document.getElementById("upload-progress");
      if (bar && event.detail.lengthComputable) {
        bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    uploadProgress();
    startBoard();
    confirmButtons();
  });
})();
