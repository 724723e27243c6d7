// What the live page (session.js) and the door page (door.js) share about sending webcam frames:
// the frames fit the server's limits (config.frameMaxWidth/Height/Bytes), as JPEG, and the
// websocket's refusal close codes are said the same way.
window.LiveFrames = (function () {
  "use strict";

  // After this long without an answer the frame is taken as lost and the next one is sent.
  const ANSWER_TIMEOUT_MS = 10000;
  const JPEG_QUALITY_START = 0.85;
  // Below this quality faces lose the detail recognition needs: frames are made smaller instead.
  const JPEG_QUALITY_MIN = 0.5;
  // The close codes of the server's refusals (README, "Live attendance"), as the pages say them.
  const REFUSALS = Object.freeze({
    4401: "You are logged out: log in again, then reload this page.",
    4403: "You are not allowed to take attendance in this session (any more).",
    4409: "The session is not open.",
    4429: "Too many attendance pages are open for your account: close one, then reload this page.",
  });

  function socketUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + path;
  }

  // Whether a frame can be taken and sent now.
  function ready(socket, video) {
    return Boolean(socket && socket.readyState === WebSocket.OPEN && video.videoWidth);
  }

  // Draws the video's frames into one canvas at a size the server takes and encodes them.
  function encoder(config) {
    const limit = {
      long: Math.max(config.frameMaxWidth, config.frameMaxHeight),
      short: Math.min(config.frameMaxWidth, config.frameMaxHeight),
      bytes: config.frameMaxBytes,
    };
    // Each frame is drawn here from the video and encoded once (twice if over the byte limit).
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { alpha: false });
    let quality = JPEG_QUALITY_START;
    // Below 1 once even JPEG_QUALITY_MIN made frames larger than the server takes.
    let scale = 1;

    function toJpeg() {
      return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
    }

    // The video's frame in the canvas, scaled down to fit the server's limits either way up.
    function draw(video) {
      const fit = Math.min(
        1,
        limit.long / Math.max(video.videoWidth, video.videoHeight),
        limit.short / Math.min(video.videoWidth, video.videoHeight)
      );
      const width = Math.max(1, Math.floor(video.videoWidth * fit * scale));
      const height = Math.max(1, Math.floor(video.videoHeight * fit * scale));
      // Resizing a canvas reallocates it: only when the size changed.
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      context.drawImage(video, 0, 0, width, height);
      return { width, height };
    }

    // The drawn frame as JPEG, or null when it is over the byte limit: such a frame is encoded once
    // more at a lower quality, which the next frames keep; at the lowest quality the next frames
    // are made smaller instead. An oversized frame is never sent.
    async function encode() {
      const blob = await toJpeg();
      if (!blob || blob.size <= limit.bytes) return blob;
      const ratio = limit.bytes / blob.size;
      if (quality <= JPEG_QUALITY_MIN) {
        scale *= Math.max(0.25, Math.sqrt(ratio) * 0.9);
        return null;
      }
      quality = Math.max(JPEG_QUALITY_MIN, Math.round((quality - Math.max(0.1, 1 - ratio)) * 100) / 100);
      const smaller = await toJpeg();
      return smaller && smaller.size <= limit.bytes ? smaller : null;
    }

    return {
      canvas,
      maxBytes: limit.bytes,
      draw,
      encode,
      // The JPEG quality when lowered to fit the byte limit, else null.
      loweredQuality: () => (quality < JPEG_QUALITY_START ? quality : null),
    };
  }

  return { ANSWER_TIMEOUT_MS, REFUSALS, socketUrl, ready, encoder };
})();
