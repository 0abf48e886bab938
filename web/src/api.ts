// The image service's API as the gallery uses it (openapi.json is the contract).

import type { Session } from "./auth";

export type Visibility = "private" | "public";
export type Status = "pending" | "available" | "rejected" | "failed" | "deleting";

export interface Image {
  image_id: string;
  user_id: string;
  tags: string[];
  description: string | null;
  content_type: string;
  status: Status;
  created_at: string;
  visibility: Visibility;
  reason: string | null;
  size: number | null;
  width: number | null;
  height: number | null;
  format: string | null;
  sha256: string | null;
  frames: number | null;
  exif_orientation: number | null;
  duplicate_of: string | null;
  thumbnail_url?: string | null;
}

export interface ImagePage {
  items: Image[];
  next_cursor: string | null;
}

export interface ListQuery {
  visibility?: "public";
  tag?: string;
  from?: string;
  to?: string;
  cursor?: string | null;
  limit?: number;
}

export interface UploadGrant {
  image_id: string;
  upload: { url: string; fields: Record<string, string> };
  expires_in: number;
}

export interface ImageEdit {
  tags?: string[];
  description?: string;
  visibility?: Visibility;
}

export type Variant = "original" | "preview" | "thumbnail";

/** The token was refused (expired, or signed out elsewhere): back to sign-in. */
export class Unauthorized extends Error {}

/** Any other refusal or failure, with the service's own code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const ACCEPTED_TYPES: ReadonlySet<string> = new Set([
  "image/jpeg",
  "image/png",
  "image/gif",
  "image/webp",
  "image/heic",
  "image/heif",
]);

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly session: Session,
  ) {}

  list(query: ListQuery): Promise<ImagePage> {
    const parameters = new URLSearchParams({ include: "thumbnail_url", limit: String(query.limit ?? 24) });
    for (const name of ["visibility", "tag", "from", "to", "cursor"] as const) {
      const value = query[name];
      if (value) parameters.set(name, value);
    }
    return this.call<ImagePage>("GET", `images?${parameters}`);
  }

  get(imageId: string): Promise<Image> {
    return this.call<Image>("GET", `images/${encodeURIComponent(imageId)}`);
  }

  requestUpload(contentType: string, tags: string[], visibility: Visibility, description: string): Promise<UploadGrant> {
    const body: Record<string, unknown> = { content_type: contentType, tags, visibility };
    if (description) body.description = description;
    return this.call<UploadGrant>("POST", "images/upload", body);
  }

  edit(imageId: string, edit: ImageEdit): Promise<Image> {
    return this.call<Image>("PATCH", `images/${encodeURIComponent(imageId)}`, edit);
  }

  async downloadUrl(imageId: string, variant: Variant): Promise<string> {
    const link = await this.call<{ url: string }>(
      "GET",
      `images/${encodeURIComponent(imageId)}/download?variant=${variant}`,
    );
    return link.url;
  }

  async remove(imageId: string): Promise<void> {
    await this.call<null>("DELETE", `images/${encodeURIComponent(imageId)}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.session.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let answer: Response;
    try {
      answer = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "The image service could not be reached. Check your connection and retry.");
    }
    if (answer.status === 401) throw new Unauthorized("Your session has expired. Please sign in again.");
    if (answer.status === 204) return null as T;
    const document = (await answer.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    if (!answer.ok) {
      const error = document?.error;
      throw new ApiError(answer.status, error?.code ?? "unknown", error?.message ?? `The service answered ${answer.status}.`);
    }
    return document as T;
  }
}

/**
 * Sends a file to its presigned POST (the fields first, the file last), reporting progress.
 * Straight to the bucket: the bytes never pass through the API.
 */
export function postToStorage(
  grant: UploadGrant,
  file: Blob,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(grant.upload.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", grant.upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new ApiError(request.status, "storage", storageRefusal(request.responseText, request.status)));
      }
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network", "The upload could not reach the storage.")));
    request.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    signal?.addEventListener("abort", () => request.abort());
    request.send(form);
  });
}

function storageRefusal(xml: string, status: number): string {
  const code = /<Code>([^<]+)<\/Code>/.exec(xml)?.[1];
  if (code === "EntityTooLarge") return "The file is too large (at most 20 MiB).";
  if (code) return `The storage refused the file (${code}).`;
  return `The storage refused the file (HTTP ${status}).`;
}
