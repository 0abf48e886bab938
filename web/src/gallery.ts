// The signed-in gallery: upload, browse (mine or public, by tag and date, infinite scroll),
// view, edit and delete. Every API call goes through one Api; a refused token ends the session.

import {
  ACCEPTED_TYPES,
  Api,
  Unauthorized,
  postToStorage,
  type Image,
  type ListQuery,
  type Visibility,
} from "./api";
import { subjectOf, type Session } from "./auth";
import { dateInWords, h, parseTags, reasonInWords, replaceChildren, sizeInWords } from "./dom";

const PAGE_SIZE = 24;
// Uploads sent at once; the others wait their turn.
const PARALLEL_UPLOADS = 3;
// How long an upload's processing is watched before the gallery stops asking.
const PROCESSING_WATCH_MS = 180_000;
const PROCESSING_POLL_MS = 1_000;

type Scope = "mine" | "public";

interface Handlers {
  onUnauthorized(error: Unauthorized): void;
  onSignOut(): void;
}

interface Filters {
  tag: string;
  from: string;
  to: string;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Gallery {
  readonly element: HTMLElement;
  private readonly api: Api;
  private readonly me: string;
  private scope: Scope = "mine";
  private filters: Filters = { tag: "", from: "", to: "" };
  private cursor: string | null = null;
  private done = false;
  private loading = false;
  // Raised by every new query, so that a page answered for an old one is dropped.
  private generation = 0;
  private readonly shown = new Map<string, Image>();
  private readonly grid: HTMLUListElement;
  private readonly gridStatus: HTMLElement;
  private readonly sentinel: HTMLElement;
  private readonly uploads: HTMLUListElement;
  private readonly dialog: HTMLDialogElement;
  private readonly scopeButtons: Record<Scope, HTMLButtonElement>;
  private uploadQueue: Array<() => Promise<void>> = [];
  private uploadsRunning = 0;
  private observer: IntersectionObserver | null = null;
  private refreshTimer: number | undefined;

  constructor(
    apiUrl: string,
    session: Session,
    private readonly handlers: Handlers,
  ) {
    this.api = new Api(apiUrl, session);
    this.me = subjectOf(session);
    this.scopeButtons = {
      mine: h("button", { type: "button", id: "scope-mine", "aria-pressed": "true", onclick: () => this.setScope("mine") }, "My images"),
      public: h(
        "button",
        { type: "button", id: "scope-public", "aria-pressed": "false", onclick: () => this.setScope("public") },
        "Public images",
      ),
    };
    this.grid = h("ul", { id: "grid", class: "grid", "aria-label": "Images" });
    this.gridStatus = h("p", { id: "grid-status", class: "state", role: "status" });
    this.sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
    this.uploads = h("ul", { id: "uploads", class: "uploads", "aria-label": "Uploads" });
    this.dialog = h("dialog", { id: "detail", "aria-labelledby": "detail-title" });
    this.element = h(
      "div",
      { class: "gallery" },
      h(
        "header",
        { class: "top" },
        h("h1", {}, "Image gallery"),
        h("div", { class: "scope", role: "group", "aria-label": "Whose images" }, this.scopeButtons.mine, this.scopeButtons.public),
        h(
          "div",
          { class: "who" },
          h("span", { id: "signed-in-as" }, `Signed in as ${session.user}`),
          h("button", { type: "button", id: "sign-out", onclick: () => handlers.onSignOut() }, "Sign out"),
        ),
      ),
      h("main", { id: "main" }, this.uploader(), this.filterForm(), h("section", { "aria-label": "Gallery" }, this.gridStatus, this.grid, this.sentinel)),
      this.dialog,
    );
  }

  start(): void {
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) void this.loadMore();
    }, { rootMargin: "400px" });
    this.observer.observe(this.sentinel);
    this.reload();
  }

  // --- errors -------------------------------------------------------------------------------

  /** True when the error was handled by ending the session. */
  private signedOutBy(error: unknown): boolean {
    if (error instanceof Unauthorized) {
      this.observer?.disconnect();
      if (this.dialog.open) this.dialog.close();
      this.handlers.onUnauthorized(error);
      return true;
    }
    return false;
  }

  // --- uploading ----------------------------------------------------------------------------

  private uploader(): HTMLElement {
    const picker = h("input", { type: "file", id: "file-input", multiple: true, accept: [...ACCEPTED_TYPES].join(","), class: "visually-hidden" });
    picker.addEventListener("change", () => {
      this.enqueue([...(picker.files ?? [])]);
      picker.value = "";
    });
    const tags = h("input", { id: "upload-tags", name: "tags", placeholder: "e.g. cat, garden", autocomplete: "off" });
    const isPublic = h("input", { type: "checkbox", id: "upload-public" });
    const zone = h(
      "div",
      { class: "drop-zone", id: "drop-zone" },
      h("p", {}, "Drop images here, or "),
      h("label", { for: "file-input", class: "button", tabindex: "0", id: "choose-files" }, "choose files"),
      picker,
    );
    zone.querySelector("label")?.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        picker.click();
      }
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.enqueue([...(event.dataTransfer?.files ?? [])]);
    });
    this.uploadTags = tags;
    this.uploadPublic = isPublic;
    return h(
      "section",
      { class: "uploader", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, "Upload"),
      h(
        "div",
        { class: "upload-options" },
        h("label", { for: "upload-tags" }, "Tags for new uploads"),
        tags,
        h("label", { class: "inline" }, isPublic, " Public (every signed-in user can see them)"),
      ),
      zone,
      this.uploads,
    );
  }

  private uploadTags!: HTMLInputElement;
  private uploadPublic!: HTMLInputElement;

  private enqueue(files: File[]): void {
    const tags = parseTags(this.uploadTags.value);
    const visibility: Visibility = this.uploadPublic.checked ? "public" : "private";
    for (const file of files) {
      const progress = h("progress", { max: "1", value: "0", "aria-label": `Upload of ${file.name}` });
      const status = h("span", { class: "upload-status", "data-state": "waiting" }, "Waiting…");
      const row = h("li", { class: "upload", "data-file": file.name }, h("span", { class: "file-name" }, file.name), progress, status);
      this.uploads.prepend(row);
      this.uploadQueue.push(() => this.upload(file, tags, visibility, progress, status));
    }
    this.pump();
  }

  private pump(): void {
    while (this.uploadsRunning < PARALLEL_UPLOADS && this.uploadQueue.length > 0) {
      const next = this.uploadQueue.shift() as () => Promise<void>;
      this.uploadsRunning += 1;
      void next().finally(() => {
        this.uploadsRunning -= 1;
        this.pump();
      });
    }
  }

  private async upload(
    file: File,
    tags: string[],
    visibility: Visibility,
    progress: HTMLProgressElement,
    status: HTMLElement,
  ): Promise<void> {
    const say = (state: string, text: string): void => {
      status.dataset.state = state;
      status.textContent = text;
    };
    if (!ACCEPTED_TYPES.has(file.type)) {
      say("refused", "Refused: not a JPEG, PNG, GIF, WebP or HEIF file.");
      return;
    }
    try {
      say("uploading", "Uploading…");
      const grant = await this.api.requestUpload(file.type, tags, visibility, "");
      await postToStorage(grant, file, (fraction) => {
        progress.value = fraction;
        say("uploading", `Uploading… ${Math.round(fraction * 100)}%`);
      });
      say("processing", "Processing…");
      const image = await this.watchProcessing(grant.image_id);
      if (image.status === "available") {
        say("available", "Available");
        this.refreshSoon();
      } else if (image.status === "pending") {
        say("pending", "Still processing; it will appear when done.");
      } else {
        say(image.status, `Rejected: ${reasonInWords(image.reason)}`);
      }
    } catch (error) {
      if (this.signedOutBy(error)) return;
      say("failed", `Failed: ${message(error)}`);
    }
  }

  private async watchProcessing(imageId: string): Promise<Image> {
    const until = Date.now() + PROCESSING_WATCH_MS;
    for (;;) {
      const image = await this.api.get(imageId);
      if (image.status !== "pending" || Date.now() > until) return image;
      await new Promise((resolve) => setTimeout(resolve, PROCESSING_POLL_MS));
    }
  }

  /** Several uploads finishing together refresh the grid once. */
  private refreshSoon(): void {
    if (this.scope !== "mine") return;
    window.clearTimeout(this.refreshTimer);
    this.refreshTimer = window.setTimeout(() => this.reload(), 300);
  }

  // --- browsing -----------------------------------------------------------------------------

  private filterForm(): HTMLElement {
    const tag = h("input", { id: "filter-tag", name: "tag", autocomplete: "off", placeholder: "any tag" });
    const from = h("input", { id: "filter-from", name: "from", type: "date" });
    const to = h("input", { id: "filter-to", name: "to", type: "date" });
    const form = h(
      "form",
      {
        class: "filters",
        role: "search",
        onsubmit: (event: Event) => {
          event.preventDefault();
          this.filters = { tag: tag.value.trim().toLowerCase(), from: from.value, to: to.value };
          this.reload();
        },
      },
      h("div", {}, h("label", { for: "filter-tag" }, "Tag"), tag),
      h("div", {}, h("label", { for: "filter-from" }, "From"), from),
      h("div", {}, h("label", { for: "filter-to" }, "To"), to),
      h("button", { type: "submit", id: "apply-filters" }, "Filter"),
      h(
        "button",
        {
          type: "button",
          id: "clear-filters",
          onclick: () => {
            tag.value = from.value = to.value = "";
            this.filters = { tag: "", from: "", to: "" };
            this.reload();
          },
        },
        "Clear",
      ),
    );
    return form;
  }

  private setScope(scope: Scope): void {
    this.scope = scope;
    this.scopeButtons.mine.setAttribute("aria-pressed", String(scope === "mine"));
    this.scopeButtons.public.setAttribute("aria-pressed", String(scope === "public"));
    this.reload();
  }

  private reload(): void {
    this.generation += 1;
    this.cursor = null;
    this.done = false;
    this.loading = false;
    this.shown.clear();
    this.grid.replaceChildren();
    this.grid.setAttribute("data-scope", this.scope);
    void this.loadMore();
  }

  private async loadMore(): Promise<void> {
    if (this.loading || this.done) return;
    const generation = this.generation;
    this.loading = true;
    this.grid.setAttribute("aria-busy", "true");
    this.setStatus("loading", "Loading…");
    const query: ListQuery = {
      limit: PAGE_SIZE,
      cursor: this.cursor,
      tag: this.filters.tag || undefined,
      from: this.filters.from || undefined,
      to: this.filters.to || undefined,
      visibility: this.scope === "public" ? "public" : undefined,
    };
    try {
      const page = await this.api.list(query);
      if (generation !== this.generation) return;
      for (const image of page.items) {
        if (!this.shown.has(image.image_id)) this.grid.append(this.card(image));
        this.shown.set(image.image_id, image);
      }
      this.cursor = page.next_cursor;
      this.done = page.next_cursor === null;
      this.loading = false;
      this.grid.removeAttribute("aria-busy");
      this.showCount();
      // The observer tells only of changes: a sentinel still in sight wants the next page now.
      if (!this.done && this.sentinel.getBoundingClientRect().top < window.innerHeight + 400) void this.loadMore();
    } catch (error) {
      if (generation !== this.generation) return;
      this.loading = false;
      this.grid.removeAttribute("aria-busy");
      if (this.signedOutBy(error)) return;
      replaceChildren(
        this.gridStatus,
        h("span", { class: "error" }, `The images could not be loaded: ${message(error)} `),
        h("button", { type: "button", onclick: () => void this.loadMore() }, "Retry"),
      );
      this.gridStatus.dataset.state = "error";
    }
  }

  private setStatus(state: string, text: string): void {
    this.gridStatus.dataset.state = state;
    this.gridStatus.textContent = text;
  }

  private showCount(): void {
    if (this.shown.size > 0) {
      this.setStatus("loaded", this.done ? `${this.shown.size} image${this.shown.size === 1 ? "" : "s"}` : `${this.shown.size} images so far…`);
      return;
    }
    const filtered = this.filters.tag || this.filters.from || this.filters.to;
    this.setStatus(
      "empty",
      filtered
        ? "No images match these filters."
        : this.scope === "mine"
          ? "You have no images yet. Drop some in the upload area above."
          : "Nobody has shared a public image yet.",
    );
  }

  private describe(image: Image): string {
    const what = image.description || (image.tags.length ? image.tags.join(", ") : "Untitled image");
    return `${what}, uploaded ${dateInWords(image.created_at)}`;
  }

  private card(image: Image): HTMLLIElement {
    const picture = h("img", { alt: this.describe(image), loading: "lazy", decoding: "async", width: "256", height: "256" });
    let retried = false;
    // Thumbnail links expire (like download links): a page kept open long asks for a fresh one.
    picture.addEventListener("error", () => {
      if (retried) return;
      retried = true;
      this.api.downloadUrl(image.image_id, "thumbnail").then((url) => (picture.src = url), () => undefined);
    });
    if (image.thumbnail_url) picture.src = image.thumbnail_url;
    // A listing without the link (records written before listings carried it): ask for it.
    else picture.dispatchEvent(new Event("error"));
    const badge = h("span", { class: `badge ${image.visibility}` }, image.visibility === "public" ? "Public" : "Private");
    const owner = image.user_id !== this.me ? h("span", { class: "owner" }, `by ${image.user_id}`) : null;
    return h(
      "li",
      { class: "card", "data-image-id": image.image_id },
      h(
        "button",
        { type: "button", class: "card-button", "aria-label": `Open ${this.describe(image)}`, onclick: () => void this.openDetail(image.image_id) },
        picture,
        h("span", { class: "caption" }, badge, owner, image.tags.length ? h("span", { class: "tags" }, image.tags.join(", ")) : null),
      ),
    );
  }

  // --- one image ----------------------------------------------------------------------------

  private async openDetail(imageId: string): Promise<void> {
    const opener = document.activeElement as HTMLElement | null;
    replaceChildren(this.dialog, h("p", { class: "state", role: "status" }, "Loading…"));
    if (!this.dialog.open) this.dialog.showModal();
    this.dialog.addEventListener("close", () => opener?.focus(), { once: true });
    try {
      const image = await this.api.get(imageId);
      this.renderDetail(image);
      const preview = this.dialog.querySelector<HTMLImageElement>("img.preview");
      if (preview && image.status === "available") preview.src = await this.api.downloadUrl(imageId, "preview");
    } catch (error) {
      if (this.signedOutBy(error)) return;
      replaceChildren(
        this.dialog,
        h("p", { role: "alert", class: "error" }, `The image could not be opened: ${message(error)}`),
        h("button", { type: "button", onclick: () => this.dialog.close() }, "Close"),
      );
    }
  }

  private renderDetail(image: Image): void {
    const mine = image.user_id === this.me;
    const fact = (name: string, label: string, value: string): HTMLElement[] => [h("dt", {}, label), h("dd", { "data-fact": name }, value)];
    const facts = h(
      "dl",
      { class: "facts" },
      ...fact("dimensions", "Dimensions", image.width && image.height ? `${image.width} × ${image.height} px` : "—"),
      ...fact("format", "Format", image.format ?? "—"),
      ...fact("size", "Size", sizeInWords(image.size)),
      ...(image.frames && image.frames > 1 ? fact("frames", "Frames", String(image.frames)) : []),
      ...fact("tags", "Tags", image.tags.length ? image.tags.join(", ") : "none"),
      ...fact("description", "Description", image.description || "none"),
      ...fact("created", "Uploaded", dateInWords(image.created_at)),
      ...fact(
        "visibility",
        "Visibility",
        image.visibility === "public" ? "Public: every signed-in user can see it" : "Private: only you can see it",
      ),
      ...(mine ? [] : fact("owner", "Owner", image.user_id)),
      ...(image.duplicate_of ? fact("duplicate", "Duplicate of", image.duplicate_of) : []),
      ...(image.status !== "available" ? fact("status", "Status", `${image.status}${image.reason ? `: ${reasonInWords(image.reason)}` : ""}`) : []),
    );
    const notice = h("p", { class: "hidden", role: "status", id: "detail-notice" });
    const say = (kind: "notice" | "error", text: string): void => {
      notice.className = kind;
      notice.textContent = text;
    };
    const download = h(
      "button",
      {
        type: "button",
        id: "download-original",
        onclick: () => {
          this.api.downloadUrl(image.image_id, "original").then(
            (url) => {
              // A presigned GET: the browser fetches it straight from the bucket.
              const link = h("a", { href: url, target: "_blank", rel: "noopener" });
              link.click();
            },
            (error: unknown) => {
              if (!this.signedOutBy(error)) say("error", message(error));
            },
          );
        },
      },
      "Download original",
    );
    replaceChildren(
      this.dialog,
      h(
        "div",
        { class: "detail" },
        h(
          "header",
          {},
          h("h2", { id: "detail-title" }, image.description || "Image"),
          h("button", { type: "button", class: "close", "aria-label": "Close", onclick: () => this.dialog.close() }, "×"),
        ),
        h("img", { class: "preview", alt: this.describe(image) }),
        facts,
        notice,
        h("div", { class: "actions" }, image.status === "available" ? download : null),
        mine ? this.editForm(image, say) : null,
        mine ? this.deleteControls(image, say) : null,
      ),
    );
  }

  private editForm(image: Image, say: (kind: "notice" | "error", text: string) => void): HTMLElement {
    const tags = h("input", { id: "edit-tags", value: image.tags.join(", "), autocomplete: "off" });
    const description = h("textarea", { id: "edit-description", maxlength: "1000", rows: "2" }, image.description ?? "");
    const isPublic = h("input", { type: "checkbox", id: "edit-public" });
    isPublic.checked = image.visibility === "public";
    const save = h("button", { type: "submit", id: "save-edit" }, "Save changes");
    return h(
      "form",
      {
        class: "edit",
        onsubmit: (event: Event) => {
          event.preventDefault();
          save.disabled = true;
          this.api
            .edit(image.image_id, {
              tags: parseTags(tags.value),
              description: description.value,
              visibility: isPublic.checked ? "public" : "private",
            })
            .then(
              (edited) => {
                this.renderDetail(edited);
                const preview = this.dialog.querySelector<HTMLImageElement>("img.preview");
                const old = this.grid.querySelector<HTMLImageElement>(`[data-image-id="${edited.image_id}"] img`);
                if (preview && old?.src) preview.src = old.src;
                this.api.downloadUrl(edited.image_id, "preview").then((url) => preview && (preview.src = url), () => undefined);
                this.replaceCard(edited);
                (this.dialog.querySelector("#detail-notice") as HTMLElement).className = "notice";
                (this.dialog.querySelector("#detail-notice") as HTMLElement).textContent = "Saved.";
              },
              (error: unknown) => {
                save.disabled = false;
                if (!this.signedOutBy(error)) say("error", `Not saved: ${message(error)}`);
              },
            );
        },
      },
      h("h3", {}, "Edit"),
      h("label", { for: "edit-tags" }, "Tags (comma-separated)"),
      tags,
      h("label", { for: "edit-description" }, "Description"),
      description,
      h("label", { class: "inline" }, isPublic, " Public (every signed-in user can see it)"),
      save,
    );
  }

  private replaceCard(image: Image): void {
    const old = this.grid.querySelector(`[data-image-id="${image.image_id}"]`);
    if (!old) return;
    const previous = this.shown.get(image.image_id);
    const card = this.card({ ...image, thumbnail_url: previous?.thumbnail_url ?? null });
    old.replaceWith(card);
    this.shown.set(image.image_id, image);
  }

  private deleteControls(image: Image, say: (kind: "notice" | "error", text: string) => void): HTMLElement {
    const area = h("div", { class: "danger-zone" });
    const ask = h("button", { type: "button", id: "delete-image", class: "danger" }, "Delete…");
    ask.addEventListener("click", () => {
      const confirm = h("button", { type: "button", id: "confirm-delete", class: "danger" }, "Delete for good");
      const cancel = h("button", { type: "button", id: "cancel-delete" }, "Cancel");
      cancel.addEventListener("click", () => {
        replaceChildren(area, ask);
        ask.focus();
      });
      confirm.addEventListener("click", () => {
        confirm.disabled = true;
        this.api.remove(image.image_id).then(
          () => {
            this.dialog.close();
            this.grid.querySelector(`[data-image-id="${image.image_id}"]`)?.remove();
            this.shown.delete(image.image_id);
            this.showCount();
            this.setStatus(this.gridStatus.dataset.state ?? "loaded", `Image deleted. ${this.gridStatus.textContent ?? ""}`);
          },
          (error: unknown) => {
            confirm.disabled = false;
            if (!this.signedOutBy(error)) say("error", `Not deleted: ${message(error)}`);
          },
        );
      });
      replaceChildren(area, h("p", { role: "alert" }, "Delete this image and its variants? This cannot be undone."), confirm, cancel);
      cancel.focus();
    });
    area.append(ask);
    return area;
  }
}
