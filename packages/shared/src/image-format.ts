// Which uploads count as images: decided from the file's own first bytes (its "magic number"),
// never from a file name or a client-supplied MIME type, and before sharp sees the bytes, so
// formats we do not accept (SVG, which is XML that can reference other files; TIFF; HEIF; PDF)
// never reach a decoder.

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export const ACCEPTED_IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'gif', 'webp'];

/**
 * The MIME type of each accepted format: what a stored image's row records and, being
 * decided from the bytes, the only types its bytes may be served as (the webapp serves any
 * other recorded type as a download).
 */
export const IMAGE_CONTENT_TYPES: Readonly<Record<ImageFormat, string>> = { png: 'image/png', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };

// PNG: 8-byte signature 89 'P' 'N' 'G' CR LF SUB LF (PNG spec, section 5.2).
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// JPEG: SOI marker FF D8 followed by the first marker's FF.
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((byte, i) => bytes[offset + i] === byte);
}

function startsWithAscii(bytes: Uint8Array, text: string, offset = 0): boolean {
  return startsWith(bytes, Array.from(text, (c) => c.charCodeAt(0)), offset);
}

/** The accepted format these bytes claim to be, or null when they are none of them. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, JPEG_SIGNATURE)) return 'jpeg';
  if (startsWithAscii(bytes, 'GIF87a') || startsWithAscii(bytes, 'GIF89a')) return 'gif';
  // WebP: a RIFF container, "RIFF" <4-byte little-endian size> "WEBP".
  if (startsWithAscii(bytes, 'RIFF') && startsWithAscii(bytes, 'WEBP', 8)) return 'webp';
  return null;
}
