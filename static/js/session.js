// The live attendance page: streams webcam frames over the session's websocket, draws the faces
// the server reports, and keeps the roster up to date. Frames are sent one at a time: the next
// frame leaves only after the answer to the last one arrived, so no queue ever builds up.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("session-config").textContent);
  const video = document.getElementById("camera-video");
  const overlay = document.getElementById("camera-overlay");
  const toggle = document.getElementById("camera-toggle");
  const statusLine = document.getElementById("camera-status");
  const rosterBody = document.getElementById("roster-body");
  const rosterCounts = document.getElementById("roster-counts");
  const uncertainList = document.getElementById("uncertain");
  const capture = document.createElement("canvas");
  const MAX_FRAME_WIDTH = 640;
  const ANSWER_TIMEOUT_MS = 10000;

  const STATUS_LABELS = Object.fromEntries(config.statuses);
  const roster = new Map();
  let socket = null;
  let stream = null;
  let waitingSince = 0;
  let lastFaces = [];
  let frameSize = { width: 1, height: 1 };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function formatTime(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
  }

  // --- Roster -----------------------------------------------------------------------------

  function renderRoster() {
    rosterBody.replaceChildren();
    const counts = { present: 0, late: 0, absent: 0, excused: 0, unseen: 0 };
    for (const student of roster.values()) {
      counts[student.status || "unseen"] += 1;
      const row = document.createElement("tr");
      row.dataset.studentId = student.student_id;
      row.dataset.status = student.status || "unseen";

      const name = document.createElement("td");
      name.textContent = student.name;
      const number = document.createElement("div");
      number.className = "muted small";
      number.textContent = student.student_number + (student.has_photo ? "" : " · no photo: mark by hand");
      name.append(number);

      const status = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = "badge " + (student.status || "unseen");
      badge.textContent = student.status ? STATUS_LABELS[student.status] : "Not seen yet";
      status.append(badge);
      if (student.source === "manual") {
        const manual = document.createElement("span");
        manual.className = "muted small";
        manual.textContent = " (by hand)";
        status.append(manual);
      }

      if (student.first_seen) {
        const seen = document.createElement("div");
        seen.className = "muted small";
        seen.textContent = "first seen " + formatTime(student.first_seen);
        status.append(seen);
      }

      const change = document.createElement("td");
      const select = document.createElement("select");
      select.setAttribute("aria-label", "Set status of " + student.name);
      select.append(new Option("Set…", ""));
      for (const [value, label] of config.statuses) select.append(new Option(label, value));
      select.addEventListener("change", () => {
        if (select.value) setRecord(student.student_id, select.value, "");
      });
      change.append(select);

      row.append(name, status, change);
      rosterBody.append(row);
    }
    rosterCounts.textContent =
      `${counts.present} present · ${counts.late} late · ${counts.absent} absent · ` +
      `${counts.excused} excused · ${counts.unseen} not seen`;
  }

  async function setRecord(studentId, status, note) {
    const response = await fetch(config.recordUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ student_id: studentId, status: status, note: note }),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      setStatus(answer.error || "The change was not saved.", true);
      return;
    }
    // The websocket broadcast updates every open page; update ours now in case it is closed.
    const student = roster.get(answer.student_id);
    if (student) {
      Object.assign(student, { status: answer.status, source: answer.source });
      renderRoster();
    }
  }

  document.getElementById("bulk-apply").addEventListener("click", async () => {
    const status = document.getElementById("bulk-status").value;
    const unseen = [...roster.values()].filter((s) => !s.status);
    for (const student of unseen) await setRecord(student.student_id, status, "Marked with all not yet seen");
  });

  // --- Websocket --------------------------------------------------------------------------

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + config.websocketPath);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => handleMessage(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      socket = null;
      waitingSince = 0;
      if (event.code === 4409) {
        setStatus("The session is not open.", true);
        stopCamera();
        toggle.disabled = true;
      } else if (event.code === 4401 || event.code === 4403) {
        setStatus("You are not allowed to take attendance in this session.", true);
        stopCamera();
      } else if (event.code === 4429) {
        setStatus("Too many attendance pages are open for your account: close one, then reload this page.", true);
        stopCamera();
      } else {
        setStatus("Connection lost; reconnecting…", true);
        setTimeout(connect, 2000);
      }
    });
  }

  function handleMessage(message) {
    switch (message.type) {
      case "roster":
        roster.clear();
        for (const student of message.students) roster.set(student.student_id, student);
        renderRoster();
        break;
      case "attendance": {
        const student = roster.get(message.student_id);
        if (student) Object.assign(student, message);
        renderRoster();
        break;
      }
      case "frame":
        waitingSince = 0;
        lastFaces = message.faces;
        drawFaces();
        showUncertain(message.faces);
        if (stream) setStatus(`Camera on · ${message.faces.length} face(s) · ${Math.round(message.ms)} ms per frame`);
        requestAnimationFrame(sendFrame);
        break;
      case "session":
        if (message.state !== "open") {
          stopCamera();
          setStatus("The session was closed.", true);
          window.location.reload();
        }
        break;
      case "error":
        waitingSince = 0;
        setStatus(message.message, true);
        if (stream) setTimeout(sendFrame, 500);
        break;
      default:
        break;
    }
  }

  // --- Camera -----------------------------------------------------------------------------

  async function startCamera() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: false });
    } catch (error) {
      setStatus("The camera could not be started: " + error.message, true);
      return;
    }
    video.srcObject = stream;
    await video.play();
    toggle.textContent = "Pause camera";
    setStatus("Camera on.");
    sendFrame();
  }

  function stopCamera() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    lastFaces = [];
    drawFaces();
    toggle.textContent = "Start camera";
  }

  toggle.addEventListener("click", () => {
    if (stream) {
      stopCamera();
      setStatus("Camera paused.");
    } else {
      startCamera();
    }
  });

  function sendFrame() {
    if (!stream || !socket || socket.readyState !== WebSocket.OPEN || !video.videoWidth) {
      if (stream) setTimeout(sendFrame, 200);
      return;
    }
    if (waitingSince && performance.now() - waitingSince < ANSWER_TIMEOUT_MS) return;
    const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
    capture.width = Math.round(video.videoWidth * scale);
    capture.height = Math.round(video.videoHeight * scale);
    capture.getContext("2d").drawImage(video, 0, 0, capture.width, capture.height);
    frameSize = { width: capture.width, height: capture.height };
    waitingSince = performance.now();
    capture.toBlob((blob) => {
      if (blob && socket && socket.readyState === WebSocket.OPEN) socket.send(blob);
    }, "image/jpeg", 0.85);
  }

  function drawFaces() {
    overlay.width = video.clientWidth;
    overlay.height = video.clientHeight;
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    const sx = overlay.width / frameSize.width;
    const sy = overlay.height / frameSize.height;
    context.lineWidth = 3;
    context.font = "600 15px system-ui, sans-serif";
    for (const face of lastFaces) {
      const [x1, y1, x2, y2] = face.box;
      const label = face.name || (face.uncertain ? "maybe " + face.uncertain.name + "?" : "unknown");
      const color = face.name ? "#17803d" : face.uncertain ? "#b25e00" : "#b42318";
      context.strokeStyle = color;
      context.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
      const width = context.measureText(label).width + 10;
      context.fillStyle = color;
      context.fillRect(x1 * sx, Math.max(0, y1 * sy - 22), width, 22);
      context.fillStyle = "#fff";
      context.fillText(label, x1 * sx + 5, Math.max(16, y1 * sy - 6));
    }
  }

  function showUncertain(faces) {
    uncertainList.replaceChildren();
    for (const face of faces) {
      if (!face.uncertain) continue;
      const student = roster.get(face.uncertain.student_id);
      if (!student || student.status === "present" || student.status === "late") continue;
      const item = document.createElement("li");
      item.textContent = `Maybe ${face.uncertain.name}? (distance ${face.distance}) `;
      const confirm = document.createElement("button");
      confirm.type = "button";
      confirm.textContent = "Confirm present";
      confirm.addEventListener("click", () =>
        setRecord(face.uncertain.student_id, "present", `Confirmed by the teacher (face distance ${face.distance})`)
      );
      item.append(confirm);
      uncertainList.append(item);
    }
  }

  for (const student of config.roster.students) roster.set(student.student_id, student);
  renderRoster();
  if (config.state === "open") connect();
})();
