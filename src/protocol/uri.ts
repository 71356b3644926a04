/**
 * Percent-decoding into bytes-as-strings (C8): each `%XX` becomes the one
 * character U+00XX; a `%` not followed by two hex digits stays as it is.
 */

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 32;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Decode `%XX` escapes exactly once; other characters are kept (bytes-as-string in, out). */
export function unquote(s: string): string {
  let i = s.indexOf('%');
  if (i < 0) return s;
  let out = s.slice(0, i);
  let from = i;
  while (i >= 0) {
    const h = i + 2 < s.length ? hex(s.charCodeAt(i + 1)) : -1;
    const l = h >= 0 ? hex(s.charCodeAt(i + 2)) : -1;
    if (l >= 0) {
      out += s.slice(from, i) + String.fromCharCode(h * 16 + l);
      from = i + 3;
    }
    i = s.indexOf('%', l >= 0 ? i + 3 : i + 1);
  }
  return out + s.slice(from);
}
