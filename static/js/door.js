// Door mode: a tablet at the classroom door. Webcam frames go to the session's door websocket one
// at a time (the next only after the answer to the last); each answer names, by first name, the
// students recognised in that very frame, and the screen greets each for two seconds after the
// last frame that recognised them. The page never gets the roster or anyone else's attendance.
//
// The frames are taken as on the live page (static/js/live-frames.js).
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("door-config").textContent);
  const startPanel = document.getElementById("door-start");
  const startButton = document.getElementById("door-start-button");
  const stage = document.getElementById("door-stage");
  const video = document.getElementById("door-video");
  const says = document.getElementById("door-says");
  const statusLine = document.getElementById("door-status");
  const frames = LiveFrames.encoder(config);

  // How long a greeting stays after the last frame that recognised the student.
  const GREET_MS = 2000;
  const NOT_RECOGNISED = "Not recognised — please see your teacher";
  const REFUSALS = { ...LiveFrames.REFUSALS, 4409: "The session is not open: door mode has stopped." };

  let socket = null;
  let stream = null;
  let sending = false;
  let awaiting = false;
  let answerTimer = 0;
  let retryTimer = 0;
  let renderTimer = 0;
  // What the screen says now: greeting text -> {until (performance.now()), kind}.
  const greetings = new Map();
  let unknown = 0;
  let inView = 0;
  let shown = "";

  function setStatus(text) {
    statusLine.textContent = text;
  }

  // --- What the screen says ---------------------------------------------------------------

  function greeting(greet) {
    const name = greet.first_name || "Welcome";
    // No status: the teacher decided otherwise (absent, excused) or the camera could not mark them.
    return greet.status ? `${name} — ${greet.status}` : `${name} — please see your teacher`;
  }

  function render() {
    clearTimeout(renderTimer);
    const now = performance.now();
    for (const [text, line] of greetings) if (line.until <= now) greetings.delete(text);
    const lines = [...greetings].map(([text, line]) => ({ text, kind: line.kind }));
    if (unknown) lines.push({ text: NOT_RECOGNISED, kind: "unknown" });
    if (!lines.length) lines.push({ text: inView ? "One moment…" : "Look at the camera", kind: "prompt" });
    const key = lines.map((line) => `${line.kind}:${line.text}`).join("\n");
    if (key !== shown) {
      shown = key;
      says.replaceChildren(
        ...lines.map((line) => {
          const paragraph = document.createElement("p");
          paragraph.className = `door-line door-${line.kind}`;
          paragraph.textContent = line.text;
          return paragraph;
        })
      );
    }
    if (greetings.size) {
      const next = Math.min(...[...greetings.values()].map((line) => line.until));
      renderTimer = setTimeout(render, next - now);
    }
  }

  function answered(message) {
    clearTimeout(answerTimer);
    awaiting = false;
    setStatus("");
    const until = performance.now() + GREET_MS;
    for (const greet of message.greet) greetings.set(greeting(greet), { until, kind: greet.status || "see" });
    unknown = message.unknown;
    inView = message.in_view;
    render();
    nextFrame(0);
  }

  // --- Websocket --------------------------------------------------------------------------

  function connect() {
    socket = new WebSocket(LiveFrames.socketUrl(config.websocketPath));
    socket.addEventListener("open", () => nextFrame(0));
    socket.addEventListener("message", (event) => handleMessage(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      socket = null;
      awaiting = false;
      clearTimeout(answerTimer);
      if (!stream) return;
      const refusal = REFUSALS[event.code];
      if (refusal) {
        stop(refusal);
      } else {
        // The network or the server failed: the page comes back by itself.
        setStatus("Connection lost; reconnecting…");
        setTimeout(connect, 2000);
      }
    });
  }

  function handleMessage(message) {
    switch (message.type) {
      case "recognition":
        if (message.state === "loading") setStatus("Getting ready… (the first picture takes a few seconds)");
        break;
      case "door-frame":
        answered(message);
        break;
      case "session":
        if (message.state !== "open") stop("The session has ended: door mode has stopped.");
        break;
      case "error":
        awaiting = false;
        setStatus(message.message);
        nextFrame(500);
        break;
      default:
        break;
    }
  }

  // --- Camera and frames ------------------------------------------------------------------

  async function start() {
    startButton.disabled = true;
    // Asked for in the click itself, as browsers require; the page works just as well without it.
    if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
    if (!navigator.mediaDevices) {
      setStatus("The camera needs a secure (HTTPS) connection to this site.");
      startButton.disabled = false;
      return;
    }
    try {
      // Ideal, never exact: any camera starts; on a tablet, the one facing the student.
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: config.camera.width }, height: { ideal: config.camera.height }, facingMode: "user" },
        audio: false,
      });
      video.srcObject = stream;
      await video.play();
    } catch (error) {
      stopCamera();
      setStatus("The camera could not be started: " + error.message);
      startButton.disabled = false;
      return;
    }
    startPanel.hidden = true;
    stage.hidden = false;
    setStatus("Connecting…");
    render();
    connect();
  }

  function stopCamera() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    clearTimeout(retryTimer);
  }

  function stop(text) {
    stopCamera();
    greetings.clear();
    stage.hidden = true;
    setStatus(text);
    if (socket) socket.close();
  }

  function nextFrame(delay) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(sendFrame, delay);
  }

  async function sendFrame() {
    if (!stream || sending || awaiting) return;
    if (!LiveFrames.ready(socket, video)) {
      nextFrame(200);
      return;
    }
    sending = true;
    try {
      frames.draw(video);
      const blob = await frames.encode();
      if (!blob) {
        // Over the byte limit and never sent: the next frames are smaller.
        nextFrame(0);
        return;
      }
      if (!stream || !socket || socket.readyState !== WebSocket.OPEN) {
        nextFrame(200);
        return;
      }
      socket.send(blob);
      awaiting = true;
      answerTimer = setTimeout(() => {
        awaiting = false;
        sendFrame();
      }, LiveFrames.ANSWER_TIMEOUT_MS);
    } finally {
      sending = false;
    }
  }

  startButton.addEventListener("click", start);
})();
