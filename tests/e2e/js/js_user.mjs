// One matrix-js-sdk user (Rust crypto, in-memory store), driven by tests/e2e/test_js_sdk.py.
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout:
//   -> {"id": 1, "cmd": "login", ...}
//   <- {"id": 1, "ok": true, ...}   or   {"id": 1, "ok": false, "error": "...", "http_failures": [...]}
// stdout carries nothing but replies: the SDK's own logging is sent to stderr, which the test
// keeps in a file and quotes when something fails.
//
// Every command is bounded by its own timeout_ms (default 30 s), so a server that never answers
// or never echoes something turns into an error reply, never a hang.

import { writeSync } from "node:fs";
import { createInterface } from "node:readline";

// js-sdk 43 declares Node >= 22; Promise.withResolvers is the only thing it uses that Node 20 lacks.
// It must exist before the SDK is imported.
if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function withResolvers() {
        let resolve;
        let reject;
        const promise = new Promise((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}

// Keep stdout for the protocol: the SDK and its Rust crypto log through console.*.
for (const level of ["log", "info", "debug", "warn", "trace"]) {
    console[level] = (...args) => console.error(`[${level}]`, ...args);
}

const sdk = await import("matrix-js-sdk");
const { threadCommands } = await import("./thread_commands.mjs");
const { ClientEvent, SyncState } = sdk;
const { SlidingSync, SlidingSyncEvent, SlidingSyncState } = await import("matrix-js-sdk/lib/sliding-sync.js");

// What Element Web asks of its room list under Simplified Sliding Sync (MSC4186).
const SLIDING_LIST = {
    ranges: [[0, 19]],
    timeline_limit: 10,
    required_state: [
        ["m.room.create", ""], ["m.room.encryption", ""], ["m.room.name", ""], ["m.room.avatar", ""],
        ["m.room.join_rules", ""], ["m.room.history_visibility", ""], ["m.room.power_levels", ""],
        ["m.room.tombstone", ""], ["m.room.member", "$ME"], ["m.room.member", "$LAZY"],
    ],
};
const SLIDING_SUBSCRIPTION = { timeline_limit: 20, required_state: [["*", "*"]] };

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Every HTTP exchange that did not succeed, so failures name the exact request the server got wrong.
 * A repeat of the same method, path, status and body only bumps `times`.
 */
const httpFailures = [];

function recordFailure(failure) {
    console.error("HTTP FAILURE", JSON.stringify(failure));
    const same = httpFailures.find(
        (f) => f.method === failure.method && f.path === failure.path && f.status === failure.status && f.body === failure.body,
    );
    if (same) same.times += 1;
    else httpFailures.push({ ...failure, times: 1 });
}

async function recordingFetch(input, init = {}) {
    const method = (init.method || "GET").toUpperCase();
    const url = new URL(input instanceof Request ? input.url : String(input));
    const path = url.pathname + url.search;
    let response;
    try {
        response = await fetch(input, init);
    } catch (err) {
        recordFailure({ method, path, status: null, body: String(err), request: requestBody(init) });
        throw err;
    }
    if (response.status >= 400) {
        const body = (await response.clone().text()).slice(0, 600);
        recordFailure({ method, path, status: response.status, body, request: requestBody(init) });
    }
    return response;
}

function requestBody(init) {
    if (typeof init.body !== "string") return null;
    return init.body.replace(/"password":"[^"]*"/g, '"password":"<redacted>"').slice(0, 600);
}

function reply(message) {
    // writeSync: a reply must never be lost or interleaved when the process exits right after.
    writeSync(1, JSON.stringify(message) + "\n");
}

function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` every 100 ms until it returns something truthy; `describe` explains a timeout. */
async function waitFor(check, ms, describe) {
    const deadline = Date.now() + ms;
    for (;;) {
        const found = await check();
        if (found) return found;
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${ms} ms waiting for ${await describe()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

let client = null;
let password = null;
let slidingSync = null;
// Each sliding sync response as the client received it (pos, list counts, rooms' bump stamps), or the error.
const slidingResponses = [];
// Secret-storage keys this session created, by key ID: the SDK asks for them back to encrypt secrets.
const secretStorageKeys = new Map();

function requireClient() {
    if (!client) throw new Error("not logged in: send {cmd: 'login'} first");
    return client;
}

const commands = {
    /** Log in with m.login.password, start Rust crypto and sync; replies once the first sync is done. */
    async login({ base_url, user, password: pw, device_name, sliding, thread_support, initial_sync_limit, timeout_ms }) {
        const loginClient = sdk.createClient({ baseUrl: base_url, fetchFn: recordingFetch });
        const session = await loginClient.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user },
            password: pw,
            initial_device_display_name: device_name || "qasid e2e js-sdk",
        });
        password = pw;
        client = sdk.createClient({
            baseUrl: base_url,
            userId: session.user_id,
            deviceId: session.device_id,
            accessToken: session.access_token,
            fetchFn: recordingFetch,
            cryptoCallbacks: {
                getSecretStorageKey: async ({ keys }) => {
                    for (const keyId of Object.keys(keys)) {
                        if (secretStorageKeys.has(keyId)) return [keyId, secretStorageKeys.get(keyId)];
                    }
                    return null;
                },
                cacheSecretStorageKey: (keyId, _keyInfo, key) => secretStorageKeys.set(keyId, key),
            },
        });
        await client.initRustCrypto({ useIndexedDB: false });
        const prepared = new Promise((resolve, reject) => {
            client.on(ClientEvent.Sync, (state, _previous, data) => {
                if (state === SyncState.Prepared || state === SyncState.Syncing) resolve();
                // The SDK would retry for ever; a local test server has no excuse for a failed sync.
                if (state === SyncState.Error) reject(new Error(`sync failed: ${data?.error}`));
            });
        });
        if (sliding) {
            // Simplified Sliding Sync only: the SDK then never calls /v3/sync.
            slidingSync = new SlidingSync(base_url, new Map([["all", SLIDING_LIST]]), SLIDING_SUBSCRIPTION, client, 10_000);
            slidingSync.on(SlidingSyncEvent.Lifecycle, (state, resp, err) => {
                if (state !== SlidingSyncState.RequestFinished) return;
                slidingResponses.push(err ? { error: String(err), status: err.httpStatus ?? null } : {
                    pos: resp.pos,
                    counts: Object.fromEntries(Object.entries(resp.lists ?? {}).map(([k, v]) => [k, v.count])),
                    bump_stamps: Object.fromEntries(Object.entries(resp.rooms ?? {}).map(([id, r]) => [id, r.bump_stamp ?? null])),
                });
            });
            await client.startClient({ slidingSync, lazyLoadMembers: true });
        } else {
            // As Element does: members are fetched lazily, through /rooms/{id}/members.
            await client.startClient({
                initialSyncLimit: initial_sync_limit || 20, lazyLoadMembers: true, threadSupport: Boolean(thread_support),
            });
        }
        await withTimeout(prepared, timeout_ms || DEFAULT_TIMEOUT_MS, "first sync to complete (SyncState.Prepared)");
        return { user_id: session.user_id, device_id: session.device_id };
    },

    /**
     * Cross-signing (Element's way: password at hand), then secret storage with a fresh recovery
     * key and a new key-backup version. Replies with the UIA steps taken and what the SDK reports.
     */
    async bootstrap({ timeout_ms }) {
        const c = requireClient();
        const crypto = c.getCrypto();
        const ms = timeout_ms || DEFAULT_TIMEOUT_MS;
        const uiaSteps = [];
        await withTimeout(
            crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(c, uiaSteps) }),
            ms,
            "bootstrapCrossSigning",
        );
        await withTimeout(
            crypto.bootstrapSecretStorage({
                createSecretStorageKey: () => crypto.createRecoveryKeyFromPassphrase(),
                setupNewSecretStorage: true,
                setupNewKeyBackup: true,
            }),
            ms,
            "bootstrapSecretStorage (it waits for each account_data write to come back through /sync)",
        );
        const backupInfo = await crypto.getKeyBackupInfo();
        return {
            uia_steps: uiaSteps,
            cross_signing_ready: await crypto.isCrossSigningReady(),
            secret_storage_ready: await crypto.isSecretStorageReady(),
            server_backup_version: backupInfo?.version ?? null,
            active_backup_version: await crypto.getActiveSessionBackupVersion(),
        };
    },

    /**
     * Element's "reset cross-signing": new keys replace the published ones, which the server must
     * guard with user-interactive auth by password; the new private keys go to secret storage.
     * (Run it once the account has settled: a /keys/query answered while the reset is in flight
     * still returns the old keys, and the Rust crypto then drops the new private keys as stale.)
     */
    async reset_cross_signing({ timeout_ms }) {
        const c = requireClient();
        const crypto = c.getCrypto();
        const ms = timeout_ms || DEFAULT_TIMEOUT_MS;
        const before = await crypto.getCrossSigningKeyId();
        const uiaSteps = [];
        await withTimeout(
            crypto.bootstrapCrossSigning({
                setupNewCrossSigning: true,
                authUploadDeviceSigningKeys: passwordUia(c, uiaSteps),
            }),
            ms,
            "bootstrapCrossSigning({setupNewCrossSigning: true})",
        );
        await waitFor(
            () => crypto.isCrossSigningReady(),
            ms,
            async () => `cross-signing to be ready again: ${JSON.stringify(await crypto.getCrossSigningStatus())}`,
        );
        return {
            uia_steps: uiaSteps,
            master_key_before: before,
            master_key_after: await crypto.getCrossSigningKeyId(),
            status: await crypto.getCrossSigningStatus(),
        };
    },

    /** Counts the room keys the server holds in the active backup version (GET /room_keys/keys). */
    async backed_up_sessions({ room_id, minimum, timeout_ms }) {
        const c = requireClient();
        const version = await c.getCrypto().getActiveSessionBackupVersion();
        if (!version) throw new Error("no active key backup");
        let last = null;
        const count = async () => {
            last = await c.http.authedRequest("GET", "/room_keys/keys", { version });
            return Object.keys(last.rooms?.[room_id]?.sessions ?? {}).length;
        };
        const sessions = await waitFor(
            async () => {
                const n = await count();
                return n >= (minimum || 1) ? n : 0;
            },
            timeout_ms || DEFAULT_TIMEOUT_MS,
            async () => `room keys of ${room_id} in backup ${version}; server has ${JSON.stringify(last)}`,
        );
        return { version, sessions };
    },

    /** Creates a private, encrypted room and waits until the SDK itself considers it encrypted. */
    async create_room({ name, invite, timeout_ms }) {
        const c = requireClient();
        const { room_id } = await c.createRoom({
            name: name || "qasid e2e",
            preset: "private_chat",
            invite: invite || [],
            initial_state: [
                { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
            ],
        });
        await waitFor(
            async () => c.getRoom(room_id) && (await c.getCrypto().isEncryptionEnabledInRoom(room_id)),
            timeout_ms || DEFAULT_TIMEOUT_MS,
            async () => `room ${room_id} to arrive through /sync with its m.room.encryption state`,
        );
        return { room_id };
    },

    async wait_member({ room_id, user_id, membership, timeout_ms }) {
        const c = requireClient();
        const wanted = membership || "join";
        await waitFor(
            () => c.getRoom(room_id)?.getMember(user_id)?.membership === wanted,
            timeout_ms || DEFAULT_TIMEOUT_MS,
            () => `${user_id} to be "${wanted}" in ${room_id}; now "${c.getRoom(room_id)?.getMember(user_id)?.membership}"`,
        );
        return {};
    },

    /** Sends an m.text message; refuses to report success unless it went out encrypted. */
    async send({ room_id, body, timeout_ms }) {
        const c = requireClient();
        if (!(await c.getCrypto().isEncryptionEnabledInRoom(room_id))) {
            throw new Error(`refusing to send: the SDK does not consider ${room_id} encrypted`);
        }
        const { event_id } = await withTimeout(
            c.sendMessage(room_id, { msgtype: "m.text", body }),
            timeout_ms || DEFAULT_TIMEOUT_MS,
            `sending "${body}" to ${room_id}`,
        );
        const event = c.getRoom(room_id)?.findEventById(event_id);
        return { event_id, wire_type: event?.getWireType() ?? null };
    },

    /** Waits until a message with this body is in the room's timeline, decrypted. */
    async wait_message({ room_id, body, timeout_ms }) {
        const c = requireClient();
        const found = await waitFor(
            () =>
                c
                    .getRoom(room_id)
                    ?.getLiveTimeline()
                    .getEvents()
                    .find((e) => e.getType() === "m.room.message" && e.getContent().body === body),
            timeout_ms || DEFAULT_TIMEOUT_MS,
            () => `a message "${body}" in ${room_id}; timeline: ${JSON.stringify(describeTimeline(room_id))}`,
        );
        return {
            event_id: found.getId(),
            sender: found.getSender(),
            body: found.getContent().body,
            wire_type: found.getWireType(),
            encrypted: found.isEncrypted(),
        };
    },

    /** Accepts an invitation and waits until the client sees itself joined. */
    async join({ room_id, timeout_ms }) {
        const c = requireClient();
        const ms = timeout_ms || DEFAULT_TIMEOUT_MS;
        await waitFor(() => c.getRoom(room_id)?.getMyMembership() === "invite", ms,
            () => `an invitation to ${room_id}; membership "${c.getRoom(room_id)?.getMyMembership()}"`);
        await withTimeout(c.joinRoom(room_id), ms, `joining ${room_id}`);
        await waitFor(() => c.getRoom(room_id)?.getMyMembership() === "join", ms,
            () => `${room_id} to show us joined; membership "${c.getRoom(room_id)?.getMyMembership()}"`);
        return {};
    },

    /** A space's rooms as the SDK pages through GET /hierarchy (Element's space home). */
    async hierarchy({ room_id, limit }) {
        const c = requireClient();
        const rooms = [];
        let from;
        do {
            const page = await c.getRoomHierarchy(room_id, limit, undefined, false, from);
            rooms.push(...page.rooms.map((r) => ({
                room_id: r.room_id, name: r.name ?? null, join_rule: r.join_rule ?? null,
                room_type: r.room_type ?? null, children: (r.children_state ?? []).map((e) => e.state_key),
            })));
            from = page.next_batch;
        } while (from);
        return { rooms };
    },

    /** Joins a room the user is not invited to (public, or restricted to a room they are in). */
    async join_uninvited({ room_id, timeout_ms }) {
        const c = requireClient();
        const ms = timeout_ms || DEFAULT_TIMEOUT_MS;
        await withTimeout(c.joinRoom(room_id), ms, `joining ${room_id}`);
        await waitFor(() => c.getRoom(room_id)?.getMyMembership() === "join", ms,
            () => `${room_id} to show us joined; membership "${c.getRoom(room_id)?.getMyMembership()}"`);
        return {};
    },

    /** Knocks, then waits until /sync shows the room as knocked (rooms.knock). */
    async knock({ room_id, reason, timeout_ms }) {
        const c = requireClient();
        const ms = timeout_ms || DEFAULT_TIMEOUT_MS;
        const server = c.getUserId().split(":").slice(1).join(":");
        await withTimeout(c.knockRoom(room_id, { reason, viaServers: [server] }), ms, `knocking on ${room_id}`);
        await waitFor(() => c.getRoom(room_id)?.getMyMembership() === "knock", ms,
            () => `${room_id} to show us knocking; membership "${c.getRoom(room_id)?.getMyMembership()}"`);
        const room = c.getRoom(room_id);
        return { name: room.name, join_rule: room.getJoinRule() };
    },

    /** Lets a user in: an invite, as Element's "Approve" on a knock does. */
    async invite({ room_id, user_id }) {
        await requireClient().invite(room_id, user_id);
        return {};
    },

    /** A member's membership and reason as the client holds them. */
    async member({ room_id, user_id }) {
        const member = requireClient().getRoom(room_id)?.getMember(user_id);
        return { membership: member?.membership ?? null, reason: member?.events.member?.getContent().reason ?? null };
    },

    /** The rooms as the client orders its room list: by the bump_stamp the server sent, newest first. */
    async room_order() {
        const c = requireClient();
        const rooms = c.getRooms().filter((r) => r.getMyMembership() === "join");
        rooms.sort((a, b) => (b.getBumpStamp() ?? 0) - (a.getBumpStamp() ?? 0));
        return {
            rooms: rooms.map((r) => ({ room_id: r.roomId, bump_stamp: r.getBumpStamp() ?? null })),
            responses: slidingResponses.slice(-50),
            sliding: slidingSync !== null,
        };
    },

    ...threadCommands({ sdk, requireClient, waitFor, withTimeout, DEFAULT_TIMEOUT_MS }),

    async http_failures() {
        return { http_failures: httpFailures };
    },

    async stop() {
        slidingSync?.stop();
        client?.stopClient();
        return {};
    },
};

/**
 * An authUploadDeviceSigningKeys callback doing UIA as the spec lays it out: try without auth; on
 * 401, check the server offers m.login.password and complete it within the server's session.
 * `steps` records what happened, for the test to check.
 */
function passwordUia(c, steps) {
    return async (makeRequest) => {
        let session;
        try {
            const result = await makeRequest(null);
            steps.push("accepted without auth");
            return result;
        } catch (err) {
            if (err?.httpStatus !== 401 || !err?.data?.session) throw err;
            const flows = err.data.flows ?? [];
            steps.push(`401 with flows ${JSON.stringify(flows.map((f) => f.stages))}`);
            if (!flows.some((f) => f.stages?.length === 1 && f.stages[0] === "m.login.password")) {
                throw new Error(`server offers no m.login.password flow for this upload: ${JSON.stringify(err.data)}`);
            }
            session = err.data.session;
        }
        const result = await makeRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: c.getUserId() },
            password,
            session,
        });
        steps.push("accepted with m.login.password");
        return result;
    };
}

function describeTimeline(roomId) {
    const room = client?.getRoom(roomId);
    if (!room) return "room unknown to the client";
    return room
        .getLiveTimeline()
        .getEvents()
        .map((e) => ({
            event_id: e.getId(),
            sender: e.getSender(),
            wire_type: e.getWireType(),
            type: e.getType(),
            decryption_failure: e.decryptionFailureReason,
            body: e.getContent()?.body,
        }));
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
    if (!line.trim()) continue;
    let message;
    try {
        message = JSON.parse(line);
    } catch (err) {
        reply({ id: null, ok: false, error: `bad command line: ${err}` });
        continue;
    }
    const handler = commands[message.cmd];
    if (!handler) {
        reply({ id: message.id, ok: false, error: `unknown command ${message.cmd}` });
        continue;
    }
    try {
        const result = await handler(message);
        reply({ id: message.id, ok: true, ...result });
    } catch (err) {
        console.error(`command ${message.cmd} failed:`, err);
        reply({
            id: message.id,
            ok: false,
            error: `${err?.name || "Error"}: ${err?.message || err}`,
            errcode: err?.errcode ?? null,
            http_status: err?.httpStatus ?? null,
            http_failures: httpFailures.slice(-20),
        });
    }
    if (message.cmd === "stop") break;
}
client?.stopClient();
process.exit(0);
