// Start: read config.json, finish or offer sign-in, then show the gallery.

import { Unauthorized } from "./api";
import {
  SignInError,
  beginAuthorization,
  completeAuthorization,
  currentSession,
  forgetSession,
  signInLocally,
  signOut,
  type Session,
} from "./auth";
import { loadConfig, type GalleryConfig } from "./config";
import { h, replaceChildren } from "./dom";
import { Gallery } from "./gallery";

const root = document.getElementById("app") as HTMLElement;

function showError(title: string, message: string): void {
  replaceChildren(
    root,
    h(
      "main",
      { id: "main", class: "centered" },
      h("h1", {}, title),
      h("p", { role: "alert", class: "error" }, message),
      h("button", { type: "button", onclick: () => location.reload() }, "Retry"),
    ),
  );
}

function showSignIn(config: GalleryConfig, notice?: string): void {
  const message = h("p", { role: "alert", class: notice ? "notice" : "hidden" }, notice ?? "");
  const fail = (error: unknown): void => {
    message.className = "error";
    message.textContent = error instanceof Error ? error.message : String(error);
  };
  let form: HTMLElement;
  if (config.auth.kind === "local") {
    const auth = config.auth;
    const name = h("input", {
      id: "user-name",
      name: "user",
      autocomplete: "username",
      required: true,
      pattern: "[A-Za-z0-9._@\\-]{1,128}",
      title: "1-128 of letters, digits and . _ @ -",
    });
    form = h(
      "form",
      {
        class: "sign-in",
        onsubmit: (event: Event) => {
          event.preventDefault();
          signInLocally(auth, name.value.trim()).then(start, fail);
        },
      },
      h("label", { for: "user-name" }, "User name"),
      name,
      h("button", { type: "submit" }, "Sign in"),
      h("p", { class: "hint" }, "Local cloud: any user name signs in through the development issuer."),
    );
  } else {
    form = h(
      "div",
      { class: "sign-in" },
      h("button", { type: "button", onclick: () => beginAuthorization(config.auth).catch(fail) }, "Sign in"),
    );
  }
  replaceChildren(
    root,
    h("main", { id: "main", class: "centered" }, h("h1", {}, "Image gallery"), message, form),
  );
  (root.querySelector("input, button") as HTMLElement | null)?.focus();

  function start(session: Session): void {
    showGallery(config, session);
  }
}

function showGallery(config: GalleryConfig, session: Session): void {
  const gallery = new Gallery(config.api_url, session, {
    onUnauthorized: (error: Unauthorized) => {
      forgetSession();
      showSignIn(config, error.message);
    },
    onSignOut: () => {
      signOut(config.auth).then(() => showSignIn(config, "You have signed out."));
    },
  });
  replaceChildren(root, gallery.element);
  gallery.start();
}

async function boot(): Promise<void> {
  let config: GalleryConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    showError("The gallery cannot start", error instanceof Error ? error.message : String(error));
    return;
  }
  try {
    const signedIn = (await completeAuthorization(config.auth)) ?? currentSession();
    if (signedIn) showGallery(config, signedIn);
    else showSignIn(config);
  } catch (error) {
    showSignIn(config, error instanceof SignInError ? error.message : String(error));
  }
}

void boot();
