// A few lines instead of a framework: build elements, and say things in words.

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | number | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

const REASONS: Record<string, string> = {
  unsupported_format: "This file is not an image the gallery accepts (JPEG, PNG, GIF, WebP or HEIF).",
  content_type_mismatch: "The file's contents do not match its type (for example a PNG named .jpg).",
  corrupt: "The image is damaged or truncated and cannot be read.",
  too_many_pixels: "The image is too large (more than 50 megapixels in all).",
  too_much_work: "The image takes too much work to decode (too many frames or scans).",
  processing_failed: "Processing failed repeatedly; please try again later.",
  original_missing: "The stored original has gone missing.",
};

export function reasonInWords(reason: string | null | undefined): string {
  if (!reason) return "It was not accepted.";
  return REASONS[reason] ?? `It was not accepted (${reason}).`;
}

export function sizeInWords(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function dateInWords(timestamp: string): string {
  const moment = new Date(timestamp);
  return Number.isNaN(moment.getTime()) ? timestamp : moment.toLocaleString();
}

/** Tags as a person types them: "Cat, garden  beach" -> ["cat", "garden", "beach"]. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((tag) => tag.trim().toLowerCase()).filter(Boolean))];
}
