/* Live updates for the pages (templates/dashboard/_live.html): one WebSocket to /ws/live/,
   whose server sends only what the signed-in person may see (apps/dashboard/live.py), applied
   to the elements that opt in with data attributes. Plain script, no library, no build. */
(function () {
  "use strict";
  var notice = document.getElementById("live-notice");
  if (!notice || notice.hasAttribute("data-started")) return;
  notice.setAttribute("data-started", "");

  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    notice.getAttribute("data-socket");
  var FIRST_DELAY = 500, MAX_DELAY = 30000;
  var delay = FIRST_DELAY, leaving = false, everConnected = false;

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }
  function by(attribute, value) {
    return "[" + attribute + '="' + CSS.escape(String(value)) + '"]';
  }
  function say(text) {
    notice.textContent = text;
  }
  function setState(state) {
    // For styling and for tests: "on" once the server accepted the socket.
    document.documentElement.setAttribute("data-live", state);
  }

  function setStatus(element, status, label) {
    var before = element.getAttribute("data-status");
    element.setAttribute("data-status", status);
    var fields = Array.prototype.slice.call(
      element.querySelectorAll('[data-live-field="status"]'));
    if (element.matches('[data-live-field="status"]')) fields.push(element);
    fields.forEach(function (field) {
      field.textContent = label;
      // The badges are coloured by a status-<name> class as well: keep it in step.
      if (before && field.classList.contains("status-" + before)) {
        field.classList.remove("status-" + before);
        field.classList.add("status-" + status);
      }
    });
  }

  function noteActions(section, status) {
    // The buttons were worked out for the status the page was rendered with; a new status
    // may allow others, which only the server can say (its rule is the API's).
    var note = section.querySelector(".live-actions-note");
    if (status === section.getAttribute("data-status")) {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = document.createElement("p");
      note.className = "live-actions-note";
      note.setAttribute("role", "status");
      var heading = section.querySelector("h2");
      section.insertBefore(note, heading ? heading.nextSibling : section.firstChild);
    }
    note.textContent = "The status changed — ";
    var link = document.createElement("a");
    link.href = location.href;
    link.textContent = "reload for the actions allowed now";
    note.appendChild(link);
    note.appendChild(document.createTextNode("."));
  }

  function setProgress(taskId, progress) {
    each(by("data-live-task", taskId) + ' [data-live-field="progress"]', function (field) {
      if (field.tagName === "PROGRESS") field.value = progress;
      else field.textContent = progress + "%";
    });
  }

  function addToCount(status, delta) {
    each(by("data-live-count", status), function (figure) {
      var n = parseInt(figure.textContent, 10);
      if (!isNaN(n)) figure.textContent = String(Math.max(0, n + delta));
    });
  }

  function fetchLines(log) {
    // One request at a time per log; lines announced meanwhile are fetched right after.
    if (log.hasAttribute("data-busy")) {
      log.setAttribute("data-again", "");
      return;
    }
    log.setAttribute("data-busy", "");
    var lines = log.querySelectorAll("[data-log-id]");
    var after = lines.length ? lines[lines.length - 1].getAttribute("data-log-id") : "0";
    fetch(log.getAttribute("data-lines-url") + "?after=" + encodeURIComponent(after),
      {credentials: "same-origin", headers: {Accept: "text/html"}})
      .then(function (response) {
        // A redirect is the sign-in page: the session ended; nothing to append.
        return response.ok && !response.redirected ? response.text() : "";
      })
      .then(function (html) {
        if (!html.trim()) return;
        var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
        log.insertAdjacentHTML("beforeend", html);  // rendered and escaped by the server
        log.hidden = false;
        each(by("data-live-empty", ""), function (empty) { empty.remove(); });
        if (atBottom) log.scrollTop = log.scrollHeight;
      })
      .catch(function () { /* the next announcement or reconnect tries again */ })
      .then(function () {
        log.removeAttribute("data-busy");
        if (log.hasAttribute("data-again")) {
          log.removeAttribute("data-again");
          fetchLines(log);
        }
      });
  }

  function apply(event) {
    if (event.kind === "task") {
      each(by("data-live-task", event.id), function (element) {
        setStatus(element, event.status, event.label);
      });
      each(by("data-live-actions", event.id), function (section) {
        noteActions(section, event.status);
      });
      // A transition may set the progress too (100 on completion, 0 on a retry).
      if (typeof event.progress === "number") setProgress(event.id, event.progress);
    } else if (event.kind === "unit") {
      each(by("data-live-unit", event.id), function (element) {
        setStatus(element, event.status, event.label);
      });
    } else if (event.kind === "progress") {
      setProgress(event.id, event.progress);
    } else if (event.kind === "log") {
      each(by("data-live-log", event.id), fetchLines);
    } else if (event.kind === "counts") {
      Object.keys(event.delta).forEach(function (status) {
        addToCount(status, event.delta[status]);
      });
    }
  }

  function connect() {
    var socket = new WebSocket(url);
    socket.onopen = function () {
      delay = FIRST_DELAY;
      say("");
      setState("on");
      // Lines written while the socket was down were announced to nobody: fetch them now.
      if (everConnected) each("[data-live-log]", fetchLines);
      everConnected = true;
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      (data.events || []).forEach(apply);
    };
    socket.onclose = function (closed) {
      setState("off");
      if (leaving) return;
      if (closed.code === 4401 || closed.code === 4403) {
        say("Live updates stopped: sign in again to see changes as they happen.");
        return;
      }
      say("Live updates paused — reconnecting…");
      // Doubling, with jitter so the pages a server restart dropped do not return at once.
      var wait = delay * (0.75 + Math.random() * 0.5);
      delay = Math.min(delay * 2, MAX_DELAY);
      setTimeout(connect, wait);
    };
  }

  // Leaving the page closes the socket too; that is no outage worth announcing.
  window.addEventListener("pagehide", function () { leaving = true; });
  window.addEventListener("pageshow", function (shown) {
    if (shown.persisted && leaving) {  // back from the browser's page cache
      leaving = false;
      connect();
    }
  });
  connect();
}());
