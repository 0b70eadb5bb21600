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
      loadWaiting();
    });
    source.addEventListener("waiting", function (event) {
      showCard(event.data, true);
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

  // Live screening: the cards of calls waiting for reception --------------------------

  var DONE_CARD_SECONDS = 60;
  var announced = {};
  var audioContext = null;

  function waitingBox() {
    return document.getElementById("waiting");
  }

  function parseCard(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var card = template.content.querySelector("article.waiting-card");
    if (!card || !/^wait-[A-Za-z0-9]+$/.test(card.id)) return null;
    return card;
  }

  function startCountdown(card) {
    var left = parseInt(card.getAttribute("data-seconds-left") || "", 10);
    if (!isNaN(left)) card.setAttribute("data-deadline", String(Date.now() + left * 1000));
  }

  function showCard(html, live) {
    var box = waitingBox();
    var card = parseCard(html);
    if (!box || !card) return;
    startCountdown(card);
    var existing = document.getElementById(card.id);
    if (existing) {
      existing.replaceWith(card);
    } else {
      box.appendChild(card);
    }
    if (window.htmx) window.htmx.process(card);
    var state = card.getAttribute("data-state");
    if (state === "decided" || state === "ended") {
      var id = card.id;
      window.setTimeout(function () {
        var old = document.getElementById(id);
        if (old && (old.getAttribute("data-state") === "decided" || old.getAttribute("data-state") === "ended")) old.remove();
      }, DONE_CARD_SECONDS * 1000);
    } else if (live && !announced[card.id]) {
      announced[card.id] = true;
      announce(card);
    }
  }

  function loadWaiting() {
    var box = waitingBox();
    if (!box || !window.fetch) return;
    window.fetch(box.getAttribute("data-source"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;
        var cards = template.content.querySelectorAll("article.waiting-card");
        var current = {};
        for (var i = 0; i < cards.length; i++) {
          current[cards[i].id] = true;
          announced[cards[i].id] = true;
          showCard(cards[i].outerHTML, false);
        }
        // Calls decided or gone while the stream was down no longer wait.
        var shown = box.querySelectorAll("article.waiting-card");
        for (var j = 0; j < shown.length; j++) {
          var state = shown[j].getAttribute("data-state");
          if (!current[shown[j].id] && (state === "listening" || state === "on-hold")) shown[j].remove();
        }
      })
      .catch(function () {});
  }

  function tick() {
    var cards = document.querySelectorAll("article.waiting-card[data-deadline]");
    for (var i = 0; i < cards.length; i++) {
      var left = Math.max(0, Math.round((parseInt(cards[i].getAttribute("data-deadline"), 10) - Date.now()) / 1000));
      var shown = cards[i].querySelector(".countdown");
      if (shown) shown.textContent = left + " s";
    }
  }

  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      audioContext = audioContext || new Context();
      var oscillator = audioContext.createOscillator();
      var gain = audioContext.createGain();
      oscillator.frequency.value = 880;
      gain.gain.value = 0.15;
      oscillator.connect(gain);
      gain.connect(audioContext.destination);
      oscillator.start();
      oscillator.stop(audioContext.currentTime + 0.25);
    } catch (e) { /* no sound available */ }
  }

  function announce(card) {
    beep();
    if (!window.Notification || window.Notification.permission !== "granted") return;
    try {
      var note = new window.Notification("Call waiting for you", {
        body: card.getAttribute("data-caller") || "",
        tag: card.id
      });
      note.onclick = function () { window.focus(); card.scrollIntoView(); };
    } catch (e) { /* notifications refused by the browser */ }
  }

  function notifyToggle() {
    var button = document.getElementById("notify-toggle");
    if (!button) return;
    var supported = !!window.Notification;
    button.hidden = supported && window.Notification.permission === "granted";
    button.addEventListener("click", function () {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (Context && !audioContext) audioContext = new Context();  // sound needs a click first
      if (!supported) { button.hidden = true; return; }
      window.Notification.requestPermission().then(function (answer) {
        button.hidden = answer === "granted";
      });
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
    if (waitingBox()) {
      notifyToggle();
      window.setInterval(tick, 1000);
    }
    confirmButtons();
  });
})();
