// Photos from the camera input, scaled in the browser before they are stored as
// attachments: a phone camera's 4 MB picture becomes at most 1280 px and about 200 KB,
// so a record with photos still syncs over a weak link.

export const MAX_EDGE = 1280;
export const TARGET_BYTES = 200 * 1024;
export const MAX_INPUT_BYTES = 25 * 1024 * 1024;
export const MAX_PHOTOS = 4;

export class PhotoError extends Error {
  constructor(reason, params = {}) {
    super(reason);
    this.reason = reason; // a string key of i18n.js
    this.params = params;
  }
}

function encode(canvas, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

/** A File from <input type=file> to a JPEG Blob within MAX_EDGE and about TARGET_BYTES. */
export async function scalePhoto(file) {
  if (!file.type.startsWith("image/")) throw new PhotoError("photo_not_image");
  if (file.size > MAX_INPUT_BYTES) throw new PhotoError("photo_too_big", { mb: MAX_INPUT_BYTES >> 20 });
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new PhotoError("photo_unreadable");
  }
  let scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
  let blob = null;
  // Lower the quality, then the size, until the photo is small enough.
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const quality = [0.82, 0.7, 0.6][Math.min(attempt, 2)];
    blob = await encode(canvas, quality);
    if (blob && blob.size <= TARGET_BYTES) break;
    if (attempt >= 2) scale *= 0.8;
  }
  bitmap.close();
  if (!blob) throw new PhotoError("photo_unreadable");
  return blob;
}
