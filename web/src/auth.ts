// Signing in: a bearer token for the API, kept for this browser tab only (sessionStorage).
//
// In AWS, the authorization-code flow with PKCE (RFC 7636) against the stack's Cognito managed
// login or an external OpenID Connect issuer; the ID token is the bearer token (its aud is this
// client, which is what the API checks). On the local cloud, the gallery server's local-only
// sign-in endpoint mints a development issuer token for any user name.

import type { AuthConfig } from "./config";

const SESSION_KEY = "gallery.session";
const PENDING_KEY = "gallery.pending-sign-in";
// Treat a token as expired a little early, so that no request leaves with one about to lapse.
const EXPIRY_MARGIN_SECONDS = 30;

export interface Session {
  token: string;
  user: string;
  expiresAt: number; // seconds since the epoch
}

export class SignInError extends Error {}

interface Endpoints {
  authorize: string;
  token: string;
  endSession?: string;
}

function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split(".")[1];
  if (!payload) throw new SignInError("The sign-in answer held no token.");
  const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
  const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  return JSON.parse(json) as Record<string, unknown>;
}

export function sessionFromToken(token: string): Session {
  const claims = claimsOf(token);
  const exp = Number(claims.exp);
  const user = String(claims["cognito:username"] ?? claims.preferred_username ?? claims.email ?? claims.sub ?? "");
  if (!Number.isFinite(exp) || !claims.sub) throw new SignInError("The token has no subject or expiry.");
  return { token, user, expiresAt: exp };
}

/** The caller's id as the API knows it (the token's sub), to tell one's own images. */
export function subjectOf(session: Session): string {
  return String(claimsOf(session.token).sub);
}

export function currentSession(): Session | null {
  const stored = sessionStorage.getItem(SESSION_KEY);
  if (!stored) return null;
  try {
    const session = JSON.parse(stored) as Session;
    if (session.expiresAt - EXPIRY_MARGIN_SECONDS <= Date.now() / 1000) return null;
    return session;
  } catch {
    return null;
  }
}

function keep(session: Session): Session {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export function forgetSession(): void {
  sessionStorage.removeItem(SESSION_KEY);
}

// --- the local cloud: any user name ---------------------------------------------------------

export async function signInLocally(config: Extract<AuthConfig, { kind: "local" }>, user: string): Promise<Session> {
  const answer = await fetch(config.sign_in_url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = (await answer.json().catch(() => ({}))) as { token?: string; error?: { message?: string } };
  if (!answer.ok || !body.token) {
    throw new SignInError(body.error?.message ?? `Sign-in failed (HTTP ${answer.status}).`);
  }
  return keep(sessionFromToken(body.token));
}

// --- authorization code + PKCE ----------------------------------------------------------------

function randomText(bytes: number): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

async function endpointsOf(config: AuthConfig): Promise<Endpoints> {
  if (config.kind === "cognito") {
    return {
      authorize: `${config.domain}/oauth2/authorize`,
      token: `${config.domain}/oauth2/token`,
      endSession: `${config.domain}/logout`,
    };
  }
  if (config.kind === "oidc") {
    const answer = await fetch(`${config.issuer}/.well-known/openid-configuration`);
    if (!answer.ok) throw new SignInError(`The sign-in service's discovery document is unavailable (HTTP ${answer.status}).`);
    const discovery = (await answer.json()) as Record<string, string | undefined>;
    if (!discovery.authorization_endpoint || !discovery.token_endpoint) {
      throw new SignInError("The sign-in service's discovery document names no endpoints.");
    }
    return {
      authorize: discovery.authorization_endpoint,
      token: discovery.token_endpoint,
      endSession: discovery.end_session_endpoint,
    };
  }
  throw new SignInError("This sign-in has no authorization server.");
}

function redirectUri(): string {
  return `${location.origin}/`;
}

/** Leaves for the sign-in page; the answer comes back to this origin's root with a code. */
export async function beginAuthorization(config: AuthConfig): Promise<never> {
  if (config.kind === "local") throw new SignInError("The local cloud signs in by user name.");
  const endpoints = await endpointsOf(config);
  const verifier = randomText(48);
  const state = randomText(24);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: (config.kind === "oidc" && config.scope) || "openid email profile",
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${endpoints.authorize}?${query}`);
  return new Promise<never>(() => {});
}

/** Completes a sign-in this tab began, when the URL carries its answer; null when it does not. */
export async function completeAuthorization(config: AuthConfig): Promise<Session | null> {
  if (config.kind === "local") return null;
  const query = new URLSearchParams(location.search);
  const code = query.get("code");
  const error = query.get("error");
  if (!code && !error) return null;
  // The code is single-use and must not stay in the address bar or the history.
  history.replaceState(null, "", location.pathname);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "null") as { verifier: string; state: string } | null;
  sessionStorage.removeItem(PENDING_KEY);
  if (error) throw new SignInError(`Sign-in was refused: ${query.get("error_description") ?? error}.`);
  if (!pending || pending.state !== query.get("state")) {
    throw new SignInError("That sign-in answer was not for this tab; please sign in again.");
  }
  const endpoints = await endpointsOf(config);
  const answer = await fetch(endpoints.token, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code: code ?? "",
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  const tokens = (await answer.json().catch(() => ({}))) as { id_token?: string; error?: string };
  if (!answer.ok || !tokens.id_token) {
    throw new SignInError(`Sign-in could not be completed (${tokens.error ?? `HTTP ${answer.status}`}).`);
  }
  return keep(sessionFromToken(tokens.id_token));
}

/** Forgets the session; in AWS also ends the sign-in service's own session. */
export async function signOut(config: AuthConfig): Promise<void> {
  forgetSession();
  if (config.kind === "cognito") {
    const query = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() });
    location.assign(`${config.domain}/logout?${query}`);
  } else if (config.kind === "oidc") {
    const endpoints = await endpointsOf(config).catch(() => null);
    if (endpoints?.endSession) {
      const query = new URLSearchParams({ client_id: config.client_id, post_logout_redirect_uri: redirectUri() });
      location.assign(`${endpoints.endSession}?${query}`);
    }
  }
}
