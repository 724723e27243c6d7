// The live attendance page: streams webcam frames over the session's websocket, shows each frame
// the server answered with the faces it found, and keeps the roster up to date.
//
// Frames are sent one at a time: the next frame leaves only after the answer to the last one
// arrived, so no queue ever builds up. An answer takes a few hundred milliseconds, during which
// students move, so boxes are never drawn over the live video: the page keeps a copy of each frame
// it sends and, when the answer comes, draws that very frame with its boxes. The live video shows
// only until the first answer (and again while the server is silent for a while).
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("session-config").textContent);
  const stage = document.getElementById("camera");
  const video = document.getElementById("camera-video");
  const picture = document.getElementById("camera-picture");
  const overlay = document.getElementById("camera-overlay");
  const toggle = document.getElementById("camera-toggle");
  const statusLine = document.getElementById("camera-status");
  const countLine = document.getElementById("camera-count");
  const cameraNote = document.getElementById("camera-note");
  const rosterBody = document.getElementById("roster-body");
  const rosterCounts = document.getElementById("roster-counts");
  const uncertainList = document.getElementById("uncertain");
  const offersBox = document.getElementById("offers");
  const loading = document.getElementById("camera-loading");
  const searchInput = document.getElementById("roster-search");
  const sortSelect = document.getElementById("roster-sort");
  const emptyNote = document.getElementById("roster-empty");
  const lockedNote = document.getElementById("roster-locked");
  const bulkSelect = document.getElementById("bulk-status");
  const bulkButton = document.getElementById("bulk-apply");
  const noteDialog = document.getElementById("note-dialog");
  const noteForm = document.getElementById("note-form");
  const noteTitle = document.getElementById("note-dialog-title");
  const noteStatus = document.getElementById("note-status");
  const noteText = document.getElementById("note-text");
  const noteError = document.getElementById("note-error");
  const stateForm = document.getElementById("session-state-form");
  const endDialog = document.getElementById("end-dialog");
  const endText = document.getElementById("end-dialog-text");
  const announcer = document.getElementById("announce");
  const nameFacesButton = document.getElementById("name-faces");
  const cardNotes = document.getElementById("card-notes");
  const errorAnnouncer = document.getElementById("announce-error");
  const frames = LiveFrames.encoder(config);

  // After this long without an answer (or three times the last answer's time, if longer) the shown
  // picture is old: the live video is shown instead.
  const STALE_AFTER_MS = 3000;
  // Under this resolution (either way up) the back row of a class is too small to recognise.
  const LOW_RESOLUTION = { long: 1280, short: 720 };
  // Frames kept for answers that may still come (after timeouts) at most.
  const MAX_IN_FLIGHT = 3;
  // The face and the enrolled photo beside a "maybe" offer, in CSS pixels.
  const OFFER_PICTURE_PX = 64;
  // How long a check-in card's "checked in" or refusal stays on the page.
  const CARD_NOTE_MS = 8000;
  // New marks are read out together, at most this often.
  const ANNOUNCE_EVERY_MS = 2000;
  // The status menus' value that undoes a decision: back to "not seen yet".
  const UNSEEN = "unseen";
  // The count line is a live region: it changes at most this often, so it is not read out on every frame.
  const COUNT_EVERY_MS = 1000;
  const COLORS = { named: "#17803d", maybe: "#a15300", unknown: "rgba(255, 255, 255, 0.85)", halo: "rgba(0, 0, 0, 0.6)" };
  // Roster order: who still needs the teacher's attention first.
  const STATUS_ORDER = { unseen: 0, absent: 1, excused: 2, late: 3, present: 4 };

  const STATUS_LABELS = Object.fromEntries(config.statuses);
  const roster = new Map();
  const rows = new Map();
  let socket = null;
  let stream = null;
  // Each start of the camera is a run; an answer to a frame of an earlier run is not shown.
  let run = 0;
  let sending = false;
  // Frames sent and not answered yet, oldest first: {bitmap, width, height, at, run}.
  let inFlight = [];
  // The server's count of frames it dropped on this connection, as of its last answer.
  let droppedSeen = 0;
  let retryTimer = 0;
  let answerTimer = 0;
  let staleTimer = 0;
  // How long the last answer took, from sending the frame.
  let roundTripMs = 0;
  // The answered frame on screen: {bitmap, width, height, faces, size}.
  let shown = null;
  let countText = "";
  let countShownAt = 0;
  let countTimer = 0;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", Boolean(isError));
    if (isError) announceError(text);
  }

  // Every time on the page in the school's time zone, 24 h, as the server's pages show them.
  const timeFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: config.timeZone });

  function formatTime(iso) {
    return iso ? timeFormat.format(new Date(iso)) : "";
  }

  function firstName(name) {
    return String(name || "").split(/\s+/)[0];
  }

  // --- Announcements ----------------------------------------------------------------------
  // New marks are read out together, at most every ANNOUNCE_EVERY_MS; errors at once.

  const announced = [];
  let announceTimer = 0;

  function announceMark(student) {
    announced.push(`${student.name} ${STATUS_LABELS[student.status].toLowerCase()}`);
    if (announceTimer) return;
    announceTimer = setTimeout(() => {
      announceTimer = 0;
      announcer.textContent = "Marked: " + announced.splice(0).join(", ") + ".";
    }, ANNOUNCE_EVERY_MS);
  }

  function announceError(text) {
    errorAnnouncer.textContent = "";
    // A new text node, so the same error twice is read out twice.
    setTimeout(() => (errorAnnouncer.textContent = text), 50);
  }

  // --- Roster -----------------------------------------------------------------------------
  // One row per student, built once and updated in place: `attendance` messages change one row,
  // and frames never touch the roster. Rows move only for the "not seen first" and "latest change"
  // orders, and never while the teacher is using a control in the roster.

  function statusOf(student) {
    return student.status || "unseen";
  }

  function isMarked(student) {
    return student.status === "present" || student.status === "late";
  }

  // How the student got their status, as the row says it.
  function sourceText(student) {
    const by = student.changed_by ? ` (${student.changed_by})` : "";
    switch (student.source) {
      case "face":
        return "by the camera, first seen " + formatTime(student.first_seen);
      case "card":
        return "checked in with a card at " + formatTime(student.first_seen);
      case "teacher":
        return `confirmed by the teacher${by} at ${formatTime(student.first_seen)}`;
      case "manual":
        return "set by hand" + by;
      case "system":
        return config.state === "open" ? "not seen yet: the camera can still mark them" : "not seen before the session closed";
      case "import":
        return "imported";
      default:
        return "";
    }
  }

  function createRow(studentId) {
    const row = document.createElement("tr");
    row.dataset.studentId = studentId;
    const nameCell = document.createElement("td");
    const name = document.createElement("span");
    const number = document.createElement("div");
    number.className = "muted small";
    nameCell.append(name, number);

    const statusCell = document.createElement("td");
    const badge = document.createElement("span");
    const source = document.createElement("div");
    source.className = "muted small source";
    const seen = document.createElement("div");
    seen.className = "muted small seen";
    const note = document.createElement("div");
    note.className = "small note";
    statusCell.append(badge, source, seen, note);

    const changeCell = document.createElement("td");
    const select = document.createElement("select");
    select.addEventListener("change", async () => {
      const status = select.value;
      if (!status) return;
      select.value = "";
      await setRecord({ student_id: studentId, status: status, note: "" });
    });
    const noteButton = document.createElement("button");
    noteButton.type = "button";
    noteButton.className = "link-button";
    noteButton.textContent = "Note…";
    noteButton.addEventListener("click", () => openNoteDialog(studentId));
    changeCell.append(select, noteButton);

    row.append(nameCell, statusCell, changeCell);
    return { row, name, number, badge, source, seen, note, select, noteButton, order: 0, changedAt: 0 };
  }

  // The status menu: "Set…", the statuses and, once the student has a record, the undo.
  function fillStatusMenu(select, student, firstLabel) {
    const options = [new Option(firstLabel, "")];
    for (const [value, label] of config.statuses) options.push(new Option(label, value));
    if (student.status) options.push(new Option("Not seen (undo)", UNSEEN));
    select.replaceChildren(...options);
  }

  function updateRow(entry, student) {
    const status = statusOf(student);
    entry.row.dataset.status = status;
    entry.row.dataset.source = student.source || "";
    entry.name.textContent = student.name;
    entry.number.textContent = student.student_number + (student.has_photo ? "" : " · no photo: mark by hand");
    entry.badge.className = "badge " + status;
    entry.badge.textContent = student.status ? STATUS_LABELS[student.status] : "Not seen yet";
    entry.source.textContent = sourceText(student);
    entry.source.hidden = !entry.source.textContent;
    // A decision by hand stands; the row still says that the camera has seen the student since.
    const handSet = student.source === "manual" || student.source === "import";
    entry.seen.textContent = handSet && student.last_seen ? "the camera saw them at " + formatTime(student.last_seen) : "";
    entry.seen.hidden = !entry.seen.textContent;
    entry.note.textContent = student.note ? "Note: " + student.note : "";
    entry.note.hidden = !student.note;
    if (document.activeElement !== entry.select) fillStatusMenu(entry.select, student, "Set…");
    entry.select.setAttribute("aria-label", "Set status of " + student.name);
    entry.noteButton.setAttribute("aria-label", "Change the record of " + student.name + " with a note");
    entry.select.disabled = entry.noteButton.disabled = Boolean(config.lockedReason);
    entry.searchText = (student.name + " " + student.student_number).toLowerCase();
    entry.row.hidden = !matchesSearch(entry);
  }

  // The students of a `roster` message (in the server's order: by name), reusing the rows of
  // students already shown, so a select the teacher is using is not replaced under them.
  function setRoster(students) {
    const ids = new Set();
    students.forEach((student, index) => {
      ids.add(student.student_id);
      roster.set(student.student_id, student);
      let entry = rows.get(student.student_id);
      if (!entry) {
        entry = createRow(student.student_id);
        entry.changedAt = Date.parse(student.last_seen || student.first_seen || "") || 0;
        rows.set(student.student_id, entry);
      }
      entry.order = index;
      updateRow(entry, student);
    });
    for (const id of [...roster.keys()]) {
      if (ids.has(id)) continue;
      roster.delete(id);
      rows.get(id).row.remove();
      rows.delete(id);
    }
    orderRoster();
  }

  function updateStudent(studentId, fields) {
    const student = roster.get(studentId);
    if (!student) return;
    const wasMarked = isMarked(student);
    Object.assign(student, fields);
    const entry = rows.get(studentId);
    entry.changedAt = Date.now();
    updateRow(entry, student);
    if (isMarked(student) && !wasMarked) announceMark(student);
    orderRoster();
    pruneOffers();
  }

  function matchesSearch(entry) {
    const query = searchInput.value.trim().toLowerCase();
    return !query || entry.searchText.includes(query);
  }

  searchInput.addEventListener("input", () => {
    for (const entry of rows.values()) entry.row.hidden = !matchesSearch(entry);
    emptyNote.hidden = [...rows.values()].some((entry) => !entry.row.hidden);
  });

  sortSelect.addEventListener("change", () => orderRoster());

  function compareRows(a, b) {
    const rowA = rows.get(a.student_id);
    const rowB = rows.get(b.student_id);
    if (sortSelect.value === "status") {
      return STATUS_ORDER[statusOf(a)] - STATUS_ORDER[statusOf(b)] || rowA.order - rowB.order;
    }
    if (sortSelect.value === "recent") return rowB.changedAt - rowA.changedAt || rowA.order - rowB.order;
    return rowA.order - rowB.order;
  }

  let orderPending = false;

  function orderRoster() {
    updateCounts();
    // Moving rows would close the menu the teacher has open, or move the row under their pointer.
    if (rosterBody.contains(document.activeElement)) {
      orderPending = true;
      return;
    }
    orderPending = false;
    const wanted = [...roster.values()].sort(compareRows).map((student) => rows.get(student.student_id).row);
    const current = rosterBody.children;
    if (wanted.length !== current.length || wanted.some((row, index) => current[index] !== row)) {
      rosterBody.replaceChildren(...wanted);
    }
  }

  rosterBody.addEventListener("focusout", (event) => {
    if (orderPending && !rosterBody.contains(event.relatedTarget)) setTimeout(orderRoster, 0);
  });

  function unseenCount() {
    return [...roster.values()].filter((student) => !student.status).length;
  }

  function updateCounts() {
    const counts = { present: 0, late: 0, absent: 0, excused: 0, unseen: 0 };
    for (const student of roster.values()) counts[statusOf(student)] += 1;
    rosterCounts.textContent =
      `${counts.present} present · ${counts.late} late · ${counts.absent} absent · ` +
      `${counts.excused} excused · ${counts.unseen} not seen`;
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    }).catch(() => null);
    if (!response) return { error: "The server could not be reached: nothing was saved." };
    const answer = await response.json().catch(() => ({}));
    return response.ok ? answer : { error: answer.error || "The change was not saved." };
  }

  // One decision; answers null, or the error (also shown and read out).
  async function setRecord(body) {
    const answer = await postJson(config.recordUrl, body);
    if (answer.error) {
      setStatus(answer.error, true);
      return answer.error;
    }
    // The websocket broadcast updates every open page; update ours now in case it is closed.
    updateStudent(answer.student_id, answer);
    return null;
  }

  bulkButton.addEventListener("click", async () => {
    const status = bulkSelect.value;
    bulkButton.disabled = true;
    const answer = await postJson(config.bulkUrl, { status: status });
    bulkButton.disabled = Boolean(config.lockedReason);
    if (answer.error) {
      setStatus(answer.error, true);
      return;
    }
    for (const record of answer.records) updateStudent(record.student_id, record);
    const count = answer.records.length;
    const label = STATUS_LABELS[status].toLowerCase();
    setStatus(count ? `${count} student${count === 1 ? "" : "s"} not seen yet marked ${label}.` : "Everyone has a status already.");
  });

  // --- Correcting with a note -------------------------------------------------------------

  let noteStudentId = null;

  function openNoteDialog(studentId) {
    const student = roster.get(studentId);
    if (!student) return;
    noteStudentId = studentId;
    noteTitle.textContent = "Change the record of " + student.name;
    fillStatusMenu(noteStatus, student, student.status ? STATUS_LABELS[student.status] + " (keep)" : "Choose…");
    noteStatus.value = "";
    noteText.value = student.note || "";
    noteError.hidden = true;
    noteDialog.showModal();
  }

  noteForm.addEventListener("submit", async (event) => {
    if (event.submitter && event.submitter.value !== "save") return;
    event.preventDefault();
    const student = roster.get(noteStudentId);
    const status = noteStatus.value || (student && student.status) || "";
    if (!status) {
      noteError.textContent = "Choose a status.";
      noteError.hidden = false;
      return;
    }
    const error = await setRecord({ student_id: noteStudentId, status: status, note: noteText.value });
    if (error) {
      noteError.textContent = error;
      noteError.hidden = false;
      return;
    }
    noteDialog.close();
  });

  // --- Faces to name: "maybe" offers and faces the camera does not know ---------------------
  // An offer of a face the camera is unsure of stays until the teacher answers it (this student,
  // someone else, or not them) or the camera marks the student itself; it shows the face beside
  // the enrolled photo. A face the camera does not know is offered the same way when the teacher
  // clicks its box (or "Name a face the camera does not know"). Naming a face goes over the
  // websocket, with the face's track: the server keeps that face's crop for this page only, and
  // with "Also add this face" it becomes a photo of a student who consented.

  const offers = new Map();
  // Offers the teacher dismissed come back only after this long.
  const DISMISSED_FOR_MS = 10 * 60 * 1000;
  const dismissedAt = new Map();
  // Offers whose naming was sent and not answered yet, oldest first.
  const pendingNames = [];
  // The tracks of faces the teacher has named: the same face is not offered again.
  const namedTracks = new Set();
  // At most this many offers of unknown faces at once from "Name a face the camera does not know".
  const UNKNOWN_OFFERS_MAX = 6;

  function showUncertain(faces, frame) {
    const now = performance.now();
    for (const face of faces) {
      if (!face.uncertain || namedTracks.has(face.track)) continue;
      const studentId = face.uncertain.student_id;
      const student = roster.get(studentId);
      if (!student || isMarked(student)) continue;
      const key = "student-" + studentId;
      if (now - (dismissedAt.get(key) ?? -Infinity) < DISMISSED_FOR_MS) continue;
      const offer = offers.get(key) || createOffer(key, student);
      updateOffer(offer, face, frame);
    }
    pruneOffers();
  }

  function offerUnknown(face, frame) {
    const key = "track-" + face.track;
    const offer = offers.get(key) || createOffer(key, null);
    updateOffer(offer, face, frame);
    return offer;
  }

  function updateOffer(offer, face, frame) {
    offer.track = face.track;
    offer.distance = face.distance;
    offer.distanceText.textContent =
      offer.candidate && typeof face.distance === "number" ? `distance ${face.distance.toFixed(2)}` : "";
    drawCrop(offer.crop, frame, face.box);
  }

  // `candidate`: the student the camera takes the face for, or null for a face it does not know.
  function createOffer(key, candidate) {
    const item = document.createElement("li");
    item.className = "offer";
    item.dataset.offer = key;
    if (candidate) item.dataset.studentId = candidate.student_id;
    const pictures = document.createElement("div");
    pictures.className = "offer-pictures";
    const crop = document.createElement("canvas");
    crop.width = crop.height = OFFER_PICTURE_PX;
    crop.setAttribute("role", "img");
    crop.setAttribute("aria-label", "The face the camera saw");
    pictures.append(crop);
    if (candidate && candidate.photo_url) {
      const photo = document.createElement("img");
      photo.src = candidate.photo_url;
      photo.alt = "Enrolled photo of " + candidate.name;
      photo.width = photo.height = OFFER_PICTURE_PX;
      pictures.append(photo);
    }
    const text = document.createElement("div");
    text.className = "offer-text";
    const question = document.createElement("strong");
    question.textContent = candidate ? `Maybe ${candidate.name}?` : "Who is this?";
    const distanceText = document.createElement("span");
    distanceText.className = "muted small";
    const error = document.createElement("span");
    error.className = "error small";
    error.setAttribute("role", "alert");
    text.append(question, distanceText, error);

    const actions = document.createElement("div");
    actions.className = "offer-actions";
    const what = candidate ? `the face offered as ${candidate.name}` : "this face";
    const other = document.createElement("select");
    other.setAttribute("aria-label", candidate ? `Someone else: who is ${what}?` : "Who is this face?");
    const name = document.createElement("button");
    name.type = "button";
    name.textContent = "Name";
    name.setAttribute("aria-label", `Name ${what} as the student chosen`);
    const no = document.createElement("button");
    no.type = "button";
    no.textContent = candidate ? "Not them" : "Dismiss";
    no.setAttribute("aria-label", candidate ? `Not ${candidate.name}: dismiss` : "Dismiss this face");
    const photoLabel = document.createElement("label");
    photoLabel.className = "checkbox offer-photo";
    const addPhoto = document.createElement("input");
    addPhoto.type = "checkbox";
    const photoText = document.createElement("span");
    photoLabel.append(addPhoto, photoText);
    if (candidate) {
      const yes = document.createElement("button");
      yes.type = "button";
      yes.className = "primary";
      yes.textContent = `Yes, ${firstName(candidate.name)} is here`;
      yes.addEventListener("click", () => nameFace(offer, candidate.student_id));
      actions.append(yes);
    }
    actions.append(other, name, no);
    item.append(pictures, text, actions, photoLabel);
    uncertainList.append(item);
    offersBox.hidden = false;

    const offer = { key, item, crop, distanceText, error, other, name, addPhoto, photoLabel, photoText, candidate, track: null, distance: null };
    fillOthers(other, candidate);
    // Rebuilt when opened, so it lists who is still not marked.
    other.addEventListener("focus", () => fillOthers(other, candidate));
    other.addEventListener("change", () => showPhotoChoice(offer));
    name.addEventListener("click", () => {
      const chosen = Number(other.value);
      if (chosen) nameFace(offer, chosen);
      else other.focus();
    });
    no.addEventListener("click", () => {
      dismissedAt.set(key, performance.now());
      removeOffer(key);
    });
    offer.buttons = [...actions.querySelectorAll("button, select")];
    for (const control of offer.buttons) if (control !== no) control.disabled = Boolean(config.lockedReason);
    showPhotoChoice(offer);
    offers.set(key, offer);
    return offer;
  }

  // "Also add this face as a photo of X" only for a student who consented (and never in a
  // "cards only" course); without consent the choice is not there.
  function showPhotoChoice(offer) {
    const chosen = roster.get(Number(offer.other.value)) || offer.candidate;
    const allowed = Boolean(chosen && chosen.consented && !config.cardsOnly);
    offer.photoLabel.hidden = !allowed;
    if (!allowed) offer.addPhoto.checked = false;
    offer.photoText.textContent = allowed ? ` Also add this face as a photo of ${chosen.name}` : "";
  }

  function nameFace(offer, studentId) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      offer.error.textContent = "Not connected: try again in a moment.";
      return;
    }
    for (const control of offer.buttons) control.disabled = true;
    offer.error.textContent = "";
    namedTracks.add(offer.track);
    pendingNames.push(offer.key);
    socket.send(JSON.stringify({ type: "assign", track: offer.track, student_id: studentId, add_photo: offer.addPhoto.checked }));
  }

  function named(message) {
    const key = pendingNames.shift();
    updateStudent(message.student_id, message);
    const student = roster.get(message.student_id);
    setStatus(`${student ? student.name : "The student"} marked ${STATUS_LABELS[message.status].toLowerCase()} by you.` + (message.photo ? " " + message.photo : ""));
    if (key) removeOffer(key);
  }

  function notNamed(message) {
    const offer = offers.get(pendingNames.shift());
    announceError(message.message);
    if (!offer) {
      setStatus(message.message, true);
      return;
    }
    offer.error.textContent = message.message;
    namedTracks.delete(offer.track);
    for (const control of offer.buttons) control.disabled = false;
  }

  function fillOthers(select, candidate) {
    if (document.activeElement === select && select.options.length > 1) return;
    const chosen = select.value;
    const options = [new Option(candidate ? "Someone else…" : "Choose a student…", "")];
    for (const student of roster.values()) {
      if ((!candidate || student.student_id !== candidate.student_id) && !isMarked(student)) {
        options.push(new Option(student.name, student.student_id));
      }
    }
    select.replaceChildren(...options);
    select.value = chosen;
  }

  // The face, with some margin, from the frame the answer was about (kept on this page only).
  function drawCrop(canvas, frame, box) {
    if (!frame) return;
    const [sourceWidth, sourceHeight] = frame.size;
    const sx = frame.width / sourceWidth;
    const sy = frame.height / sourceHeight;
    const [x1, y1, x2, y2] = box;
    const side = Math.max(x2 - x1, y2 - y1) * 1.3;
    const cx = ((x1 + x2) / 2) * sx;
    const cy = ((y1 + y2) / 2) * sy;
    const context = canvas.getContext("2d");
    context.fillStyle = "#111";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(frame.bitmap, cx - (side * sx) / 2, cy - (side * sy) / 2, side * sx, side * sy, 0, 0, canvas.width, canvas.height);
  }

  function removeOffer(key) {
    const offer = offers.get(key);
    if (!offer) return;
    const hadFocus = offer.item.contains(document.activeElement);
    offer.item.remove();
    offers.delete(key);
    offersBox.hidden = offers.size === 0;
    // The focus goes to the next offer, or the camera's button, not to the top of the page.
    if (hadFocus) (uncertainList.querySelector("button") || toggle).focus();
  }

  // Offers whose student the camera (or a teacher, elsewhere) has marked answered themselves.
  function pruneOffers() {
    for (const [key, offer] of [...offers]) {
      if (!offer.candidate) continue;
      const student = roster.get(offer.candidate.student_id);
      if (!student || isMarked(student)) removeOffer(key);
    }
  }

  function unknownFaces() {
    return shown ? shown.faces.filter((face) => faceKind(face) === "unknown") : [];
  }

  // A click on a face's box in the picture: a face the camera does not know is offered for naming.
  stage.addEventListener("click", (event) => {
    if (!shown || !shown.area || config.lockedReason) return;
    const bounds = stage.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const [sourceWidth, sourceHeight] = shown.size;
    const x = (((event.clientX - bounds.left) * ratio - shown.area.x) / shown.area.width) * sourceWidth;
    const y = (((event.clientY - bounds.top) * ratio - shown.area.y) / shown.area.height) * sourceHeight;
    const face = unknownFaces().find(({ box: [x1, y1, x2, y2] }) => x1 <= x && x <= x2 && y1 <= y && y <= y2);
    if (face) offerUnknown(face, shown).other.focus();
  });

  nameFacesButton.addEventListener("click", () => {
    const faces = unknownFaces()
      .sort((a, b) => b.box[2] - b.box[0] - (a.box[2] - a.box[0]))
      .slice(0, UNKNOWN_OFFERS_MAX);
    if (!faces.length) {
      setStatus("No face the camera does not know is in the picture now.");
      return;
    }
    const first = offerUnknown(faces[0], shown);
    for (const face of faces.slice(1)) offerUnknown(face, shown);
    first.other.focus();
  });

  // --- Check-in cards ---------------------------------------------------------------------

  function showCards(cards) {
    for (const card of cards) {
      const item = document.createElement("li");
      item.className = card.ok ? "card-ok" : "card-refused";
      item.textContent = card.message;
      cardNotes.prepend(item);
      setTimeout(() => item.remove(), CARD_NOTE_MS);
      if (!card.ok) announceError(card.message);
    }
    while (cardNotes.children.length > 5) cardNotes.lastElementChild.remove();
  }

  // --- Ending the session -----------------------------------------------------------------

  // Set once this page itself asked to end the session: the answer reloads it, and the websocket's
  // "session closed" must not start a second navigation that would abort that one.
  let ending = false;

  if (endDialog) {
    stateForm.addEventListener("submit", (event) => {
      if (endDialog.returnValue === "end") {
        ending = true;
        return;
      }
      event.preventDefault();
      const unseen = unseenCount();
      endText.textContent =
        (unseen
          ? `The ${unseen} student${unseen === 1 ? "" : "s"} not seen yet will be marked absent`
          : "Everyone has a status already; nobody is marked absent") +
        ", and the camera stops. You can still correct records afterwards, and reopen the session.";
      endDialog.returnValue = "";
      endDialog.showModal();
    });
    endDialog.addEventListener("close", () => {
      if (endDialog.returnValue === "end") stateForm.requestSubmit();
    });
  }

  if (config.lockedReason) {
    lockedNote.textContent = config.lockedReason;
    lockedNote.hidden = false;
    bulkButton.disabled = bulkSelect.disabled = true;
  }

  // --- Websocket --------------------------------------------------------------------------

  function connect() {
    socket = new WebSocket(LiveFrames.socketUrl(config.websocketPath));
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      droppedSeen = 0;
      if (stream) sendFrame();
    });
    socket.addEventListener("message", (event) => handleMessage(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      socket = null;
      // Nothing sent on that connection will be answered now.
      for (const frame of inFlight) frame.bitmap.close();
      inFlight = [];
      clearTimeout(answerTimer);
      const refusal = LiveFrames.REFUSALS[event.code];
      if (refusal) {
        // The server refused this page, or took its right away: trying again would not help.
        setStatus(refusal, true);
        stopCamera();
        toggle.disabled = true;
      } else {
        // The network or the server failed (1006, 1011, ...): the page comes back by itself.
        setStatus("Connection lost; reconnecting…", true);
        setTimeout(connect, 2000);
      }
    });
  }

  function handleMessage(message) {
    switch (message.type) {
      case "roster":
        setRoster(message.students);
        break;
      case "attendance":
        updateStudent(message.student_id, message);
        break;
      case "recognition":
        // The server loads its face models with the first frame: seconds on a cold server.
        if (message.state === "loading" && stream) {
          loading.hidden = false;
          setStatus("Camera on · loading recognition… (the first picture takes a few seconds)");
        }
        break;
      case "frame":
        loading.hidden = true;
        answered(message);
        break;
      case "session":
        if (message.state !== "open") {
          stopCamera();
          setStatus("The session was closed.", true);
          if (!ending) window.location.reload();
        }
        break;
      case "assigned":
        named(message);
        break;
      case "error":
        if (message.about === "assign") {
          notNamed(message);
          break;
        }
        loading.hidden = true;
        // The server answers a frame it cannot use with an error instead of a frame message.
        releaseFrame(takeAnswered(message));
        setStatus(message.message, true);
        if (stream) retryTimer = setTimeout(sendFrame, 500);
        break;
      default:
        break;
    }
  }

  // The frame an answer belongs to. The server answers frames in order and drops, unanswered, those
  // that arrive while it is busy; that only happens after a timeout sent a frame early, and those
  // frames are the ones sent right after the answered one.
  function takeAnswered(message) {
    clearTimeout(answerTimer);
    clearTimeout(staleTimer);
    const frame = inFlight.shift() || null;
    if (typeof message.dropped === "number") {
      for (let lost = message.dropped - droppedSeen; lost > 0 && inFlight.length; lost -= 1) {
        releaseFrame(inFlight.shift());
      }
      droppedSeen = message.dropped;
    }
    return frame;
  }

  function releaseFrame(frame) {
    if (frame && (!shown || shown.bitmap !== frame.bitmap)) frame.bitmap.close();
  }

  function answered(message) {
    const frame = takeAnswered(message);
    const faces = message.faces;
    if (!frame || !stream || frame.run !== run) {
      releaseFrame(frame);
      if (stream) requestAnimationFrame(sendFrame);
      return;
    }
    roundTripMs = performance.now() - frame.at;
    if (shown) shown.bitmap.close();
    shown = { bitmap: frame.bitmap, width: frame.width, height: frame.height, faces, size: message.size };
    setView("answered");
    drawShown();
    setCount(message.in_view ? `${message.recognised} of ${message.in_view} in view recognised` : "Nobody in view");
    showUncertain(faces, shown);
    showCards(message.cards);
    const lowered = frames.loweredQuality();
    const quality = lowered ? ` · JPEG quality ${Math.round(lowered * 100)}%` : "";
    setStatus(`Camera on · ${frame.width}x${frame.height}${quality} · ${Math.round(message.ms)} ms per frame`);
    requestAnimationFrame(sendFrame);
  }

  function setCount(text) {
    countText = text;
    clearTimeout(countTimer);
    if (countLine.textContent === text) return;
    const wait = countShownAt + COUNT_EVERY_MS - performance.now();
    if (wait > 0 && text) {
      countTimer = setTimeout(() => setCount(countText), wait);
      return;
    }
    countLine.textContent = text;
    countShownAt = performance.now();
  }

  // --- Camera -----------------------------------------------------------------------------

  // "off": the camera is off; "live": the live video (before the first answer, or while the server
  // is silent); "answered": the last answered frame with its boxes.
  function setView(view) {
    stage.dataset.view = view;
    if (view !== "answered") {
      overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
      if (shown) shown.bitmap.close();
      shown = null;
    }
  }

  async function startCamera() {
    if (!navigator.mediaDevices) {
      setStatus("The camera needs a secure (HTTPS) connection to this site.", true);
      return;
    }
    toggle.disabled = true;
    try {
      // Ideal, never exact or min: a camera that cannot give this resolution still starts.
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: config.camera.width }, height: { ideal: config.camera.height } },
        audio: false,
      });
      video.srcObject = stream;
      await video.play();
    } catch (error) {
      stopCamera();
      setStatus("The camera could not be started: " + error.message, true);
      return;
    } finally {
      toggle.disabled = false;
    }
    run += 1;
    fitStage();
    setView("live");
    toggle.textContent = "Pause camera";
    setStatus("Camera on: waiting for the first answer…");
    sendFrame();
  }

  function stopCamera() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    loading.hidden = true;
    clearTimeout(retryTimer);
    clearTimeout(staleTimer);
    setView("off");
    setCount("");
    cameraNote.hidden = true;
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

  // The picture takes the camera's shape, and the page says when the camera gives too few pixels.
  function fitStage() {
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!stream || !width || !height) return;
    stage.style.aspectRatio = `${width} / ${height}`;
    const low = Math.max(width, height) < LOW_RESOLUTION.long || Math.min(width, height) < LOW_RESOLUTION.short;
    cameraNote.textContent = `The camera gives ${width}x${height}: students at the back may not be recognised.`;
    cameraNote.hidden = !low;
  }

  video.addEventListener("resize", fitStage);

  async function sendFrame() {
    clearTimeout(retryTimer);
    if (!stream || sending) return;
    if (!LiveFrames.ready(socket, video)) {
      retryTimer = setTimeout(sendFrame, 200);
      return;
    }
    const last = inFlight[inFlight.length - 1];
    if (last && performance.now() - last.at < LiveFrames.ANSWER_TIMEOUT_MS) return;
    if (inFlight.length >= MAX_IN_FLIGHT) releaseFrame(inFlight.shift());
    sending = true;
    const frameRun = run;
    let bitmap = null;
    try {
      const { width, height } = frames.draw(video);
      // The copy that is shown with the answer: exactly the pixels that were sent.
      const copy = createImageBitmap(frames.canvas);
      const blob = await frames.encode();
      bitmap = await copy;
      if (!blob) {
        setStatus(`A frame was over the server's limit of ${Math.round(frames.maxBytes / 1024)} KiB; sending smaller frames.`);
        retryTimer = setTimeout(sendFrame, 0);
        return;
      }
      if (!stream || frameRun !== run || !socket || socket.readyState !== WebSocket.OPEN) {
        retryTimer = setTimeout(sendFrame, 200);
        return;
      }
      socket.send(blob);
      inFlight.push({ bitmap, width, height, at: performance.now(), run: frameRun });
      bitmap = null;
      answerTimer = setTimeout(sendFrame, LiveFrames.ANSWER_TIMEOUT_MS);
      staleTimer = setTimeout(() => {
        if (!stream || stage.dataset.view !== "answered") return;
        setView("live");
        setStatus("Camera on: waiting for the server…");
      }, Math.max(STALE_AFTER_MS, 3 * roundTripMs));
    } finally {
      if (bitmap) bitmap.close();
      sending = false;
    }
  }

  // --- Drawing the answered frame ---------------------------------------------------------

  // Both canvases at the size they are shown, in device pixels, so labels are sharp.
  function drawShown() {
    if (!shown) return;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(stage.clientWidth * ratio));
    const height = Math.max(1, Math.round(stage.clientHeight * ratio));
    for (const canvas of [picture, overlay]) {
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
    }
    // The frame fitted into the canvas, keeping its shape.
    const fit = Math.min(width / shown.width, height / shown.height);
    const area = { x: (width - shown.width * fit) / 2, y: (height - shown.height * fit) / 2 };
    area.width = shown.width * fit;
    area.height = shown.height * fit;
    // Where the frame is on the canvas, for clicks on its faces.
    shown.area = area;
    const context = picture.getContext("2d");
    context.fillStyle = "#111";
    context.fillRect(0, 0, width, height);
    context.drawImage(shown.bitmap, area.x, area.y, area.width, area.height);
    drawFaces(overlay.getContext("2d"), shown, area, ratio);
  }

  new ResizeObserver(drawShown).observe(stage);

  function faceKind(face) {
    if (face.student_id !== null && face.student_id !== undefined) return "named";
    return face.uncertain ? "maybe" : "unknown";
  }

  // The label texts of a face, longest first; unrecognised faces have none (with thirty faces,
  // thirty "unknown" labels would hide the names that matter).
  function labelTexts(face, kind) {
    if (kind === "named") {
      const mark = face.confirmed ? "✓ " : "";
      return [mark + face.name, mark + firstName(face.name)];
    }
    if (kind === "maybe") {
      const name = face.uncertain.name || (roster.get(face.uncertain.student_id) || {}).name || "";
      return [`maybe ${name}?`, `maybe ${firstName(name)}?`, `${firstName(name)}?`];
    }
    return [];
  }

  function overlaps(a, b) {
    return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  }

  // `unit` is one CSS pixel in canvas pixels: line widths and fonts are sized in CSS pixels, so
  // they read the same on a laptop, a tablet and a phone.
  function drawFaces(context, frame, area, unit) {
    context.clearRect(0, 0, context.canvas.width, context.canvas.height);
    // Boxes are in the pixels of the frame the server decoded (`size`).
    const [sourceWidth, sourceHeight] = frame.size;
    const sx = area.width / sourceWidth;
    const sy = area.height / sourceHeight;
    const order = { unknown: 0, maybe: 1, named: 2 };
    const faces = frame.faces
      .map((face) => {
        const [x1, y1, x2, y2] = face.box;
        const box = { x: area.x + x1 * sx, y: area.y + y1 * sy, width: (x2 - x1) * sx, height: (y2 - y1) * sy };
        return { face, box, kind: faceKind(face) };
      })
      .sort((a, b) => order[a.kind] - order[b.kind]);

    context.lineJoin = "round";
    for (const { box, kind } of faces) {
      const line = (kind === "unknown" ? 1 : 2) * unit;
      context.lineWidth = line + 2 * unit;
      context.strokeStyle = COLORS.halo;
      context.strokeRect(box.x, box.y, box.width, box.height);
      context.lineWidth = line;
      context.strokeStyle = COLORS[kind];
      context.strokeRect(box.x, box.y, box.width, box.height);
    }

    // Labels of named faces first, the largest faces first; a label goes under its box, else over
    // it, in the longest form that fits, and is left out rather than drawn over another label or
    // the middle of another face (on a small screen faces at the back may keep their box only).
    const placed = [];
    const middles = new Map(
      faces.map(({ box }) => [
        box,
        { x: box.x + box.width * 0.2, y: box.y + box.height * 0.2, width: box.width * 0.6, height: box.height * 0.6 },
      ])
    );
    const labelled = faces.filter(({ kind }) => kind !== "unknown");
    labelled.sort((a, b) => order[b.kind] - order[a.kind] || b.box.width - a.box.width);
    for (const { face, box, kind } of labelled) {
      const boxCss = box.width / unit;
      const fontCss = Math.max(10, Math.min(14, Math.round(boxCss * 0.3)));
      const font = fontCss * unit;
      const height = Math.round(font * 1.35);
      const pad = 3 * unit;
      const maxWidth = Math.max(box.width * 2.5, 80 * unit);
      context.font = `600 ${font}px system-ui, sans-serif`;
      const texts = labelTexts(face, kind);
      const fitting = texts.filter((text) => context.measureText(text).width + 2 * pad <= maxWidth);
      const candidates = fitting.length ? fitting : texts.slice(-1);
      let spot = null;
      const others = [...middles].filter(([other]) => other !== box).map(([, middle]) => middle);
      for (const text of candidates) {
        const width = Math.ceil(context.measureText(text).width + 2 * pad);
        const x = Math.min(Math.max(0, box.x + box.width / 2 - width / 2), context.canvas.width - width);
        for (const y of [box.y + box.height + unit, box.y - height - unit]) {
          const rect = { x, y, width, height, text };
          if (y < 0 || y + height > context.canvas.height) continue;
          if (placed.some((other) => overlaps(rect, other)) || others.some((other) => overlaps(rect, other))) continue;
          spot = rect;
          break;
        }
        if (spot) break;
      }
      if (!spot) continue;
      placed.push(spot);
      context.fillStyle = COLORS[kind];
      context.beginPath();
      if (context.roundRect) context.roundRect(spot.x, spot.y, spot.width, spot.height, 3 * unit);
      else context.rect(spot.x, spot.y, spot.width, spot.height);
      context.fill();
      context.fillStyle = "#fff";
      context.textBaseline = "middle";
      context.fillText(spot.text, spot.x + pad, spot.y + spot.height / 2 + unit / 2);
    }
  }

  setRoster(config.roster.students);
  if (config.state === "open") connect();
})();
