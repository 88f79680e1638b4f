// One function per endpoint of Courier's pane API. Every failure becomes an ApiError with the
// server's {error, message} shape (or a network/timeout code), so callers handle one thing.

const TOKEN_KEY = "courier.session";
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
  get signedOut() {
    return this.status === 401;
  }
}

// One session per mailbox (several share this origin's storage): the key carries
// Office.context.partitionKey and the address; a session stored for another address is unused.
let token = null;
let storageKey = null;
let mailboxEmail = "";

function storage() {
  try {
    return window.localStorage;
  } catch (_err) {
    return null; // storage blocked: the user signs in per pane session
  }
}

/** Which mailbox this pane serves: loads that mailbox's stored session, if any. */
export function useMailbox(prefix, email) {
  mailboxEmail = (email || "").toLowerCase();
  storageKey = `${prefix || ""}${TOKEN_KEY}:${mailboxEmail}`;
  token = null;
  const store = storage();
  if (!store) return;
  store.removeItem(TOKEN_KEY); // the unpartitioned key of earlier versions served every mailbox
  try {
    const saved = JSON.parse(store.getItem(storageKey) || "null");
    if (saved && typeof saved.token === "string" && saved.email === mailboxEmail) {
      token = saved.token;
    }
  } catch (_err) {
    token = null;
  }
}

export function hasSession() {
  return !!token;
}

export function setSession(value) {
  token = value || null;
  const store = storage();
  if (!store || !storageKey) return; // keep the token in memory only
  try {
    if (token) store.setItem(storageKey, JSON.stringify({ token, email: mailboxEmail }));
    else store.removeItem(storageKey);
  } catch (_err) {
    // storage full or blocked: keep the token in memory only
  }
}

async function request(method, path, body, { signal, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), TIMEOUT_MS);
  const abort = () => timeout.abort();
  if (signal) signal.addEventListener("abort", abort, { once: true });
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: timeout.signal,
      credentials: "omit",
    });
  } catch (_err) {
    if (signal && signal.aborted) throw new ApiError(0, "aborted", "Cancelled.");
    throw new ApiError(0, "network", "Courier could not be reached. Check your connection.");
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", abort);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_err) {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) setSession(null);
    const code = (data && data.error) || `http_${response.status}`;
    const message = (data && data.message) || "Courier answered with an error.";
    throw new ApiError(response.status, code, message);
  }
  return data;
}

// The page the sign-in dialog opens: the server's dialog flow, which ends by sending a
// one-time code to the pane with messageParent.
export function signInDialogUrl() {
  return new URL("/auth/signin?mode=dialog", window.location.origin).toString();
}

export const exchangeCode = (code) =>
  request("POST", "/auth/api/exchange", { code }, { auth: false });
export const signOut = () => request("POST", "/auth/api/signout", {});
export const suggestions = (item, opts) => request("POST", "/api/suggestions", { item }, opts);
export const savedState = (item, opts) => request("POST", "/api/saves/state", { item }, opts);
export const save = (item, links, autoSaveThread) =>
  request("POST", "/api/saves", { item, links, auto_save_thread: !!autoSaveThread });
export const setThreadAutoSave = (conversationId, enabled, links) =>
  request("PUT", "/api/threads", { conversation_id: conversationId, enabled: !!enabled, links });
export const blockEntry = (entry) => request("POST", "/api/blocklist", { entry });
export const unblockEntry = (entry) => request("DELETE", "/api/policy/me/blocklist", { entry });
export const syncNow = () => request("POST", "/api/sync/now", {});
export const myPolicy = () => request("GET", "/api/policy/me");
export const updateMyPolicy = (changes) => request("PUT", "/api/policy/me", { changes });
export const rememberChoice = (address, record) =>
  request("POST", "/api/choices", { address, record });
export const unlink = (item, links) => request("POST", "/api/saves/unlink", { item, links });
export const removeFromCrm = (item) => request("POST", "/api/saves/remove", { item });
export const cards = (people, opts) => request("POST", "/api/cards", { people }, opts);
export const createContact = (draft) => request("POST", "/api/contacts", draft);
export const createLead = (draft) => request("POST", "/api/leads", draft);
export const search = (text, opts) =>
  request("GET", `/api/search?q=${encodeURIComponent(text)}`, undefined, opts);
// Connecting Salesforce: the dialog opens in the click on our start page named by a random
// ticket (a window opened after a round trip is blocked); registering the ticket lets it go on.
export function newDialogTicket() {
  const bytes = new Uint8Array(24);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export function crmDialogUrl(ticket) {
  const url = new URL("/crm/salesforce/dialog", window.location.origin);
  url.searchParams.set("ticket", ticket);
  return url.toString();
}
export const crmConnectDialog = (ticket) =>
  request("POST", "/api/crm/salesforce/connect", { mode: "dialog", ticket });
export const crmDisconnect = () => request("POST", "/api/crm/salesforce/disconnect", {});
