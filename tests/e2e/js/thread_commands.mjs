// Commands of tests/e2e/js/js_user.mjs for threads and edits (tests/e2e/test_js_threads.py).
//
// They use the SDK's own entry points as Element does: sendEvent with a thread ID, fetchRelations
// for a thread's pages, createThreadListMessagesRequest and Room.fetchRoomThreads for the thread
// list, the event mapper for events fetched one by one, scrollback for history.

const TEXT = "m.room.message";

/** The commands, given the SDK module and the helpers js_user.mjs shares. */
export function threadCommands({ sdk, requireClient, waitFor, withTimeout, DEFAULT_TIMEOUT_MS }) {
    const { Direction, ThreadFilterType } = sdk;
    const ms = (timeout_ms) => timeout_ms || DEFAULT_TIMEOUT_MS;

    return {
        /** An unencrypted private room (a fresh device can read its history: nothing to decrypt). */
        async create_plain_room({ name, invite, timeout_ms }) {
            const c = requireClient();
            const { room_id } = await c.createRoom({ name: name || "threads", preset: "private_chat", invite: invite || [] });
            await waitFor(() => c.getRoom(room_id), ms(timeout_ms), () => `room ${room_id} to arrive through /sync`);
            return { room_id };
        },

        /** An m.text message; with thread_root, a thread reply carrying the spec's reply fallback. */
        async send_text({ room_id, body, thread_root, timeout_ms }) {
            const c = requireClient();
            const content = { msgtype: "m.text", body };
            if (thread_root) {
                const thread = c.getRoom(room_id)?.getThread(thread_root);
                const lastReply = thread?.lastReply()?.getId() ?? thread_root;
                content["m.relates_to"] = {
                    rel_type: "m.thread", event_id: thread_root, is_falling_back: true,
                    "m.in_reply_to": { event_id: lastReply },
                };
            }
            const { event_id } = await withTimeout(
                c.sendEvent(room_id, thread_root || null, TEXT, content), ms(timeout_ms), `sending "${body}"`);
            return { event_id };
        },

        /** Replaces a message's text, as Element's editor does. */
        async edit({ room_id, event_id, body, timeout_ms }) {
            const c = requireClient();
            const content = {
                msgtype: "m.text", body: `* ${body}`,
                "m.new_content": { msgtype: "m.text", body },
                "m.relates_to": { rel_type: "m.replace", event_id },
            };
            const sent = await withTimeout(c.sendEvent(room_id, null, TEXT, content), ms(timeout_ms), "sending an edit");
            return { event_id: sent.event_id };
        },

        /** Waits until the event, as the client shows it (edits applied), has this body. */
        async wait_body({ room_id, event_id, body, timeout_ms }) {
            const c = requireClient();
            await waitFor(
                () => c.getRoom(room_id)?.findEventById(event_id)?.getContent()?.body === body,
                ms(timeout_ms),
                () => `${event_id} to read "${body}"; it reads ${JSON.stringify(c.getRoom(room_id)?.findEventById(event_id)?.getContent()?.body)}`,
            );
            return {};
        },

        /** A thread's replies, newest first, through fetchRelations pages of `page_limit`. */
        async thread_replies({ room_id, root_id, page_limit }) {
            const c = requireClient();
            const ids = [];
            const pages = [];
            let from;
            for (let i = 0; i < 50; i++) {
                const page = await c.fetchRelations(room_id, root_id, "m.thread", null, {
                    dir: Direction.Backward, limit: page_limit, ...(from ? { from } : {}),
                });
                ids.push(...page.chunk.map((e) => e.event_id));
                pages.push(page.chunk.length);
                if (!page.next_batch) break;
                from = page.next_batch;
            }
            return { ids, pages };
        },

        /** The room's threads as the server lists them (GET /threads), and as the room model holds them. */
        async thread_list({ room_id, root_id, timeout_ms }) {
            const c = requireClient();
            const listed = await c.createThreadListMessagesRequest(room_id, null, 10, Direction.Backward, ThreadFilterType.All);
            const room = c.getRoom(room_id);
            await room.fetchRoomThreads();
            const thread = await waitFor(() => room.getThread(root_id), ms(timeout_ms), () => `thread ${root_id} in the room model`);
            const summary = listed.chunk.find((e) => e.event_id === root_id)?.unsigned?.["m.relations"]?.["m.thread"];
            return {
                roots: listed.chunk.map((e) => e.event_id),
                server_count: summary?.count ?? null,
                server_latest: summary?.latest_event?.event_id ?? null,
                model_length: thread.length,
                model_root_body: thread.rootEvent?.getContent()?.body ?? null,
            };
        },

        /** An event fetched alone (GET /event) and mapped as the SDK maps it: bundled edit applied. */
        async fetch_event({ room_id, event_id }) {
            const c = requireClient();
            const known = Boolean(c.getRoom(room_id)?.findEventById(event_id));
            const raw = await c.fetchRoomEvent(room_id, event_id);
            const event = c.getEventMapper()(raw);
            return {
                known_before: known,
                raw_body: raw.content?.body ?? null,
                shown_body: event.getContent()?.body ?? null,
                replacing_event_id: event.replacingEventId() ?? null,
            };
        },

        /** Pages back (/messages) until the event is in the timeline; its body as shown. */
        async scrollback_to({ room_id, event_id }) {
            const c = requireClient();
            const room = c.getRoom(room_id);
            for (let i = 0; i < 30 && !room.findEventById(event_id); i++) {
                await c.scrollback(room, 2);
            }
            const event = room.findEventById(event_id);
            if (!event) throw new Error(`${event_id} not reached by scrolling back`);
            return { body: event.getContent()?.body ?? null };
        },

        /** What the SDK holds of the room right now (its live timeline, edits applied). */
        async live_bodies({ room_id }) {
            const c = requireClient();
            const events = c.getRoom(room_id)?.getLiveTimeline().getEvents() ?? [];
            return { events: events.filter((e) => e.getType() === TEXT).map((e) => ({ event_id: e.getId(), body: e.getContent()?.body ?? null })) };
        },
    };
}
